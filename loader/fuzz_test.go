package loader

import (
	"io"
	"os"
	"path/filepath"
	"testing"
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
		if r.Line < last {
			t.Fatalf("line went back from %d to %d", last, r.Line)
		}
		last = r.Line
		if r.Err == nil && r.Object == nil && len(r.Values) != len(src.Header()) {
			t.Fatalf("record at line %d has %d values for %d columns and no error", r.Line, len(r.Values), len(src.Header()))
		}
	}
}

func FuzzCSVSource(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n"), false)
	f.Add([]byte("\xef\xbb\xbfa,b\r\n1,\"x\ny\"\r\n"), false) // BOM, CRLF, quoted newline
	f.Add([]byte("a,b\n1,\"open"), false)                     // truncated quoted field at EOF
	f.Add([]byte("a,b\n1\n1,2,3\n"), false)                   // field counts either way
	f.Add([]byte("a\nJos\xe9\n"), true)                       // Latin-1 bytes, decoded and not
	f.Add([]byte("a,b\n1,x\"y\n"), false)                     // bare quote
	f.Fuzz(func(t *testing.T, data []byte, latin1 bool) {
		opts := SourceOptions{}
		if latin1 {
			opts.Encoding = "latin1"
		}
		fuzzRead(t, "in.csv", data, opts)
	})
}

func FuzzJSONLSource(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n"))
	f.Add([]byte("{\"a\":1}\r\n\n{\"a\":")) // CRLF, blank line, truncated last line
	f.Add([]byte("[1]\nnull\n\"s\"\n"))     // valid JSON that is not an object
	f.Add([]byte("{\"a\":1}{\"b\":2}\n"))   // two values on a line
	f.Add([]byte("\xff\xfe{}\n"))           // invalid UTF-8
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRead(t, "in.jsonl", data, SourceOptions{})
	})
}
