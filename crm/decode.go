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

// The strict reader. A request body is read as a stream of JSON tokens
// (jsontext, the tokenizer of encoding/json/v2) straight into the typed
// structs of this package, never into maps or interface trees:
//
//   - parameter names match exactly as the API pages spell them (case
//     included); a name that is not a parameter of the method (of the
//     event's kind, of the identifier) is ignored, as the real API
//     ignores it, and reported to ReadOptions.Ignored: `Website` is not
//     taken for `website`, and `udf_string_9` on a web event is not read;
//   - a name given twice in one object, anywhere in the body, is refused,
//     naming it (two copies of the events set are not merged, and a
//     second token cannot hide behind the first);
//   - strings are JSON strings (a JSON number is taken as its literal),
//     numbers JSON numbers or strings holding one (the pages' own example
//     sends "amount":"11.50"; the literal is kept, every digit, and
//     checked by Validate), objects objects and sets lists of objects;
//     null means "not given". A value of another type inside an event
//     fails that event only (BulkRequest.Invalid), with
//     InvalidAPIValueException naming the parameter; elsewhere it fails
//     the call;
//   - the body is UTF-8; a leading UTF-8 byte order mark is skipped, a
//     UTF-16 one refused;
//   - the token is handed to ReadOptions.Authorize the moment it is read,
//     and events are counted as they are read: the 1001st stops the read;
//   - every string is at most MaxString bytes, and the decoded values at
//     most a memory budget, smaller until the token was accepted.
//
// Nesting cannot go deeper than the structs do: a value of the wrong
// shape is refused when its first token is seen.

// Read limits (ReadOptions' defaults).
const (
	// DefaultMaxString is the longest string parameter value, in bytes.
	DefaultMaxString = 64 << 10
	// DefaultMaxMemory bounds the memory of the values of one request.
	DefaultMaxMemory = 64 << 20
	// DefaultPreAuthMemory bounds it before the token was accepted: enough
	// for 1000 events read before a token that comes last.
	DefaultPreAuthMemory = 4 << 20
)

// ReadOptions authorise and bound the reading of one request body.
type ReadOptions struct {
	// Authorize is called with the token the moment the reader reads it
	// (with "" at the end of a body without one). An error stops the read
	// and is returned as is. Nil: no token is checked.
	Authorize func(token string) error
	// MaxString bounds each string value, in bytes (DefaultMaxString).
	MaxString int
	// MaxMemory bounds the decoded values of the request, in bytes
	// (DefaultMaxMemory); PreAuthMemory bounds them until Authorize
	// accepted the token (DefaultPreAuthMemory).
	MaxMemory, PreAuthMemory int64
	// Ignored, when set, is called with the path of every member that was
	// skipped because it is not a parameter of the method
	// (web_customer_events_set[0].Website).
	Ignored func(path string)
	// Version selects the parameters of a bulk method (SchemaFor).
	Version APIVersion
}

// LimitError is a request refused because it exceeds a read limit (its
// values' memory budget); a server answers it with HTTP 413.
type LimitError struct{ Err *Error }

func (e *LimitError) Error() string { return e.Err.Error() }

// Unwrap returns the API error, so that errors.As finds an *Error.
func (e *LimitError) Unwrap() error { return e.Err }

