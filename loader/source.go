package loader

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/crmload/crmload/mapping"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Source streams the records of one input file. Next returns io.EOF at the
// end; any other error is the file failing (a read error), not a bad
// record: a bad record comes back with Record.Err set.
type Source interface {
	// Header is the CSV header, or nil for JSONL.
	Header() []string
	Next() (*mapping.Record, error)
	// BytesRead is how far into the file reading is (compressed bytes for
	// .gz), for progress.
	BytesRead() int64
	// ReadSHA256 is the SHA-256 (hex) of the file's bytes as they were
	// read (compressed bytes for .gz), once all were: "" before the end.
	ReadSHA256() string
	Close() error
}

// Format is an input format.
type Format string

// The input formats.
const (
	CSV   Format = "csv"
	JSONL Format = "jsonl"
)

// DetectFormat returns the format given, or the one the file's extension
// implies (.csv .tsv .jsonl .ndjson, each optionally .gz).
func DetectFormat(path, given string) (Format, error) {
	switch strings.ToLower(given) {
	case "csv":
		return CSV, nil
	case "jsonl", "ndjson":
		return JSONL, nil
	case "":
	default:
		return "", fmt.Errorf("input format %q: want csv or jsonl", given)
	}
	name := strings.TrimSuffix(strings.ToLower(path), ".gz")
	switch filepath.Ext(name) {
	case ".csv", ".tsv", ".txt":
		return CSV, nil
	case ".jsonl", ".ndjson":
		return JSONL, nil
	}
	return "", fmt.Errorf("%s: cannot tell the format from the extension; set input.format to csv or jsonl", path)
}

// SourceOptions say how to read a file (the spec's input section).
type SourceOptions struct {
	Format    string
	Delimiter string
	Encoding  string
	Comment   string
	// MaxRecordLines bounds the physical lines of one CSV record (a quoted
	// field with line breaks); <= 0 means DefaultMaxRecordLines.
	MaxRecordLines int
	// MaxRecordBytes bounds one record's bytes (a CSV record over all its
	// lines, a JSONL line); <= 0 means DefaultMaxRecordBytes. A longer
	// record fails with its line and reading goes on after it.
	MaxRecordBytes int
	// MaxFieldBytes bounds one CSV cell or JSONL string; <= 0 means
	// DefaultMaxFieldBytes.
	MaxFieldBytes int
}

// Open opens path as a source.
func Open(path string, opts SourceOptions) (Source, error) {
	format, err := DetectFormat(path, opts.Format)
	if err != nil {
		return nil, err
	}
	enc, err := lookupEncoding(opts.Encoding)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return openStream(path, f, format, enc, opts)
}

// OpenReader reads a source from r (standard input, say), named name for
// its extension (.gz, .tsv) and messages; Close closes r.
func OpenReader(name string, r io.ReadCloser, opts SourceOptions) (Source, error) {
	format, err := DetectFormat(name, opts.Format)
	if err != nil {
		return nil, err
	}
	enc, err := lookupEncoding(opts.Encoding)
	if err != nil {
		return nil, err
	}
	return openStream(name, r, format, enc, opts)
}

