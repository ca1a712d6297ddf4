package loader

import (
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"strings"
)

// dupWatch finds request ids used twice in one file: CRM.COM stores two
// events for them, which is seldom what an export meant. It keeps a hash
// and the first line of each id (12 bytes a slot of idTable, ~16-24 bytes
// an id, not the id's text: 2M rows take ~40 MB), so a file of millions of
// rows stays within tens of MB; two ids with one 64-bit hash are taken
// for one (about one chance in 10^7 for 10^6 ids).
type dupWatch struct {
	path  string
	seed  maphash.Seed
	first *idShards // id hash -> first line
	dups  []dupID   // the first few, for the warning
	count int       // rows whose id an earlier row had
	// For a failure report loaded again: the ids of the rows the runs up
	// its chain stored (id hash -> index in storedBy), the earlier rows
	// of the file those runs read.
	stored   *idShards
	storedBy []string
}

// idTable maps 64-bit hashes to lines: open addressing with linear
// probing over two flat slices (a Go map takes about twice the bytes an
// entry). Its capacity grows by half when it is 7/8 full; a slot's place
// is the hash scaled to the capacity, so capacities need not be powers of
// two.
type idTable struct {
	hashes []uint64 // 0: empty (a hash of 0 is stored as 1)
	lines  []uint32 // lines past 2^32-1 are kept as 2^32-1
	n      int
}

func newIDTable(size int) *idTable {
	return &idTable{hashes: make([]uint64, size), lines: make([]uint32, size)}
}

// idShards splits the ids over idShardCount tables by their hash's low
// bits (a slot's place comes from the high bits): a growth copies one
// shard, so the old and the new table of a growth are both live for
// 1/idShardCount of the ids, not for all of them (one table of 2M ids
// held ~54 MB during its last growth, a third of a load's peak RSS).
type idShards [idShardCount]*idTable

const idShardCount = 16

func newIDShards() *idShards {
	var s idShards
	for i := range s {
		s[i] = newIDTable(1 << 12 / idShardCount)
	}
	return &s
}

// add is idTable.add on h's shard.
func (s *idShards) add(h uint64, line int) (int, bool) {
	if h == 0 {
		h = 1 // as idTable stores it: one shard for both
	}
	return s[h%idShardCount].add(h, line)
}

// slot returns where h is, or the empty slot where it would go.
func (t *idTable) slot(h uint64) int {
	hi, _ := bits.Mul64(h, uint64(len(t.hashes)))
	i := int(hi)
	for t.hashes[i] != 0 && t.hashes[i] != h {
		if i++; i == len(t.hashes) {
			i = 0
		}
	}
	return i
}

// get returns the line stored for h (false: none; a nil table has none).
func (s *idShards) get(h uint64) (int, bool) {
	if s == nil {
		return 0, false
	}
	if h == 0 {
		h = 1
	}
	t := s[h%idShardCount]
	if i := t.slot(h); t.hashes[i] == h {
		return int(t.lines[i]), true
	}
	return 0, false
}

// add returns the line stored for h, or stores line and returns false.
func (t *idTable) add(h uint64, line int) (int, bool) {
	if h == 0 {
		h = 1
	}
	i := t.slot(h)
	if t.hashes[i] == h {
		return int(t.lines[i]), true
	}
	t.hashes[i], t.lines[i] = h, uint32(min(line, math.MaxUint32))
	if t.n++; t.n > len(t.hashes)/8*7 {
		t.grow()
	}
	return 0, false
}

func (t *idTable) grow() {
	old, oldLines := t.hashes, t.lines
	size := len(old) + len(old)/2
	t.hashes, t.lines = make([]uint64, size), make([]uint32, size)
	for j, h := range old {
		if h != 0 {
			i := t.slot(h)
			t.hashes[i], t.lines[i] = h, oldLines[j]
		}
	}
}

type dupID struct {
	id          string
	first, line int
	by          string // first: a row this run stored
}

const maxDupsNamed = 10

// newDupWatch watches a file's request ids; with on false (the mapping
// has no request_id: each row's is its file and line, never twice) it
// sees nothing and holds nothing.
func newDupWatch(path string, on bool) *dupWatch {
	if !on {
		return &dupWatch{path: path}
	}
	return &dupWatch{path: path, seed: maphash.MakeSeed(), first: newIDShards()}
}

// see records a row's request id and returns the line of an earlier row
// with the same id, or 0; or the run that stored a row with that id, for
// a failure report loaded again.
func (d *dupWatch) see(id string, line int) (first int, by string) {
	if id == "" || d.first == nil {
		return 0, ""
	}
	h := maphash.String(d.seed, id)
	if k, ok := d.stored.get(h); ok {
		by = d.storedBy[k]
	} else if first, ok = d.first.add(h, line); !ok {
		return 0, ""
	}
	d.count++
	if len(d.dups) < maxDupsNamed {
		d.dups = append(d.dups, dupID{id: id, first: first, line: line, by: by})
	}
	return first, by
}

// remember records the request id of a row that failed before it was
// sent, as the first row with it if none was, without counting it.
func (d *dupWatch) remember(id string, line int) {
	if id != "" && d.first != nil {
		d.first.add(maphash.String(d.seed, id), line)
	}
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
		if x.by != "" {
			fmt.Fprintf(&b, "%q on line %d and stored by run %s", x.id, x.line, x.by)
			continue
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
