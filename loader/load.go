package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/mapping"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// Engine is where a load sends its events: the embedded engine, or a
// remote CRM.COM. A returned error means nothing of the call was stored; a
// *crm.Error is a call-level refusal, anything else a failure to reach the
// engine (retried).
type Engine interface {
	CreateEvents(ctx context.Context, req crm.BulkRequest) (crm.BulkResult, error)
}

// LoadOptions tune a load.
type LoadOptions struct {
	Command     string        // "load" or "retry", for the summary
	Parent      string        // retry: the run whose failed rows are loaded
	DB          string        // embedded engine store, for retry (not a secret)
	BatchSize   int           // events per call, at most crm.MaxBulkEvents
	BatchBytes  int           // rough bound of a call's size
	Concurrency int           // calls in flight
	Rate        float64       // calls per second; 0: no limit
	Retries     int           // retries of a call that could not reach the engine
	Timeout     time.Duration // per call; 0: none
	MaxErrors   int           // abort after this many failed rows; 0: never
	MaxErrorPct float64       // abort when this share of settled rows failed (after 100 rows); 0: never
	Grace       time.Duration // how long calls in flight may finish after an interrupt
	// Resume, when set, is the run directory of an earlier attempt of this
	// run: rows it settled are skipped, events the engine stored for it
	// are reported without being sent again, the rest is loaded. With an
	// engine that keeps no receipts (a remote one), rows of calls that were
	// in flight when the attempt died are in doubt, unless ResendInDoubt.
	Resume        string
	ResendInDoubt bool
	// Progress, if set, is called from the goroutine that writes the
	// reports, after each settled batch; it must return quickly.
	Progress func(p Progress)

	into string // a source of a job file: its directory inside the run
}

// Replayer is an engine that can take a call again after an ambiguous
// failure without storing anything twice (engine serve keeps receipts).
type Replayer interface {
	SupportsReplay() bool
}

// ReceiptSource is an engine that keeps load receipts (the embedded one):
// which events a run stored, by the key they were sent with.
type ReceiptSource interface {
	Receipts(ctx context.Context, run string, fn func(key, id, number string) error) error
}

// Progress is a snapshot of a running load.
type Progress struct {
	RowsRead, RowsSettled, RowsFailed int
	BytesRead, BytesTotal             int64
	Elapsed                           time.Duration
}

// event is a mapped event on its way to the engine, with its rows.
type event struct {
	item   mapping.Item
	file   int // index of the input
	size   int
	replay bool // may have been stored by a call before a crash
}

// key names an item's rows in a run: the input and the first row's line.
func key(file int, it mapping.Item) string {
	return strconv.Itoa(file) + ":" + strconv.Itoa(it.Records[0].Line)
}

// settled is what became of rows: an outcome for each item.
type settled struct {
	item      mapping.Item
	file      int
	id, num   string // created
	code, msg string // failed
	filtered  bool
	inDoubt   bool // sent, but whether the engine stored it is unknown
	dropped   bool // read but not sent: the run stopped first; a resume sends it
	batch     bool // the outcome of a call (counts a batch)
}