func openStream(path string, f io.ReadCloser, format Format, enc encoding.Encoding, opts SourceOptions) (Source, error) {
	counter := &countingReader{r: f, h: sha256.New()}
	var r io.Reader = counter
	closers := []io.Closer{f}
	if isGzip(path) {
		gz, err := gzip.NewReader(bufio.NewReaderSize(counter, 64<<10))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r = gz
		closers = append(closers, gz)
	}
	// A byte order mark says what the bytes are, whatever the mapping
	// declares (an export labelled Latin-1 that is UTF-8 with a BOM, a
	// UTF-16 file): it wins, as in browsers. Plain UTF-8 without one
	// stays on the fast path, with no transformer.
	peek := bufio.NewReaderSize(r, 64<<10)
	r = peek
	head, _ := peek.Peek(3)
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		// gzip's magic bytes, in a file not named .gz (or compressed twice).
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i].Close()
		}
		if isStdin(path) {
			return nil, fmt.Errorf("%s is gzip-compressed data: pipe it through gzip -dc first (... | gzip -dc | crmload ... -)", StdinName)
		}
		if isGzip(path) {
			return nil, fmt.Errorf("%s decompresses to gzip-compressed data again (compressed twice?): decompress it once (gzip -d) and load the .gz that gives", path)
		}
		return nil, fmt.Errorf("%s is gzip-compressed data: name it %s.gz to have it decompressed as it is read, or decompress it (gzip -d)", path, path)
	}
	utf16BOM := len(head) >= 2 && (string(head[:2]) == "\xff\xfe" || string(head[:2]) == "\xfe\xff")
	// What a cell that is not UTF-8 is told to do where setting the
	// encoding is not the answer: the one set lost to a UTF-8 byte order
	// mark ("" otherwise).
	notUTF8 := ""
	if enc != nil && len(head) >= 3 && string(head[:3]) == "\xef\xbb\xbf" {
		notUTF8 = fmt.Sprintf("the file starts with a UTF-8 byte order mark, which wins over input.encoding %s: if the file is %s, remove the mark (its first 3 bytes)", opts.Encoding, opts.Encoding)
	}
	switch {
	case enc != nil:
		r = transform.NewReader(r, unicode.BOMOverride(enc.NewDecoder()))
	case utf16BOM:
		r = transform.NewReader(r, unicode.BOMOverride(encoding.Nop.NewDecoder()))
	}
	closeAll := func() error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i].Close())
		}
		return errors.Join(errs...)
	}
	br := bufio.NewReaderSize(r, 256<<10)
	skipBOM(br)
	if format == JSONL {
		return &jsonlSource{lr: newLineReader(br, opts.MaxRecordBytes), maxField: opts.MaxFieldBytes, counter: counter, close: closeAll, notUTF8: notUTF8}, nil
	}
	delim, comment, err := csvDialect(path, opts)
	if err != nil {
		closeAll()
		return nil, err
	}
	var commentBytes []byte
	if comment != 0 {
		commentBytes = []byte(string(comment))
	}
	s, err := newCSVSource(br, []byte(string(delim)), commentBytes, opts)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s.counter, s.close, s.notUTF8 = counter, closeAll, notUTF8
	if s.rawCol >= 0 && !isStdin(path) {
		// The text under crmload_raw is a row of the run's input, in its
		// columns and with its delimiter, whatever this report was saved
		// with (a spreadsheet's ";").
		header, comma := rawHeader(path, []byte(string(delim)))
		s.setRawOrder(header)
		s.rawComma = comma
	}
	return s, nil
}

// csvDialect is a CSV input's field delimiter (input.delimiter, else a tab
// for .tsv, else a comma) and comment character (0: none).
func csvDialect(path string, opts SourceOptions) (delim, comment rune, err error) {
	delim = ','
	if strings.EqualFold(filepath.Ext(strings.TrimSuffix(strings.ToLower(path), ".gz")), ".tsv") {
		delim = '\t'
	}
	if opts.Delimiter != "" {
		d := []rune(opts.Delimiter)
		if opts.Delimiter == `\t` {
			d = []rune{'\t'}
		}
		if len(d) != 1 || d[0] == '"' || d[0] == '\n' || d[0] == '\r' {
			return 0, 0, fmt.Errorf("input.delimiter %q: want a single character other than a quote or a line break", opts.Delimiter)
		}
		delim = d[0]
	}
	if opts.Comment != "" {
		c := []rune(opts.Comment)
		if len(c) != 1 || c[0] == delim || c[0] == '"' || c[0] == '\n' || c[0] == '\r' {
			return 0, 0, fmt.Errorf("input.comment %q: want a single character other than the delimiter, a quote or a line break", opts.Comment)
		}
		comment = c[0]
	}
	return delim, comment, nil
}

// lookupEncoding finds a text encoding by name (utf-8, latin1,
// windows-1252, iso-8859-15, shift_jis, ...); nil means UTF-8.
func lookupEncoding(name string) (encoding.Encoding, error) {
	switch strings.ToLower(strings.ReplaceAll(name, "_", "-")) {
	case "", "utf-8", "utf8":
		return nil, nil
	}
	if e, err := htmlindex.Get(name); err == nil {
		return e, nil
	}
	if e, err := ianaindex.IANA.Encoding(name); err == nil && e != nil {
		return e, nil
	}
	return nil, fmt.Errorf("input.encoding %q is not an encoding this build knows (try utf-8, latin1, windows-1252, iso-8859-15)", name)
}

// skipBOM drops a UTF-8 byte order mark at the start.
func skipBOM(r *bufio.Reader) {
	if b, err := r.Peek(3); err == nil && string(b) == "\ufeff" {
		r.Discard(3)
	}
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
	// h hashes the bytes as they are read, on the reading goroutine, so
	// that a file rewritten in place under the run (same size, its
	// modification time kept: rsync --inplace -t) is told from the one
	// the run hashed when it started (~1% of a load's time); eof says
	// that all were read.
	h   hash.Hash
	eof bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if c.h != nil {
		c.h.Write(p[:n])
	}
	if err == io.EOF {
		c.eof = true
	}
	return n, err
}

// sum is ReadSHA256 of the reader.
func (c *countingReader) sum() string {
	if c.h == nil || !c.eof {
		return ""
	}
	return hex.EncodeToString(c.h.Sum(nil))
}
