package cmd

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmload/crmload/engine"
)

// TestRunExitCodes: the one place that maps errors to exit codes, seen
// through Run with test streams.
func TestRunExitCodes(t *testing.T) {
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
		{"a command that fails", []string{"events", "show", "--db", newStore(t), "7"}, ExitFailed, "", "Customer Event (7) Not Found"},
		{"no such store", []string{"events", "show", "--db", t.TempDir() + "/y.db", "7"}, ExitUsage, "", "no such store"},
		{"bad config file", []string{"--config", t.TempDir() + "/missing.yaml", "version"}, ExitUsage, "", "read config file"},
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
