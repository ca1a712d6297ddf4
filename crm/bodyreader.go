package crm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// The strict reader's state machine (see decode.go for its rules): one
// bodyReader reads one body, token by token, into the typed structs.

// special reads a top-level parameter the struct's codec does not know
// (the events set); it reports whether it knew the name.
type special func(b *bodyReader, name string) (bool, error)

// level says which names an object may have: its codec's, restricted to
// the fields of a schema (byName) or of an identifier (idFields) when set.
type level struct {
	byName   map[string]*Field
	bySlot   []*Field // byName by the codec's slots (fieldCodec.slot), when made
	idFields []string
}

// sub is the level of the value of schema field f (nil: the codec's).
func sub(f *Field) level {
	switch {
	case f == nil:
		return level{}
	case f.Type == IdentifierType:
		return level{idFields: f.IDFields}
	case f.Type == Set || f.Type == Object:
		return level{byName: f.itemsByName, bySlot: f.itemsBySlot}
	}
	return level{}
}

// readObject reads one JSON object, the whole body, into v.
func readObject(r io.Reader, opts ReadOptions, v reflect.Value, lv level, sp special) error {
	b, err := newBodyReader(r, opts)
	if err != nil {
		return err
	}
	return b.object(v, lv, sp)
}

// withDefaults returns opts with the default of each limit not set.
func withDefaults(opts ReadOptions) ReadOptions {
	if opts.MaxString <= 0 {
		opts.MaxString = DefaultMaxString
	}
	if opts.MaxMemory <= 0 {
		opts.MaxMemory = DefaultMaxMemory
	}
	if opts.PreAuthMemory <= 0 {
		opts.PreAuthMemory = min(DefaultPreAuthMemory, opts.MaxMemory)
	}
	return opts
}

func newBodyReader(r io.Reader, opts ReadOptions) (*bodyReader, error) {
	opts = withDefaults(opts)
	r, err := skipBOM(r)
	if err != nil {
		return nil, err
	}
	// Names given twice are found by the reader (nameSet), not by the
	// decoder: its check keeps every name of an open object in a hash
	// set, a parameter here costs a bit.
	dec := jsontext.NewDecoder(r, jsontext.AllowDuplicateNames(true))
	return &bodyReader{dec: dec, opts: opts, authorized: opts.Authorize == nil}, nil
}

// object reads the body's object into v, then checks nothing follows it.
func (b *bodyReader) object(v reflect.Value, lv level, sp special) error {
	if b.dec.PeekKind() != '{' {
		if _, err := b.dec.ReadToken(); err != nil {
			return b.fail(err)
		}
		return invalid("The Request Body Must Be a JSON Object", "")
	}
	b.dec.ReadToken()
	c := codecOf(v.Type())
	names := b.enter(c)
	for b.dec.PeekKind() != '}' {
		name, err := b.name()
		if err != nil {
			return err
		}
		if err := b.once(names, c.fields[name], []byte(name)); err != nil {
			return err
		}
		if sp != nil {
			if known, err := sp(b, name); known || err != nil {
				if err != nil {
					return err
				}
				continue
			}
		}
		f, sf := b.lookup(c, lv, name)
		if f == nil {
			if err := b.skip(); err != nil {
				return err
			}
			continue
		}
		field := v.FieldByIndex(f.index)
		if err := b.value(field, f, sub(sf)); err != nil {
			return err
		}
		if name == "token" && !b.authorized {
			if err := b.authorize(field.String()); err != nil {
				return err
			}
		}
	}
	if _, err := b.dec.ReadToken(); err != nil { // '}', or the syntax error PeekKind saw
		return b.fail(err)
	}
	b.leave()
	if _, err := b.dec.ReadToken(); err != io.EOF {
		if err != nil {
			return b.fail(err)
		}
		return invalid("The Request Body Holds Data After Its JSON Object", "")
	}
	if !b.authorized {
		return b.authorize("")
	}
	return nil
}

