package loader

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmload/crmload/mapping"
)

func readAll(t *testing.T, path string, opts SourceOptions) ([]string, []*mapping.Record) {
	t.Helper()
	src, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	defer src.Close()
	var recs []*mapping.Record
	for {
		r, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		recs = append(recs, r)
	}
	return src.Header(), recs
}

// summarize renders records as "line:value|value" or "line:ERR reason".
func summarize(recs []*mapping.Record) string {
	var parts []string
	for _, r := range recs {
		switch {
		case r.Err != nil:
			parts = append(parts, itoa(r.Line)+":ERR "+r.Err.Error())
		case r.Comment:
			parts = append(parts, itoa(r.Line)+":#")
		case r.Object != nil:
			parts = append(parts, itoa(r.Line)+":"+string(r.Raw))
		default:
			parts = append(parts, itoa(r.Line)+":"+strings.Join(r.Values, "|"))
		}
	}
	return strings.Join(parts, "\n")
}

func TestCSVSource(t *testing.T) {
	bigField := strings.Repeat("x", 1<<20)
	tests := []struct {
		name       string
		file       string
		content    []byte
		opts       SourceOptions
		wantHeader string
		want       string
	}{
		{"plain", "a.csv", []byte("id,name\n1,a\n2,b\n"), SourceOptions{}, "id|name", "2:1|a\n3:2|b"},
		{"BOM and CRLF", "a.csv", []byte("\xef\xbb\xbfid,name\r\n1,a\r\n2,b\r\n"), SourceOptions{}, "id|name", "2:1|a\n3:2|b"},
		{"quoted comma and newline", "a.csv", []byte("id,name\n1,\"Smith, John\"\n2,\"two\nlines\"\n3,c\n"), SourceOptions{}, "id|name",
			"2:1|Smith, John\n3:2|two\nlines\n5:3|c"},
		{"blank lines skipped, lines counted", "a.csv", []byte("id,name\n\n1,a\n\n\n2,b\n"), SourceOptions{}, "id|name", "3:1|a\n6:2|b"},
		{"17850.0 ids kept as written", "a.csv", []byte("CustomerID\n17850.0\n"), SourceOptions{}, "CustomerID", "2:17850.0"},
		{"latin1", "a.csv", []byte("name,city\nJos\xe9,M\xfcnchen\n"), SourceOptions{Encoding: "latin1"}, "name|city", "2:José|München"},
		{"windows-1252 euro", "a.csv", []byte("price\n\x80 5\n"), SourceOptions{Encoding: "windows-1252"}, "price", "2:€ 5"},
		{"labelled latin1, UTF-8 with a BOM: the BOM wins", "a.csv", []byte("\xef\xbb\xbfname,city\nJos\xc3\xa9,M\xc3\xbcnchen\n"), SourceOptions{Encoding: "latin1"}, "name|city", "2:José|München"},
		{"UTF-16LE with a BOM", "a.csv", []byte("\xff\xfea\x00,\x00b\x00\n\x001\x00,\x00\xe9\x00\n\x00"), SourceOptions{}, "a|b", "2:1|é"},
		{"latin1 without encoding", "a.csv", []byte("name\nJos\xe9\n2\n"), SourceOptions{}, "name",
			"2:ERR column name is not valid UTF-8: set input.encoding in the mapping (latin1, windows-1252, ...)\n3:2"},
		{"wrong field count", "a.csv", []byte("a,b\n1,2\n3\n4,5\n"), SourceOptions{}, "a|b", "2:1|2\n3:ERR 1 fields, but the header has 2 columns\n4:4|5"},
		{"bare quote", "a.csv", []byte("a,b\n1,x\"y\n2,z\n"), SourceOptions{}, "a|b", "2:ERR malformed CSV: bare \" in non-quoted-field\n3:2|z"},
		{"truncated last line", "a.csv", []byte("a,b\n1,2\n3,\"unfinished"), SourceOptions{}, "a|b",
			"2:1|2\n3:ERR malformed CSV: a quoted field starting on line 3 is not closed (a truncated file, or a stray quote)"},
		{"last line without newline", "a.csv", []byte("a,b\n1,2\n3,4"), SourceOptions{}, "a|b", "2:1|2\n3:3|4"},
		{"semicolon delimiter", "a.csv", []byte("a;b\n1,5;2\n"), SourceOptions{Delimiter: ";"}, "a|b", "2:1,5|2"},
		{"tsv by extension", "a.tsv", []byte("a\tb\n1\t2\n"), SourceOptions{}, "a|b", "2:1|2"},
		{"1 MB field", "a.csv", []byte("a,b\n1," + bigField + "\n2,y\n"), SourceOptions{}, "a|b", "2:1|" + bigField + "\n3:2|y"},
		{"comment lines", "a.csv", []byte("a\n# note\n1\n"), SourceOptions{Comment: "#"}, "a", "2:#\n3:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(p, tt.content, 0o644); err != nil {
				t.Fatal(err)
			}
			header, recs := readAll(t, p, tt.opts)
			if got := strings.Join(header, "|"); got != tt.wantHeader {
				t.Errorf("header = %q, want %q", got, tt.wantHeader)
			}
			if got := summarize(recs); got != tt.want {
				t.Errorf("records =\n%.300s\nwant\n%.300s", got, tt.want)
			}
		})
	}
}