// Load reads, maps, batches and sends the job's rows to eng, and writes the
// run directory: succeeded and failed reports, the mapping, the summary.
// The returned error is for a run that could not start (nothing written)
// or could not write its reports; an aborted run returns its summary with
// exit code 3.
func Load(ctx context.Context, job *Job, eng Engine, opts LoadOptions) (*Summary, string, error) {
	start := time.Now()
	if opts.BatchSize <= 0 || opts.BatchSize > crm.MaxBulkEvents {
		return nil, "", fmt.Errorf("batch size %d: want 1 to %d", opts.BatchSize, crm.MaxBulkEvents)
	}
	if opts.Concurrency <= 0 {
		return nil, "", fmt.Errorf("concurrency %d: want at least 1", opts.Concurrency)
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 8 << 20
	}
	inputs, err := prepare(job)
	if err != nil {
		return nil, "", err
	}
	defer closeInputs(inputs)
	var dir string
	var rp *resumePoint
	if opts.Resume != "" {
		dir = opts.Resume
		if rp, err = readJournal(dir, len(inputs)); err != nil {
			return nil, "", fmt.Errorf("resume %s: %w", dir, err)
		}
	} else {
		rp = &resumePoint{settled: make([]lineSet, len(inputs)), sending: make([]lineSet, len(inputs))}
		if opts.into != "" {
			dir = opts.into
			err = os.MkdirAll(dir, 0o755)
		} else {
			dir, err = NewRunDir(job.ReportDir, start)
		}
		if err != nil {
			return nil, "", err
		}
		if err := writeRunFile(dir, job, opts); err != nil {
			return nil, dir, err
		}
	}
	rep, err := openReports(dir, job, inputs, rp)
	if err != nil {
		return nil, dir, err
	}
	jr, err := openJournal(dir)
	if err != nil {
		rep.close()
		return nil, dir, err
	}
	defer jr.Close()
	receipts := map[string]crm.Processed{}
	_, hasReceipts := eng.(ReceiptSource)
	if rs, ok := eng.(ReceiptSource); ok && opts.Resume != "" {
		// Events stored after the last journal line: reported, not sent.
		err := rs.Receipts(ctx, filepath.Base(dir), func(k, id, num string) error {
			var fi, line int
			if _, err := fmt.Sscanf(k, "%d:%d", &fi, &line); err == nil && fi < len(inputs) && !rp.settled[fi].has(line) {
				receipts[k] = crm.Processed{ID: id, Number: num}
			}
			return nil
		})
		if err != nil {
			rep.close()
			return nil, dir, fmt.Errorf("resume %s: read the engine's receipts: %w", dir, err)
		}
	}
	sum := &Summary{RunID: filepath.Base(dir), Command: opts.Command, Parent: opts.Parent, Kind: string(inputs[0].mapper.Kind()),
		Engine: job.Engine, DB: opts.DB, Files: job.Files, StartedAt: start.UTC(), ErrorsByCode: map[string]int{}, priorFailed: rp.rowsFailed}
	r := &run{job: job, eng: eng, opts: opts, inputs: inputs, rep: rep, sum: sum, start: start,
		journal: jr, resume: rp, receipts: receipts, journalSends: !hasReceipts}
	aborted, runErr := r.pipeline(ctx)
	if err := rep.close(); err != nil && runErr == nil {
		runErr = err
	}
	sum.FinishedAt = time.Now().UTC()
	sum.ExitCode = sum.Outcome(aborted)
	sum.AbortReason = r.abortReason
	if err := writeSummary(dir, sum); err != nil && runErr == nil {
		runErr = err
	}
	return sum, dir, runErr
}

type run struct {
	job    *Job
	eng    Engine
	opts   LoadOptions
	inputs []*input
	rep    *reports
	sum    *Summary
	start  time.Time

	mu          sync.Mutex // guards abortReason
	abortReason string
	stopRead    context.CancelFunc

	journal      *journal
	journalSends bool  // the engine keeps no receipts: journal calls before they go
	gate         *gate // calls in flight, fewer while the engine pushes back
	resume       *resumePoint
	receipts     map[string]crm.Processed // read-only once the pipeline runs

	rowsRead atomic.Int64 // by the reader
	retries  atomic.Int64 // by the senders
	resumed  int          // by the reader: rows an earlier attempt settled
	dropped  int          // by the settler: rows read but not sent
}

func (r *run) addRead()  { r.rowsRead.Add(1) }
func (r *run) addRetry() { r.retries.Add(1) }

// abort stops reading and sending new calls; the first reason stays.
func (r *run) abort(reason string) {
	r.mu.Lock()
	if r.abortReason == "" {
		r.abortReason = reason
	}
	r.mu.Unlock()
	r.stopRead()
}

func (r *run) aborted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.abortReason != ""
}

