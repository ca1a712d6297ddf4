package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/crmload/crmload/engine"

	"github.com/crmload/crmload/crm"
)

// The single-event methods of seeds/002 and 003: financial achievements
// show, list, create and cancel, and achievements create. Parameters come
// as a JSON body, or for GET as query parameters whose identifier values
// are JSON ({"id":"..."}).

// methodParams are the parameters the single-event show, list and cancel
// methods take (seeds/002).
type methodParams struct {
	Token               string                     `json:"token"`
	FieldsSet           string                     `json:"fields_set"`
	CustomerEvent       *engine.EventIdentifier    `json:"customer_event_identifier"`
	AccountsReceivable  *crm.AccountIdentifier     `json:"accounts_receivable_identifier"`
	RewardsParticipant  *crm.ParticipantIdentifier `json:"rewards_participant_identifier"`
	Classification      *crm.NamedIdentifier       `json:"classification_identifier"`
	SubmittedAfterDate  string                     `json:"submitted_after_date"`
	SubmittedBeforeDate string                     `json:"submitted_before_date"`
	NumberOfResults     json.Number                `json:"number_of_results"`
	Offset              json.Number                `json:"offset"`
}

// getBody turns a GET's query string into the JSON body the method's
// reader reads: a value that looks like a JSON object or list is taken as
// JSON ({"id":"..."}), any other as a string. A parameter given twice is
// refused.
func getBody(r *http.Request) (io.Reader, error) {
	obj := map[string]json.RawMessage{}
	for k, vs := range r.URL.Query() {
		if len(vs) > 1 {
			return nil, &crm.Error{Code: crm.CodeInvalidRequest, Message: "Parameter " + strings.ToValidUTF8(k[:min(len(k), 64)], "") + " Is Given More Than Once",
				Reason: "Each parameter may be given only once.", Field: k}
		}
		v := vs[0]
		if json.Valid([]byte(v)) && (strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[")) {
			obj[k] = json.RawMessage(v)
		} else {
			b, _ := json.Marshal(v)
			obj[k] = b
		}
	}
	b, _ := json.Marshal(obj)
	return bytes.NewReader(b), nil
}

// reader returns the request's parameters as a body and the token check
// that goes with it: the POST body (bounded, see requestBody) or the GET
// query string.
func (s *Server) reader(w http.ResponseWriter, r *http.Request) (io.Reader, func(string) error, error) {
	if r.Method != http.MethodGet {
		body := s.body(w, r)
		return body, body.authorize, nil
	}
	body, err := getBody(r)
	return body, func(token string) error {
		if !s.valid(token) {
			return invalidToken()
		}
		markShown(r)
		return nil
	}, err
}

// params reads a method's parameters into p, strictly (crm.ReadParams):
// names p does not have are ignored and reported in the response.
func (s *Server) params(w http.ResponseWriter, r *http.Request, p any) error {
	body, authorize, err := s.reader(w, r)
	if err != nil {
		return err
	}
	var ig ignoredNames
	err = crm.ReadParams(body, p, crm.ReadOptions{Authorize: authorize, Ignored: ig.add})
	s.reportIgnored(w, r, &ig)
	return err
}

func (s *Server) eventMethod(w http.ResponseWriter, r *http.Request, kind crm.Kind, method string) {
	if method == "create" {
		s.createOne(w, r, kind)
		return
	}
	var p methodParams
	if err := s.params(w, r, &p); err != nil {
		s.readFailed(w, err)
		return
	}
	ctx := r.Context()
	switch method {
	case "show", "cancel":
		obj, err := s.eng.EventByIdentifier(ctx, p.CustomerEvent)
		if err == nil {
			err = mustBeType(obj, kind)
		}
		if err == nil && method == "cancel" {
			obj, err = s.eng.Cancel(ctx, objectID(obj))
		}
		if err != nil {
			s.fail(w, err)
			return
		}
		writeRaw(w, selectFields(obj, p.FieldsSet))
	case "list":
		s.list(w, r, kind, &p)
	}
}

// createOne is a single create (customer_events/<kind>/create): the
// event's parameters with the token, validated against the method's page
// (crm.SingleSchemaFor) and stored as one event of a bulk call; the answer
// is the created event object, or the event's error as the call's.
func (s *Server) createOne(w http.ResponseWriter, r *http.Request, kind crm.Kind) {
	body, authorize, err := s.reader(w, r)
	if err != nil {
		s.readFailed(w, err)
		return
	}
	var ig ignoredNames
	in, err := crm.ReadSingleRequest(crm.SingleSchemaFor(kind, s.cfg.APIVersion), body, crm.ReadOptions{Authorize: authorize, Ignored: ig.add})
	s.reportIgnored(w, r, &ig)
	if err != nil {
		s.readFailed(w, err)
		return
	}
	in.Event.RequestUniqueIdentifier = "1"
	req := crm.BulkRequest{Kind: kind, Events: []crm.Event{in.Event}, Version: s.cfg.APIVersion, Single: true}
	p, evErr, err := s.eng.CreateOne(context.WithoutCancel(r.Context()), req)
	if err == nil && evErr != nil {
		err = evErr
	}
	var obj []byte
	if err == nil {
		obj, err = s.eng.Event(r.Context(), p.ID)
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	writeRaw(w, selectFields(obj, in.FieldsSet))
}

// fail answers a method's error. One rule for every method: an API error
// about the call's values is 400, whatever it is (a missing or malformed
// parameter, an identifier that resolves to nothing, an event that does
// not exist or is in the wrong state); 401 is for tokens and logins only,
// 404 for unknown methods only; 500 when the store failed.
func (s *Server) fail(w http.ResponseWriter, err error) {
	if apiErr, ok := err.(*crm.Error); ok {
		status := http.StatusBadRequest
		if apiErr.Code == crm.CodeInvalidToken || apiErr.Code == crm.CodeAuthenticationFailed {
			status = http.StatusUnauthorized
		}
		writeError(w, status, apiErr)
		return
	}
	s.cfg.Log.Error("method failed", "error", err)
	writeError(w, http.StatusInternalServerError, &crm.Error{Code: crm.CodeInternal, Message: "The Call Failed", Reason: "An internal error; nothing was changed."})
}

func invalidToken() *crm.Error {
	return &crm.Error{Code: crm.CodeInvalidToken, Message: "The Token Is Not Valid or Has Expired", Reason: "Log in again (authentication/token) and use the new token."}
}

// objectID returns the id of an event object.
func objectID(obj []byte) string {
	var o struct {
		ID string `json:"id"`
	}
	json.Unmarshal(obj, &o)
	return o.ID
}

// mustBeType refuses an event of another kind than the method's.
func mustBeType(obj []byte, kind crm.Kind) error {
	var o struct {
		Number string `json:"number"`
		Type   string `json:"type"`
	}
	json.Unmarshal(obj, &o)
	if o.Type != kind.EventType() {
		return &crm.Error{Code: crm.CodeInvalidValue, Message: fmt.Sprintf("Customer Event (%s) Is Not of Type %s", o.Number, kind.EventType()),
			Reason: "Only customer events of the method's type can be specified."}
	}
	return nil
}

// selectFields keeps the fields_set fields of an event object (all when
// fields_set is empty).
func selectFields(obj []byte, fieldsSet string) []byte {
	if strings.TrimSpace(fieldsSet) == "" {
		return obj
	}
	var all map[string]json.RawMessage
	if json.Unmarshal(obj, &all) != nil {
		return obj
	}
	out := map[string]json.RawMessage{}
	for _, f := range strings.Split(fieldsSet, ",") {
		if v, ok := all[strings.TrimSpace(f)]; ok {
			out[strings.TrimSpace(f)] = v
		}
	}
	b, _ := json.Marshal(out)
	return b
}

func writeRaw(w http.ResponseWriter, data []byte) {
	writeJSON(w, http.StatusOK, crm.Response[json.RawMessage]{Data: data, Status: crm.Status{Code: crm.StatusOK}})
}
