package mapping

import (
	"reflect"
	"unsafe"
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
	alloc reflect.Type // the struct a pointer hop points to; nil on the last hop
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
			hops = append(hops, hop{off: off, alloc: t.Elem()})
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
			q = reflect.New(h.alloc).UnsafePointer()
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
