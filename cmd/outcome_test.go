package cmd

import (
	"strings"
	"testing"

	"github.com/crmload/crmload/loader"
)

// TestLoadOutcome: the final message names what happened: rows in doubt
// only are not "rows failed", rows failed and in doubt are both said (in
// this attempt or an earlier one); a stop gives the resume hint.
func TestLoadOutcome(t *testing.T) {
	tests := []struct {
		name    string
		sum     loader.Summary
		want    string
		wantNot string
	}{
		{"in doubt only", loader.Summary{ExitCode: 1, RowsInDoubt: 3}, "3 rows are in doubt (the engine may or may not have stored them; each line says why): see RUN/in_doubt.*", "failed"},
		{"failed", loader.Summary{ExitCode: 1, RowsFailed: 2}, "2 rows failed: see RUN/failed.*", "doubt"},
		{"failed and in doubt", loader.Summary{ExitCode: 1, RowsFailed: 2, RowsInDoubt: 3, RowsInDoubtEarlier: 1}, "2 rows failed: see RUN/failed.*; and 4 rows are in doubt (the engine may or may not have stored them): see RUN/in_doubt.*", "earlier"},
		{"in doubt since an earlier attempt", loader.Summary{ExitCode: 1, RowsInDoubtEarlier: 4}, "4 rows are in doubt since an earlier attempt of this run (the engine may or may not have stored them; each line says why): see RUN/in_doubt.*", "failed"},
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

// TestPrintSummaryFound: the events a run found stored rather than created
// are blamed on the earlier attempt only in a resume; in a run of its own
// they are those of a call sent again after its answer was lost.
func TestPrintSummaryFound(t *testing.T) {
	tests := []struct {
		name   string
		resume bool
		found  int
		want   string
	}{
		{"none", false, 0, "; 7 events created in 1 call"},
		{"resume", true, 3, "; 4 events created (and 3 found stored by the earlier attempt) in 1 call"},
		{"own run", false, 3, "; 4 events created (and 3 found stored by an earlier copy of their call, sent again after its answer was lost) in 1 call"},
	}
	for _, tt := range tests {
		streams, _, errOut := Test()
		sum := &loader.Summary{Kind: "web", RowsRead: 7, RowsSucceeded: 7, EventsSucceeded: 7, EventsFound: tt.found, Batches: 1}
		printSummary(&globals{io: streams}, nil, sum, "RUN", false, tt.resume)
		if !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%s: the summary says %q, want it to say %q", tt.name, errOut.String(), tt.want)
		}
	}
}
