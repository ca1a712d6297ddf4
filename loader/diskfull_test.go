package loader

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// armDiskFull lets the run directories' files take n more bytes, then
// fails their writes with ENOSPC (after writing what fits), until disarm.
// Only files named only count, if it is not empty.
func armDiskFull(t *testing.T, n int64, only string) (disarm func()) {
	b := &diskBudget{only: only}
	b.left.Store(n)
	diskLeft.Store(b)
	disarm = func() { diskLeft.Store(nil) }
	t.Cleanup(disarm)
	return disarm
}

// TestReportDiskFull: a report, journal or summary write that fails (a
// full disk under the report directory) stops the run: exit 3 with the
// reason in abort_reason, no summary.json.tmp left behind; once there is
// room, --resume finishes it exactly: every row in one report line, every
// event stored once. The budgets put the failure at different places:
// the first rows of a report, part-way, a journal line, the summary.
func TestReportDiskFull(t *testing.T) {
	for _, c := range []struct {
		only   string
		budget int64
	}{
		{"", 200}, {"", 40_000}, {"", 151_000}, // all files: succeeded.csv's flushes fail first
		{"failed.csv", 3_000},
		{"journal.jsonl", 700}, // a torn journal line: the resume must cut it
		{"summary.json.tmp", 10},
	} {
		t.Run(c.only+"/"+strconv.Itoa(int(c.budget)), func(t *testing.T) {
			e := seededEngine(t)
			job := loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 3000))
			opts := defaultOptions()
			opts.BatchSize, opts.Concurrency = 50, 2
			disarm := armDiskFull(t, c.budget, c.only)
			sum, dir, err := Load(context.Background(), job, e, opts)
			disarm()
			if err == nil || dir == "" || sum == nil {
				t.Fatalf("Load on a full disk = %v, %q, %v; want the summary, the run directory and the write error", sum, dir, err)
			}
			if sum.ExitCode != 3 || !strings.Contains(sum.AbortReason, "no space left on device") {
				t.Errorf("exit %d, abort_reason %q; want 3 and the disk's error", sum.ExitCode, sum.AbortReason)
			}
			if _, err := os.Stat(filepath.Join(dir, "summary.json.tmp")); err == nil {
				t.Errorf("a summary.json.tmp was left behind")
			}
			stored := countEvents(t, e)
			t.Logf("stopped: %s; %d rows settled, %d events stored", sum.AbortReason, sum.RowsRead, stored)
			if stored == 0 {
				t.Errorf("nothing was stored before the disk filled up: the test proves nothing")
			}
			// Room again: the resume reports what the engine stored but the
			// reports missed, and loads the rest.
			ropts := defaultOptions()
			ropts.Resume = dir
			sum2, _, err := Load(context.Background(), job, e, ropts)
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if sum2.ExitCode != 1 || !sum2.Balanced() || sum2.RowsRead != 3000 {
				t.Errorf("resume: exit %d, summary %+v; want 1, balanced over 3000 rows", sum2.ExitCode, sum2)
			}
			ok := reportRows(t, filepath.Join(dir, "succeeded.csv"), "crm_number")
			failed := reportRows(t, filepath.Join(dir, "failed.csv"), "error_code")
			if len(ok) != 2700 || len(failed) != 300 || countEvents(t, e) != 2700 {
				t.Errorf("after resume: %d succeeded, %d failed, engine holds %d (%d before the resume); want 2700, 300, 2700",
					len(ok), len(failed), countEvents(t, e), stored)
			}
			// The journal stays readable for a later resume (a torn line
			// from the full disk was cut, not glued to the next one).
			if _, err := readJournal(dir, 1); err != nil {
				t.Errorf("the journal after the resume: %v", err)
			}
			for l := range ok {
				if _, both := failed[l]; both {
					t.Errorf("line %s is in both reports", l)
				}
			}
		})
	}
}
