package loader

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// The text under crmload_raw is a row of the input of the first run of a
// retry chain, in that input's column order. A failure report edited in a
// spreadsheet may have its columns moved: a row read from its crmload_raw
// is then put in the report's order by the columns' names, and refused
// when the names are not that input's, rather than read shifted (a
// Country stored as a product's description, with exit 0).

// rawHeader is the header of the input whose rows the crmload_raw texts of
// the failure report at path are: that of the first run up its chain of
// retries, read from its succeeded report (with the delimiter that run
// wrote it with, comma when it cannot be told). It is nil where the report
// is not in a run directory (a copy elsewhere), or the header cannot be
// read: the report's own order is taken then.
func rawHeader(path string, comma []byte) (header []string, delim []byte) {
	dir := reportRunDir(path)
	if !dir.HasRunFile() {
		return nil, nil
	}
	for range 1000 { // a chain is short; a loop of links is not followed forever
		up := dir.RetryOf()
		if up == "" {
			break
		}
		dir = RunDir(up)
	}
	for _, ext := range []string{filepath.Ext(path), ".csv", ".tsv"} {
		f, err := os.Open(dir.file(SucceededReport + ext))
		if err != nil {
			continue
		}
		defer f.Close()
		if d := reportDelimiter(f.Name()); d != "" {
			comma = []byte(d)
		}
		br := bufio.NewReader(f)
		skipBOM(br)
		h, err := newCSVReader(newLineReader(br, DefaultMaxRecordBytes), comma, nil, 0).read()
		if err != nil || h.err != nil {
			return nil, nil
		}
		names := slices.Clone(h.fields)
		return names[:len(names)-reportTail(names)], comma
	}
	return nil, nil
}

// setRawOrder compares the columns of this report with orig, the input's
// whose rows its crmload_raw texts are: the same names in another order
// give rawOrder; other names give rawErr, for each row read from its text.
func (s *csvSource) setRawOrder(orig []string) {
	cur := s.header[:s.keep]
	if orig == nil || slices.Equal(orig, cur) {
		return
	}
	if len(orig) == len(cur) {
		order := make([]int, len(cur))
		for i, name := range cur {
			if order[i] = slices.Index(orig, name); order[i] < 0 {
				break
			}
		}
		if !slices.Contains(order, -1) {
			s.rawOrder = order
			return
		}
	}
	s.rawErr = fmt.Errorf("%s holds the row as the run's input had it (columns %s), and this report's columns before crmload_line are others (%s): put them back so, or empty %s and fix the cells",
		rawColumn, strings.Join(orig, ","), strings.Join(cur, ","), rawColumn)
}

// inReportOrder puts the values of a row read from crmload_raw (in the
// input's column order) in the report's.
func (s *csvSource) inReportOrder(values []string) []string {
	if s.rawOrder == nil {
		return values
	}
	out := make([]string, len(values))
	for i, j := range s.rawOrder {
		out[i] = values[j]
	}
	return out
}

// reportDelimiter is the delimiter a run wrote its CSV report at path with
// (its header's added block follows the input's columns: the character
// after crmload_line), "" when it cannot be told. A report loaded again
// may be read with another (re-saved with ";" by a spreadsheet), but the
// reports of its run chain are as their runs wrote them.
func reportDelimiter(path string) string {
	if strings.HasSuffix(path, ".jsonl") {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, _ := io.ReadFull(f, head)
	line, _, _ := strings.Cut(string(head[:n]), "\n")
	i := strings.LastIndex(line, succeededColumns[0])
	if i < 0 || i+len(succeededColumns[0]) >= len(line) {
		return ""
	}
	d, _ := utf8.DecodeRuneInString(line[i+len(succeededColumns[0]):])
	if d == utf8.RuneError || d == '\r' {
		return ""
	}
	return string(d)
}

// reportRunDir is the run directory of the failure report at path: its
// own directory, or, for a run's copy of the report it loads
// (RUN/input/failed.csv, which a resume reads once the report was
// edited), the directory of the report it is a copy of.
func reportRunDir(path string) RunDir {
	dir := RunDir(filepath.Dir(path))
	if dir.HasRunFile() || filepath.Base(string(dir)) != reportCopyDir {
		return dir
	}
	rf, err := RunDir(filepath.Dir(string(dir))).RunFile()
	if abs, _ := filepath.Abs(path); err != nil || len(rf.Inputs) != 1 || rf.Copy != abs {
		return dir
	}
	return RunDir(filepath.Dir(rf.Inputs[0].Path))
}