// ReadBulkRequest reads the body of a customer_events/bulk/<kind>/create
// call for kind k from r, strictly (see above). A refusal of the body is
// an *Error (InvalidAPIRequestException, MaximumCustomerEventsExceeded-
// Exception, MandatoryAPIParameterMissingException); Authorize's error is
// returned as is, and so is an error reading r.
//
// The events set is mandatory: absent, null or empty, the call is refused
// (MandatoryAPIParameterMissingException). Financial statements accept
// their set under the page's name (financial_achievement_customer_events_-
// set) and under the kind's own (financial_statement_customer_events_set),
// but not both.
func ReadBulkRequest(k Kind, r io.Reader, opts ReadOptions) (*BulkRequest, error) {
	s := SchemaFor(k, opts.Version)
	if s == nil {
		return nil, fmt.Errorf("unknown kind %q", k)
	}
	set, alt := k.SetName(), k.AltSetName()
	req := &BulkRequest{Kind: k, Version: opts.Version}
	given := ""
	err := readObject(r, opts, reflect.ValueOf(req).Elem(), level{byName: s.callByName}, func(b *bodyReader, name string) (bool, error) {
		if name != set && (alt == "" || name != alt) {
			return false, nil
		}
		if given != "" {
			return true, &Error{Code: CodeInvalidRequest, Message: "Parameters " + given + " and " + name + " Are Both Given",
				Reason: "The customer events are given in one set.", Field: name}
		}
		given = name
		return true, b.events(req, s)
	})
	if err != nil {
		return nil, err
	}
	if len(req.Events) == 0 { // absent, null or []
		return nil, &Error{Code: CodeMandatoryMissing, Message: "Mandatory parameter " + set + " is missing",
			Reason: "A mandatory parameter was not specified.", Field: set}
	}
	return req, nil
}

// SingleRequest is the body of a single-event create method
// (customer_events/<kind>/create): the event's parameters at the top
// level, with the token and fields_set.
type SingleRequest struct {
	Token     string `json:"token"`
	FieldsSet string `json:"fields_set"`
	Event
}

// ReadSingleRequest reads the body of a single-event create method whose
// parameters are schema s's (without request_unique_identifier), as
// ReadBulkRequest reads one event, except that a value of the wrong type
// fails the call (an *Error, InvalidAPIValueException): the call is the
// event.
func ReadSingleRequest(s *Schema, r io.Reader, opts ReadOptions) (*SingleRequest, error) {
	req := &SingleRequest{}
	b, err := newBodyReader(r, opts)
	if err != nil {
		return nil, err
	}
	b.inEvent = true
	if err := b.object(reflect.ValueOf(req).Elem(), level{byName: s.singleByName}, nil); err != nil {
		return nil, err
	}
	if b.eventErr != nil {
		return nil, b.eventErr
	}
	return req, nil
}

// DecodeBulkRequest reads a bulk create body for kind k held in memory,
// strictly, with no token check.
func DecodeBulkRequest(k Kind, data []byte) (*BulkRequest, error) {
	return ReadBulkRequest(k, bytes.NewReader(data), ReadOptions{})
}

// ReadParams reads the body of a method call into v, a pointer to a struct
// whose json tags name the method's parameters, strictly (see above): a
// name v does not have is ignored. A top-level "token" parameter is
// handed to Authorize as it is read.
func ReadParams(r io.Reader, v any, opts ReadOptions) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		panic("crm.ReadParams: want a pointer to a struct")
	}
	return readObject(r, opts, rv.Elem(), level{}, nil)
}

// special reads a top-level parameter the struct's codec does not know
// (the events set); it reports whether it knew the name.
type special func(b *bodyReader, name string) (bool, error)

