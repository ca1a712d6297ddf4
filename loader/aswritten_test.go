package loader

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestResumeRefusesReportSavedAgain: a stopped run's failed.csv saved
// again (a spreadsheet: CRLF line ends, or ";" for ",") is not cut at the
// size the journal vouches for and appended to, which tore a row in two
// and mixed two delimiters in one file: the resume is refused, saying
// so; the report as the run wrote it resumes.
func TestResumeRefusesReportSavedAgain(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func([]byte) []byte
	}{
		{"crlf", func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) }},
		{"semicolons", func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(","), []byte(";")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := seededEngine(t)
			job := loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 300))
			opts := defaultOptions()
			opts.BatchSize, opts.Concurrency, opts.MaxErrors = 10, 1, 5
			sum, dir, err := Load(context.Background(), job, e, opts)
			if err != nil || sum.Outcome() != OutcomeAborted || sum.RowsFailed == 0 {
				t.Fatalf("first attempt: %v, %+v; want stopped with failed rows", err, sum)
			}
			rep := filepath.Join(dir, "failed.csv")
			orig, err := os.ReadFile(rep)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(rep, tc.edit(orig), 0o644); err != nil {
				t.Fatal(err)
			}
			opts.Resume, opts.MaxErrors = dir, 0
			if _, _, err := Load(context.Background(), job, e, opts); err == nil || !strings.Contains(err.Error(), "is not as the run left it") {
				t.Fatalf("resume of an edited report: %v; want it refused", err)
			}
			if got, _ := os.ReadFile(rep); !bytes.Equal(got, tc.edit(orig)) {
				t.Error("the refused resume changed the report")
			}
			if err := os.WriteFile(rep, orig, 0o644); err != nil {
				t.Fatal(err)
			}
			sum, _, err = Load(context.Background(), job, e, opts)
			if err != nil {
				t.Fatal(err)
			}
			checkEveryRowOnce(t, dir, sum, 300)
		})
	}
}
