package loader

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/crmload/crmload/internal/block"
	"github.com/crmload/crmload/mapping"
)

// rawColumn is the failure report's column for the raw text of a record
// that could not be read as fields (bad quoting, a ragged row). When a
// report is loaded again, a non-empty crmload_raw is read in place of the
// row's columns: fix the text there and retry.
const rawColumn = "crmload_raw"

type csvSource struct {
	r      *csvReader
	header []string
	keep   int // leading columns of header that are the input's own
	rawCol int // the header's crmload_raw column, or -1
	// rawOrder maps this report's columns to those of the rows under its
	// crmload_raw (nil: the same order); rawErr refuses those rows.
	rawOrder []int
	rawErr   error
	rawComma []byte // the delimiter of crmload_raw's text (nil: the report's)
	pending  []*mapping.Record
	counter  *countingReader
	close    func() error
	// maxField bounds a cell's bytes (--max-field-bytes).
	maxField int
	// freeRecs are made ahead for record: one allocation for many.
	freeRecs []mapping.Record
	// notUTF8 is what a cell that is not UTF-8 is told to do.
	notUTF8 string
}

func newCSVSource(r *bufio.Reader, delim, comment []byte, opts SourceOptions) (*csvSource, error) {
	cr := newCSVReader(newLineReader(r, opts.MaxRecordBytes), delim, comment, opts.MaxRecordLines)
	s := &csvSource{r: cr, rawCol: -1, maxField: opts.MaxFieldBytes}
	if s.maxField <= 0 {
		s.maxField = DefaultMaxFieldBytes
	}
	var h csvRecord
	for {
		var err error
		h, err = cr.read()
		if err == io.EOF {
			return nil, errors.New("the file is empty: a CSV input starts with a header row")
		}
		if err != nil {
			return nil, fmt.Errorf("read header: %w", err)
		}
		if !h.comment {
			break
		}
		// A comment above the header is a line of the file like any other.
		s.pending = append(s.pending, &mapping.Record{Line: h.line, Comment: true})
	}
	if h.err != nil {
		return nil, fmt.Errorf("read header: %w", h.err)
	}
	header := slices.Clone(h.fields)
	for i, col := range header {
		if len(col) > s.maxField {
			return nil, fmt.Errorf("header column %d is %s long, over the field limit of %s (--max-field-bytes): is this a CSV file?", i+1, byteSize(int64(len(col))), byteSize(int64(s.maxField)))
		}
		if !utf8.ValidString(col) {
			return nil, fmt.Errorf("header column %d is not valid UTF-8: set input.encoding (latin1, windows-1252, ...)", i+1)
		}
	}
	s.header, s.keep = header, len(header)-reportTail(header)
	// A failure report's raw text column ends its added block (with the
	// block's prefix, if its input had a column of that name).
	if i := len(header) - 1; i >= s.keep && strings.HasSuffix(header[i], rawColumn) {
		s.rawCol = i
	}
	return s, nil
}

func (s *csvSource) Header() []string   { return s.header }
func (s *csvSource) BytesRead() int64   { return s.counter.n.Load() }
func (s *csvSource) ReadSHA256() string { return s.counter.sum() }
func (s *csvSource) Close() error       { return s.close() }

func (s *csvSource) Next() (*mapping.Record, error) {
	if len(s.pending) > 0 {
		rec := s.pending[0]
		s.pending = s.pending[1:]
		return rec, nil
	}
	cr, err := s.r.read()
	if err != nil {
		return nil, err
	}
	if cr.comment {
		return &mapping.Record{Line: cr.line, Comment: true}, nil
	}
	if s.rawCol >= 0 && cr.err == nil && len(cr.fields) == len(s.header) {
		if cr.fields[s.rawCol] != "" {
			// A failure report's row whose text is kept raw: read that text.
			s.pending = s.expandRaw(cr)
			return s.Next()
		}
		// error_code: a row of empty values that failed on a parameter
		// is read as the row it is.
		if cr.fields[s.keep+2] == mapping.CodeMalformedRecord && !slices.ContainsFunc(cr.fields[:s.keep], func(v string) bool { return v != "" }) {
			return s.notKept(cr), nil
		}
	}
	return s.check(s.record(cr), cr.raw, len(s.header)), nil
}

// notKept fails a failure report's row that holds neither cells nor
// crmload_raw text: a record over --max-record-bytes, whose text was not
// kept. Read as cells, it was a row of empty values, filtered out or
// failed on some other parameter, and it no longer split or failed the
// group it was in: it fails as it did, and the rows beside it with it.
func (s *csvSource) notKept(cr csvRecord) *mapping.Record {
	// crmload_line, error_description
	return &mapping.Record{Line: cr.line, Err: notKeptError(cr.fields[s.keep], cr.fields[s.keep+3])}
}

