package loader

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crmload/crmload/crm"
	"golang.org/x/time/rate"
)

// run is one attempt of a load: what its stages (read, batch, send,
// settle) share while the pipeline runs.
type run struct {
	plan   *Plan
	eng    Engine
	opts   LoadOptions
	inputs []*input
	rep    *reports
	sum    *Summary
	start  time.Time
	key    string // the run's key in load receipts: unique to this run and source

	mu          sync.Mutex // guards abortReason
	abortReason string
	stopRead    context.CancelFunc

	journal      *journal
	codes        map[string]int // settle's: the codes of the rows one journal line failed, reused
	journalSends bool           // the engine keeps no receipts: journal calls before they go
	gate         *gate          // calls in flight, fewer while the engine pushes back
	resume       *resumePoint
	receipts     map[string]receipt // read-only once the pipeline runs

	rowsRead atomic.Int64 // by the reader
	settled  atomic.Int64 // by the settler: rows in the reports
	retries  atomic.Int64 // by the senders
	// doubtRun counts the calls in a row that got no usable answer
	// (senders): maxDoubtRun of them stop the run.
	doubtRun atomic.Int64
	waiting  atomic.Value // by the senders: what the last wait was for (string)
	resumed  int          // by the reader: rows an earlier attempt settled
	dropped  int          // by the settler: rows read but not sent

	// Slices of a batch's length, kept for the next call once a call
	// is settled (nil outside a pipeline: made each time).
	eventLists   *recycled[event]
	eventArrays  *recycled[crm.Event]
	settledLists *recycled[settled]
}

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

// heartbeat logs a line every opts.Heartbeat while the run lives: what it
// has done and what it waits for, so that an operator reading the log of
// a stalled night sees a live process. The returned func stops it.
func (r *run) heartbeat() (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(r.opts.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				waiting, _ := r.waiting.Load().(string)
				r.opts.Logger.Info("still running", "rows_read", r.rowsRead.Load(), "rows_settled", r.settled.Load(),
					"calls_in_flight", r.gate.calls(), "retries", r.retries.Load(), "last_wait", waiting,
					"elapsed", time.Since(r.start).Round(time.Second).String())
			}
		}
	}()
	return func() { close(done); <-finished }
}

// errDeadline is the cause of a run's end at its --deadline.
var errDeadline = errors.New("deadline")

// pipeline runs the stages: read, map and batch -> send (concurrently)
// -> settle (this goroutine, the only writer of the reports). An interrupt
// (ctx) stops reading and new calls; calls in flight get opts.Grace to
// finish. Rows read but not sent are not reported: a resume sends them.
func (r *run) pipeline(ctx context.Context) (aborted bool, err error) {
	if r.opts.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, r.opts.Deadline, errDeadline)
		defer cancel()
	}
	readCtx, stopRead := context.WithCancel(ctx)
	defer stopRead()
	r.stopRead = stopRead
	// Calls in flight outlive an interrupt by the grace period.
	sendCtx, stopSend := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSend()
	interrupted := func() {
		if context.Cause(ctx) == errDeadline {
			r.abort(fmt.Sprintf("the run's --deadline of %s passed", r.opts.Deadline))
		} else {
			r.abort("interrupted")
		}
	}
	go func() {
		select {
		case <-ctx.Done():
			interrupted()
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

	batches := make(chan batch, r.opts.Concurrency)
	out := make(chan []settled, 2*r.opts.Concurrency+2)
	var limiter *rate.Limiter
	if r.opts.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(r.opts.Rate), 1)
	}
	r.gate = newGate(r.opts.Concurrency)
	// Batches in flight: those in the channel, being sent, and being
	// settled; a few more than that are kept.
	r.eventLists = newRecycled[event](r.opts.BatchSize, 2*r.opts.Concurrency+2)
	r.eventArrays = newRecycled[crm.Event](r.opts.BatchSize, 2*r.opts.Concurrency+2)
	r.settledLists = newRecycled[settled](r.opts.BatchSize, 2*r.opts.Concurrency+2)

	// The stages report trouble by aborting the run (abort), not by
	// returning errors: out is closed once they have all returned.
	var stages sync.WaitGroup
	stages.Go(func() { defer close(batches); r.read(readCtx, batches, out) })
	// A batch's events, and the array of their crm.Events, are kept for
	// another once its call has returned: its outcomes (sent on out) are
	// copies. (With the engine's own arenas, this halved a 1M-row load's
	// collections, 51 to 21.)
	for range r.opts.Concurrency {
		stages.Go(func() {
			for b := range batches {
				r.send(readCtx, sendCtx, limiter, b, out)
				r.eventLists.give(b.evs)
				r.eventArrays.give(b.events)
			}
		})
	}
	go func() { stages.Wait(); close(out) }()
	stopBeat := r.heartbeat()
	defer stopBeat()

	var werr error
	for outs := range out {
		if err := r.settle(outs); err != nil && werr == nil {
			werr = err
			r.abort("cannot write the reports: " + err.Error())
		}
		r.settledLists.give(outs)
	}
	if ctx.Err() != nil {
		// Waits end at once on an interrupt, so the stages may all have
		// returned before the goroutine above has recorded why: a run
		// that was interrupted says so, whichever came first.
		interrupted()
	}
	r.sum.RowsRead = int(r.rowsRead.Load()) - r.dropped
	r.sum.RowsResumed = r.resumed
	r.sum.Retries = int(r.retries.Load())
	return r.aborted(), werr
}
