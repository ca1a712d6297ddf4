package loader

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmload/crmload/crm"
)

// TestOutcomeOfEarlierDoubt: a run whose earlier attempt left rows in
// doubt did not end well, however this attempt went.
func TestOutcomeOfEarlierDoubt(t *testing.T) {
	s := &Summary{RowsRead: 10, RowsResumed: 10, RowsInDoubtEarlier: 4}
	if o := s.settledOutcome(false); o != OutcomeRowsFailed {
		t.Errorf("outcome %v, want %v (exit 1)", o, OutcomeRowsFailed)
	}
}

// TestNotInFlightWhileWaiting: against an engine without receipts, a
// call's rows are journaled as in flight only while the call is on the
// wire: while it waits out a backoff after a refusal that surely stored
// nothing, a crash (kill -9) leaves them to be sent by a resume, not put
// in doubt (400 rows never sent were reported in doubt: a user's report).
func TestNotInFlightWhileWaiting(t *testing.T) {
	e := seededEngine(t)
	job := loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 100))
	down := &faultEngine{Engine: e}
	down.failing.Store(true) // no connection: surely not processed
	opts := defaultOptions()
	opts.Retries = 3
	var inFlight []int
	opts.sleep = func(ctx context.Context, d time.Duration) bool {
		dirs, _ := filepath.Glob(filepath.Join(job.ReportDir, "2*"))
		if len(dirs) != 1 {
			t.Fatalf("run directories %v", dirs)
		}
		rp, err := readJournal(dirs[0], 1)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for line := 2; line <= 101; line++ {
			if rp.sending[0].has(line) {
				n++
			}
		}
		inFlight = append(inFlight, n)
		return ctx.Err() == nil
	}
	if _, _, err := Load(context.Background(), job, down, opts); err != nil {
		t.Fatal(err)
	}
	if len(inFlight) != opts.Retries || slices.Max(inFlight) != 0 {
		t.Errorf("rows journaled in flight during each of the waits: %v; want %d waits with none", inFlight, opts.Retries)
	}
}

// TestStopsAfterCallsInDoubt: against an engine without receipts whose
// every call gets no usable answer (a gateway's 502 page), the run stops
// after maxDoubtRun calls in a row (exit 3), not after putting the whole
// file in doubt; a resume once it answers loads the rest, and the rows
// in doubt stay counted.
func TestStopsAfterCallsInDoubt(t *testing.T) {
	e := seededEngine(t)
	job := loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 100))
	var failing atomic.Bool
	failing.Store(true)
	gw := &faultEngine{Engine: e, before: func(int64, crm.BulkRequest) error {
		if failing.Load() {
			return &crm.CallError{Status: 502, Sent: true, Err: errors.New("Bad Gateway")}
		}
		return nil
	}}
	opts := defaultOptions()
	opts.BatchSize, opts.Concurrency = 10, 1
	sum, dir, err := Load(context.Background(), job, gw, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Outcome() != OutcomeAborted || sum.RowsInDoubt != maxDoubtRun*10 || gw.calls.Load() != maxDoubtRun {
		t.Fatalf("exit %d, %d rows in doubt, %d calls; want exit 3 after %d calls of 10 rows in doubt", sum.ExitCode, sum.RowsInDoubt, gw.calls.Load(), maxDoubtRun)
	}
	failing.Store(false)
	opts.Resume = dir
	sum, _, err = Load(context.Background(), job, gw, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.RowsInDoubtEarlier != maxDoubtRun*10 || sum.RowsSucceeded+sum.RowsFailed != 100-maxDoubtRun*10 || sum.Outcome() != OutcomeRowsFailed {
		t.Errorf("resume: %d in doubt earlier, %d settled now, exit %d; want %d, %d, exit 1", sum.RowsInDoubtEarlier, sum.RowsSucceeded+sum.RowsFailed, sum.ExitCode, maxDoubtRun*10, 100-maxDoubtRun*10)
	}
}

// TestMaxErrorsCountsDoubt: rows in doubt count toward --max-errors.
func TestMaxErrorsCountsDoubt(t *testing.T) {
	e := seededEngine(t)
	job := loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 300))
	gw := &faultEngine{Engine: e, before: func(call int64, _ crm.BulkRequest) error {
		if call%3 == 0 { // never maxDoubtRun in a row
			return &crm.CallError{Sent: true, Err: errors.New("connection reset")}
		}
		return nil
	}}
	opts := defaultOptions()
	opts.BatchSize, opts.Concurrency, opts.MaxErrors = 10, 1, 25
	sum, _, err := Load(context.Background(), job, gw, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Outcome() != OutcomeAborted || !strings.Contains(sum.AbortReason, "failed or are in doubt") {
		t.Errorf("exit %d (%q), %d in doubt, %d failed; want --max-errors 25 reached", sum.ExitCode, sum.AbortReason, sum.RowsInDoubt, sum.RowsFailed)
	}
}