// lookup returns the codec field of name at this level, and its schema
// field when the level has a schema; nil when name is not a parameter.
func (b *bodyReader) lookup(c *codec, lv level, name string) (*fieldCodec, *Field) {
	f := c.fields[name]
	if f == nil {
		return nil, nil
	}
	return f.at(lv)
}

// at returns f and its schema field if f is a parameter at level lv (nil
// if not).
func (f *fieldCodec) at(lv level) (*fieldCodec, *Field) {
	if lv.bySlot != nil {
		sf := lv.bySlot[f.slot]
		if sf == nil {
			return nil, nil
		}
		return f, sf
	}
	if lv.byName != nil {
		sf := lv.byName[f.name]
		if sf == nil {
			return nil, nil
		}
		return f, sf
	}
	if lv.idFields != nil && !slices.Contains(lv.idFields, f.name) {
		return nil, nil
	}
	return f, nil
}

// skip passes over the value of a member that is not a parameter.
func (b *bodyReader) skip() error {
	p := b.here()
	// The reader keeps the name until its object closes (to find
	// duplicates): an object of many distinct unknown names costs memory.
	if err := b.charge(int64(len(p)) + nameCost); err != nil {
		return err
	}
	if b.opts.Ignored != nil {
		b.opts.Ignored(p)
	}
	return b.skipValue()
}

// maxSkipDepth bounds the nesting of a value that is skipped: the API's
// own objects nest a few levels, and every open level costs the decoder
// memory.
const maxSkipDepth = 16

// nameCost is what the reader keeps per name of an open object, besides
// the name's bytes, to find duplicates (nameSet).
const nameCost = 64

// skipValue passes over the next value token by token, refusing a name
// given twice in one of its objects and charging the names to the memory
// budget: every name of an open object is kept to find duplicates, so a
// skipped object of a million distinct names would otherwise cost memory
// no budget counts.
func (b *bodyReader) skipValue() error {
	depth := b.dec.StackDepth()
	var opened []*nameSet // the skipped value's open objects, innermost last
	for {
		before := b.dec.InputOffset()
		tok, err := b.dec.ReadToken()
		if err != nil {
			return b.fail(err)
		}
		d := b.dec.StackDepth()
		if d-depth > maxSkipDepth {
			p := b.here()
			return invalid(fmt.Sprintf("Parameter %s Nests Deeper Than %d Levels", p, maxSkipDepth), p)
		}
		switch kind, n := b.dec.StackIndex(d); {
		case tok.Kind() == '{':
			opened = append(opened, b.enter(nil))
		case tok.Kind() == '}':
			b.leave()
			opened = opened[:len(opened)-1]
		case kind == '{' && n%2 == 1 && d > depth: // a name
			if err := b.charge(b.dec.InputOffset() - before + nameCost); err != nil {
				return err
			}
			if err := b.once(opened[len(opened)-1], nil, []byte(tok.String())); err != nil {
				return err
			}
		}
		if d <= depth {
			return nil
		}
	}
}

// nameSet holds the names read so far of an object being read, to find
// a name given twice: a bit per parameter of the object's codec, and the
// other names.
type nameSet struct {
	bits  []uint64
	other map[string]struct{}
}

// enter returns the name set of an object of codec c (nil: no
// parameters) that the reader is entering; leave is called when it is
// left. The sets are the reader's, reused by depth.
func (b *bodyReader) enter(c *codec) *nameSet {
	if b.open == len(b.sets) {
		b.sets = append(b.sets, &nameSet{})
	}
	s := b.sets[b.open]
	b.open++
	words := 0
	if c != nil {
		words = c.words
	}
	s.bits = slices.Grow(s.bits[:0], words)[:words]
	clear(s.bits)
	clear(s.other)
	return s
}

func (b *bodyReader) leave() { b.open-- }

