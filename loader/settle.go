package loader

import (
	"strconv"
	"time"

	"github.com/crmload/crmload/mapping"
)

// settled is what became of rows: an outcome for each item.
type settled struct {
	// item's Event is not to be read: the call's array of Events is
	// reused for a later call once the call returns (batcher).
	item      mapping.Item
	file      int
	id, num   string // created
	found     bool   // created by an earlier attempt (its receipt), reported now
	code, msg string // failed
	filtered  bool
	inDoubt   bool // sent, but whether the engine stored it is unknown
	dropped   bool // read but not sent: the run stopped first; a resume sends it
	batch     bool // the outcome of a call (counts a batch)
}

// settle writes the outcome of items to the reports and counts them. It
// runs on one goroutine, the reports' only writer.
func (r *run) settle(outs []settled) error {
	s := r.sum
	batch := false
	keys := make([][2]int, 0, len(outs))
	failedBefore, succeededBefore, doubtBefore, filteredBefore := s.RowsFailed, s.RowsSucceeded, s.RowsInDoubt, s.RowsFiltered
	eventsOKBefore, eventsFailBefore := s.EventsSucceeded, s.EventsFailed
	if r.codes == nil {
		r.codes = map[string]int{}
	}
	codes := r.codes // of the rows failed here, for the journal line (settle has one goroutine)
	clear(codes)
	for _, o := range outs {
		n := len(o.item.Records)
		batch = batch || o.batch
		if o.dropped {
			r.dropped += n
			continue
		}
		keys = append(keys, [2]int{o.file, o.item.Records[0].Line})
		if err := r.rep.writeCounting(s, o, codes); err != nil {
			return err
		}
	}
	if batch {
		s.Batches++
	}
	r.settled.Store(int64(s.RowsFailed + s.RowsSucceeded + s.RowsFiltered + s.RowsInDoubt))
	if len(keys) > 0 {
		// The reports first, then the journal line that vouches for them.
		sOff, fOff, dOff, err := r.rep.flush()
		if err != nil {
			return err
		}
		if err := r.journal.record(journalEntry{Succeeded: sOff, Failed: fOff, Doubt: dOff, Keys: keys, RowsFail: s.RowsFailed - failedBefore,
			RowsOK: s.RowsSucceeded - succeededBefore, EventsOK: s.EventsSucceeded - eventsOKBefore, EventsFail: s.EventsFailed - eventsFailBefore, RowsDoubt: s.RowsInDoubt - doubtBefore, RowsFiltered: s.RowsFiltered - filteredBefore, Codes: codes}); err != nil {
			return err
		}
	}
	// Rows in doubt count as failed here: each needs someone to check it,
	// as a failed row needs fixing (a gateway failing every call put a
	// whole file in doubt with --max-errors 5%).
	bad, badWhat := s.RowsFailed+s.RowsInDoubt, "failed"
	if s.RowsInDoubt > 0 {
		badWhat = "failed or are in doubt"
	}
	if r.opts.MaxErrors > 0 && bad >= r.opts.MaxErrors && !r.aborted() {
		// Calls sent before settle their rows too: the summary's count
		// may be higher than this one.
		r.abort("--max-errors reached: " + mapping.CountOf(bad, "row", "") + " " + badWhat + " when it stopped sending")
	}
	if settledRows := bad + s.RowsSucceeded + s.RowsFiltered; r.opts.MaxErrorPct > 0 && settledRows >= 100 &&
		float64(bad) >= r.opts.MaxErrorPct/100*float64(settledRows) && !r.aborted() {
		r.abort("--max-errors reached: " + strconv.Itoa(bad) + " of " + strconv.Itoa(settledRows) + " rows " + badWhat + " when it stopped sending")
	}
	if r.opts.Progress != nil {
		var read, total int64
		for _, in := range r.inputs {
			read += in.src.BytesRead()
			total += in.size
		}
		r.opts.Progress(Progress{
			RowsRead: int(r.rowsRead.Load()), RowsSettled: s.RowsFailed + s.RowsSucceeded + s.RowsFiltered, RowsFailed: s.RowsFailed,
			BytesRead: read, BytesTotal: total, Elapsed: time.Since(r.start),
		})
	}
	return nil
}

// checked is the outcome of an item as the mapping leaves it: filtered,
// failed, or an event (valid: it succeeds in a validate run, a load sends
// it).
func checked(it mapping.Item, file int) settled {
	switch {
	case it.Filtered:
		return settled{item: it, file: file, filtered: true}
	case it.Err != nil:
		return settled{item: it, file: file, code: it.Err.Code, msg: it.Err.Error()}
	}
	return settled{item: it, file: file}
}

// nameFile sets path as the file of it's read and mapping errors: several
// inputs share a run's reports, so a failure names its file, not only its
// line.
func nameFile(it mapping.Item, path string) {
	if it.Err != nil {
		it.Err.File = path
	}
	for _, e := range it.Errs {
		if e != nil {
			e.File = path
		}
	}
}

// failed reports whether the rows failed (in the mapping or the engine).
func (o *settled) failed() bool { return o.code != "" || o.item.Err != nil }

// failure is the code and message of the i-th row of a failed item: a
// row's own mapping error, "failed with its group" for the other rows of a
// group that failed mapping, or the engine's answer for the event.
func (o *settled) failure(i int) (code, msg string) {
	if o.item.Err != nil {
		e := o.item.ErrOf(i)
		return e.Code, e.Error()
	}
	return o.code, o.msg
}
