package loader

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/crmload/crmload/mapping"
)

type jsonlSource struct {
	r       *bufio.Reader
	line    int
	counter *countingReader
	close   func() error
}

func (s *jsonlSource) Header() []string { return nil }
func (s *jsonlSource) BytesRead() int64 { return s.counter.n.Load() }
func (s *jsonlSource) Close() error     { return s.close() }

// Next returns the next object. Blank lines are skipped; a line that is not
// one JSON object comes back as a record with Err and the line in Raw.
func (s *jsonlSource) Next() (*mapping.Record, error) {
	for {
		raw, err := s.r.ReadBytes('\n')
		if len(raw) == 0 && err != nil {
			if err == io.EOF {
				return nil, io.EOF
			}
			return nil, err
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		s.line++
		raw = bytes.TrimRight(raw, "\r\n")
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		rec := &mapping.Record{Line: s.line, Raw: raw}
		if !utf8.Valid(raw) {
			rec.Err = errors.New("not valid UTF-8: set input.encoding in the mapping")
			return rec, nil
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			rec.Err = fmt.Errorf("invalid JSON: %v", err)
			return rec, nil
		}
		if obj == nil {
			rec.Err = errors.New("invalid JSON: want an object, got null")
			return rec, nil
		}
		if _, err := dec.Token(); err != io.EOF {
			rec.Err = errors.New("invalid JSON: more than one value on the line")
			return rec, nil
		}
		rec.Object = obj
		return rec, nil
	}
}
