package loader

import (
	"bytes"
	"fmt"
	"io"
	"strconv"

	"github.com/crmload/crmload/internal/block"
)

// DefaultMaxRecordLines is how many physical lines one CSV record may
// span unless told otherwise (--max-record-lines). A quoted field may
// legitimately hold line breaks (an address, a note of a few lines); a
// stray quote would otherwise run to the next quote in the file, or to
// its end, and swallow every row between. Twenty lines hold any address
// block or short note of a customer-events export, and bound the cost of
// a stray quote to twenty lines in failed.csv, kept raw for a fix.
const DefaultMaxRecordLines = 20

// csvRecord is one read of the CSV reader: a record, a comment line, or a
// malformed span of lines.
type csvRecord struct {
	fields  []string
	line    int    // first physical line
	endLine int    // last physical line
	raw     []byte // the record's text without its final line break; valid until the next read
	err     error  // a malformed record: fields are what could be read
	comment bool
}

// csvReader reads CSV record by record over physical lines, so that a
// malformed record never takes more than its own lines: a quoting error
// ends the record at the end of the line it is found on, and a quoted
// field may run over at most maxLines lines. Unlike encoding/csv it keeps
// the bytes of line breaks inside quoted fields (CRLF stays CRLF), reads
// CR-only files, and keeps each record's raw text for the failure report.
// Its fast path mirrors encoding/csv: one string for a record's fields.
type csvReader struct {
	*lineReader
	comma    []byte
	comment  []byte // nil: no comment lines
	maxLines int
	blank    int  // blank lines skipped (not records)
	done     bool // a damaged tail was returned: nothing more

	rawBuf       []byte // earlier lines of a record spanning lines
	recordBuffer []byte
	fieldIndexes []int
	// freeFields are made ahead for fields: one allocation for the
	// field lists of many records.
	freeFields []string
}

// newCSVReader reads records separated by comma; comment, if not empty,
// starts comment lines; maxLines <= 0 means DefaultMaxRecordLines.
func newCSVReader(lr *lineReader, comma, comment []byte, maxLines int) *csvReader {
	p := &csvReader{lineReader: lr, comma: comma, comment: comment, maxLines: maxLines}
	if len(comment) == 0 {
		p.comment = nil
	}
	if p.maxLines <= 0 {
		p.maxLines = DefaultMaxRecordLines
	}
	return p
}

