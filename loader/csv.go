package loader

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"

	"github.com/crmload/crmload/mapping"
)

type csvSource struct {
	r       *csv.Reader
	header  []string
	counter *countingReader
	close   func() error
}

func newCSVSource(r io.Reader, delim, comment rune) (*csvSource, error) {
	cr := csv.NewReader(r)
	cr.Comma = delim
	cr.Comment = comment
	cr.FieldsPerRecord = -1 // checked here, to report the columns
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("the file is empty: a CSV input starts with a header row")
	}
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	header = slices.Clone(header)
	for i, h := range header {
		if !utf8.ValidString(h) {
			return nil, fmt.Errorf("header column %d is not valid UTF-8: set input.encoding (latin1, windows-1252, ...)", i+1)
		}
	}
	return &csvSource{r: cr, header: header}, nil
}

func (s *csvSource) Header() []string { return s.header }
func (s *csvSource) BytesRead() int64 { return s.counter.n.Load() }
func (s *csvSource) Close() error     { return s.close() }

func (s *csvSource) Next() (*mapping.Record, error) {
	values, err := s.r.Read()
	if err == io.EOF {
		return nil, io.EOF
	}
	rec := &mapping.Record{Values: values}
	var pe *csv.ParseError
	if err == nil || len(values) > 0 {
		rec.Line, _ = s.r.FieldPos(0)
	}
	switch {
	case errors.As(err, &pe):
		// A quoting error: the row is lost to the parser, the line is not.
		rec.Line = pe.StartLine
		rec.Err = fmt.Errorf("malformed CSV: %v", pe.Err)
		if pe.Err == csv.ErrQuote {
			rec.Err = fmt.Errorf("malformed CSV: a quoted field starting on line %d is not closed (a truncated file, or a stray quote)", pe.StartLine)
		}
		return rec, nil
	case err != nil:
		return nil, err
	}
	if len(values) != len(s.header) {
		rec.Err = fmt.Errorf("%d fields, but the header has %d columns", len(values), len(s.header))
		return rec, nil
	}
	for i, v := range values {
		if !utf8.ValidString(v) {
			rec.Err = fmt.Errorf("column %s is not valid UTF-8: set input.encoding in the mapping (latin1, windows-1252, ...)", s.header[i])
			return rec, nil
		}
	}
	return rec, nil
}
