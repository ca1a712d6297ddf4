package loader

import (
	"fmt"
	"path/filepath"

	"github.com/crmload/crmload/mapping"
)

// splitWatch notices a group that goes on across a file boundary: the
// last group of one file and the first of the next share their key. Each
// file is mapped on its own (a group is made of consecutive rows of one
// file), so such a group becomes two events; the operator is told, with
// both line ranges.
type splitWatch struct {
	files    []string
	prev     *groupSpan // the last group of the previous file
	cur      *groupSpan // the last item of the current file, if a group
	checked  bool       // the current file's first item was compared
	warnings []string
}

type groupSpan struct {
	key         string
	file        int
	first, last int
}

// see takes each item of file in input order.
func (w *splitWatch) see(file int, it mapping.Item) {
	if it.Filtered {
		return // a filtered row neither ends nor starts a group
	}
	var span *groupSpan
	if it.Key != "" {
		span = &groupSpan{key: it.Key, file: file, first: it.Records[0].Line, last: it.Records[len(it.Records)-1].Line}
	}
	if !w.checked {
		w.checked = true
		if p := w.prev; p != nil && span != nil && p.key == span.key {
			w.warnings = append(w.warnings, fmt.Sprintf(
				"group %q is split across files: %s lines %d-%d and %s lines %d-%d are loaded as two events (a group is made of consecutive rows of one file: put its rows in one file)",
				span.key, filepath.Base(w.files[p.file]), p.first, p.last, filepath.Base(w.files[file]), span.first, span.last))
		}
	}
	w.cur = span
}

// endFile is called after the last item of a file.
func (w *splitWatch) endFile() {
	w.prev, w.cur, w.checked = w.cur, nil, false
}
