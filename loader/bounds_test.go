package loader

import (
	"bufio"
	"io"
	"strings"
	"testing"
)

// TestCSVRecordBound: a record over --max-record-bytes, on one line or
// over several (a quoted field), fails with its lines, and the next
// record is read whole.
func TestCSVRecordBound(t *testing.T) {
	in := "a,b\n" +
		"1," + strings.Repeat("x", 100) + "\n" + // line 2: over 64 bytes
		"2,ok\n" + // line 3
		"3,\"" + strings.Repeat("q", 30) + "\n" + strings.Repeat("q", 30) + "\n" + strings.Repeat("q", 30) + "\"\n" + // lines 4-6
		"4,fine\n" + // line 7
		"5," + strings.Repeat("f", 40) + "\n" // line 8: under the record bound, over the field bound
	s, err := newCSVSource(bufio.NewReaderSize(strings.NewReader(in), 16), []byte(","), nil, SourceOptions{MaxRecordBytes: 64, MaxFieldBytes: 32})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		rec, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Err != nil {
			got = append(got, rec.Err.Error())
		} else {
			got = append(got, rec.Values[0]+"="+rec.Values[1])
		}
	}
	want := []string{
		"the record is 103 bytes long, over the record limit of 64 bytes (--max-record-bytes): it was skipped, and its text is not kept (a longer --max-record-bytes reads it)",
		"2=ok",
		// As with --max-record-lines, the span ends where the bound is
		// reached, and reading goes on at the next line.
		"the record on lines 4-5 is over the record limit of 64 bytes (--max-record-bytes): it was skipped, and its text is not kept (a longer --max-record-bytes reads it)",
		`malformed CSV (line 6): a " inside a field that does not start with one (quote the whole field and double the quote: "say ""hi""")`,
		"4=fine",
		"column b is 40 bytes long, over the field limit of 32 bytes (--max-field-bytes)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestJSONLFieldBound: a string over the field bound fails its line.
func TestJSONLFieldBound(t *testing.T) {
	in := `{"a": "` + strings.Repeat("x", 80) + `"}` + "\n" + `{"a": {"b": ["` + strings.Repeat("y", 40) + `"]}}` + "\n" + `{"a": "short"}` + "\n"
	s := &jsonlSource{lr: newLineReader(bufio.NewReader(strings.NewReader(in)), 80), maxField: 32}
	var got []string
	for {
		rec, err := s.Next()
		if err == io.EOF {
			break
		}
		if rec.Err != nil {
			got = append(got, rec.Err.Error())
		} else {
			got = append(got, "ok")
		}
	}
	want := "the record is 90 bytes long, over the record limit of 80 bytes (--max-record-bytes): it was skipped, and its text is not kept (a longer --max-record-bytes reads it)\n" +
		"a.b[0] is 40 bytes long, over the field limit of 32 bytes (--max-field-bytes)\nok"
	if strings.Join(got, "\n") != want {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
}

// TestNulHint: UTF-16 without a byte order mark is named, with the
// encoding to declare.
func TestNulHint(t *testing.T) {
	le := "a\x00,\x00b\x00\n\x00"
	if h := nulHint([]byte(le)); !strings.Contains(h, "utf-16le") || !strings.Contains(h, "UTF-16 (little-endian)") {
		t.Errorf("little-endian: %s", h)
	}
	if h := nulHint([]byte("\x00a\x00,\x00b\x00\n")); !strings.Contains(h, "utf-16be") {
		t.Errorf("big-endian: %s", h)
	}
	if h := nulHint([]byte("abc\x00\x00\x00\x00\x00")); strings.Contains(h, "every other byte") {
		t.Errorf("zero padding taken for UTF-16: %s", h)
	}
}
