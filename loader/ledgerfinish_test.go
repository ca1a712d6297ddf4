package loader

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
