package engine

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
)

// refIndex maps the values of one column of an entity (its ids, or one of
// its lookup columns) to records: the resolution cache's index of that
// column. It is a Go map's job done with fewer cache misses: a lookup of a
// short value reads one slot (the value inline and the record), where a
// map[string]*Ref of the 20k accounts of a load read a control word, a
// slot and the key's bytes elsewhere, three misses an event that were 6%
// of a 1M-row load's CPU. Open addressing, linear probing, at most 3/4
// full, 24 bytes a slot (about what a map takes a value); a value past
// inlineKey bytes is kept as its hash and compared with the record's own
// (key), so it must be the record's value: the cache's are, since a
// record's lookup values do not change within a reference version (a seed
// starts the cache over).
type refIndex struct {
	slots []refSlot // nil until the first set
	n     int
	key   func(*Ref) string // the indexed column's value of a record
}

// inlineKey is the longest value a slot holds itself.
const inlineKey = 15

// refSlot is one place of a refIndex: empty when ref is nil. n is the
// length of a value held inline, or longKey with the value's hash in
// val's first 8 bytes.
type refSlot struct {
	ref *Ref
	n   uint8
	val [inlineKey]byte
}

const longKey = 0xff

var refSeed = maphash.MakeSeed()

func newRefIndex(key func(*Ref) string) *refIndex { return &refIndex{key: key} }

// get returns the record whose value is val.
func (x *refIndex) get(val string) (*Ref, bool) {
	if x.n == 0 {
		return nil, false
	}
	h := maphash.String(refSeed, val)
	for i := x.home(h); ; i = x.next(i) {
		s := &x.slots[i]
		if s.ref == nil {
			return nil, false
		}
		if x.holds(s, h, val) {
			return s.ref, true
		}
	}
}

// holds reports whether slot s holds val, of hash h.
func (x *refIndex) holds(s *refSlot, h uint64, val string) bool {
	if len(val) <= inlineKey {
		return int(s.n) == len(val) && string(s.val[:s.n]) == val
	}
	return s.n == longKey && binary.LittleEndian.Uint64(s.val[:8]) == h && x.key(s.ref) == val
}

// set makes val's record r, and reports whether val is new.
func (x *refIndex) set(val string, r *Ref) bool {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.resize(max(16, 2*len(x.slots)))
	}
	h := maphash.String(refSeed, val)
	for i := x.home(h); ; i = x.next(i) {
		s := &x.slots[i]
		switch {
		case s.ref == nil:
			s.ref = r
			if len(val) <= inlineKey {
				s.n = uint8(copy(s.val[:], val))
			} else {
				s.n = longKey
				binary.LittleEndian.PutUint64(s.val[:8], h)
			}
			x.n++
			return true
		case x.holds(s, h, val):
			s.ref = r
			return false
		}
	}
}

// reserve makes room for n more values at once.
func (x *refIndex) reserve(n int) {
	if want := x.n + n; want*4 > len(x.slots)*3 {
		x.resize(want*4/3 + 1)
	}
}

func (x *refIndex) len() int { return x.n }

// home is where a value of hash h is sought first: the hash scaled to the
// slots, so that any number of them will do.
func (x *refIndex) home(h uint64) int {
	hi, _ := bits.Mul64(h, uint64(len(x.slots)))
	return int(hi)
}

func (x *refIndex) next(i int) int {
	if i++; i == len(x.slots) {
		return 0
	}
	return i
}

// resize moves the values into size slots.
func (x *refIndex) resize(size int) {
	old := x.slots
	x.slots = make([]refSlot, size)
	for j := range old {
		o := &old[j]
		if o.ref == nil {
			continue
		}
		var h uint64
		if o.n == longKey {
			h = binary.LittleEndian.Uint64(o.val[:8])
		} else {
			h = maphash.String(refSeed, string(o.val[:o.n]))
		}
		i := x.home(h)
		for x.slots[i].ref != nil {
			i = x.next(i)
		}
		x.slots[i] = *o
	}
}
