package loader

import (
	"bufio"
	"slices"
	"strings"
	"testing"
)

// TestSetRawOrder: a report's columns in the input's order read the
// crmload_raw texts as they are; the same names moved read them by name;
// other names refuse them.
func TestSetRawOrder(t *testing.T) {
	report := []string{"crmload_line", "crmload_request_id", "error_code", "error_description", "crmload_raw"}
	tests := []struct {
		name       string
		orig, cols []string
		want       []string // a raw row a,b,c in the report's order; nil: refused
	}{
		{"same order", []string{"x", "y", "z"}, []string{"x", "y", "z"}, []string{"a", "b", "c"}},
		{"not known", nil, []string{"x", "y", "z"}, []string{"a", "b", "c"}},
		{"moved", []string{"x", "y", "z"}, []string{"z", "x", "y"}, []string{"c", "a", "b"}},
		{"renamed", []string{"x", "y", "z"}, []string{"x", "y", "w"}, nil},
		{"one more", []string{"x", "y"}, []string{"x", "y", "z"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &csvSource{header: append(slices.Clone(tt.cols), report...), keep: len(tt.cols)}
			s.setRawOrder(tt.orig)
			if tt.want == nil {
				if s.rawErr == nil || !strings.Contains(s.rawErr.Error(), "columns "+strings.Join(tt.orig, ",")) {
					t.Fatalf("rawErr = %v, want a refusal naming the input's columns", s.rawErr)
				}
				return
			}
			if s.rawErr != nil {
				t.Fatalf("rawErr = %v", s.rawErr)
			}
			if got := s.inReportOrder([]string{"a", "b", "c"}); !slices.Equal(got, tt.want) {
				t.Errorf("inReportOrder = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestJSONLReportLineNotKept: a JSONL failure report's line with only the
// report's members and an empty crmload_raw is a record that was not kept
// (over --max-record-bytes): it fails, saying so; a line with fields and
// an empty crmload_raw is read as its fields.
func TestJSONLReportLineNotKept(t *testing.T) {
	in := `{"crmload_raw":"","crmload_line":3,"crmload_request_id":"","error_code":"MalformedInputRecordException","error_description":"line 3: the record is 3.0 KiB long, over the record limit of 2.0 KiB (--max-record-bytes): it was skipped, and its text is not kept (a longer --max-record-bytes reads it)"}` + "\n" +
		`{"a":"x","crmload_raw":"","crmload_line":4,"crmload_request_id":"","error_code":"NotFoundAPIValueException","error_description":"line 4: not found"}` + "\n"
	s := &jsonlSource{lr: newLineReader(bufio.NewReader(strings.NewReader(in)), 1<<20)}
	rec, err := s.Next()
	if err != nil {
		t.Fatal(err)
	}
	want := "the row holds neither the input's values nor crmload_raw text: its record was not kept (the record is 3.0 KiB long, over the record limit of 2.0 KiB (--max-record-bytes): it was skipped, and its text is not kept); put its text, line 3 of the run's input, in crmload_raw"
	if rec.Err == nil || !strings.HasPrefix(rec.Err.Error(), want) {
		t.Errorf("first line: err %v\nwant %s...", rec.Err, want)
	}
	if rec, err = s.Next(); err != nil || rec.Err != nil || rec.Object["a"] != "x" {
		t.Errorf("second line: %+v, %v; want its fields", rec, err)
	}
}
