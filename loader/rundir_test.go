package loader

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestRunDirJob guards what commands ask of a job's run directory: its
// sources in job order (only those that started), which have failed
// rows, and their failure reports in the format each was written in.
func TestRunDirJob(t *testing.T) {
	dir := RunDir(t.TempDir())
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir.String(), name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(jobFileName, "sources:\n  - {mapping: /m/purchases.yaml, files: [/in/p.csv]}\n  - {mapping: /m/web.yaml, files: [/in/w.jsonl]}\n  - {mapping: /m/later.yaml, files: [/in/l.csv]}\n")
	write("01-purchases/failed.csv", "\ufeffa,crmload_line\n")
	write("01-purchases/summary.json", `{"rows_failed": 0, "exit_code": 0}`)
	write("02-web/failed.jsonl", `{"a":1,"crmload_line":1}`+"\n")
	write("02-web/summary.json", `{"rows_failed": 1, "exit_code": 1}`)

	if !dir.IsJob() {
		t.Fatal("IsJob() = false for a directory with job.yaml, want true")
	}
	sources, err := dir.Sources()
	if err != nil {
		t.Fatal(err)
	}
	want := []RunDir{RunDir(filepath.Join(dir.String(), "01-purchases")), RunDir(filepath.Join(dir.String(), "02-web"))}
	if !slices.Equal(sources, want) {
		t.Errorf("Sources() = %v, want %v (the third never started)", sources, want)
	}
	if got := dir.FailedSources(); !slices.Equal(got, want[1:]) {
		t.Errorf("FailedSources() = %v, want %v", got, want[1:])
	}
	if path, any := sources[0].FailedRows(); path != filepath.Join(want[0].String(), "failed.csv") || any {
		t.Errorf("FailedRows() of a header-only CSV report = %q, %v; want its path, false", path, any)
	}
	if path, any := sources[1].FailedRows(); path != filepath.Join(want[1].String(), "failed.jsonl") || !any {
		t.Errorf("FailedRows() of a JSONL report with a line = %q, %v; want its path, true", path, any)
	}
	if got := sources[1].Report(SucceededReport); got != "" {
		t.Errorf("Report(succeeded) = %q, want \"\" (none written)", got)
	}
	if got, err := sources[1].Summary(); err != nil || got.Outcome() != OutcomeRowsFailed {
		t.Errorf("Summary() = %v, %v; want outcome %v", got, err, OutcomeRowsFailed)
	}
}

// TestRunDirSummaryErrors: a run without a summary (killed, or running)
// is told from one whose summary is not a summary.
func TestRunDirSummaryErrors(t *testing.T) {
	dir := RunDir(t.TempDir())
	if _, err := dir.Summary(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Summary() of a run without one = %v, want fs.ErrNotExist", err)
	}
	if err := os.WriteFile(filepath.Join(dir.String(), summaryName), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	var bad *SummaryError
	if _, err := dir.Summary(); !errors.As(err, &bad) {
		t.Errorf("Summary() of a torn summary = %v, want a *SummaryError", err)
	}
	if dir.IsJob() {
		t.Error("IsJob() = true for a directory without job.yaml, want false")
	}
}

// TestStalePartialsRemoved: a hidden directory left by a run killed before
// its rename is removed by a later run once it is an hour old; a younger
// one (a run being created now) is left alone.
func TestStalePartialsRemoved(t *testing.T) {
	parent := t.TempDir()
	old := filepath.Join(parent, partialMark+"20261124T010000.000Z-aaaaaaaa")
	young := filepath.Join(parent, partialMark+"20261125T010000.000Z-bbbbbbbb")
	for _, d := range []string{old, young} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	if err := os.Chtimes(old, now.Add(-2*time.Hour), now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := RunDir(filepath.Join(parent, "20261125T020000.000Z-cccccccc")).create(nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("stale %s still there (%v)", old, err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("young %s removed: %v", young, err)
	}
}
