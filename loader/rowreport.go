package loader

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/crmload/crmload/mapping"
)

// reportBlocks are the column blocks a report adds after the input's own
// (succeeded, failed with and without the raw text, in doubt). When an
// input is itself a report (a failed.csv loaded again), its trailing block
// is not carried over twice.
var reportBlocks = [][]string{succeededColumns, failedReportColumns(false), failedColumns, inDoubtColumns}

// clashPrefix is put before every added column of a report whose input
// has a column of the same name (a source with its own error_code), as
// often as needed: the original columns are kept exactly, and a mapping
// that reads error_code reads the input's, also in a retry.
const clashPrefix = "crmload_"

// reportTail is how many trailing names form a report block: the block's
// names, all with one prefix made of clashPrefix repeated (none is usual).
func reportTail(names []string) int {
	for _, b := range reportBlocks {
		if len(names) < len(b) {
			continue
		}
		tail := names[len(names)-len(b):]
		p, ok := strings.CutSuffix(tail[0], b[0])
		if !ok || strings.ReplaceAll(p, clashPrefix, "") != "" {
			continue
		}
		match := true
		for i := range b {
			match = match && tail[i] == p+b[i]
		}
		if match {
			return len(b)
		}
	}
	return 0
}

// addedNames are the names of the added columns for an input that has the
// names has: base, or prefixed so that none is a name of the input.
func addedNames(base []string, has func(string) bool) []string {
	p := ""
	for slices.ContainsFunc(base, func(n string) bool { return has(p + n) }) {
		p = clashPrefix + p
	}
	if p == "" {
		return base
	}
	out := make([]string, len(base))
	for i, n := range base {
		out[i] = p + n
	}
	return out
}

// hasReportKey reports whether obj has a key named like one a report adds
// (unprefixed: a prefixed block is only written beside such a key).
func hasReportKey(obj map[string]any) bool {
	for _, b := range reportBlocks {
		for _, n := range b {
			if _, ok := obj[n]; ok {
				return true
			}
		}
	}
	return false
}

// dialect is how a run's reports are written: in the input's format and,
// for CSV, with its delimiter, as UTF-8 that starts with a byte order mark
// (which wins over input.encoding when the report is read back). So a
// report is an input for the same mapping, whatever its input options.
type dialect struct {
	jsonl          bool
	comma, comment rune
}

func (d dialect) ext() string {
	switch {
	case d.jsonl:
		return ".jsonl"
	case d.comma == '\t':
		return ".tsv"
	}
	return ".csv"
}

// rowReport writes one outcome file (succeeded or failed) in the input's
// format: CSV with the original columns then the added ones, or JSONL with
// the original object and the added keys. Rows go out as they settle.
type rowReport struct {
	path    string
	f       *os.File
	w       *bufio.Writer
	csv     *csv.Writer // CSV: the header, and rows when direct is false
	direct  bool        // CSV: rows are appended to w by appendCSVRecord (csvDelimOK)
	header  []string    // CSV: the input header; nil for JSONL
	keep    int         // leading columns of header to copy
	comment rune        // CSV: the input's comment character, never to start a line
	raw     bool        // CSV: the last added column is crmload_raw, from the record
	added   []string
	rows    int
	row     []string // CSV: write's row, reused (csv.Writer keeps none)
}

// openRowReport creates the report, or with resumeAt >= 0 reopens it cut
// to resumeAt bytes (a resumed run appends to what was journaled).
func openRowReport(path string, header []string, d dialect, added []string, resumeAt int64) (*rowReport, error) {
	var f *os.File
	var err error
	if resumeAt > 0 {
		if err := asWritten(path, header, d, added, resumeAt); err != nil {
			return nil, err
		}
		if err := truncateTo(path, resumeAt); err != nil {
			return nil, err
		}
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	} else {
		f, err = os.Create(path)
	}
	if err != nil {
		return nil, err
	}
	r := &rowReport{path: path, f: f, w: bufio.NewWriterSize(runDirWriter(f), 64<<10), added: added}
	if !d.jsonl {
		r.header, r.keep, r.comment = header, len(header)-reportTail(header), d.comment
		r.raw = len(added) > 0 && added[len(added)-1] == rawColumn
		orig := header[:r.keep]
		r.added = addedNames(added, func(n string) bool { return slices.Contains(orig, n) })
		r.csv = csv.NewWriter(r.w)
		r.csv.Comma = d.comma
		r.direct = csvDelimOK(d.comma)
		if resumeAt <= 0 {
			r.w.WriteString("\ufeff")
			if err := r.csv.Write(append(slices.Clone(orig), r.added...)); err != nil {
				f.Close()
				return nil, err
			}
			r.csv.Flush() // before the rows written to w itself
		}
	}
	return r, nil
}

// flush writes what is buffered to the file and returns the file's size.
func (r *rowReport) flush() (int64, error) {
	if r.csv != nil {
		r.csv.Flush()
		if err := r.csv.Error(); err != nil {
			return 0, err
		}
	}
	if err := r.w.Flush(); err != nil {
		return 0, err
	}
	return r.f.Seek(0, io.SeekEnd)
}

