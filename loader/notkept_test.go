package loader

import (
	"bufio"
	"strings"
	"testing"
)

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
