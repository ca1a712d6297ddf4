package loader

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/crmload/crmload/mapping"
)

type jsonlSource struct {
	lr      *lineReader
	done    bool // a damaged tail was returned: nothing more
	counter *countingReader
	close   func() error
}

func (s *jsonlSource) Header() []string { return nil }
func (s *jsonlSource) BytesRead() int64 { return s.counter.n.Load() }
func (s *jsonlSource) Close() error     { return s.close() }

// Next returns the next object. Blank lines are skipped; a line that is not
// one JSON object comes back as a record with Err and the line in Raw. A
// failure report's line that kept a bad line under crmload_raw is read as
// that text (fix it there, or replace the whole line, and retry).
func (s *jsonlSource) Next() (*mapping.Record, error) {
	for !s.done {
		raw, err := s.lr.readLine()
		if err != nil {
			if err == io.EOF || !damaged(err) {
				return nil, err
			}
			s.done = true
			line := s.lr.line // the torn line, counted if any of it arrived
			if len(raw) == 0 {
				line++
			}
			return &mapping.Record{Line: line, Raw: bytes.Clone(s.lr.trimEOL(raw)), Err: errors.New(tornMessage(line, err))}, nil
		}
		raw = s.lr.trimEOL(raw)
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		rec := &mapping.Record{Line: s.lr.line, Raw: bytes.Clone(raw)}
		decodeJSONL(rec)
		if text, ok := rec.Object[rawColumn].(string); ok && rec.Err == nil {
			rec = &mapping.Record{Line: rec.Line, Raw: []byte(text)}
			decodeJSONL(rec)
		}
		return rec, nil
	}
	return nil, io.EOF
}

// decodeJSONL decodes rec.Raw as one JSON object into rec.Object, or sets
// rec.Err.
func decodeJSONL(rec *mapping.Record) {
	raw := rec.Raw
	if !utf8.Valid(raw) {
		rec.Err = errors.New("not valid UTF-8: set input.encoding in the mapping")
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		rec.Err = fmt.Errorf("invalid JSON: %v", err)
		return
	}
	if obj == nil {
		rec.Err = errors.New("invalid JSON: want an object, got null")
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		rec.Err = errors.New("invalid JSON: more than one value on the line")
		return
	}
	rec.Object = obj
}
