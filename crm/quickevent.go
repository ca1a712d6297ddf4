package crm

import (
	"bytes"
	"reflect"
	"unsafe"

	"github.com/go-json-experiment/json/jsontext"
)

// The quick path of the strict reader: an event read as one value, then
// parsed from its text.
//
// The token-by-token reader spends most of a bulk call in the decoder,
// a few calls per value and a string allocated per value. Once the token
// was accepted, events reads each event as one JSON value instead (the
// decoder checks its syntax, UTF-8 included, in one pass) and quick.members
// parses that text, known to be valid JSON, by hand: every value is cut
// from one string of the event's text. It takes only the common form: the
// event's parameters given once each, of the right types, strings without
// escapes, within the limits. Anything else (a name that is not a
// parameter there, a name given twice, a value of the wrong type, an
// escape, a string too long, a memory budget exceeded) makes it give up
// having changed nothing, and the token-by-token reader reads the same
// text, with the same paths in its messages (bodyReader.base): one
// reading of the rules, the quick path is only a way to the same result.
// FuzzQuickEventSame checks the two read every body alike.

// quickEvents, false, turns the quick path off (the tests compare).
var quickEvents = true

// eventValue reads the next event, the decoder at its '{', into ev: by
// the quick path when it can, else by the token-by-token reader over its
// text.
func (b *bodyReader) eventValue(ev *Event, lv level) error {
	raw, err := b.dec.ReadValue()
	if err != nil {
		return b.fail(err)
	}
	if err := b.charge(eventCodec.size); err != nil {
		return err
	}
	used, open := b.used, b.open
	q := quick{b: b, s: string(raw)}
	if q.members(unsafe.Pointer(ev), eventCodec, lv) {
		return nil
	}
	*ev = Event{}
	b.used, b.open = used, open
	// Token by token over the event's text, its paths prefixed with the
	// event's place in the body.
	outer, base := b.dec, b.dec.StackPointer()
	b.dec, b.base = jsontext.NewDecoder(bytes.NewReader(raw), jsontext.AllowDuplicateNames(true)), base
	defer func() { b.dec, b.base = outer, "" }()
	b.dec.ReadToken() // '{'
	return b.members(reflect.ValueOf(ev).Elem(), eventCodec, lv)
}

// quick parses an event's JSON text; s is valid JSON (the decoder read
// it), so only its form needs looking at, not its syntax.
type quick struct {
	b *bodyReader
	s string
	i int
}

// ws passes over white space.
func (q *quick) ws() { q.i = pastSpace(q.s, q.i) }

// pastSpace returns the index of the first byte of s from i on that is
// not JSON white space.
func pastSpace(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// str reads the string at q.i, its quotes left out; false if it has an
// escape (the first quote after the opening one then ends it, in valid
// JSON).
func (q *quick) str() (string, bool) {
	start := q.i + 1
	end := start
	for end < len(q.s) && q.s[end] != '"' {
		if q.s[end] == '\\' {
			return "", false
		}
		end++
	}
	q.i = end + 1
	return q.s[start:end], true
}

// number reads the number at q.i as its literal.
func (q *quick) number() string {
	start := q.i
	for q.i < len(q.s) {
		switch c := q.s[q.i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			q.i++
			continue
		}
		break
	}
	return q.s[start:q.i]
}

// members reads the object at q.i (its '{') into the struct at v, of
// codec c, at level lv, as bodyReader.members reads it; false if it gives
// up.
func (q *quick) members(v unsafe.Pointer, c *codec, lv level) bool {
	b := q.b
	names := b.enter(c)
	q.i++ // '{'
	q.ws()
	for k := 0; q.s[q.i] != '}'; k++ {
		name, ok := q.str()
		if !ok {
			return false
		}
		// field keeps nothing of the name: a view of it will do.
		cf := b.field(c, k, unsafe.Slice(unsafe.StringData(name), len(name)))
		if cf == nil {
			return false
		}
		w, bit := cf.slot/64, uint64(1)<<(cf.slot%64)
		if names.bits[w]&bit != 0 {
			return false
		}
		names.bits[w] |= bit
		f, sf := cf.at(lv)
		if f == nil {
			return false
		}
		q.ws()
		q.i++ // ':'
		q.ws()
		if !q.value(unsafe.Add(v, f.off), f, sub(sf)) {
			return false
		}
		q.ws()
		if q.s[q.i] == ',' {
			q.i++
			q.ws()
		}
	}
	q.i++ // '}'
	b.leave()
	return true
}

// value reads the value at q.i into v, the place of parameter f (its
// codec's shape says its type), as bodyReader.value does; false if it
// gives up.
func (q *quick) value(v unsafe.Pointer, f *fieldCodec, lv level) bool {
	b := q.b
	c := q.s[q.i]
	if c == 'n' { // null: not given
		q.i += len("null")
		return true
	}
	switch f.shape {
	case shapeBool:
		switch c {
		case 't':
			*(*bool)(v) = true
			q.i += len("true")
		case 'f':
			*(*bool)(v) = false
			q.i += len("false")
		default:
			return false
		}
	case shapeString, shapeNumber:
		var s string
		switch {
		case c == '"':
			var ok bool
			if s, ok = q.str(); !ok {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			s = q.number()
		default:
			return false
		}
		if len(s) > b.opts.MaxString || b.charge(int64(len(s))) != nil {
			return false
		}
		*(*string)(v) = s // a string or a json.Number
	case shapeObject:
		if c != '{' {
			return false
		}
		p := b.alloc(f.elem).UnsafePointer()
		if b.charge(f.elem.size) != nil || !q.members(p, f.elem, lv) {
			return false
		}
		*(*unsafe.Pointer)(v) = p
	case shapeList:
		if c != '[' {
			return false
		}
		q.i++
		q.ws()
		list := reflect.NewAt(f.typ, v).Elem()
		list.Set(reflect.MakeSlice(f.typ, 0, listRoom))
		for q.s[q.i] != ']' {
			if q.s[q.i] != '{' || b.charge(f.elem.size) != nil {
				return false
			}
			if !q.members(grow(list).Addr().UnsafePointer(), f.elem, lv) {
				return false
			}
			q.ws()
			if q.s[q.i] == ',' {
				q.i++
				q.ws()
			}
		}
		q.i++ // ']'
	}
	return true
}
