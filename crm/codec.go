package crm

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
)

// A codec says how the strict reader (decode.go) fills one struct type:
// which parameter names it has, exactly as their json tags spell them, and
// what each holds. Only four shapes occur in the API's requests: strings,
// numbers (json.Number), objects (a pointer to a struct) and lists of
// objects (a slice of structs); crmload's own extension methods add
// booleans (JSON true and false only). Anything else in a struct the reader is
// given is a programming error, found when the codec is built.
type codec struct {
	typ    reflect.Type
	size   int64 // bytes one value of typ takes, for the memory budget
	fields map[string]*fieldCodec
	words  int // uint64 words of a set with a bit per field (fieldCodec.slot)
	id     int // the codec's index in a bodyReader's orders
}

type shape uint8

const (
	shapeString shape = iota
	shapeNumber
	shapeObject
	shapeList
	shapeBool
)

type fieldCodec struct {
	name  string // the parameter's name
	slot  int    // its bit in a set of the codec's fields (nameSet)
	index []int
	// off is the field's offset in the struct (the steps of index are
	// all struct values, none a pointer), typ its type: the quick reader
	// (quickbulk.go) writes fields in place.
	off   uintptr
	typ   reflect.Type
	shape shape
	elem  *codec // shapeObject: the pointed-to struct; shapeList: the element
}

var (
	codecs     sync.Map // reflect.Type -> *codec
	codecIDs   atomic.Int32
	numberType = reflect.TypeFor[json.Number]()
)

// codecOf returns the codec of struct type t.
func codecOf(t reflect.Type) *codec {
	if c, ok := codecs.Load(t); ok {
		return c.(*codec)
	}
	c := &codec{typ: t, size: int64(t.Size()), fields: map[string]*fieldCodec{}, id: int(codecIDs.Add(1)) - 1}
	c.add(t, nil, 0)
	c.words = (len(c.fields) + 63) / 64
	actual, _ := codecs.LoadOrStore(t, c)
	return actual.(*codec)
}

func (c *codec) add(t reflect.Type, prefix []int, base uintptr) {
	for i := range t.NumField() {
		f := t.Field(i)
		index := append(append([]int(nil), prefix...), i)
		tag, hasTag := f.Tag.Lookup("json")
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && f.Type.Kind() == reflect.Struct && name == "" {
			c.add(f.Type, index, base+f.Offset) // embedded: its parameters are the outer object's
			continue
		}
		if !f.IsExported() || !hasTag || name == "-" || name == "" {
			continue // not a parameter (Kind, Events, Run, ...)
		}
		fc := &fieldCodec{name: name, slot: len(c.fields), index: index, off: base + f.Offset, typ: f.Type}
		switch {
		case f.Type == numberType:
			fc.shape = shapeNumber
		case f.Type.Kind() == reflect.String:
			fc.shape = shapeString
		case f.Type.Kind() == reflect.Bool:
			fc.shape = shapeBool
		case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct:
			fc.shape, fc.elem = shapeObject, codecOf(f.Type.Elem())
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			fc.shape, fc.elem = shapeList, codecOf(f.Type.Elem())
		default:
			panic(fmt.Sprintf("crm: %s.%s: the strict reader has no shape for %s", t, f.Name, f.Type))
		}
		if _, dup := c.fields[name]; dup {
			panic(fmt.Sprintf("crm: %s: parameter %s is declared twice", c.typ, name))
		}
		c.fields[name] = fc
	}
}
