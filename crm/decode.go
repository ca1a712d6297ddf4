package crm

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
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
	// Events, when over 0, is how many events the caller expects the set
	// to hold (a crmload client's keyed call says it in a header): once
	// the token is accepted, the set is made that large at once (at most
	// MaxBulkEvents) instead of growing as events are read. A set that
	// holds more or fewer is read all the same.
	Events int
	// EventSet, when set, gives that set: a slice zero throughout, of
	// length 0 (a server keeps the sets of its finished calls for the next
	// ones: an event is 752 bytes). One of less than n capacity, or nil,
	// is not used: the set is made.
	EventSet func(n int) []Event
}

// eventSet is the set for n expected events of an authorized caller.
func (o *ReadOptions) eventSet(n int) []Event {
	if o.EventSet != nil {
		if s := o.EventSet(n); cap(s) >= n {
			return s[:0]
		}
	}
	return make([]Event, 0, n)
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
	req, done, rest, release, err := readQuick(k, s, r, &opts)
	if done {
		return req, err
	}
	defer release()
	return readBulkStrict(k, s, rest, opts) // the whole body again
}

// readBulkStrict is ReadBulkRequest by the token-by-token reader alone.
func readBulkStrict(k Kind, s *Schema, r io.Reader, opts ReadOptions) (*BulkRequest, error) {
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