// once records the name just read in s (f: its parameter, if the codec
// has one of that name), and refuses a name s holds already.
func (b *bodyReader) once(s *nameSet, f *fieldCodec, name []byte) error {
	if f != nil {
		w, bit := f.slot/64, uint64(1)<<(f.slot%64)
		if s.bits[w]&bit == 0 {
			s.bits[w] |= bit
			return nil
		}
	} else {
		if _, dup := s.other[string(name)]; !dup {
			if s.other == nil {
				s.other = map[string]struct{}{}
			}
			s.other[string(name)] = struct{}{}
			return nil
		}
	}
	p := b.here()
	return &Error{Code: CodeInvalidRequest, Message: "Parameter " + p + " Is Given More Than Once",
		Reason: "Each parameter may be given only once.", Field: p}
}

// bodyReader is the state of one strict read.
type bodyReader struct {
	dec        *jsontext.Decoder
	opts       ReadOptions
	authorized bool
	used       int64 // bytes of decoded values so far
	// inEvent: values are read into an event, where a value of the wrong
	// type fails the event (eventErr, the first one) rather than the call.
	// relative: name it relative to the event (in a set), not in full.
	inEvent, relative bool
	eventErr          *Error
	unquoted          []byte              // nameBytes's buffer
	sets              []*nameSet          // by depth: the names of the objects open (enter)
	blocks            map[*codec]*objects // alloc's blocks, by the type they hold
	orders            [][]*fieldCodec     // by codec id: the fields in the order last read (field)
	open              int                 // the sets in use
}

func (b *bodyReader) authorize(token string) error {
	if err := b.opts.Authorize(token); err != nil {
		return err
	}
	b.authorized = true
	return nil
}

// charge accounts n more bytes of decoded values against the budget.
func (b *bodyReader) charge(n int64) error {
	b.used += n
	if !b.authorized && b.used > b.opts.PreAuthMemory {
		return &LimitError{&Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("The Request Holds More Than %d Bytes of Values Before Its Token", b.opts.PreAuthMemory),
			Reason: "Send the token before the customer events."}}
	}
	if b.used > b.opts.MaxMemory {
		return &LimitError{&Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("The Request Holds More Than %d Bytes of Values", b.opts.MaxMemory),
			Reason: "Send fewer customer events per call."}}
	}
	return nil
}

// name reads the name of the next object member.
func (b *bodyReader) name() (string, error) {
	tok, err := b.dec.ReadToken()
	if err != nil {
		return "", b.fail(err)
	}
	return tok.String(), nil
}

// nameBytes reads the name of the next object member, unquoted: valid
// until the next read (the decoder's bytes, or b.unquoted for a name
// with escapes).
func (b *bodyReader) nameBytes() ([]byte, error) {
	raw, err := b.dec.ReadValue()
	if err != nil {
		return nil, b.fail(err)
	}
	if len(raw) >= 2 && bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], nil
	}
	b.unquoted, err = jsontext.AppendUnquote(b.unquoted[:0], raw)
	if err != nil {
		return nil, b.fail(err)
	}
	return b.unquoted, nil
}

