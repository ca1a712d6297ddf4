package loader

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"
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
