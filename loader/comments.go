package loader

import (
	"io"
	"strings"
	"unicode/utf8"

	"github.com/crmload/crmload/mapping"
)

// commentLines passes the bytes of a CSV input through to the CSV reader
// and notes the lines that start with the comment character. The CSV
// reader skips comment lines without a word; commentSource turns the ones
// it skipped back into records, so each is counted (as filtered) with its
// line. A noted line inside a quoted field is no comment: commentSource
// keeps only the lines between records.
type commentLines struct {
	r       io.Reader
	mark    []byte // the comment character, UTF-8
	line    int    // the line being read, from 1
	matched int    // bytes of mark matched at the start of the line; -1: not a comment
	lines   []int  // noted lines not yet taken
}

func newCommentLines(r io.Reader, comment rune) *commentLines {
	return &commentLines{r: r, mark: utf8.AppendRune(nil, comment), line: 1}
}

func (c *commentLines) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for _, b := range p[:n] {
		switch {
		case b == '\n':
			c.line++
			c.matched = 0
		case c.matched < 0 || c.matched == len(c.mark):
		case b == c.mark[c.matched]:
			c.matched++
			if c.matched == len(c.mark) {
				c.lines = append(c.lines, c.line)
			}
		default:
			c.matched = -1
		}
	}
	return n, err
}

// take returns the noted lines before line before (all of them for -1)
// and forgets them.
func (c *commentLines) take(before int) []int {
	i := 0
	for i < len(c.lines) && (before < 0 || c.lines[i] < before) {
		i++
	}
	out := append([]int(nil), c.lines[:i]...)
	c.lines = c.lines[i:]
	return out
}

// commentSource is a CSV source that also returns the comment lines the
// CSV reader skipped, in line order, as records with Comment set.
type commentSource struct {
	*csvSource
	lines   *commentLines
	end     int  // the last line of the records returned so far
	unsure  bool // the last record was malformed: where it ended is unknown
	queue   []int
	pending *mapping.Record
	eof     bool
}

func (s *commentSource) Next() (*mapping.Record, error) {
	for {
		if len(s.queue) > 0 {
			l := s.queue[0]
			s.queue = s.queue[1:]
			return &mapping.Record{Line: l, Comment: true}, nil
		}
		if s.pending != nil {
			rec := s.pending
			s.pending = nil
			return rec, nil
		}
		if s.eof {
			return nil, io.EOF
		}
		rec, err := s.csvSource.Next()
		start := -1 // EOF: every line left
		switch {
		case err == io.EOF:
			s.eof = true
		case err != nil:
			return nil, err
		default:
			start = rec.Line
			s.pending = rec
		}
		for _, l := range s.lines.take(start) {
			// Lines up to the end of the previous record were inside it;
			// after a malformed record, its end is unknown and the lines
			// are not counted (as before).
			if l > s.end && !s.unsure {
				s.queue = append(s.queue, l)
			}
		}
		if rec != nil {
			// A record spans one line, plus one per line break inside its
			// quoted fields.
			end := rec.Line
			for _, v := range rec.Values {
				end += strings.Count(v, "\n")
			}
			s.end, s.unsure = end, rec.Err != nil
		}
	}
}
