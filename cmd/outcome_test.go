package cmd

import (
	"strings"
	"testing"

	"github.com/crmload/crmload/loader"
)

// TestLoadOutcome: the final message names what happened: rows in doubt
// only are not "rows failed"; a stop gives the resume hint.
func TestLoadOutcome(t *testing.T) {
	tests := []struct {
		name    string
		sum     loader.Summary
		want    string
		wantNot string
	}{
		{"in doubt only", loader.Summary{ExitCode: 1, RowsInDoubt: 3}, "3 rows are in doubt (the engine may or may not have stored them; each line says why): see RUN/in_doubt.*", "failed"},
		{"failed", loader.Summary{ExitCode: 1, RowsFailed: 2, RowsInDoubt: 3}, "2 rows failed: see RUN/failed.*", "doubt"},
		{"failed earlier", loader.Summary{ExitCode: 1}, "rows failed in an earlier attempt of this run: see RUN/failed.*", "doubt"},
		{"stopped", loader.Summary{ExitCode: 3, AbortReason: "cannot write the reports: no space left on device"},
			"the run stopped part-way (cannot write the reports: no space left on device); what was done is in RUN; continue it with: crmload load --resume RUN", "failed"},
	}
	for _, tt := range tests {
		got := loadOutcome(&tt.sum, "RUN")
		if got != tt.want || strings.Contains(got, tt.wantNot) {
			t.Errorf("%s: loadOutcome = %q, want %q", tt.name, got, tt.want)
		}
	}
}