// pipeline runs the stages: read and map -> batch -> send (concurrently)
// -> settle (this goroutine, the only writer of the reports). An interrupt
// (ctx) stops reading and new calls; calls in flight get opts.Grace to
// finish. Rows read but not sent are not reported: a resume sends them.
func (r *run) pipeline(ctx context.Context) (aborted bool, err error) {
	readCtx, stopRead := context.WithCancel(ctx)
	defer stopRead()
	r.stopRead = stopRead
	// Calls in flight outlive an interrupt by the grace period.
	sendCtx, stopSend := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSend()
	go func() {
		select {
		case <-ctx.Done():
			r.abort("interrupted")
			if r.opts.Grace > 0 {
				t := time.NewTimer(r.opts.Grace)
				defer t.Stop()
				select {
				case <-t.C:
				case <-sendCtx.Done():
				}
			}
			stopSend()
		case <-sendCtx.Done():
		}
	}()

	events := make(chan event, r.opts.BatchSize)
	batches := make(chan []event, r.opts.Concurrency)
	out := make(chan []settled, 2*r.opts.Concurrency+2)
	var limiter *rate.Limiter
	if r.opts.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(r.opts.Rate), 1)
	}
	r.gate = newGate(r.opts.Concurrency)

	g := new(errgroup.Group)
	g.Go(func() error { defer close(events); return r.read(readCtx, events, out) })
	g.Go(func() error { defer close(batches); return r.batch(events, batches) })
	var senders sync.WaitGroup
	for range r.opts.Concurrency {
		senders.Add(1)
		g.Go(func() error {
			defer senders.Done()
			for b := range batches {
				r.send(readCtx, sendCtx, limiter, b, out)
			}
			return nil
		})
	}
	done := make(chan error, 1)
	go func() { done <- g.Wait(); close(out) }()

	var werr error
	for outs := range out {
		if err := r.settle(outs); err != nil && werr == nil {
			werr = err
			r.abort("cannot write the reports: " + err.Error())
		}
	}
	if err := <-done; err != nil && werr == nil {
		werr = err
	}
	r.sum.RowsRead = int(r.rowsRead.Load()) - r.dropped
	r.sum.RowsResumed = r.resumed
	r.sum.Retries = int(r.retries.Load())
	return r.aborted(), werr
}

// read is the source and mapping stage: events go on to be batched;
// filtered and failed rows are settled at once.
func (r *run) read(ctx context.Context, events chan<- event, out chan<- []settled) error {
	var pendingOut []settled
	flushOut := func() {
		if len(pendingOut) > 0 {
			out <- pendingOut
			pendingOut = nil
		}
	}
	for fi, in := range r.inputs {
		emit := func(it mapping.Item) {
			first := it.Records[0].Line
			switch rc, stored := r.receipts[key(fi, it)]; {
			case r.resume.settled[fi].has(first):
				r.resumed += len(it.Records)
			case it.Filtered:
				pendingOut = append(pendingOut, settled{item: it, file: fi, filtered: true})
			case it.Err != nil:
				pendingOut = append(pendingOut, settled{item: it, file: fi, code: it.Err.Code, msg: it.Err.Error()})
			case stored:
				pendingOut = append(pendingOut, settled{item: it, file: fi, id: rc.ID, num: rc.Number})
			case r.journalSends && r.resume.sending[fi].has(first) && !r.opts.ResendInDoubt && !r.replayable() && it.Event != nil:
				pendingOut = append(pendingOut, settled{item: it, file: fi, inDoubt: true,
					msg: "in doubt: the call was in flight when an earlier attempt of this run stopped; the event may or may not have been created (--resend-in-doubt sends it again)"})
			default:
				// In flight when an earlier attempt died: sent as a replay.
				replay := r.journalSends && r.resume.sending[fi].has(first)
				events <- event{item: it, file: fi, size: approxSize(it.Event), replay: replay}
			}
		}
		for ctx.Err() == nil {
			rec, err := in.src.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				r.abort(fmt.Sprintf("read %s: %v", in.path, err))
				break
			}
			r.addRead()
			in.mapper.Push(rec, emit)
			if len(pendingOut) >= 256 {
				flushOut()
			}
		}
		if ctx.Err() != nil || r.aborted() {
			// An unfinished group was read but is not sent.
			in.mapper.Flush(func(it mapping.Item) {
				pendingOut = append(pendingOut, settled{item: it, file: fi, dropped: true})
			})
			break
		}
		in.mapper.Flush(emit)
	}
	flushOut()
	return nil
}

