package loader

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/crmload/crmload/mapping"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// samples are the sample inputs of testdata/, one or more per kind.
var samples = []struct{ name, spec, input string }{
	{"purchases", "purchases/mapping.yaml", "purchases/online_retail.csv"},
	{"purchases_jsonl", "purchases/mapping_jsonl.yaml", "purchases/orders.jsonl"},
	{"achievements", "achievements/mapping.yaml", "achievements/achievements.csv"},
	{"referrals", "referrals/mapping.yaml", "referrals/referrals.csv"},
	{"social_media", "social_media/mapping.yaml", "social_media/social_media.csv"},
	{"web", "web/mapping.yaml", "web/web.csv"},
	{"web_jsonl", "web/mapping_jsonl.yaml", "web/web.jsonl"},
	{"financial_achievements", "financial_achievements/mapping.yaml", "financial_achievements/financial_achievements.csv"},
	{"financial_statements", "financial_statements/mapping.yaml", "financial_statements/financial_statements.csv"},
}

// golden compares got with testdata/golden/<name>, or rewrites it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./loader -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// stableSummary is the summary without what changes from run to run.
func stableSummary(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if !s.Balanced() {
		t.Errorf("summary does not balance: %+v", s)
	}
	s.RunID, s.StartedAt, s.FinishedAt, s.DurationSeconds = "", s.StartedAt.Truncate(1<<62), s.FinishedAt.Truncate(1<<62), 0
	for i, f := range s.Files {
		s.Files[i] = filepath.Base(f)
	}
	out, _ := json.MarshalIndent(s, "", "  ")
	return append(out, '\n')
}

func TestValidateSamples(t *testing.T) {
	for _, sm := range samples {
		t.Run(sm.name, func(t *testing.T) {
			specPath := filepath.Join("..", "testdata", sm.spec)
			spec, err := mapping.ReadSpec(specPath)
			if err != nil {
				t.Fatal(err)
			}
			job := &Plan{SpecPath: specPath, Spec: spec, Files: []string{filepath.Join("..", "testdata", sm.input)}, ReportDir: t.TempDir(), Engine: "none"}
			sum, dir, err := Validate(context.Background(), job)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			ext := filepath.Ext(sm.input)
			failed, err := os.ReadFile(filepath.Join(dir, "failed"+ext))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "validate/"+sm.name+".failed"+ext, failed)
			golden(t, "validate/"+sm.name+".summary.json", stableSummary(t, dir))
			copied, err := os.ReadFile(filepath.Join(dir, "mapping.yaml"))
			orig, _ := os.ReadFile(specPath)
			if err != nil || string(copied) != string(orig) {
				t.Errorf("mapping.yaml in the run directory is not a copy of the spec (%v)", err)
			}
			if sum.RowsFailed == 0 {
				t.Errorf("sample %s has no failing row: each sample shows at least one", sm.name)
			}
		})
	}
}

// TestFailedReportLoadsAgain: the failure report is itself a valid input
// for the same mapping: its added columns are ignored, and reporting it
// again does not repeat them.
func TestFailedReportLoadsAgain(t *testing.T) {
	specPath := filepath.Join("..", "testdata", "web", "mapping.yaml")
	spec, err := mapping.ReadSpec(specPath)
	if err != nil {
		t.Fatal(err)
	}
	_, dir, err := Validate(context.Background(), &Plan{SpecPath: specPath, Spec: spec,
		Files: []string{filepath.Join("..", "testdata", "web", "web.csv")}, ReportDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, dir2, err := Validate(context.Background(), &Plan{SpecPath: specPath, Spec: spec,
		Files: []string{filepath.Join(dir, "failed.csv")}, ReportDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Validate(failed.csv): %v", err)
	}
	again, err := os.ReadFile(filepath.Join(dir2, "failed.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := "\ufeffvisit_id,participant,site,visited_on,crmload_line,crmload_request_id,error_code,error_description,crmload_raw\n"
	if got := string(again); len(got) < len(want) || got[:len(want)] != want {
		t.Errorf("failed.csv of failed.csv starts %q, want the original columns once: %q", got, want)
	}
}
