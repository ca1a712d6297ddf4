package loader

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/mapping"
)

// lineReader reads physical lines and counts them. Lines end with LF
// (CRLF included), or, in a file whose first line ends with a lone CR (a
// classic Mac export), with CR: each file has one convention, decided by
// its first line break, so a stray CR inside a line of an LF file stays
// data.
type lineReader struct {
	r       *bufio.Reader
	eol     byte // '\n', or '\r' for CR-only files
	line    int  // physical lines read so far
	lineBuf []byte
	// max bounds the bytes of one line kept in memory (<= 0:
	// DefaultMaxRecordBytes). A longer line is read to its end and
	// dropped: readLine returns a *lineTooLongError for it.
	max int
}

// DefaultMaxRecordBytes bounds one record (--max-record-bytes): a CSV
// record over all its lines, or a JSONL line. A line of a gigabyte (a file
// without line breaks, a binary file) costs no more memory than this.
const DefaultMaxRecordBytes = 16 << 20

// DefaultMaxFieldBytes bounds one field (--max-field-bytes): a CSV cell,
// or a JSONL string. CRM.COM's own strings are far shorter (engine serve
// takes at most 64 KiB).
const DefaultMaxFieldBytes = 1 << 20

// lineTooLongError is a line over the record bound: it was read to its
// end (so reading goes on at the next line) and dropped.
type lineTooLongError struct {
	line int   // its physical line
	size int64 // its length in bytes, line break included
	max  int
}

func (e *lineTooLongError) Error() string {
	return fmt.Sprintf("the record is %s long, over the record limit of %s (--max-record-bytes): it was skipped, and its text is not kept (a longer --max-record-bytes reads it)", byteSize(e.size), byteSize(int64(e.max)))
}

// byteSize says a size in bytes the way people read it.
func byteSize(n int64) string { return crm.ByteSize(n) }

func newLineReader(r *bufio.Reader, maxBytes int) *lineReader {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxRecordBytes
	}
	return &lineReader{r: r, eol: detectEOL(r), max: maxBytes}
}

// detectEOL peeks at the first line break: a CR not followed by LF means
// CR-only line endings.
func detectEOL(r *bufio.Reader) byte {
	head, _ := r.Peek(64 << 10)
	if i := bytes.IndexAny(head, "\r\n"); i >= 0 && head[i] == '\r' && i+1 < len(head) && head[i+1] != '\n' {
		return '\r'
	}
	return '\n'
}

// readLine returns the next physical line with its line break (none at
// the end of the file), valid until the next call. At the end it returns
// no bytes and io.EOF. A damaged file (see damaged) returns the bytes of
// the torn line, if any, with the error. A line over the bound is read to
// its end without keeping it: no bytes and a *lineTooLongError.
func (l *lineReader) readLine() ([]byte, error) {
	line, err := l.r.ReadSlice(l.eol)
	if err == bufio.ErrBufferFull {
		// Longer than the buffer: gather it (a 1 MB field is still a
		// field), up to the bound; past it, count the rest and drop it.
		l.lineBuf = append(l.lineBuf[:0], line...)
		size := int64(len(line))
		for err == bufio.ErrBufferFull {
			line, err = l.r.ReadSlice(l.eol)
			size += int64(len(line))
			if size <= int64(l.max) {
				l.lineBuf = append(l.lineBuf, line...)
			} else if l.lineBuf != nil {
				l.lineBuf = l.lineBuf[:0]
			}
		}
		if size > int64(l.max) {
			if cap(l.lineBuf) > 4<<20 {
				l.lineBuf = nil // give a big buffer back
			}
			l.line++
			if err == nil || err == io.EOF {
				return nil, &lineTooLongError{line: l.line, size: size, max: l.max}
			}
			return nil, err
		}
		line = l.lineBuf
	} else if len(line) > l.max {
		l.line++
		if err == nil || err == io.EOF {
			return nil, &lineTooLongError{line: l.line, size: int64(len(line)), max: l.max}
		}
		return nil, err
	}
	if len(line) > 0 {
		l.line++
		if err == io.EOF {
			err = nil // the last line, without a line break
		}
	}
	return line, err
}

// trimEOL drops the line break at the end of line: LF or CRLF (a lone CR
// at the very end of the file too), or CR in a CR-only file.
func (l *lineReader) trimEOL(line []byte) []byte {
	n := len(line)
	if l.eol == '\n' && n > 0 && line[n-1] == '\n' {
		n--
	}
	if n > 0 && line[n-1] == '\r' {
		n--
	}
	return line[:n]
}

// damaged reports whether a read error means the file's bytes are cut
// short or corrupt (a truncated or damaged .gz), as opposed to the file
// failing to be read (an I/O error): reading again cannot help, so the
// torn tail is a failed row and the run goes on.
func damaged(err error) bool {
	var corrupt flate.CorruptInputError
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) ||
		errors.Is(err, gzip.ErrHeader) || errors.As(err, &corrupt)
}

// tornError is the error of a damaged tail found on line at, in a record
// that starts on line start: what it means for the user, and what to do.
func tornError(start, at int, err error) *mapping.TornError {
	return &mapping.TornError{At: at, From: start, Line: start, Err: err}
}
