package loader

import (
	"context"
	"fmt"
	"io"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/mapping"
)

// read is the source, mapping and batching stage: events are gathered
// into calls (the mapper writes each in its place in its call's Events,
// see batcher); filtered and failed rows are settled at once.
func (r *run) read(ctx context.Context, batches chan<- batch, out chan<- []settled) {
	bt := newBatcher(r.opts.BatchSize, r.opts.BatchBytes, batches, r.eventLists, r.eventArrays)
	defer bt.flush()
	var pendingOut []settled
	flushOut := func() {
		if len(pendingOut) > 0 {
			out <- pendingOut
			pendingOut = nil
		}
	}
	splits := splitWatch{files: r.plan.Files}
	defer func() {
		r.sum.Warnings = append(r.sum.Warnings, splits.warnings...)
		r.sum.Warnings = append(r.sum.Warnings, expressionWarnings(r.inputs)...)
	}()
	for fi, in := range r.inputs {
		// Resumes only: rows in flight when an earlier attempt died.
		inFlight := func(line int) bool { return r.journalSends && r.resume.sending[fi].has(line) }
		replayable := r.replayable()
		dups := newDupWatch(in.path, r.plan.Spec.RequestID.Kind != 0)
		if err := dups.addStored(in.path, r.plan.sourceOptions()); err != nil {
			r.sum.Warnings = append(r.sum.Warnings, err.Error())
		}
		r.shardMapper(in.mapper)
		in.mapper.SetEventAlloc(bt.alloc)
		emit := func(it mapping.Item) {
			if len(r.inputs) > 1 {
				nameFile(it, in.path)
			}
			splits.see(fi, it)
			if r.otherShard(&it) {
				return
			}
			first := it.Records[0].Line
			dupOf, dupBy := 0, ""
			switch {
			case it.Filtered:
			case it.Err != nil:
				// A row that fails before it is sent still holds its id: a
				// later row with that id is a duplicate (under fail it
				// fails too, rather than be stored first and make the
				// earlier rows, once fixed, fail on retry as its twins).
				dups.remember(it.RequestID, first)
			default:
				dupOf, dupBy = dups.see(it.RequestID, first)
			}
			switch {
			case r.resume.settled[fi].has(first):
				r.resumed += len(it.Records)
			case it.Filtered || it.Err != nil:
				pendingOut = append(pendingOut, checked(it, fi))
			case (dupOf > 0 || dupBy != "") && r.opts.FailDuplicateIDs:
				it.Event = nil // not sent: its place is the next event's (batcher)
				msg := fmt.Sprintf("request id %q is the request id of line %d too: not sent (--on-duplicate-request-id fail)", it.RequestID, dupOf)
				if dupBy != "" {
					msg = fmt.Sprintf("request id %q is the request id of a row run %s stored: not sent (--on-duplicate-request-id fail)", it.RequestID, dupBy)
				}
				pendingOut = append(pendingOut, settled{item: it, file: fi, code: crm.CodeDuplicateRequestID, msg: msg})
			default:
				if len(r.receipts) > 0 { // a resume: stored, but not yet reported
					if rc, stored := r.receipts[key(fi, it)]; stored {
						if k := in.mapper.Kind(); rc.digest != "" && !crm.DigestMatches(rc.digest, crm.Digest(k, it.Event), k, it.Event) {
							// The input changed since the earlier attempt stored this row.
							err := crm.ReceiptConflict(r.key, key(fi, it))
							it.Event = nil // not sent (as below)
							pendingOut = append(pendingOut, settled{item: it, file: fi, code: err.Code, msg: err.Description()})
							return
						}
						it.Event = nil
						pendingOut = append(pendingOut, settled{item: it, file: fi, id: rc.id, num: rc.num, found: true})
						return
					}
				}
				if inFlight(first) && !replayable && !r.opts.ResendInDoubt {
					it.Event = nil
					pendingOut = append(pendingOut, settled{item: it, file: fi, inDoubt: true,
						msg: "in doubt: the call was in flight when an earlier attempt of this run stopped; the event may or may not have been created: check in CRM.COM, then load the rows it does not hold from this report (crmload load -m MAPPING in_doubt.csv); a resume given --resend-in-doubt sends such calls again instead"})
					return
				}
				// In flight when an earlier attempt died: sent as a replay.
				bt.add(event{item: it, file: fi, size: approxSize(it.Event), replay: inFlight(first)})
			}
		}
		// Each record is mapped once the next one is read: the last one
		// waits for the check that the file did not change while it was
		// read (a writer still appending: its last line may be torn).
		var held *mapping.Record
		push := func(rec *mapping.Record) {
			r.rowsRead.Add(1)
			in.mapper.Push(rec, emit)
			if len(pendingOut) >= 256 {
				flushOut()
			}
		}
		for ctx.Err() == nil {
			rec, err := in.src.Next()
			if err == io.EOF {
				if held != nil {
					if why := in.info.changed(in.path); why != "" {
						// Not mapped, not counted: a resume reads it again.
						r.abort(fmt.Sprintf("%s changed while it was read (%s): the run stopped at its line %d, which may be torn; "+
							"once the writer has finished, --resume loads the rest", in.path, why, held.Line))
						held = nil
						break
					}
					if why := in.rewritten(); why != "" {
						r.abort(why)
						held = nil
						break
					}
					push(held)
					held = nil
				}
				break
			}
			if err != nil {
				r.abort(fmt.Sprintf("read %s: %v", in.path, err))
				break
			}
			if held != nil {
				push(held)
			}
			held = rec
		}
		if ctx.Err() != nil || r.aborted() {
			// An unfinished group was read but is not sent.
			in.mapper.Flush(func(it mapping.Item) {
				pendingOut = append(pendingOut, settled{item: it, file: fi, dropped: true})
			})
			break
		}
		in.mapper.Flush(emit)
		splits.endFile()
		if w := dups.warning(r.opts.FailDuplicateIDs); w != "" {
			r.sum.Warnings = append(r.sum.Warnings, w)
		}
	}
	flushOut()
}
