package loader

import (
	"fmt"
	"hash/maphash"
	"io"
	"path/filepath"
	"slices"
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
// not each on consecutive rows: a run writes a group's rows together, and
// a report sorted in a spreadsheet (by description, say) would load one
// invoice as many events, each with the invoice's request id. An input
// the export wrote is taken as it comes (a group made of rows apart is
// warned about); a report is read once more here, before anything is
// sent, since nothing of it is loaded yet and it holds only the rows that
// failed.
func groupsApart(path string, plan *Plan, opts SourceOptions) error {
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
