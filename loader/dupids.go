package loader

import (
	"fmt"
	"hash/maphash"
	"strings"
)

// dupWatch finds request ids used twice in one file: CRM.COM stores two
// events for them, which is seldom what an export meant. It keeps a hash
// and the first line of each id (about 40 bytes an id in the map, not the
// id's text), so a file of millions of rows stays within tens of MB; two ids with one 64-bit hash
// are taken for one (about one chance in 10^7 for 10^6 ids).
type dupWatch struct {
	path  string
	seed  maphash.Seed
	first map[uint64]int // id hash -> first line
	dups  []dupID        // the first few, for the warning
	count int            // rows whose id an earlier row had
}

type dupID struct {
	id          string
	first, line int
}

const maxDupsNamed = 10

// newDupWatch watches a file's request ids; with on false (the mapping
// has no request_id: each row's is its file and line, never twice) it
// sees nothing and holds nothing.
func newDupWatch(path string, on bool) *dupWatch {
	if !on {
		return &dupWatch{path: path}
	}
	return &dupWatch{path: path, seed: maphash.MakeSeed(), first: map[uint64]int{}}
}

// see records a row's request id and returns the line of an earlier row
// with the same id, or 0.
func (d *dupWatch) see(id string, line int) int {
	if id == "" || d.first == nil {
		return 0
	}
	h := maphash.String(d.seed, id)
	if first, ok := d.first[h]; ok {
		d.count++
		if len(d.dups) < maxDupsNamed {
			d.dups = append(d.dups, dupID{id: id, first: first, line: line})
		}
		return first
	}
	d.first[h] = line
	return 0
}

// warning is the one warning of a file with duplicate request ids, or "".
func (d *dupWatch) warning(failed bool) string {
	if d.count == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d rows have the request id of an earlier row: ", d.path, d.count)
	for i, x := range d.dups {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q on lines %d and %d", x.id, x.first, x.line)
	}
	if d.count > len(d.dups) {
		fmt.Fprintf(&b, " and %d more", d.count-len(d.dups))
	}
	if failed {
		b.WriteString("; the later rows failed (--on-duplicate-request-id fail)")
	} else {
		b.WriteString("; each was stored as an event of its own (--on-duplicate-request-id fail refuses the later ones)")
	}
	return b.String()
}