// notKeptError is the error of a report's row whose record was not kept:
// line is its crmload_line, why its error_description.
func notKeptError(line, why string) error {
	if _, rest, ok := strings.Cut(why, ": "); ok && strings.HasPrefix(why, "line ") {
		why = rest // "line N: " is the row's line in that report
	}
	if strings.HasPrefix(why, notKeptWords) {
		// A retry's report of such a row: said as the first retry said it.
		return errors.New(why)
	}
	if why != "" {
		why = " (" + strings.TrimSuffix(why, " (a longer --max-record-bytes reads it)") + ")"
	}
	return fmt.Errorf("%s text: its record was not kept%s; put its text, line %s of the run's input, in %s (a longer --max-record-bytes reads it), or give its values",
		notKeptWords, why, cmp.Or(line, "?"), rawColumn)
}

const notKeptWords = "the row holds neither the input's values nor " + rawColumn

// record is what the source makes of a read: the fields of a record that
// is malformed (bad quoting) are not its cells, so they are left out and
// the report shows its text in crmload_raw only.
func (s *csvSource) record(cr csvRecord) *mapping.Record {
	if cr.err != nil {
		return &mapping.Record{Line: cr.line, Err: cr.err}
	}
	rec := &block.Cut(&s.freeRecs, 1, 64)[0]
	rec.Line, rec.Values = cr.line, cr.fields
	return rec
}

// check fails a record whose fields are not want UTF-8 values; a failed
// record keeps its raw text (copied: raw is the reader's buffer).
func (s *csvSource) check(rec *mapping.Record, raw []byte, want int) *mapping.Record {
	switch {
	case rec.Err != nil:
	case len(rec.Values) != want:
		rec.Err = fmt.Errorf("%d fields, but the header has %d columns", len(rec.Values), want)
	default:
		for i, v := range rec.Values {
			if len(v) > s.maxField {
				rec.Err = fmt.Errorf("column %s is %s long, over the field limit of %s (--max-field-bytes)", s.header[i], byteSize(int64(len(v))), byteSize(int64(s.maxField)))
				break
			}
			if !utf8.ValidString(v) {
				rec.Err = fmt.Errorf("column %s is not valid UTF-8: %s", s.header[i], cmp.Or(s.notUTF8, "set input.encoding in the mapping (latin1, windows-1252, ...)"))
				break
			}
		}
	}
	if rec.Err != nil {
		rec.Raw = bytes.Clone(raw)
	}
	return rec
}

// expandRaw reads the raw text of a failure report's row as the records
// of the original input (one, or several if the text spans lines): each
// gets the original columns, the report's columns empty, and the report's
// physical line its text is on.
func (s *csvSource) expandRaw(row csvRecord) []*mapping.Record {
	text := row.fields[s.rawCol]
	comma := s.r.comma
	if len(s.rawComma) > 0 {
		comma = s.rawComma
	}
	sub := newCSVReader(newLineReader(bufio.NewReader(strings.NewReader(text)), s.r.max), comma, s.r.comment, s.r.maxLines)
	sub.line = row.line - 1 // the text's lines are the report's, from the row's
	var out []*mapping.Record
	for {
		cr, err := sub.read()
		if err != nil {
			break // io.EOF: a bytes.Reader has no other error
		}
		if cr.comment {
			out = append(out, &mapping.Record{Line: cr.line, Comment: true})
			continue
		}
		rec := s.check(s.record(cr), cr.raw, s.keep)
		if rec.Err == nil && s.rawErr != nil {
			rec.Err, rec.Raw, rec.Values = s.rawErr, bytes.Clone(cr.raw), nil
		} else if rec.Err == nil {
			rec.Values = append(s.inReportOrder(rec.Values), make([]string, len(s.header)-s.keep)...)
		} else {
			// The row's cells were not read, its crmload_raw was: an edit
			// of a cell changed nothing.
			rec.Err = fmt.Errorf("%w (read from the row's %s, not its cells: fix the text there, or empty it and fix the cells)", rec.Err, rawColumn)
		}
		out = append(out, rec)
	}
	if len(out) == 0 {
		// Only blank text: the row is nothing to load, but still a row.
		out = append(out, &mapping.Record{Line: row.line, Raw: []byte(text), Err: errors.New(rawColumn + " holds no record: put the row's text there, or empty the cell and fill the columns")})
	}
	return out
}
