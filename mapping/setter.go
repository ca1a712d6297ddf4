package mapping

import (
	"reflect"
	"unsafe"

	"github.com/crmload/crmload/internal/block"
)

// The mapping writes each row's values into a crm.Event. Doing that by
// reflection (FieldByIndex, New, SetString per value) was a fifth of the
// mapping's CPU; an assign's Go path is instead turned, once, into hops
// of byte offsets, and apply writes through them. An assign whose path
// cannot be planned (none today) keeps the reflective walk.

// hop is one step of an assign's path: the field at off of the current
// struct. The last hop is the string field set; the others are pointers
// to structs, made when nil and followed.
type hop struct {
	off   uintptr
	alloc *slab // makes the struct a pointer hop points to; nil on the last hop
}

// planHops plans steps (as assign.steps) from struct type t; nil when the
// path is not pointers to structs and embedded structs ending on a string
// (json.Number included).
func planHops(t reflect.Type, steps [][]int) []hop {
	var hops []hop
	var off uintptr
	for i, idx := range steps {
		for _, j := range idx {
			if t.Kind() != reflect.Struct || j >= t.NumField() {
				return nil
			}
			sf := t.Field(j)
			off += sf.Offset
			t = sf.Type
		}
		if i == len(steps)-1 {
			if t.Kind() != reflect.String {
				return nil
			}
			return append(hops, hop{off: off})
		}
		if t.Kind() == reflect.Pointer {
			if t.Elem().Kind() != reflect.Struct {
				return nil
			}
			hops = append(hops, hop{off: off, alloc: newSlab(t.Elem())})
			t, off = t.Elem(), 0
		} else if t.Kind() != reflect.Struct {
			return nil
		}
	}
	return nil
}

// setHops writes s at the end of hops from base, making the structs on
// the way.
func setHops(base unsafe.Pointer, hops []hop, s string) {
	p := base
	for _, h := range hops {
		at := unsafe.Add(p, h.off)
		if h.alloc == nil {
			*(*string)(at) = s
			return
		}
		q := *(*unsafe.Pointer)(at)
		if q == nil {
			q = h.alloc.take()
			*(*unsafe.Pointer)(at) = q
		}
		p = q
	}
}

// setReflect is setHops by reflection, along the assign's steps from
// root: the fallback, and the reference of the tests.
func setReflect(root reflect.Value, steps [][]int, s string) {
	v := root
	for i, idx := range steps {
		f := v.FieldByIndex(idx)
		if i == len(steps)-1 {
			f.SetString(s)
			break
		}
		if f.Kind() == reflect.Pointer {
			if f.IsNil() {
				f.Set(reflect.New(f.Type().Elem()))
			}
			f = f.Elem()
		}
		v = f
	}
}

// slabSize is how many values of a type one allocation makes at most: the
// mapping makes the same few small structs for every row (an event, its
// identifiers, its set, the item's record list), and one allocation for
// many of them cuts the allocator's and the collector's work per row. A
// slab lives as long as any of its values: a few rows' worth at most, as
// rows settle in input order. slabBytes bounds a slab's bytes (an event
// is ~750 bytes): small slabs stay small objects, never the heap's large
// ones, which fragment it.
const (
	slabSize  = 64
	slabBytes = 16 << 10
)

// slabLen is how many values of size bytes make a slab.
func slabLen(size uintptr) int {
	if size == 0 {
		return slabSize
	}
	return max(1, min(slabSize, int(slabBytes/size)))
}

// slabOf hands out zeroed values of T from shared allocations.
type slabOf[T any] struct{ free []T }

// take returns a new zero T.
func (s *slabOf[T]) take() *T {
	return &block.Cut(&s.free, 1, slabLen(unsafe.Sizeof(*new(T))))[0]
}

// slice returns n zero Ts, with a capacity of n exactly: an append past
// it copies, never overwrites a neighbour. A long slice is an allocation
// of its own (it would leave most of a slab unused).
func (s *slabOf[T]) slice(n int) []T {
	l := slabLen(unsafe.Sizeof(*new(T)))
	if n > l/4 {
		return make([]T, n)
	}
	return block.Cut(&s.free, n, l)
}

// slab is slabOf for a type known at run time (reflect).
type slab struct {
	typ  reflect.Type
	vals reflect.Value // a slice of slabSize values; those from next are free
	next int
}

func newSlab(t reflect.Type) *slab { return &slab{typ: t} }

func (s *slab) refill(n int) {
	if !s.vals.IsValid() || s.next+n > s.vals.Len() {
		l := slabLen(s.typ.Size())
		s.vals = reflect.MakeSlice(reflect.SliceOf(s.typ), l, l)
		s.next = 0
	}
}

// take returns a pointer to a new zero value.
func (s *slab) take() unsafe.Pointer {
	s.refill(1)
	p := s.vals.Index(s.next).Addr().UnsafePointer()
	s.next++
	return p
}

// sliceOf returns the array of a new empty slice with room for n values
// (cap n exactly: an append past it copies, never writes over a
// neighbour).
func (s *slab) sliceOf(n int) (unsafe.Pointer, int) {
	if n > slabLen(s.typ.Size())/4 {
		return reflect.MakeSlice(reflect.SliceOf(s.typ), n, n).UnsafePointer(), n
	}
	s.refill(n)
	p := s.vals.Index(s.next).Addr().UnsafePointer()
	s.next += n
	return p, n
}

// sliceHeader is the layout of a slice, for writing one whose element
// type is known only at run time.
type sliceHeader struct {
	data unsafe.Pointer
	len  int
	cap  int
}

// fieldOffset is the offset in struct t of the slice field at steps (one
// step: no pointer on the way).
func fieldOffset(t reflect.Type, steps [][]int) (uintptr, bool) {
	if len(steps) != 1 {
		return 0, false
	}
	var off uintptr
	for _, j := range steps[0] {
		if t.Kind() != reflect.Struct || j >= t.NumField() {
			return 0, false
		}
		sf := t.Field(j)
		off += sf.Offset
		t = sf.Type
	}
	return off, t.Kind() == reflect.Slice
}
