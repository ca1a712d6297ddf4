package cmd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmload/crmload/engine"
)

// TestRunExitCodes: the one place that maps errors to exit codes, seen
// through Run with test streams.
func TestRunExitCodes(t *testing.T) {
	store := filepath.Join(t.TempDir(), "y.db")
	e, err := engine.Open(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	tests := []struct {
		name    string
		args    []string
		want    int
		wantOut string
		wantErr string
	}{
		{"version", []string{"version"}, ExitOK, "crmload ", ""},
		{"unknown command", []string{"nope"}, ExitUsage, "", `unknown command "nope"`},
		{"bad flag", []string{"events", "list", "--bogus"}, ExitUsage, "", "unknown flag: --bogus"},
		{"missing argument", []string{"events", "show"}, ExitUsage, "", "accepts 1 arg(s)"},
		{"bad flag value", []string{"events", "list", "--db", t.TempDir() + "/x.db", "--format", "xml"}, ExitUsage, "", `--format "xml"`},
		{"a command that fails", []string{"events", "show", "--db", store, "7"}, ExitFailed, "", "Customer Event (7) Not Found"},
		{"no such store", []string{"events", "list", "--db", t.TempDir() + "/typo.db"}, ExitUsage, "", "typo.db does not exist"},
		{"unknown state", []string{"events", "list", "--db", store, "--state", "BOGUS"}, ExitUsage, "", `--state "BOGUS": want one of POSTED, CANCELLED`},
		{"no timeout", []string{"load", "--timeout", "0", "-m", "../testdata/web/mapping.yaml", "../testdata/web/web.csv"}, ExitUsage, "", "--timeout 0s: want a duration above 0"},
		{"negative timeout", []string{"load", "--timeout", "-1s", "-m", "../testdata/web/mapping.yaml", "../testdata/web/web.csv"}, ExitUsage, "", `--timeout "-1s": cannot be negative`},
		{"negative grace", []string{"load", "--grace", "-1s", "-m", "../testdata/web/mapping.yaml", "../testdata/web/web.csv"}, ExitUsage, "", `--grace "-1s": cannot be negative`},
		{"bad config file", []string{"--config", t.TempDir() + "/missing.yaml", "version"}, ExitUsage, "", "read config file"},
		{"no store file given", []string{"events", "list", "--db", ":memory:"}, ExitUsage, "", "names no file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, out, errOut := Test()
			if got := Run(context.Background(), io, tt.args); got != tt.want {
				t.Errorf("Run(%q) = %d, want %d (stderr %q)", tt.args, got, tt.want, errOut)
			}
			if !strings.Contains(out.String(), tt.wantOut) || !strings.Contains(errOut.String(), tt.wantErr) {
				t.Errorf("Run(%q): stdout %q, stderr %q; want %q and %q", tt.args, out, errOut, tt.wantOut, tt.wantErr)
			}
		})
	}
}

// newStore creates an empty store and returns its path.
func newStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	e, err := engine.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	return path
}

// TestInterruptedAtStart: a signal as a load starts (its context done
// before the store is open) says nothing was sent, exit 2, and leaves no
// run; it printed SQLite's "interrupted" (and a resume's exit code was 1,
// "rows failed").
func TestInterruptedAtStart(t *testing.T) {
	store := newStore(t)
	reports := filepath.Join(t.TempDir(), "r")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("interrupt signal received"))
	io, _, errOut := Test()
	args := []string{"load", "--db", store, "--report-dir", reports, "--progress", "never", "-m", "../testdata/web/mapping.yaml", "../testdata/web/web.csv"}
	if got := Run(ctx, io, args); got != ExitUsage {
		t.Errorf("exit %d, want %d (stderr %q)", got, ExitUsage, errOut)
	}
	if want := "interrupted before the run started (interrupt signal received): nothing was sent"; !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
	if _, err := os.Stat(reports); err == nil {
		t.Errorf("%s was made", reports)
	}
	io, _, errOut = Test()
	if got := Run(context.Background(), io, args); got != ExitFailed { // web.csv has a row that fails
		t.Errorf("the load after: exit %d (stderr %q)", got, errOut)
	}
}

// TestStoreFromEnvironmentCheckedWhereUsed: a --db from the environment
// (or config file) that names no store file is refused where a store is
// opened, not by commands that open none (it stopped crmload version).
func TestStoreFromEnvironmentCheckedWhereUsed(t *testing.T) {
	t.Setenv("CRMLOAD_DB", ":memory:")
	for _, c := range []struct {
		args    []string
		want    int
		wantErr string
	}{
		{[]string{"version"}, ExitOK, ""},
		{[]string{"events", "list"}, ExitUsage, "names no file"},
		{[]string{"load", "--progress", "never", "-m", "../testdata/web/mapping.yaml", "../testdata/web/web.csv"}, ExitUsage, "names no file"},
		{[]string{"engine", "seed", "../testdata/seed/reference.yaml"}, ExitUsage, "names no file"},
	} {
		io, _, errOut := Test()
		if got := Run(context.Background(), io, c.args); got != c.want || !strings.Contains(errOut.String(), c.wantErr) {
			t.Errorf("CRMLOAD_DB=:memory: %q: exit %d, stderr %q; want %d and %q", c.args, got, errOut, c.want, c.wantErr)
		}
	}
}
