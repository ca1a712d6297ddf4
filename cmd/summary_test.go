package cmd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmload/crmload/loader"
)

// writeRun writes a run directory holding summary s.
func writeRun(t *testing.T, dir string, s loader.Summary) string {
	t.Helper()
	dir = filepath.Join(dir, s.RunID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(s)
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSummaryNotWhole: an operator gating on crmload summary's exit code
// never passes a load whose runs are not all there, or are counted twice:
// exit 2 (ExitNotWhole) with the reason; a directory given twice counts
// once; a retry counts as its run's failed rows fixed; duration is the
// span of the runs and files are listed once.
func TestSummaryNotWhole(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	in := []loader.InputInfo{{Path: "/in/export.csv", SHA256: "aaa"}}
	other := []loader.InputInfo{{Path: "/in/other.csv", SHA256: "bbb"}}
	shard := func(id, sh string, inputs []loader.InputInfo, start time.Duration) string {
		return writeRun(t, dir, loader.Summary{RunID: id, Command: "load", Kind: "purchase", Files: []string{inputs[0].Path}, Inputs: inputs, Shard: sh,
			StartedAt: t0.Add(start), FinishedAt: t0.Add(start + time.Minute), DurationSeconds: 60,
			RowsRead: 10, RowsSucceeded: 10, RowsOtherShards: 10})
	}
	s1 := shard("r1", "1/2", in, 0)
	s2 := shard("r2", "2/2", in, 30*time.Second)
	o2 := shard("r3", "2/2", other, 0)
	parent := writeRun(t, dir, loader.Summary{RunID: "p", Command: "load", Kind: "purchase", Files: []string{"/in/whole.csv"}, Inputs: []loader.InputInfo{{Path: "/in/whole.csv", SHA256: "ccc"}},
		StartedAt: t0, FinishedAt: t0.Add(time.Minute), RowsRead: 10, RowsSucceeded: 7, RowsFailed: 3, EventsSucceeded: 7, EventsFailed: 3,
		ErrorsByCode: map[string]int{"ACCOUNT_NOT_FOUND": 3}, ExitCode: ExitFailed})
	retry := writeRun(t, dir, loader.Summary{RunID: "q", Command: "retry", Parent: "p", Kind: "purchase", Files: []string{parent + "/failed.csv"},
		StartedAt: t0.Add(time.Hour), FinishedAt: t0.Add(time.Hour + time.Minute), RowsRead: 3, RowsSucceeded: 3, EventsSucceeded: 3, ExitCode: ExitOK})

	summary := func(args ...string) (int, string, string) {
		io, out, errOut := Test()
		code := Run(context.Background(), io, append([]string{"summary"}, args...))
		return code, out.String(), errOut.String()
	}
	for _, tt := range []struct {
		name string
		runs []string
		want string
	}{
		{"one shard of two", []string{s1}, "shard 2/2 of /in/export.csv is not among the runs"},
		{"the same directory twice", []string{s1, s1, s2}, "is given more than once"},
		{"the same directory spelled twice", []string{s1, s2, filepath.Join(dir, ".", "r2")}, "is given more than once"},
		{"shards of different inputs", []string{s1, o2}, "not among the runs"},
		{"a shard and the whole", []string{s1, s2, writeRun(t, dir, loader.Summary{RunID: "w", Kind: "purchase", Inputs: in, Files: []string{"/in/export.csv"}, RowsRead: 20, RowsSucceeded: 20})}, "loads the whole of /in/export.csv, and other runs shards of it"},
		{"a retry without its run", []string{retry}, "is a retry of run p, which is not among the runs"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := summary(tt.runs...)
			if code != ExitNotWhole || !strings.Contains(out+errOut, tt.want) || !strings.Contains(errOut, "do not make one whole load") {
				t.Errorf("exit %d, want %d with %q:\n%s\n%s", code, ExitNotWhole, tt.want, out, errOut)
			}
		})
	}

	// The whole: exit 0, the span of the runs, each file once.
	code, out, errOut := summary("--json", s1, s2)
	var c Combined
	if err := json.Unmarshal([]byte(out), &c); err != nil || code != ExitOK {
		t.Fatalf("two shards: exit %d %v\n%s\n%s", code, err, out, errOut)
	}
	if c.DurationSeconds != 90 || len(c.Files) != 1 || c.RowsRead != 20 || len(c.Problems) > 0 {
		t.Errorf("two shards: duration %v (want 90), files %q, read %d", c.DurationSeconds, c.Files, c.RowsRead)
	}

	// A run and its retry: the retry's rows are the run's failed rows fixed.
	code, out, errOut = summary("--json", parent, retry)
	c = Combined{}
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err, out)
	}
	if code != ExitOK || c.RowsRead != 10 || c.RowsSucceeded != 10 || c.RowsFailed != 0 || !c.Balanced || len(c.ErrorsByCode) != 0 || c.EventsFailed != 0 || c.RetriesOf[retry] != parent {
		t.Errorf("a run and its retry: exit %d %+v\n%s", code, c, errOut)
	}
	code, out, _ = summary(parent, retry)
	if code != ExitOK || !strings.Contains(out, "retry of "+parent) {
		t.Errorf("a run and its retry, as a table: exit %d\n%s", code, out)
	}

	// A run that has not finished (killed: its job.json, no summary):
	// exit 3, and the message says so rather than "not one whole load".
	killed := filepath.Join(dir, "k")
	if err := os.MkdirAll(killed, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(killed, "job.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = summary(s1, s2, killed)
	if code != ExitAborted || !strings.Contains(errOut, "a run given has not finished: "+killed+" has no summary") || strings.Contains(errOut, "whole load") {
		t.Errorf("with a killed run: exit %d\n%s\n%s", code, out, errOut)
	}
	// Killed, and its input edited since: the summary says a resume will
	// refuse it, rather than suggest one.
	edited := filepath.Join(dir, "edited.csv")
	if err := os.WriteFile(edited, []byte("a,b\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("a,b\n1,2\n"))
	rf, _ := json.Marshal(loader.RunFile{Files: []string{edited}, Inputs: []loader.InputInfo{{Path: edited, Size: 8, SHA256: hex.EncodeToString(sum[:])}}})
	if err := os.WriteFile(filepath.Join(killed, "job.json"), rf, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		content string
		refused bool
	}{{"a,b\n1,2\n", false}, {"a,b\n1,2\n3,4\n", false}, {"a,b\n1,9\n", true}} {
		if err := os.WriteFile(edited, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, errOut = summary(killed)
		if got := strings.Contains(errOut, "--resume "+killed+" will refuse it: "+edited+" changed since the run started"); got != tc.refused || !strings.Contains(errOut, "--resume "+killed) {
			t.Errorf("a killed run whose input is now %q: says a resume is refused %v, want %v\n%s", tc.content, got, tc.refused, errOut)
		}
	}
	// A run that finished stopped part-way (exit 3, its summary written)
	// beside a problem of another kind: not "has not finished".
	stopped := writeRun(t, dir, loader.Summary{RunID: "st", Command: "load", Kind: "purchase", Files: []string{"/in/s.csv"}, Inputs: []loader.InputInfo{{Path: "/in/s.csv", SHA256: "ddd"}},
		StartedAt: t0, FinishedAt: t0.Add(time.Minute), RowsRead: 5, RowsSucceeded: 5, EventsSucceeded: 5, ExitCode: ExitAborted, AbortReason: "interrupted"})
	code, out, errOut = summary(stopped, retry)
	if code != ExitAborted || !strings.Contains(errOut, "do not make one whole load") || strings.Contains(errOut, "has not finished") {
		t.Errorf("a stopped run and a retry without its run: exit %d\n%s\n%s", code, out, errOut)
	}
}
