package loader

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
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
}

func newLineReader(r *bufio.Reader) *lineReader {
	return &lineReader{r: r, eol: detectEOL(r)}
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
// the torn line, if any, with the error.
func (l *lineReader) readLine() ([]byte, error) {
	line, err := l.r.ReadSlice(l.eol)
	if err == bufio.ErrBufferFull {
		// Longer than the buffer: gather it (a 1 MB field is still a field).
		l.lineBuf = append(l.lineBuf[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = l.r.ReadSlice(l.eol)
			l.lineBuf = append(l.lineBuf, line...)
		}
		line = l.lineBuf
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

// tornMessage says what a damaged tail means for the user.
func tornMessage(line int, err error) string {
	return fmt.Sprintf("the file is cut short or damaged on line %d (%v): every complete row before it was read; rows after it, if any, are missing", line, err)
}
