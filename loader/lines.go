package loader

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/crmload/crmload/mapping"
)

// lineNotes passes the bytes of a CSV input through to encoding/csv and
// notes, by line number, what that reader loses: the lines that start with
// the comment character (it skips them without a word) and the lines that
// end in CRLF (it turns a CRLF inside a quoted field into LF). lineSource
// puts both back: comment lines as records counted as filtered, CRLFs
// inside values as they were.
type lineNotes struct {
	r        io.Reader
	mark     []byte // the comment character, UTF-8; nil: none
	line     int    // the line being read, from 1
	matched  int    // bytes of mark matched at the start of the line; -1: not a comment
	prevCR   bool   // the last byte read was a CR
	comments []int  // lines starting with mark, not yet taken
	crlf     []int  // lines ending in CRLF, not yet taken
}

func newLineNotes(r io.Reader, comment rune) *lineNotes {
	n := &lineNotes{r: r, line: 1}
	if comment != 0 {
		n.mark = utf8.AppendRune(nil, comment)
	}
	return n
}

func (n *lineNotes) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	b := p[:k]
	if n.mark == nil {
		// The fast path: only line ends matter.
		for len(b) > 0 {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				n.prevCR = b[len(b)-1] == '\r'
				break
			}
			if (i > 0 && b[i-1] == '\r') || (i == 0 && n.prevCR) {
				n.crlf = append(n.crlf, n.line)
			}
			n.line++
			n.prevCR = false
			b = b[i+1:]
		}
		return k, err
	}
	for _, c := range b {
		switch {
		case c == '\n':
			if n.prevCR {
				n.crlf = append(n.crlf, n.line)
			}
			n.line++
			n.matched = 0
		case n.matched < 0 || n.matched == len(n.mark):
		case c == n.mark[n.matched]:
			n.matched++
			if n.matched == len(n.mark) {
				n.comments = append(n.comments, n.line)
			}
		default:
			n.matched = -1
		}
		n.prevCR = c == '\r'
	}
	return k, err
}

// take returns the lines of *list before line before (all of them for -1)
// and forgets them.
func take(list *[]int, before int) []int {
	l := *list
	i := 0
	for i < len(l) && (before < 0 || l[i] < before) {
		i++
	}
	*list = l[i:]
	return l[:i:i]
}

// lineSource is a CSV source that gives back what encoding/csv loses (see
// lineNotes): the comment lines it skipped, in line order, as records with
// Comment set, and CRLF line breaks inside quoted fields.
type lineSource struct {
	*csvSource
	notes   *lineNotes
	end     int  // the last line of the records returned so far
	unsure  bool // the last record was malformed: where it ended is unknown
	queue   []int
	pending *mapping.Record
	eof     bool
}

func (s *lineSource) Next() (*mapping.Record, error) {
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
		for _, l := range take(&s.notes.comments, start) {
			// Lines up to the end of the previous record were inside it;
			// after a malformed record, its end is unknown and the lines
			// are not counted (as before).
			if l > s.end && !s.unsure {
				s.queue = append(s.queue, l)
			}
		}
		take(&s.notes.crlf, start)
		if rec != nil {
			s.end, s.unsure = s.restoreCRLF(rec), rec.Err != nil
		}
	}
}

// restoreCRLF puts back the CRs of line breaks inside rec's values and
// returns the record's last line. A record spans one line plus one per
// line break inside its quoted fields, so the k-th line break of the
// record ends line rec.Line+k-1.
func (s *lineSource) restoreCRLF(rec *mapping.Record) int {
	line := rec.Line
	for i, v := range rec.Values {
		breaks := strings.Count(v, "\n")
		if breaks == 0 {
			continue
		}
		crlf := take(&s.notes.crlf, line+breaks)
		if len(crlf) > 0 && rec.Err == nil {
			var b strings.Builder
			l := line
			for j := 0; j < len(v); j++ {
				if v[j] == '\n' {
					for len(crlf) > 0 && crlf[0] < l {
						crlf = crlf[1:]
					}
					if len(crlf) > 0 && crlf[0] == l {
						b.WriteByte('\r')
					}
					l++
				}
				b.WriteByte(v[j])
			}
			rec.Values[i] = b.String()
		}
		line += breaks
	}
	return line
}
