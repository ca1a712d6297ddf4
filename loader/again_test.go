package loader

import "testing"

// TestJobSummarySaysAgain: a job whose sources were loaded --again says
// so in its own summary.json, as its sources' summaries do.
func TestJobSummarySaysAgain(t *testing.T) {
	total := &Summary{ErrorsByCode: map[string]int{}}
	total.add(&Summary{Files: []string{"a.csv"}})
	if total.Again {
		t.Fatal("again without a source loaded --again")
	}
	total.add(&Summary{Files: []string{"b.csv"}, Again: true})
	if !total.Again {
		t.Error("a job with a source loaded --again: its summary lacks again")
	}
}