func (r *run) reason() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.abortReason
}

// batch groups events into calls of at most BatchSize events and about
// BatchBytes, with no request id twice in a call (results are matched by
// it).
func (r *run) batch(events <-chan event, batches chan<- []event) error {
	var cur []event
	size := 0
	ids := map[string]bool{}
	flush := func() {
		if len(cur) > 0 {
			batches <- cur
			cur, size = nil, 0
			clear(ids)
		}
	}
	for ev := range events {
		if ids[ev.item.RequestID] || size+ev.size > r.opts.BatchBytes {
			flush()
		}
		cur = append(cur, ev)
		size += ev.size
		ids[ev.item.RequestID] = true
		if len(cur) == r.opts.BatchSize {
			flush()
		}
	}
	flush()
	return nil
}

// approxSize estimates an event's size on the wire: enough to bound a call
// without encoding it.
func approxSize(ev *crm.Event) int {
	return 400 + len(ev.Description) + 160*len(ev.ProductsSet) + 120*len(ev.MeasuredKPIs)
}

// send calls the engine for one batch, retrying failures to reach it with
// backoff, and splitting a batch the engine refuses as a whole to find the
// events that cause it.
func (r *run) send(readCtx, sendCtx context.Context, limiter *rate.Limiter, b []event, out chan<- []settled) {
	if readCtx.Err() != nil {
		out <- dropAll(b)
		return
	}
	req := crm.BulkRequest{Kind: r.inputs[0].mapper.Kind(), IntendedCurrency: r.inputs[0].mapper.IntendedCurrency(),
		Events: make([]crm.Event, len(b)), Run: r.sum.RunID, Keys: make([]string, len(b))}
	var sending [][2]int
	for i, ev := range b {
		req.Events[i] = *ev.item.Event
		req.Keys[i] = key(ev.file, ev.item)
		req.Replay = req.Replay || ev.replay
		sending = append(sending, [2]int{ev.file, ev.item.Records[0].Line})
	}
	if r.journalSends {
		// Before the call goes: should this process die while it is in
		// flight, a resume knows these rows are in doubt.
		if err := r.journal.record(journalEntry{Sending: sending}); err != nil {
			r.abort("cannot write the journal: " + err.Error())
			out <- dropAll(b)
			return
		}
	}
	// unsent withdraws the journal's Sending line for a call that surely
	// did not reach the engine.
	unsent := func() []settled {
		if r.journalSends {
			r.journal.record(journalEntry{Unsent: sending})
		}
		return dropAll(b)
	}
	var res crm.BulkResult
	var err error
	var callErr *crm.CallError
	var apiErr *crm.Error
	for attempt := 0; ; attempt++ {
		if limiter != nil {
			if err := limiter.Wait(sendCtx); err != nil {
				out <- unsent()
				return
			}
		}
		callCtx, cancel := sendCtx, context.CancelFunc(func() {})
		if r.opts.Timeout > 0 {
			callCtx, cancel = context.WithTimeout(sendCtx, r.opts.Timeout)
		}
		if !r.gate.enter(sendCtx) {
			cancel()
			out <- unsent()
			return
		}
		res, err = r.call(callCtx, req)
		cancel()
		callErr = nil
		errors.As(err, &callErr)
		r.gate.leave(callErr != nil && (callErr.Status == 429 || callErr.Status == 503))
		// A call that may have been processed is sent again only to an
		// engine that keeps receipts, as a replay; elsewhere its rows are
		// in doubt. Calls that surely were not processed are retried.
		ambiguous := callErr != nil && callErr.Sent
		if ambiguous && r.replayable() {
			req.Replay = true
		}
		if err == nil || errors.As(err, &apiErr) || (ambiguous && !req.Replay) || attempt >= r.opts.Retries || sendCtx.Err() != nil {
			break
		}
		r.addRetry()
		wait := backoff(attempt)
		if callErr != nil && callErr.RetryAfter > wait {
			wait = callErr.RetryAfter
		}
		if !sleep(sendCtx, wait) {
			break
		}
	}
	switch {
	case err == nil:
		out <- r.match(b, res)
	case callErr != nil && callErr.Sent:
		out <- inDoubtAll(b, err)
	case sendCtx.Err() != nil:
		// Stopped before the call reached the engine (or the embedded
		// engine rolled it back): nothing was stored; a resume sends it.
		out <- unsent()
	case errors.As(err, &apiErr) && (apiErr.Code == crm.CodeInvalidToken || apiErr.Code == crm.CodeAuthenticationFailed):
		// Not the events' fault: splitting the call would not help.
		r.abort("the engine refused the credentials: " + apiErr.Description())
		out <- unsent()
	case errors.As(err, &apiErr) && len(b) > 1:
		// A refusal of the whole call: halve it until the events that
		// cause it stand alone.
		r.send(readCtx, sendCtx, limiter, b[:len(b)/2], out)
		r.send(readCtx, sendCtx, limiter, b[len(b)/2:], out)
	case errors.As(err, &apiErr):
		out <- []settled{{item: b[0].item, file: b[0].file, code: apiErr.Code, msg: apiErr.Description(), batch: true}}
	default:
		r.abort(fmt.Sprintf("the engine could not be reached after %d retries: %v", r.opts.Retries, err))
		out <- unsent()
	}
}

