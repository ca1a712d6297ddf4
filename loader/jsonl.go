package loader

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/crmload/crmload/mapping"
	"github.com/go-json-experiment/json/jsontext"
)

type jsonlSource struct {
	lr   *lineReader
	done bool // a damaged tail was returned: nothing more
	// maxField bounds a string's bytes (--max-field-bytes).
	maxField int
	counter  *countingReader
	close    func() error
	// notUTF8 is what a line that is not UTF-8 is told to do.
	notUTF8 string
}

func (s *jsonlSource) Header() []string   { return nil }
func (s *jsonlSource) BytesRead() int64   { return s.counter.n.Load() }
func (s *jsonlSource) ReadSHA256() string { return s.counter.sum() }
func (s *jsonlSource) Close() error       { return s.close() }

// Next returns the next object. Blank lines are skipped; a line that is not
// one JSON object comes back as a record with Err and the line in Raw. A
// failure report's line that kept a bad line under crmload_raw is read as
// that text (fix it there, or replace the whole line, and retry).
func (s *jsonlSource) Next() (*mapping.Record, error) {
	for !s.done {
		raw, err := s.lr.readLine()
		if tl, ok := err.(*lineTooLongError); ok {
			return &mapping.Record{Line: tl.line, Err: tl}, nil
		}
		if err != nil {
			if err == io.EOF || !damaged(err) {
				return nil, err
			}
			s.done = true
			line := s.lr.line // the torn line, counted if any of it arrived
			if len(raw) == 0 {
				line++
			}
			return &mapping.Record{Line: line, Raw: bytes.Clone(s.lr.trimEOL(raw)), Err: tornError(line, line, err)}, nil
		}
		raw = s.lr.trimEOL(raw)
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		rec := &mapping.Record{Line: s.lr.line, Raw: bytes.Clone(raw)}
		decodeJSONL(rec)
		if errors.Is(rec.Err, errNotUTF8) && s.notUTF8 != "" {
			rec.Err = fmt.Errorf("not valid UTF-8: %s", s.notUTF8)
		}
		// An empty crmload_raw is a line given by its fields, as an
		// empty cell of a CSV report is a row given by its columns; with
		// no field, its record was not kept (over --max-record-bytes).
		if text, ok := rec.Object[rawColumn].(string); ok && rec.Err == nil && text == "" && rec.Object[failedColumns[2]] == mapping.CodeMalformedRecord && onlyReportMembers(rec.Object) {
			line, _ := rec.Object[failedColumns[0]].(json.Number)
			why, _ := rec.Object[failedColumns[3]].(string)
			rec = &mapping.Record{Line: rec.Line, Err: notKeptError(string(line), why)}
		} else if ok && rec.Err == nil && text != "" {
			if strings.TrimSpace(text) == "" {
				rec = &mapping.Record{Line: rec.Line, Raw: rec.Raw, Err: errors.New(rawColumn + " holds no record: put the line's text there, or empty it and give the fields")}
			} else {
				rec = &mapping.Record{Line: rec.Line, Raw: []byte(text)}
				decodeJSONL(rec)
				if rec.Err != nil {
					// Its fields were not read, its crmload_raw was.
					rec.Err = fmt.Errorf("%w (read from the line's %s, not its fields: fix the text there, or empty it and fix the fields)", rec.Err, rawColumn)
				}
			}
		}
		max := s.maxField
		if max <= 0 {
			max = DefaultMaxFieldBytes
		}
		if rec.Err == nil && len(raw) > max {
			// Only a line longer than the bound can hold a string over it.
			if path, n := longString(rec.Object, "", max); path != "" {
				rec.Err = fmt.Errorf("%s is %s long, over the field limit of %s (--max-field-bytes)", path, byteSize(int64(n)), byteSize(int64(max)))
				rec.Object = nil
			}
		}
		return rec, nil
	}
	return nil, io.EOF
}

// onlyReportMembers says whether a failure report's line holds only the
// members a report adds: none of the input's.
func onlyReportMembers(obj map[string]any) bool {
	for k := range obj {
		if k != rawColumn && !slices.Contains(failedColumns, k) {
			return false
		}
	}
	return true
}

// errNotUTF8 is a line's error when it is not UTF-8.
var errNotUTF8 = errors.New("not valid UTF-8: set input.encoding in the mapping")

// decodeJSONL decodes rec.Raw as one JSON object into rec.Object, or sets
// rec.Err.
func decodeJSONL(rec *mapping.Record) {
	raw := rec.Raw
	if bytes.IndexByte(raw, 0) >= 0 {
		rec.Err = errors.New(nulHint(raw))
		return
	}
	if !utf8.Valid(raw) {
		rec.Err = errNotUTF8
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		var wrong *json.UnmarshalTypeError
		if errors.As(err, &wrong) && wrong.Field == "" {
			rec.Err = fmt.Errorf("invalid JSON: want an object, got %s %s", article(wrong.Value), wrong.Value)
			return
		}
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
	// What encoding/json lets through and a server refuses (RFC 7493, as
	// engine serve reads a call): a name given twice in one object,
	// whose last value it kept without a word, and a lone surrogate
	// escape, which it read as U+FFFD.
	if !jsontext.Value(raw).IsValid() {
		rec.Err = strictError(raw)
		return
	}
	rec.Object = obj
}

// strictError says why raw, which encoding/json read, is not strict JSON.
func strictError(raw []byte) error {
	_, err := jsontext.NewDecoder(bytes.NewReader(raw)).ReadValue()
	var se *jsontext.SyntacticError
	switch {
	case !errors.As(err, &se):
		return fmt.Errorf("invalid JSON: %v", err)
	case errors.Is(se.Err, jsontext.ErrDuplicateName):
		return fmt.Errorf("invalid JSON: %s is given twice in one object (two values are never merged or one picked: give it once)", pointerName(se.JSONPointer))
	}
	return fmt.Errorf("invalid JSON at %s (byte %d of the line): %v", cmp.Or(pointerName(se.JSONPointer), "the line"), se.ByteOffset+1, se.Err)
}

// pointerName is a JSON pointer as the mapping names a member: /a/b is
// a.b, /a/0 is a[0].
func pointerName(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if tok == "" {
			tok = `""` // the empty name
		}
		if strings.Trim(tok, "0123456789") == "" && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

// article is the article of a JSON type's name.
func article(name string) string {
	if name != "" && strings.ContainsRune("aeiou", rune(name[0])) {
		return "an"
	}
	return "a"
}

// longString finds a string (or key) in v longer than max bytes: its path
// and length, or "".
func longString(v any, path string, max int) (string, int) {
	switch x := v.(type) {
	case string:
		if len(x) > max {
			return path, len(x)
		}
	case json.Number:
		if len(x) > max {
			return path, len(x)
		}
	case map[string]any:
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if len(k) > max {
				return "a key of " + cmp.Or(path, "the object"), len(k)
			}
			if p, n := longString(e, p, max); p != "" {
				return p, n
			}
		}
	case []any:
		for i, e := range x {
			if p, n := longString(e, fmt.Sprintf("%s[%d]", path, i), max); p != "" {
				return p, n
			}
		}
	}
	return "", 0
}