// value reads the value of the member just named into v.
func (b *bodyReader) value(v reflect.Value, f *fieldCodec, lv level) error {
	kind := b.dec.PeekKind()
	if kind == 'n' { // null: not given
		_, err := b.dec.ReadToken()
		return b.fail(err)
	}
	if kind == 0 { // a syntax or read error
		_, err := b.dec.ReadToken()
		return b.fail(err)
	}
	want := [...]jsontext.Kind{'"', '0', '{', '[', 't'}[f.shape]
	// Scalars are taken across the two scalar types, as the API does:
	// a number where a string goes is its literal, a string where a
	// number goes is checked to hold one (Validate). A boolean is true
	// or false, nothing else.
	scalar := (f.shape == shapeString || f.shape == shapeNumber) && (kind == '"' || kind == '0') ||
		f.shape == shapeBool && kind == 'f'
	if kind != want && !scalar {
		return b.wrongType([...]string{"a string", "a number", "an object", "a list of objects", "true or false"}[f.shape])
	}
	switch f.shape {
	case shapeBool:
		tok, err := b.dec.ReadToken()
		if err != nil {
			return b.fail(err)
		}
		v.SetBool(tok.Kind() == 't')
	case shapeString, shapeNumber:
		s, err := b.scalar(kind)
		if err != nil {
			return err
		}
		if len(s) > b.opts.MaxString {
			return invalid(fmt.Sprintf("Parameter %s Is Longer Than %d Bytes", b.here(), b.opts.MaxString), b.here())
		}
		if err := b.charge(int64(len(s))); err != nil {
			return err
		}
		v.SetString(s)
	case shapeObject:
		if _, err := b.dec.ReadToken(); err != nil {
			return b.fail(err)
		}
		p := b.alloc(f.elem)
		if err := b.charge(f.elem.size); err != nil {
			return err
		}
		if err := b.members(p.Elem(), f.elem, lv); err != nil {
			return err
		}
		v.Set(p)
	case shapeList:
		if _, err := b.dec.ReadToken(); err != nil {
			return b.fail(err)
		}
		// The list is made in v, with room for a few elements (an
		// event's product lines), doubled past them; an element past the
		// length is zero, so the list longer by one has the next
		// element's place. (A reflect slice value taken apart, by Slice
		// or Append, costs an allocation per element.)
		v.Set(reflect.MakeSlice(v.Type(), 0, listRoom))
		for b.dec.PeekKind() != ']' {
			if b.dec.PeekKind() != '{' {
				if b.inEvent && b.dec.PeekKind() != 0 {
					if err := b.wrongTypeAt(fmt.Sprintf("[%d]", v.Len()), "an object"); err != nil {
						return err
					}
					continue
				}
				return b.elementNotObject()
			}
			b.dec.ReadToken()
			if err := b.charge(f.elem.size); err != nil {
				return err
			}
			n := v.Len()
			if n == v.Cap() {
				grown := reflect.MakeSlice(v.Type(), n, 2*n)
				reflect.Copy(grown, v)
				v.Set(grown)
			}
			v.SetLen(n + 1)
			if err := b.members(v.Index(n), f.elem, lv); err != nil {
				return err
			}
		}
		b.dec.ReadToken()
	}
	return nil
}

