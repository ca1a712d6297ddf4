package crm

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
)

// BulkRequest is the body of a customer_events/bulk/<kind>/create call. The
// name of the events parameter depends on the kind (Kind.SetName), so the
// request marshals itself.
type BulkRequest struct {
	Kind             Kind                `json:"-"`
	Token            string              `json:"token,omitempty"`
	IntendedCurrency *CurrencyIdentifier `json:"intended_currency_identifier,omitempty"`
	FieldsSet        string              `json:"fields_set,omitempty"`
	Events           []Event             `json:"-"`
	// Invalid, when Invalid[i] is set, is why Events[i] was refused as it
	// was read (a value of the wrong type): the engine reports it
	// unprocessed with this error. It may be shorter than Events.
	Invalid []*Error `json:"-"`
	// Version is the API version whose page's rules apply (crm.SchemaFor;
	// the zero value is the embedded engine's own), and Single says the
	// event is a single create method's (crm.SingleSchemaFor): set by a
	// server, not sent.
	Version APIVersion `json:"-"`
	Single  bool       `json:"-"`
	// Run and Keys are not sent: an engine that keeps load receipts (the
	// embedded one) stores, with each event, the run and the key of the
	// rows it came from (Keys[i] for Events[i]).
	Run  string   `json:"-"`
	Keys []string `json:"-"`
	// Idempotent makes an engine that keeps receipts answer the events it
	// already stored under these keys with their id and number, and store
	// only the others (engine serve sets it on every keyed call).
	Idempotent bool `json:"-"`
	// Replay marks a call sent again after an ambiguous failure: besides
	// being idempotent, its stored events are answered before resolution
	// (a replayed referral is not refused as referred by itself).
	Replay bool `json:"-"`
	// Validated says that every event passed Validate (the schema of the
	// zero Version) in this process and was not changed since: the loader
	// sets it, and the embedded engine then does not check the events
	// again. Never sent nor read from a request: a server checks every
	// event it is sent.
	Validated bool `json:"-"`
}

// appendEvents appends events to b as json.Marshal writes them, through
// appendEvent (reflection was a sixth of a remote load's client CPU); nil
// is an empty list. An event appendEvent cannot write gets json.Marshal's
// error.
func appendEvents(b []byte, events []Event) ([]byte, error) {
	start := len(b)
	b = append(b, '[')
	for i := range events {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendEvent(b, &events[i]); !ok {
			all, err := json.Marshal(events)
			return append(b[:start], all...), err
		}
	}
	return append(b, ']'), nil
}

// eventBytes is what an event took in the last request written, which
// sizes the next one's buffer: a first guess too small cost a remote
// load's client a copy of each body while it grew, then another into the
// body itself.
var eventBytes atomic.Int64

// maxGuess bounds the bytes MarshalJSON reserves for a call's events
// ahead: past it, the buffer grows as they are written.
const maxGuess = 4 << 20

// MarshalJSON writes the request with its events under the kind's set name.
func (r BulkRequest) MarshalJSON() ([]byte, error) {
	if r.Kind.SetName() == "" {
		return nil, fmt.Errorf("bulk request: unknown kind %q", r.Kind)
	}
	type plain BulkRequest
	head, err := json.Marshal(plain(r))
	if err != nil {
		return nil, err
	}
	// At most maxGuess: a call of a few large events (thousands of lines
	// grouped) sized a call of a thousand small ones after it at 930 MB.
	per := max(eventBytes.Load(), 256)
	b := make([]byte, 0, len(head)+40+min(int(per+per/8)*len(r.Events), maxGuess))
	b = append(b, head[:len(head)-1]...)
	if len(head) > 2 {
		b = append(b, ',')
	}
	b = strconv.AppendQuote(b, r.Kind.SetName())
	b = append(b, ':')
	start := len(b)
	if b, err = appendEvents(b, r.Events); err != nil {
		return nil, err
	}
	if len(r.Events) > 0 {
		eventBytes.Store(int64((len(b) - start) / len(r.Events)))
	}
	return append(b, '}'), nil
}

// BulkResult is the data of a bulk create response: which events were
// created and which were not, each named by its request_unique_identifier.
type BulkResult struct {
	Unprocessed []Unprocessed `json:"unprocessed_customer_events_set"`
	Processed   []Processed   `json:"processed_customer_events_set"`
	// Found are the positions, in the call's events and in order, of the
	// processed events that were not created by this call but found
	// stored with its load receipts (an earlier copy of the call, cut off
	// before its answer, stored them): a crmload extension, which engine
	// serve sends in the X-Crmload-Found header (FormatFound) and the
	// API never does.
	Found []int `json:"-"`
}

// Processed is a created event.
type Processed struct {
	Number                  string `json:"number"`
	ID                      string `json:"id"`
	RequestUniqueIdentifier string `json:"request_unique_identifier"`
}

// Unprocessed is an event that was not created, with the reason.
type Unprocessed struct {
	ErrorDescription        string `json:"error_description"`
	ErrorCode               string `json:"error_code"`
	RequestUniqueIdentifier string `json:"request_unique_identifier"`
}

// Status is the status part of every response envelope. Code is "OK" or the
// name of the exception that failed the call.
type Status struct {
	Code        string `json:"code"`
	Description string `json:"description"`
	Message     string `json:"message"`
}

// StatusOK is the code of a successful call.
const StatusOK = "OK"

// Response is the envelope of every API response.
type Response[T any] struct {
	Data   T      `json:"data"`
	Status Status `json:"status"`
}

// ErrorStatus renders a call-level error as a response status.
func ErrorStatus(err *Error) Status {
	return Status{Code: err.Code, Description: err.Description(), Message: err.Message}
}

// AppendOKResponse appends the response envelope of r, status OK, as
// encoding/json writes Response{Data: r}, byte for byte, without its
// reflection: engine serve answers every bulk call with one, a thousand
// entries long.
func (r *BulkResult) AppendOKResponse(b []byte) []byte {
	b = append(b, `{"data":{"unprocessed_customer_events_set":`...)
	if r.Unprocessed == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, u := range r.Unprocessed {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"error_description":`...)
			b = appendJSONString(b, u.ErrorDescription)
			b = append(b, `,"error_code":`...)
			b = appendJSONString(b, u.ErrorCode)
			b = append(b, `,"request_unique_identifier":`...)
			b = appendJSONString(b, u.RequestUniqueIdentifier)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"processed_customer_events_set":`...)
	if r.Processed == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, p := range r.Processed {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"number":`...)
			b = appendJSONString(b, p.Number)
			b = append(b, `,"id":`...)
			b = appendJSONString(b, p.ID)
			b = append(b, `,"request_unique_identifier":`...)
			b = appendJSONString(b, p.RequestUniqueIdentifier)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, `},"status":{"code":"OK","description":"","message":""}}`...)
}
