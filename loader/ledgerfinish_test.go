package loader

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmload/crmload/crm"
)

// TestLedgerFinishFails: a ledger that cannot record, at the very end,
// that a run whose every row settled finished (an outage of its server)
// leaves the run's outcome as it is (exit 0), with a warning; a later
// load of the same input is told the run finished (its summary says so),
// not that it stopped part-way and is to be resumed (a resume of a
// finished run is refused).
func TestLedgerFinishFails(t *testing.T) {
	e := seededEngine(t)
	in := writeWebCSV(t, 50)
	job := loadJob(t, "../testdata/web/mapping.yaml", in)
	ledger := FileLedger{Path: filepath.Join(t.TempDir(), "ledger.jsonl"), Engine: "http://crm.example"}
	broken := &faultEngine{Engine: e, before: func(call int64, _ crm.BulkRequest) error {
		if call == 1 { // claimed already: the ledger goes away
			if err := os.Rename(ledger.Path, ledger.Path+".away"); err != nil {
				return err
			}
			return os.Mkdir(ledger.Path, 0o755)
		}
		return nil
	}}
	opts := defaultOptions()
	opts.Ledger, opts.LedgerName = ledger, "the ledger file"
	sum, dir, err := Load(context.Background(), job, broken, opts)
	if err != nil {
		t.Fatalf("Load = %v; want the run's outcome, with a warning", err)
	}
	if sum.Outcome() == OutcomeAborted || !strings.Contains(strings.Join(sum.Warnings, "\n"), "could not record that the run finished") {
		t.Fatalf("exit %d, warnings %q", sum.ExitCode, sum.Warnings)
	}
	if s, err := RunDir(dir).Summary(); err != nil || len(s.Warnings) != len(sum.Warnings) {
		t.Errorf("summary.json: %v, warnings %v; want the warning there too", err, s.Warnings)
	}
	// The ledger back, still showing the run loading.
	os.Remove(ledger.Path)
	if err := os.Rename(ledger.Path+".away", ledger.Path); err != nil {
		t.Fatal(err)
	}
	_, _, err = Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", in), e, opts)
	if err == nil || !strings.Contains(err.Error(), ", finished)") || strings.Contains(err.Error(), "stopped part-way") {
		t.Errorf("a second load of the input: %v; want it refused as loaded by a run that finished", err)
	}
}

// deadlineLedger is a FileLedger that notes what FinishInputs was given.
type deadlineLedger struct {
	FileLedger
	deadline *time.Duration // left until the context's deadline; -1: none
	live     *bool          // the context was not done yet
}

func (l deadlineLedger) FinishInputs(ctx context.Context, run, state string) error {
	*l.deadline = -1
	if d, ok := ctx.Deadline(); ok {
		*l.deadline = time.Until(d)
	}
	*l.live = ctx.Err() == nil
	return l.FileLedger.FinishInputs(ctx, run, state)
}

// TestLedgerStopBounded: an interrupted run still records its stop in the
// ledger (a context not done with the interrupt), for ledgerStopWait at
// most: a remote ledger that is down does not hold a Ctrl-C for the
// --retries of its calls (15 minutes).
func TestLedgerStopBounded(t *testing.T) {
	e := seededEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := &faultEngine{Engine: e, before: func(call int64, _ crm.BulkRequest) error {
		cancel() // an interrupt, as the first call goes
		return nil
	}}
	var left time.Duration
	var live bool
	opts := defaultOptions()
	opts.BatchSize = 10
	opts.Ledger = deadlineLedger{FileLedger{Path: filepath.Join(t.TempDir(), "l.jsonl"), Engine: "http://crm.example"}, &left, &live}
	sum, _, _ := Load(ctx, loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 100)), stop, opts)
	if sum == nil || sum.Outcome() != OutcomeAborted {
		t.Fatalf("summary %+v; want a run stopped by the interrupt", sum)
	}
	if !live || left <= 0 || left > ledgerStopWait {
		t.Errorf("FinishInputs got a context live %v with %v left; want a live one with at most %v", live, left, ledgerStopWait)
	}
}

// TestResumeCountsFilteredEarlier: the rows an earlier attempt filtered
// out are filtered rows of the run, not rows merely resumed: the resume's
// summary counts them (rows_filtered_earlier) and crmload summary's
// totals are those of one attempt that did it all.
func TestResumeCountsFilteredEarlier(t *testing.T) {
	whole, _, err := Load(context.Background(), loadJob(t, "../testdata/purchases/mapping.yaml", "../testdata/purchases/online_retail.csv"), seededEngine(t), defaultOptions())
	if err != nil || whole.RowsFiltered == 0 {
		t.Fatalf("one attempt: %v, %+v; want rows filtered", err, whole)
	}
	e := seededEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := &faultEngine{Engine: e, before: func(call int64, _ crm.BulkRequest) error {
		if call == 2 {
			cancel() // an interrupt, once rows before it were filtered
		}
		return nil
	}}
	job := loadJob(t, "../testdata/purchases/mapping.yaml", "../testdata/purchases/online_retail.csv")
	opts := defaultOptions()
	opts.BatchSize, opts.Concurrency = 1, 1
	first, dir, err := Load(ctx, job, stop, opts)
	if err != nil || first.Outcome() != OutcomeAborted || first.RowsFiltered == 0 {
		t.Fatalf("first attempt: %v, %+v; want stopped, with rows filtered", err, first)
	}
	opts.Resume = dir
	sum, _, err := Load(context.Background(), job, e, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.RowsFilteredEarlier != first.RowsFiltered {
		t.Errorf("resume: %d rows filtered earlier, want %d", sum.RowsFilteredEarlier, first.RowsFiltered)
	}
	c, err := Combine([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if c.RowsFiltered != whole.RowsFiltered || c.RowsResumed != 0 || c.RowsSucceeded != whole.RowsSucceeded {
		t.Errorf("crmload summary: %d filtered, %d resumed, %d succeeded; want %d, 0, %d (one attempt's)", c.RowsFiltered, c.RowsResumed, c.RowsSucceeded, whole.RowsFiltered, whole.RowsSucceeded)
	}
}