// scalar reads the string or number (kind) the decoder is at as text:
// a string unquoted, a number's literal (read as a value, not a token:
// a token costs more).
func (b *bodyReader) scalar(kind jsontext.Kind) (string, error) {
	raw, err := b.dec.ReadValue()
	if err != nil {
		return "", b.fail(err)
	}
	if kind != '"' {
		return string(raw), nil
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	b.unquoted, err = jsontext.AppendUnquote(b.unquoted[:0], raw)
	if err != nil {
		return "", b.fail(err)
	}
	return string(b.unquoted), nil
}

// listRoom is the elements a list has room for before it grows.
const listRoom = 4

// alloc returns a pointer to a new zero value of c's struct, cut from a
// block of them (the reader makes a few of the same small objects per
// event: identifiers).
func (b *bodyReader) alloc(c *codec) reflect.Value {
	if b.blocks == nil {
		b.blocks = map[*codec]*objects{}
	}
	blk := b.blocks[c]
	if blk == nil {
		blk = &objects{}
		b.blocks[c] = blk
	}
	if !blk.all.IsValid() || blk.next == blk.all.Len() {
		blk.all, blk.next = reflect.MakeSlice(reflect.SliceOf(c.typ), objectBlock, objectBlock), 0
	}
	blk.next++
	return blk.all.Index(blk.next - 1).Addr()
}

// objects is a block alloc cuts objects from: all but the first next.
type objects struct {
	all  reflect.Value // a slice of objectBlock structs
	next int
}

// objectBlock is how many objects of one type alloc makes at once.
const objectBlock = 64

// wrongType answers a value of another type than its parameter's: inside
// an event, the value is skipped and the event fails; elsewhere the call.
func (b *bodyReader) wrongType(what string) error { return b.wrongTypeAt("", what) }

// wrongTypeAt is wrongType for the element at suffix of the value the
// decoder is at (a list's next element: its pointer is not there yet).
func (b *bodyReader) wrongTypeAt(suffix, what string) error {
	p := b.here() + suffix
	if b.relative {
		if i := strings.Index(p, "]."); i >= 0 {
			p = p[i+2:]
		}
	}
	err := &Error{Code: CodeInvalidValue, Message: fmt.Sprintf("Value of %s is not %s", p, what),
		Reason: "The specified API value is not valid.", Field: p}
	if !b.inEvent {
		return err
	}
	if b.eventErr == nil {
		b.eventErr = err
	}
	return b.skipValue()
}

// members reads the members of an object whose '{' was read, and its '}'.
func (b *bodyReader) members(v reflect.Value, c *codec, lv level) error {
	names := b.enter(c)
	for k := 0; b.dec.PeekKind() != '}'; k++ {
		name, err := b.nameBytes()
		if err != nil {
			return err
		}
		cf := b.field(c, k, name)
		if err := b.once(names, cf, name); err != nil {
			return err
		}
		var f *fieldCodec
		var sf *Field
		if cf != nil {
			f, sf = cf.at(lv)
		}
		if f == nil {
			if err := b.skip(); err != nil {
				return err
			}
			continue
		}
		if err := b.value(v.FieldByIndex(f.index), f, sub(sf)); err != nil {
			return err
		}
	}
	b.leave()
	_, err := b.dec.ReadToken()
	return b.fail(err)
}

// field returns c's parameter called name, the k-th member of its object
// (nil if c has none of that name). A client writes the members of its
// objects in one order, so the parameter of the k-th member of the
// object before is compared first: a map lookup costs more.
func (b *bodyReader) field(c *codec, k int, name []byte) *fieldCodec {
	if c.id >= len(b.orders) {
		b.orders = slices.Grow(b.orders, c.id+1-len(b.orders))[:c.id+1]
	}
	order := b.orders[c.id]
	if k < len(order) && order[k] != nil && order[k].name == string(name) {
		return order[k]
	}
	cf := c.fields[string(name)]
	switch {
	case k < len(order):
		order[k] = cf
	case k == len(order) && k < len(c.fields):
		b.orders[c.id] = append(order, cf)
	}
	return cf
}

var eventCodec = codecOf(reflect.TypeFor[Event]())

// events reads the events set of kind s, counting: the 1001st event stops
// the read. An event with a value of the wrong type is kept (for its
// request_unique_identifier) and marked in req.Invalid.
func (b *bodyReader) events(req *BulkRequest, s *Schema) error {
	if kind := b.dec.PeekKind(); kind == 'n' {
		b.dec.ReadToken()
		return nil // null: not given (the set is then missing)
	} else if kind != '[' {
		if kind == 0 {
			_, err := b.dec.ReadToken()
			return b.fail(err)
		}
		return invalid(fmt.Sprintf("Parameter %s Must Be a List of Objects", b.here()), b.here())
	}
	b.dec.ReadToken()
	// An event is 752 bytes: a set of 1000 grown by appending is
	// allocated, zeroed and copied about twice over (a fifth of reading
	// it). Sized from the caller's count instead, but only for a caller
	// whose token was accepted: a header costs nothing to send.
	if n := min(b.opts.Events, MaxBulkEvents); n > 0 && b.authorized {
		req.Events = b.opts.eventSet(n)
	} else {
		req.Events = []Event{}
	}
	lv := level{byName: s.byName, bySlot: s.bySlot}
	for b.dec.PeekKind() != ']' {
		if len(req.Events) == MaxBulkEvents {
			return &Error{Code: CodeTooManyEvents,
				Message: fmt.Sprintf("The %s holds more than %d customer events", req.Kind.SetName(), MaxBulkEvents),
				Reason:  fmt.Sprintf("The maximum number of customer events that can be specified within a single Web API call is %d.", MaxBulkEvents),
				Field:   req.Kind.SetName()}
		}
		if b.dec.PeekKind() != '{' {
			return b.elementNotObject()
		}
		b.dec.ReadToken()
		if err := b.charge(eventCodec.size); err != nil {
			return err
		}
		req.Events = append(req.Events, Event{})
		b.inEvent, b.relative, b.eventErr = true, true, nil
		err := b.members(reflect.ValueOf(&req.Events[len(req.Events)-1]).Elem(), eventCodec, lv)
		b.inEvent, b.relative = false, false
		if err != nil {
			return err
		}
		if b.eventErr != nil {
			for len(req.Invalid) < len(req.Events) {
				req.Invalid = append(req.Invalid, nil)
			}
			req.Invalid[len(req.Events)-1] = b.eventErr
		}
	}
	b.dec.ReadToken()
	return nil
}

func (b *bodyReader) elementNotObject() error {
	if b.dec.PeekKind() == 0 {
		_, err := b.dec.ReadToken()
		return b.fail(err)
	}
	return invalid(fmt.Sprintf("Each Element of %s Must Be an Object", b.here()), b.here())
}

// here names the value the decoder is at as a parameter path:
// web_customer_events_set[2].products_set[0].quantity.
func (b *bodyReader) here() string { return paramPath(b.dec.StackPointer()) }

func paramPath(p jsontext.Pointer) string {
	var toks []string
	for tok := range p.Tokens() {
		toks = append(toks, tok)
	}
	return formatPath(toks)
}

// formatPath names a path of member names and list indices (all as
// text) as paramPath does.
func formatPath(toks []string) string {
	var s strings.Builder
	for _, tok := range toks {
		if isIndex(tok) && s.Len() > 0 {
			s.WriteString("[" + tok + "]")
			continue
		}
		if s.Len() > 0 {
			s.WriteByte('.')
		}
		if len(tok) > 64 { // a name is echoed back: not all of a huge one
			tok = strings.ToValidUTF8(tok[:64], "") + "..."
		}
		s.WriteString(tok)
	}
	return s.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// fail turns a decoder error into the read's error: a duplicate name or a
// syntax error is an *Error naming where; a read error is returned as is.
func (b *bodyReader) fail(err error) error {
	if err == nil {
		return nil
	}
	var se *jsontext.SyntacticError
	switch {
	case errors.As(err, &se) && errors.Is(se.Err, jsontext.ErrDuplicateName):
		p := paramPath(se.JSONPointer)
		return &Error{Code: CodeInvalidRequest, Message: "Parameter " + p + " Is Given More Than Once",
			Reason: "Each parameter may be given only once.", Field: p}
	case err == io.EOF, errors.As(err, &se) && errors.Is(se.Err, io.ErrUnexpectedEOF):
		return invalid("The Request Body Ends Before Its JSON Object Does", "")
	case errors.As(err, &se):
		msg := strings.TrimPrefix(se.Error(), "jsontext: ")
		return invalid("The Request Body Is Not Valid JSON: "+msg, "")
	}
	return err
}

func invalid(msg, field string) *Error {
	return &Error{Code: CodeInvalidRequest, Message: msg, Reason: "The body must be a JSON object with the method's parameters, named as the API page names them.", Field: field}
}

// skipBOM drops a leading UTF-8 byte order mark and refuses a UTF-16 one.
func skipBOM(r io.Reader) (io.Reader, error) {
	var p [3]byte
	n, err := io.ReadFull(r, p[:])
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	switch {
	case n == 3 && p == [3]byte{0xEF, 0xBB, 0xBF}:
		return r, nil
	case n >= 2 && (p[0] == 0xFE && p[1] == 0xFF || p[0] == 0xFF && p[1] == 0xFE):
		return nil, invalid("The Request Body Starts With a UTF-16 Byte Order Mark", "")
	}
	return io.MultiReader(bytes.NewReader(p[:n]), r), nil
}