// level says which names an object may have: its codec's, restricted to
// the fields of a schema (byName) or of an identifier (idFields) when set.
type level struct {
	byName   map[string]*Field
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
		return level{byName: f.itemsByName}
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

func newBodyReader(r io.Reader, opts ReadOptions) (*bodyReader, error) {
	if opts.MaxString <= 0 {
		opts.MaxString = DefaultMaxString
	}
	if opts.MaxMemory <= 0 {
		opts.MaxMemory = DefaultMaxMemory
	}
	if opts.PreAuthMemory <= 0 {
		opts.PreAuthMemory = min(DefaultPreAuthMemory, opts.MaxMemory)
	}
	r, err := skipBOM(r)
	if err != nil {
		return nil, err
	}
	return &bodyReader{dec: jsontext.NewDecoder(r), opts: opts, authorized: opts.Authorize == nil}, nil
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
	for b.dec.PeekKind() != '}' {
		name, err := b.name()
		if err != nil {
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
	if lv.byName != nil {
		sf := lv.byName[name]
		if sf == nil {
			return nil, nil
		}
		return f, sf
	}
	if lv.idFields != nil && !slices.Contains(lv.idFields, name) {
		return nil, nil
	}
	return f, nil
}

// skip passes over the value of a member that is not a parameter.
func (b *bodyReader) skip() error {
	if b.opts.Ignored != nil {
		b.opts.Ignored(b.here())
	}
	return b.skipValue()
}

// maxSkipDepth bounds the nesting of a value that is skipped: the API's
// own objects nest a few levels, and every open level costs the decoder
// memory.
const maxSkipDepth = 16

// nameCost is what the decoder keeps per name of an open object, besides
// the name's bytes, to find duplicates.
const nameCost = 64

// skipValue passes over the next value token by token, charging the names
// of its objects to the memory budget: the decoder remembers every name of
// an open object to refuse duplicates, so a skipped object of a million
// distinct names would otherwise cost memory no budget counts.
func (b *bodyReader) skipValue() error {
	depth := b.dec.StackDepth()
	for {
		before := b.dec.InputOffset()
		if _, err := b.dec.ReadToken(); err != nil {
			return b.fail(err)
		}
		d := b.dec.StackDepth()
		if d-depth > maxSkipDepth {
			p := b.here()
			return invalid(fmt.Sprintf("Parameter %s Nests Deeper Than %d Levels", p, maxSkipDepth), p)
		}
		if kind, n := b.dec.StackIndex(d); kind == '{' && n%2 == 1 && d > depth {
			if err := b.charge(b.dec.InputOffset() - before + nameCost); err != nil {
				return err
			}
		}
		if d <= depth {
			return nil
		}
	}
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
	want := [...]jsontext.Kind{'"', '0', '{', '['}[f.shape]
	// Scalars are taken across the two scalar types, as the API does:
	// a number where a string goes is its literal, a string where a
	// number goes is checked to hold one (Validate).
	scalar := (f.shape == shapeString || f.shape == shapeNumber) && (kind == '"' || kind == '0')
	if kind != want && !scalar {
		return b.wrongType([...]string{"a string", "a number", "an object", "a list of objects"}[f.shape])
	}
	tok, err := b.dec.ReadToken()
	if err != nil {
		return b.fail(err)
	}
	switch f.shape {
	case shapeString, shapeNumber:
		s := tok.String()
		if len(s) > b.opts.MaxString {
			return invalid(fmt.Sprintf("Parameter %s Is Longer Than %d Bytes", b.here(), b.opts.MaxString), b.here())
		}
		if err := b.charge(int64(len(s))); err != nil {
			return err
		}
		v.SetString(s)
	case shapeObject:
		p := reflect.New(f.elem.typ)
		if err := b.charge(f.elem.size); err != nil {
			return err
		}
		if err := b.members(p.Elem(), f.elem, lv); err != nil {
			return err
		}
		v.Set(p)
	case shapeList:
		list := reflect.MakeSlice(v.Type(), 0, 0)
		for b.dec.PeekKind() != ']' {
			if b.dec.PeekKind() != '{' {
				if b.inEvent && b.dec.PeekKind() != 0 {
					if err := b.wrongTypeAt(fmt.Sprintf("[%d]", list.Len()), "an object"); err != nil {
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
			list = reflect.Append(list, reflect.Zero(f.elem.typ))
			if err := b.members(list.Index(list.Len()-1), f.elem, lv); err != nil {
				return err
			}
		}
		b.dec.ReadToken()
		v.Set(list)
	}
	return nil
}

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
	for b.dec.PeekKind() != '}' {
		name, err := b.name()
		if err != nil {
			return err
		}
		f, sf := b.lookup(c, lv, name)
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
	_, err := b.dec.ReadToken()
	return b.fail(err)
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
	req.Events = []Event{}
	lv := level{byName: s.byName}
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
	var s strings.Builder
	for tok := range p.Tokens() {
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