// replayable reports whether the engine takes replays.
func (r *run) replayable() bool {
	rp, ok := r.eng.(Replayer)
	return ok && rp.SupportsReplay()
}

func inDoubtAll(b []event, err error) []settled {
	out := make([]settled, len(b))
	for i, ev := range b {
		out[i] = settled{item: ev.item, file: ev.file, inDoubt: true, batch: true,
			msg: "in doubt: the call was sent but got no usable answer (" + err.Error() + "); the event may or may not have been created"}
	}
	return out
}

// call is one engine call; a panic-free engine is assumed.
func (r *run) call(ctx context.Context, req crm.BulkRequest) (crm.BulkResult, error) {
	return r.eng.CreateEvents(ctx, req)
}

func dropAll(b []event) []settled {
	out := make([]settled, len(b))
	for i, ev := range b {
		out[i] = settled{item: ev.item, file: ev.file, dropped: true}
	}
	return out
}

// match pairs a call's results with its events by request id.
func (r *run) match(b []event, res crm.BulkResult) []settled {
	byID := make(map[string]int, len(b))
	for i, ev := range b {
		byID[ev.item.RequestID] = i
	}
	out := make([]settled, len(b))
	seen := make([]bool, len(b))
	for _, p := range res.Processed {
		if i, ok := byID[p.RequestUniqueIdentifier]; ok && !seen[i] {
			out[i], seen[i] = settled{item: b[i].item, file: b[i].file, id: p.ID, num: p.Number, batch: true}, true
		}
	}
	for _, u := range res.Unprocessed {
		if i, ok := byID[u.RequestUniqueIdentifier]; ok && !seen[i] {
			out[i], seen[i] = settled{item: b[i].item, file: b[i].file, code: u.ErrorCode, msg: u.ErrorDescription, batch: true}, true
		}
	}
	for i := range out {
		if !seen[i] {
			out[i] = settled{item: b[i].item, file: b[i].file, code: "MissingResultException", batch: true,
				msg: "the engine's response did not report this event (it may or may not have been created)"}
		}
	}
	return out
}

// DefaultRetries is how often a call that could not reach the engine (or
// was refused with 429/503) is tried again by default: with backoff from
// 0.2 s doubling to a cap of 30 s, at least ten minutes of refusals (a
// server restarting, a maintenance window) are waited out before a run
// gives up.
const DefaultRetries = 48

func backoff(attempt int) time.Duration {
	d := 200 * time.Millisecond << min(attempt, 8)
	d = min(d, 30*time.Second)
	// Full jitter between half and the whole delay, so that concurrent
	// senders do not retry in step.
	return d/2 + time.Duration(randInt63n(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func randInt63n(n int64) int64 { return rand.Int64N(n) }
