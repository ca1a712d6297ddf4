package loader

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/crmload/crmload/mapping"
)

// isReport says whether the input at path with header (nil for JSONL) is
// a failure (or other) report of a run, loaded again.
func isReport(path string, header []string) bool {
	if header != nil {
		return reportTail(header) > 0
	}
	base := filepath.Base(path)
	return strings.HasPrefix(base, FailedReport+".") || strings.HasPrefix(base, InDoubtReport+".")
}

// groupsApart refuses a report whose groups (the mapping's group_by) are
// not each on consecutive rows while its rows are no longer in the run's
// order: a report sorted in a spreadsheet (by description, say) would
// load one invoice as many events, each with the invoice's request id. A
// report in the run's order (crmload_line rising) is taken as it comes,
// as the input was: a group its export had apart failed, and is loaded,
// as the run read it (warned about). A report is read once more here,
// before anything is sent, since nothing of it is loaded yet and it holds
// only the rows that failed.
func groupsApart(path string, plan *Plan, opts SourceOptions) error {
	if inOrder, err := reportInOrder(path, opts); err != nil || inOrder {
		return err
	}
	src, err := Open(path, opts)
	if err != nil {
		return err
	}
	defer src.Close()
	m, err := mapping.Compile(plan.Spec, mapping.Options{File: path, Header: src.Header()})
	if err != nil {
		return err
	}
	// Each group's first line, by its key's hash, and how many items had
	// been read when the last one holding an unreadable record was: such
	// a record splits the group around it, as it did in the run (both
	// parts fail with it), so parts with one between them are not apart.
	type groupAt struct{ line, broken int }
	seed, seen := maphash.MakeSeed(), map[uint64]groupAt{}
	items, broken := 0, 0
	var apart error
	emit := func(it mapping.Item) {
		items++
		if apart == nil && !it.Filtered && it.Key != "" {
			h, line := maphash.String(seed, it.Key), it.Records[0].Line
			if g, ok := seen[h]; ok && g.broken == broken {
				apart = fmt.Errorf("%s: the rows of group %q are apart (lines %d and %d): group_by gathers consecutive rows into one event, so it would be stored as several events (were the report's rows sorted?); put each group's rows together (sorting by crmload_line restores the run's order), then load it again",
					path, it.Key, g.line, line)
				return
			}
			seen[h] = groupAt{line: line, broken: broken}
		}
		if slices.ContainsFunc(it.Records, func(r *mapping.Record) bool { return r.Err != nil }) {
			broken = items // the parts of a group around it both fail with it
		}
	}
	for apart == nil {
		rec, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		m.Push(rec, emit)
	}
	m.Flush(emit)
	return apart
}

// reportInOrder reports whether the rows of the report at path are in
// the run's order: each row's crmload_line (the report's own rows, a row
// whose record is in crmload_raw included; rows added by hand have none)
// no lower than the one before.
func reportInOrder(path string, opts SourceOptions) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	skipBOM(br)
	lr := newLineReader(br, cmp.Or(opts.MaxRecordBytes, DefaultMaxRecordBytes))
	line := func(v string) (int, bool) {
		n, err := strconv.Atoi(v)
		return n, err == nil
	}
	last := 0
	if format, _ := DetectFormat(path, opts.Format); format == JSONL {
		for {
			raw, err := lr.readLine()
			if _, long := err.(*lineTooLongError); long {
				continue
			}
			if err != nil {
				return true, nil // the end, or a line the load fails
			}
			var row struct {
				Line json.Number `json:"crmload_line"`
			}
			if json.Unmarshal(lr.trimEOL(raw), &row) != nil {
				continue
			}
			if n, ok := line(string(row.Line)); ok {
				if n < last {
					return false, nil
				}
				last = n
			}
		}
	}
	delim, _, err := csvDialect(path, opts)
	if err != nil {
		return false, err
	}
	r := newCSVReader(lr, []byte(string(delim)), nil, opts.MaxRecordLines)
	h, err := r.read()
	if err != nil || h.err != nil || reportTail(h.fields) == 0 {
		return true, nil // no crmload_line: nothing to tell the order by
	}
	col := len(h.fields) - reportTail(h.fields)
	for {
		rec, err := r.read()
		if err != nil {
			return true, nil
		}
		if rec.err != nil || col >= len(rec.fields) {
			continue
		}
		if n, ok := line(rec.fields[col]); ok {
			if n < last {
				return false, nil
			}
			last = n
		}
	}
}

// reportColumnsKept refuses a CSV failure report whose added columns
// (crmload_line ... crmload_raw) are no longer its last ones, in their
// order: moved in a spreadsheet, they are read as the input's own, and a
// row whose record is only in crmload_raw (it could not be read) would be
// loaded as a row of empty values (filtered out, or its invoice stored in
// part). A retry's report (reports) must keep them; a file that holds
// none of them is any other file (a report cleaned by hand for load -m).
func reportColumnsKept(path string, header []string, reports bool) error {
	if !reports && !strings.HasPrefix(filepath.Base(path), FailedReport+".") {
		return nil // an input of an export's own
	}
	added := failedReportColumns(false)
	isAdded := func(h string, names ...string) bool {
		return slices.ContainsFunc(names, func(a string) bool {
			return strings.HasSuffix(h, a) && strings.ReplaceAll(strings.TrimSuffix(h, a), clashPrefix, "") == ""
		})
	}
	tail := reportTail(header)
	if tail > 0 && !slices.ContainsFunc(header[:len(header)-tail], func(h string) bool { return isAdded(h, rawColumn) }) {
		return nil // a report as crmload wrote it
	}
	var kept []string
	for _, h := range header {
		if isAdded(h, added...) {
			kept = append(kept, h)
		}
	}
	switch {
	case len(kept) > 0:
		return fmt.Errorf("%s: the columns crmload added to this report (%s) are not its last ones, in that order (it has %s there): a row whose record is only in crmload_raw would be read as a row of empty values; put them back at the end, in that order",
			path, strings.Join(added, ","), strings.Join(kept, ","))
	case reports:
		return fmt.Errorf("%s has none of the columns crmload added to it (%s): a row whose record is only in crmload_raw would be read as a row of empty values; put them back at the end, in that order (or load the rows you kept as a file of your own with load -m, and --again)",
			path, strings.Join(added, ","))
	}
	return nil
}