// write adds one input record with the values of the added columns (but
// crmload_raw, which is the record's own raw text).
func (r *rowReport) write(rec *mapping.Record, vals ...string) error {
	r.rows++
	if r.csv != nil {
		row := r.row[:0]
		for i := 0; i < r.keep; i++ {
			if i < len(rec.Values) {
				row = append(row, rec.Values[i])
			} else {
				row = append(row, "")
			}
		}
		row = append(row, vals...)
		if r.raw {
			row = append(row, string(rec.Raw))
		}
		r.row = row
		if r.comment != 0 && len(row) > 0 && strings.HasPrefix(row[0], string(r.comment)) {
			return r.writeQuotedFirst(row)
		}
		if r.direct {
			_, err := r.w.Write(appendCSVRecord(r.w.AvailableBuffer(), row, r.csv.Comma))
			return err
		}
		return r.csv.Write(row)
	}
	return r.writeJSON(rec, vals)
}

// writeQuotedFirst writes a row whose first field starts with the comment
// character quoted, so that reading the report back does not take the row
// for a comment (encoding/csv quotes only what it must).
func (r *rowReport) writeQuotedFirst(row []string) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Comma = r.csv.Comma
	if err := w.Write(row); err != nil {
		return err
	}
	w.Flush()
	line := b.String()
	if !strings.HasPrefix(line, `"`) {
		line = `"` + row[0] + `"` + line[len(row[0]):]
	}
	r.csv.Flush()
	_, err := r.w.WriteString(line)
	return err
}

// writeJSON splices the added keys into the original line, so the object's
// keys, their order and its numbers' digits are as they were. A line that
// is itself a report's (a failed.jsonl loaded again) loses its trailing
// report keys first; an added key that the object has is prefixed (see
// clashPrefix). A line that was not a JSON object is kept whole under
// crmload_raw.
func (r *rowReport) writeJSON(rec *mapping.Record, vals []string) error {
	var b bytes.Buffer
	raw := bytes.TrimSpace(rec.Raw)
	added := r.added
	if rec.Object != nil && len(raw) > 1 && raw[len(raw)-1] == '}' {
		body := bytes.TrimSpace(raw[:len(raw)-1])
		if hasReportKey(rec.Object) {
			// The slow path: only for objects with a key named like ours.
			var keys []string
			body, keys = cutReportKeys(raw, body)
			added = addedNames(r.added, func(n string) bool { return slices.Contains(keys, n) })
		}
		b.Write(body)
		if len(body) > 1 { // not "{"
			b.WriteByte(',')
		}
	} else {
		b.WriteString(`{"crmload_raw":`)
		q, _ := json.Marshal(string(rec.Raw))
		b.Write(q)
		b.WriteByte(',')
	}
	for i, k := range added {
		if i > 0 {
			b.WriteByte(',')
		}
		kq, _ := json.Marshal(k)
		b.Write(kq)
		b.WriteByte(':')
		if r.added[i] == "crmload_line" {
			b.WriteString(vals[i])
			continue
		}
		vq, _ := json.Marshal(vals[i])
		b.Write(vq)
	}
	b.WriteString("}\n")
	_, err := r.w.Write(b.Bytes())
	return err
}

// cutReportKeys returns body (the object without its closing brace) cut
// before a trailing block of report keys, if it ends with one, and the
// top-level keys that remain.
func cutReportKeys(raw, body []byte) ([]byte, []string) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return body, nil
	}
	var keys []string
	var ends []int64 // ends[i]: where the object stands just before key i
	for dec.More() {
		ends = append(ends, dec.InputOffset())
		t, err := dec.Token()
		if err != nil {
			return body, keys
		}
		k, _ := t.(string)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return body, keys
		}
		keys = append(keys, k)
	}
	n := reportTail(keys)
	if n == 0 {
		return body, keys
	}
	cut := int(ends[len(keys)-n])
	return bytes.TrimRight(bytes.TrimSpace(raw[:cut]), ","), keys[:len(keys)-n]
}

// Close flushes and closes the file; it blocks until the data is written.
func (r *rowReport) Close() error {
	if r.csv != nil {
		r.csv.Flush()
		if err := r.csv.Error(); err != nil {
			r.f.Close()
			return err
		}
	}
	if err := r.w.Flush(); err != nil {
		r.f.Close()
		return err
	}
	if err := r.f.Sync(); err != nil {
		r.f.Close()
		return err
	}
	return r.f.Close()
}

// asWritten refuses a report a resume would append to at resumeAt (the
// size its journal vouches for) when it is not as the run wrote it: its
// first line is not the header the run wrote (saved again with another
// delimiter, line ends or no byte order mark), or resumeAt is not the end
// of a row. Cut there and appended to, it would hold rows torn in two.
func asWritten(path string, header []string, d dialect, added []string, resumeAt int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var want []byte
	if !d.jsonl {
		orig := header[:len(header)-reportTail(header)]
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		w.Comma = d.comma
		w.Write(append(slices.Clone(orig), addedNames(added, func(n string) bool { return slices.Contains(orig, n) })...))
		w.Flush()
		want = append([]byte("\ufeff"), b.Bytes()...)
	}
	head := make([]byte, len(want))
	last := make([]byte, 1)
	_, errHead := io.ReadFull(f, head)
	_, errLast := f.ReadAt(last, resumeAt-1)
	if errHead == nil && bytes.Equal(head, want) && errLast == nil && last[0] == '\n' {
		return nil
	}
	return fmt.Errorf("%s is not as the run left it (saved again since it stopped?): a resume goes on writing it where the run stopped, and would tear its rows; put back the report as the run wrote it and resume, then edit the final report for a retry", path)
}