// read returns the next record, or io.EOF, or an error of the
// underlying reader that is not damage (see damaged).
func (p *csvReader) read() (csvRecord, error) {
	if p.done {
		return csvRecord{}, io.EOF
	}
	var cur []byte // the current physical line, with its line break
	for {
		line, err := p.readLine()
		if err != nil {
			if err == io.EOF {
				return csvRecord{}, io.EOF
			}
			if tl, ok := err.(*lineTooLongError); ok {
				return csvRecord{line: tl.line, endLine: tl.line, err: tl}, nil
			}
			if !damaged(err) {
				return csvRecord{}, err
			}
			at := p.line // the torn line, counted if any of it arrived
			if len(line) == 0 {
				at++
			}
			return p.torn(at, nil, line, err), nil
		}
		if p.comment != nil && bytes.HasPrefix(line, p.comment) {
			return csvRecord{line: p.line, endLine: p.line, raw: p.trimEOL(line), comment: true}, nil
		}
		if len(p.trimEOL(line)) == 0 {
			p.blank++
			continue
		}
		cur = line
		break
	}
	start := p.line
	p.rawBuf = p.rawBuf[:0]
	p.recordBuffer = p.recordBuffer[:0]
	p.fieldIndexes = p.fieldIndexes[:0]
	multi := false // rawBuf holds the record's earlier lines
	fail := func(msg string) (csvRecord, error) {
		raw := p.trimEOL(cur)
		switch {
		case cur == nil: // the end of the file: rawBuf holds every line
			raw = p.trimEOL(p.rawBuf)
		case multi:
			raw = append(p.rawBuf, raw...)
		}
		lines := "line " + strconv.Itoa(start)
		if p.line > start {
			lines = fmt.Sprintf("lines %d-%d", start, p.line)
		}
		return csvRecord{fields: p.fields(), line: start, endLine: p.line, raw: raw,
			err: fmt.Errorf("malformed CSV (%s): %s", lines, msg)}, nil
	}
	line := cur
parseField:
	for {
		if len(line) == 0 || line[0] != '"' {
			// An unquoted field runs to the delimiter or the line's end.
			i := bytes.Index(line, p.comma)
			field := line
			if i >= 0 {
				field = field[:i]
			} else {
				field = p.trimEOL(field)
			}
			if j := bytes.IndexByte(field, '"'); j >= 0 {
				p.recordBuffer = append(p.recordBuffer, field...)
				p.fieldIndexes = append(p.fieldIndexes, len(p.recordBuffer))
				return fail(`a " inside a field that does not start with one (quote the whole field and double the quote: "say ""hi""")`)
			}
			p.recordBuffer = append(p.recordBuffer, field...)
			p.fieldIndexes = append(p.fieldIndexes, len(p.recordBuffer))
			if i >= 0 {
				line = line[i+len(p.comma):]
				continue parseField
			}
			break parseField
		}
		// A quoted field runs to its closing quote, over lines if need be.
		line = line[1:]
		for {
			i := bytes.IndexByte(line, '"')
			if i >= 0 {
				p.recordBuffer = append(p.recordBuffer, line[:i]...)
				line = line[i+1:]
				switch {
				case len(line) > 0 && line[0] == '"': // a doubled quote
					p.recordBuffer = append(p.recordBuffer, '"')
					line = line[1:]
				case bytes.HasPrefix(line, p.comma):
					line = line[len(p.comma):]
					p.fieldIndexes = append(p.fieldIndexes, len(p.recordBuffer))
					continue parseField
				case len(p.trimEOL(line)) == 0:
					p.fieldIndexes = append(p.fieldIndexes, len(p.recordBuffer))
					break parseField
				default:
					p.fieldIndexes = append(p.fieldIndexes, len(p.recordBuffer))
					return fail(`a quoted field is followed by text before the next delimiter (a stray quote, or a quote inside a quoted field that is not doubled)`)
				}
				continue
			}
			// The field goes on past this line: keep the line break's
			// bytes as they are, and read on, within bounds.
			p.recordBuffer = append(p.recordBuffer, line...)
			if p.line-start+1 >= p.maxLines {
				p.fieldIndexes = append(p.fieldIndexes, len(p.recordBuffer))
				return fail(fmt.Sprintf("a quoted field starting on line %d is not closed within %d lines (--max-record-lines): a stray quote? this record's text is kept whole in the report", start, p.maxLines))
			}
			p.rawBuf = append(p.rawBuf, cur...)
			multi = true
			next, err := p.readLine()
			if err == nil && len(p.rawBuf)+len(next) > p.max {
				err = &lineTooLongError{line: p.line, size: int64(len(p.rawBuf) + len(next)), max: p.max}
			}
			if err != nil {
				p.fieldIndexes = append(p.fieldIndexes, len(p.recordBuffer))
				if tl, ok := err.(*lineTooLongError); ok {
					// Drop what was kept: the record's text is over the bound.
					p.rawBuf, p.recordBuffer, p.fieldIndexes = p.rawBuf[:0], p.recordBuffer[:0], p.fieldIndexes[:0]
					return csvRecord{line: start, endLine: p.line, err: fmt.Errorf("the record on lines %d-%d is over the record limit of %s (--max-record-bytes): it was skipped, and its text is not kept (a longer --max-record-bytes reads it)", start, p.line, byteSize(int64(tl.max)))}, nil
				}
				if err == io.EOF {
					cur = nil
					return fail(fmt.Sprintf("a quoted field starting on line %d is not closed before the end of the file (a truncated file, or a stray quote)", start))
				}
				if !damaged(err) {
					return csvRecord{}, err
				}
				return p.torn(start, p.rawBuf, next, err), nil
			}
			cur, line = next, next
		}
	}
	if bytes.IndexByte(p.recordBuffer, 0) >= 0 {
		return fail(nulHint(append(p.rawBuf, cur...)))
	}
	raw := p.trimEOL(cur)
	if multi {
		raw = append(p.rawBuf, raw...)
	}
	return csvRecord{fields: p.fields(), line: start, endLine: p.line, raw: raw}, nil
}

// fields turns the record buffer into strings: one allocation for them
// all, and their list is cut from freeFields (with a capacity of its
// length exactly: an append copies, never writes over the next record's).
func (p *csvReader) fields() []string {
	s := string(p.recordBuffer)
	n := len(p.fieldIndexes)
	var out []string
	if n > 64 {
		out = make([]string, n)
	} else {
		out = block.Cut(&p.freeFields, n, 1024)
	}
	prev := 0
	for i, idx := range p.fieldIndexes {
		out[i] = s[prev:idx]
		prev = idx
	}
	return out
}

// torn is the record of a damaged tail starting on line start: the
// earlier lines of the record, if any, and the bytes of the torn line.
// Nothing is read after it.
func (p *csvReader) torn(start int, earlier, line []byte, err error) csvRecord {
	p.done = true
	raw := append(earlier, p.trimEOL(line)...)
	return csvRecord{line: start, endLine: max(start, p.line), raw: raw, err: tornError(start, max(start, p.line), err)}
}

// nulHint says what NUL bytes in text mean: UTF-16 without a byte order
// mark when they fill every other byte (with the encoding to declare),
// else a damaged file.
func nulHint(text []byte) string {
	var even, odd int
	for i, b := range text {
		if b == 0 {
			if i%2 == 0 {
				even++
			} else {
				odd++
			}
		}
	}
	half := len(text) / 2
	switch {
	case half >= 2 && odd*10 >= half*8 && even*10 < half:
		return "NUL bytes in every other byte: this is UTF-16 (little-endian) without a byte order mark; set input.encoding: utf-16le in the mapping"
	case half >= 2 && even*10 >= half*8 && odd*10 < half:
		return "NUL bytes in every other byte: this is UTF-16 (big-endian) without a byte order mark; set input.encoding: utf-16be in the mapping"
	}
	return "a NUL byte: a damaged file (padded with zeros after a crash?), or UTF-16 without a byte order mark (set input.encoding: utf-16le or utf-16be)"
}
