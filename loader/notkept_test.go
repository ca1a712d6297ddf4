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

// TestCSVReportRowNotKept: a CSV report's row with no values and an
// empty crmload_raw fails on retry when its record could not be read
// (MalformedInputRecordException: over --max-record-bytes); a row of
// empty values that failed on a parameter is read as the row it is.
func TestCSVReportRowNotKept(t *testing.T) {
	in := "a,b,crmload_line,crmload_request_id,error_code,error_description,crmload_raw\n" +
		`,,3,,MalformedInputRecordException,"line 3: the record is 3.0 KiB long",` + "\n" +
		`,,4,,InvalidInputValueException,"line 4, column a: is empty",` + "\n"
	s, err := newCSVSource(bufio.NewReader(strings.NewReader(in)), []byte(","), nil, SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Next()
	if err != nil || rec.Err == nil || !strings.HasPrefix(rec.Err.Error(), notKeptWords) {
		t.Errorf("first row: %+v, %v; want it failed as not kept", rec, err)
	}
	if rec, err = s.Next(); err != nil || rec.Err != nil || len(rec.Values) != 7 || rec.Values[0] != "" {
		t.Errorf("second row: %+v, %v; want its (empty) values", rec, err)
	}
}
