package loader

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzRead writes data to a file and reads every record: it must never
// panic or fail the file, and lines must go forward.
func fuzzRead(t *testing.T, name string, data []byte, opts SourceOptions) {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := Open(p, opts)
	if err != nil {
		return // an empty CSV or an unreadable header: refused up front
	}
	defer src.Close()
	last := 0
	for {
		r, err := src.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("Next: %v (a bad record must come back as a record with Err)", err)
		}
		if r.Line <= last {
			t.Fatalf("line went from %d to %d: records have lines of their own", last, r.Line)
		}
		last = r.Line
		if r.Err != nil && len(r.Raw) == 0 && !strings.Contains(r.Err.Error(), "cut short") && !strings.Contains(r.Err.Error(), "--max-record-bytes") {
			t.Fatalf("record at line %d failed (%v) without its raw text", r.Line, r.Err)
		}
		if r.Err == nil && !r.Comment && r.Object == nil && len(r.Values) != len(src.Header()) {
			t.Fatalf("record at line %d has %d values for %d columns and no error", r.Line, len(r.Values), len(src.Header()))
		}
	}
}

// fuzzLines reads data with the CSV reader alone and checks that every
// physical line is in exactly one record's span or is blank, and that a
// file encoding/csv reads without error gives the same records.
func fuzzLines(t *testing.T, data []byte, maxLines int) {
	p := newCSVReader(newLineReader(bufio.NewReaderSize(bytes.NewReader(data), 16), fuzzMaxRecord), []byte(","), nil, maxLines)
	var got []csvRecord
	end := 0
	for {
		before := p.blank
		r, err := p.read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if want := end + p.blank - before + 1; r.line != want || r.endLine < r.line {
			t.Fatalf("record spans lines %d-%d after line %d and %d blank lines: want it to start on line %d", r.line, r.endLine, end, p.blank-before, want)
		}
		if r.endLine-r.line >= max(maxLines, 1) {
			t.Fatalf("record spans lines %d-%d, more than %d", r.line, r.endLine, maxLines)
		}
		end = r.endLine
		got = append(got, csvRecord{fields: r.fields, line: r.line, err: r.err})
	}
	lines := bytes.Count(data, []byte{p.eol})
	if len(data) > 0 && data[len(data)-1] != p.eol {
		lines++
	}
	if p.line != lines {
		t.Fatalf("read %d lines, the data has %d", p.line, lines)
	}

	// The same records as encoding/csv, where it reads the data without
	// error and the conventions agree (LF or CRLF line breaks, no NUL).
	if p.eol != '\n' || bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) || bytes.Contains(data, []byte("\r\n\r\n")) {
		return
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	var want [][]string
	var wantLines []int
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return
		}
		line, _ := cr.FieldPos(0)
		want, wantLines = append(want, rec), append(wantLines, line)
	}
	for _, r := range got {
		if r.err != nil && (strings.Contains(r.err.Error(), "--max-record-lines") || strings.Contains(r.err.Error(), "--max-record-bytes")) {
			return // longer than this reader allows: where it resumes differs
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, encoding/csv reads %d", len(got), len(want))
	}
	for i, r := range got {
		for j, f := range r.fields {
			r.fields[j] = strings.ReplaceAll(f, "\r\n", "\n") // encoding/csv drops the CR of CRLF in quotes
		}
		if r.err != nil || !slices.Equal(r.fields, want[i]) || r.line != wantLines[i] {
			t.Fatalf("record %d = line %d %q %v, encoding/csv: line %d %q", i, r.line, r.fields, r.err, wantLines[i], want[i])
		}
	}
}

// fuzzMaxRecord is a small --max-record-bytes, so that fuzzing reaches
// the bounds (issue 17.1).
const fuzzMaxRecord = 64

func FuzzCSVSource(f *testing.F) {
	f.Add([]byte("a,b\n1,"+strings.Repeat("x", 100)+"\n2,\""+strings.Repeat("y", 40)+"\n"+strings.Repeat("y", 40)+"\"\n3,z\n"), false)
	f.Add([]byte("a,b\n1,2\n"), false)
	f.Add([]byte("\xef\xbb\xbfa,b\r\n1,\"x\ny\"\r\n"), false)               // BOM, CRLF, quoted newline
	f.Add([]byte("a,b\n1,\"open"), false)                                   // truncated quoted field at EOF
	f.Add([]byte("a,b\n1\n1,2,3\n"), false)                                 // field counts either way
	f.Add([]byte("a\nJos\xe9\n"), true)                                     // Latin-1 bytes, decoded and not
	f.Add([]byte("a,b\n1,x\"y\n"), false)                                   // bare quote
	f.Add([]byte("a,b\n1,\"www.4.com\n2,x\n3,\"www.q.com\"\n4,y\n"), false) // issue 8: a stray quote swallowed rows
	f.Add([]byte("a,b\r1,2\r3,\"x\ry\"\r"), false)                          // issue 16: CR-only line endings
	f.Add([]byte("a,b\r\n1,\"x\r\ny\"\r\n"), false)                         // issue 16: CRLF kept inside quotes
	f.Add([]byte("# c\na\n# c\n1\n\n\x00\n"), false)                        // comments, blank lines, NUL
	f.Add([]byte("a,crmload_raw\n,\"1,\"\"x\n2\"\n"), false)                // issue 13: a report row's raw text
	f.Fuzz(func(t *testing.T, data []byte, latin1 bool) {
		opts := SourceOptions{Comment: "#", MaxRecordLines: 3, MaxRecordBytes: fuzzMaxRecord, MaxFieldBytes: 16}
		if latin1 {
			opts.Encoding = "latin1"
		}
		fuzzRead(t, "in.csv", data, opts)
		fuzzLines(t, data, 3)
	})
}

func FuzzJSONLSource(f *testing.F) {
	f.Add([]byte("{\"a\":\"" + strings.Repeat("x", 100) + "\"}\n{\"b\":[\"" + strings.Repeat("y", 20) + "\"]}\n{}\n"))
	f.Add([]byte("{\"a\":1}\n"))
	f.Add([]byte("{\"a\":1}\r\n\n{\"a\":"))                                   // CRLF, blank line, truncated last line
	f.Add([]byte("[1]\nnull\n\"s\"\n"))                                       // valid JSON that is not an object
	f.Add([]byte("{\"a\":1}{\"b\":2}\n"))                                     // two values on a line
	f.Add([]byte("\xff\xfe{}\n"))                                             // invalid UTF-8
	f.Add([]byte("{\"a\":1}\r{\"a\":2}\r"))                                   // issue 16: CR-only line endings
	f.Add([]byte("{\"crmload_raw\":\"{\\\"a\\\":1}\",\"crmload_line\":1}\n")) // issue 13: a report line's raw text
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRead(t, "in.jsonl", data, SourceOptions{})
		fuzzRead(t, "in.jsonl", data, SourceOptions{MaxRecordBytes: fuzzMaxRecord, MaxFieldBytes: 16})
	})
}