func TestJSONLSource(t *testing.T) {
	content := "{\"a\": 1250.75}\r\n\n  \n{\"a\": {\"b\": [1, 2]}}\n{\"a\": 1\n[1,2]\nnull\n{\"a\":1} {\"b\":2}\n\xff\n{\"last\": true}"
	p := filepath.Join(t.TempDir(), "a.jsonl")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	_, recs := readAll(t, p, SourceOptions{})
	want := strings.Join([]string{
		`1:{"a": 1250.75}`,
		`4:{"a": {"b": [1, 2]}}`,
		`5:ERR invalid JSON: unexpected EOF`,
		`6:ERR invalid JSON: json: cannot unmarshal array into Go value of type map[string]interface {}`,
		`7:ERR invalid JSON: want an object, got null`,
		`8:ERR invalid JSON: more than one value on the line`,
		`9:ERR not valid UTF-8: set input.encoding in the mapping`,
		`10:{"last": true}`,
	}, "\n")
	if got := summarize(recs); got != want {
		t.Errorf("records =\n%s\nwant\n%s", got, want)
	}
	if n := recs[0].Object["a"]; n != json1250 {
		t.Errorf("number = %#v, want json.Number 1250.75 (digits kept)", n)
	}
}

func TestGzipSource(t *testing.T) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte("a,b\n1,2\n"))
	zw.Close()
	p := filepath.Join(t.TempDir(), "in.csv.gz")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	header, recs := readAll(t, p, SourceOptions{})
	if strings.Join(header, "|") != "a|b" || summarize(recs) != "2:1|2" {
		t.Errorf("gzip source = %v %s", header, summarize(recs))
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.csv")
	os.WriteFile(empty, nil, 0o644)
	odd := filepath.Join(dir, "data.xlsx")
	os.WriteFile(odd, []byte("x"), 0o644)
	tests := []struct {
		path string
		opts SourceOptions
		want string
	}{
		{empty, SourceOptions{}, "the file is empty: a CSV input starts with a header row"},
		{odd, SourceOptions{}, "cannot tell the format from the extension; set input.format to csv or jsonl"},
		{empty, SourceOptions{Encoding: "klingon"}, `input.encoding "klingon" is not an encoding`},
		{empty, SourceOptions{Delimiter: "::"}, `input.delimiter "::": want a single character`},
		{filepath.Join(dir, "missing.csv"), SourceOptions{}, "no such file"},
	}
	for _, tt := range tests {
		if _, err := Open(tt.path, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%s, %+v) error = %v, want %q", filepath.Base(tt.path), tt.opts, err, tt.want)
		}
	}
}
