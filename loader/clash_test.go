package loader

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmload/crmload/engine"
)

// storedUDF2 returns udf_string_2 of every event the engine stored.
func storedUDF2(t *testing.T, e *engine.Engine) []string {
	t.Helper()
	var out []string
	err := e.Events(context.Background(), engine.Filter{}, func(obj []byte) error {
		var ev struct {
			UDF string `json:"udf_string_2"`
		}
		if err := json.Unmarshal(obj, &ev); err != nil {
			return err
		}
		out = append(out, ev.UDF)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReportColumnsNeverClash guards issue 16 point 7: an input column
// named like a report column (error_code, crmload_line) vanished from
// failed.csv, appeared twice in failed.jsonl, and a retry stored the CRM
// error code in its place.
func TestReportColumnsNeverClash(t *testing.T) {
	const spec = `kind: web
request_id: visit_id
fields:
  accounts_receivable_identifier: { number: account }
  performed_by_unit_identifier: { name: { const: Admin Unit } }
  performed_on: visited_on
  website: { const: www.crm.com }
  udf_string_2: error_code
  udf_string_3: crmload_line
`
	tests := []struct {
		name, ext, input string
		wantFailed       string
	}{
		{"csv", ".csv",
			"visit_id,account,visited_on,error_code,crmload_line\n" +
				"V1,ACR0000000077,2016-06-22,E-OWN-1,own line 1\n" +
				"V2,ACR9999999999,2016-06-22,E-OWN-2,own line 2\n",
			"visit_id,account,visited_on,error_code,crmload_line,crmload_crmload_line,crmload_crmload_request_id,crmload_error_code,crmload_error_description,crmload_crmload_raw\n" +
				"V2,ACR9999999999,2016-06-22,E-OWN-2,own line 2,3,V2,NotFoundAPIValueException,"},
		{"jsonl", ".jsonl",
			`{"visit_id":"V1","account":"ACR0000000077","visited_on":"2016-06-22","error_code":"E-OWN-1","crmload_line":"own line 1"}` + "\n" +
				`{"visit_id":"V2","account":"ACR9999999999","visited_on":"2016-06-22","error_code":"E-OWN-2","crmload_line":"own line 2"}` + "\n",
			`{"visit_id":"V2","account":"ACR9999999999","visited_on":"2016-06-22","error_code":"E-OWN-2","crmload_line":"own line 2","crmload_crmload_line":2,"crmload_crmload_request_id":"V2","crmload_error_code":"NotFoundAPIValueException","crmload_error_description":`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			specPath := filepath.Join(dir, "web.yaml")
			in := filepath.Join(dir, "visits"+tt.ext)
			os.WriteFile(specPath, []byte(spec), 0o644)
			os.WriteFile(in, []byte(tt.input), 0o644)
			e := seededEngine(t)
			sum, run, err := Load(context.Background(), loadJob(t, specPath, in), e, defaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if sum.RowsSucceeded != 1 || sum.RowsFailed != 1 {
				t.Fatalf("summary = %+v, want 1 succeeded, 1 failed", sum)
			}
			failed, _ := os.ReadFile(filepath.Join(run, "failed"+tt.ext))
			if !strings.HasPrefix(strings.TrimPrefix(string(failed), "\ufeff"), tt.wantFailed) {
				t.Errorf("failed%s =\n%s\nwant it to start\n%s", tt.ext, failed, tt.wantFailed)
			}
			ok, _ := os.ReadFile(filepath.Join(run, "succeeded"+tt.ext))
			if !strings.Contains(string(ok), "E-OWN-1") || !strings.Contains(string(ok), "own line 1") {
				t.Errorf("succeeded%s lost the original columns:\n%s", tt.ext, ok)
			}

			// The operator fixes the account in the failure report and loads
			// it again: the stored event has the row's own error_code, and
			// the new reports carry the original columns once.
			fixed := filepath.Join(dir, "fixed"+tt.ext)
			os.WriteFile(fixed, []byte(strings.ReplaceAll(string(failed), "ACR9999999999", "ACR0000000050")), 0o644)
			sum, run, err = Load(context.Background(), loadJob(t, specPath, fixed), e, defaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if sum.RowsSucceeded != 1 {
				t.Fatalf("reload: summary = %+v, want 1 succeeded", sum)
			}
			got := storedUDF2(t, e)
			if len(got) != 2 || got[0] != "E-OWN-1" || got[1] != "E-OWN-2" {
				t.Errorf("stored udf_string_2 = %q, want [E-OWN-1 E-OWN-2]", got)
			}
			ok, _ = os.ReadFile(filepath.Join(run, "succeeded"+tt.ext))
			if strings.Count(string(ok), "E-OWN-2") != 1 || strings.Contains(string(ok), "NotFoundAPIValueException") || strings.Count(string(ok), "crmload_crmload_line") != 1 {
				t.Errorf("reload: succeeded%s carries the old report columns or not the original ones:\n%s", tt.ext, ok)
			}
		})
	}
}

func TestReportTail(t *testing.T) {
	tests := []struct {
		header string
		want   int
	}{
		{"a,b", 0},
		{"a,error_code", 0}, // a source's own error_code is no report column
		{"a,crmload_line,crmload_request_id,error_code,error_description", 4},
		{"a,crmload_line,crmload_request_id,crm_id,crm_number", 4},
		{"a,crmload_line,crmload_request_id,error_description", 3},
		{"error_code,crmload_crmload_line,crmload_crmload_request_id,crmload_error_code,crmload_error_description", 4},
		{"a,crmload_line,crmload_request_id,crmload_error_code,crmload_error_description", 0}, // mixed prefixes
		{"a,x_crmload_line,x_crmload_request_id,x_error_code,x_error_description", 0},
	}
	for _, tt := range tests {
		if got := reportTail(strings.Split(tt.header, ",")); got != tt.want {
			t.Errorf("reportTail(%s) = %d, want %d", tt.header, got, tt.want)
		}
	}
}
