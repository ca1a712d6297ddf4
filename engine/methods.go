package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/crmload/crmload/crm"
)

// The single-event methods of seeds/002 and 003: financial achievements
// show, list, create and cancel, and achievements create. Parameters come
// as a JSON body, or for GET as query parameters whose identifier values
// are JSON ({"id":"..."}).

// eventIdentifier identifies one customer event.
type eventIdentifier struct {
	ID     string `json:"id,omitempty"`
	Number string `json:"number,omitempty"`
}

// methodParams are the parameters the single-event methods take.
type methodParams struct {
	Token               string                 `json:"token"`
	FieldsSet           string                 `json:"fields_set"`
	CustomerEvent       *eventIdentifier       `json:"customer_event_identifier"`
	AccountsReceivable  *crm.AccountIdentifier `json:"accounts_receivable_identifier"`
	Classification      *crm.NamedIdentifier   `json:"classification_identifier"`
	SubmittedAfterDate  string                 `json:"submitted_after_date"`
	SubmittedBeforeDate string                 `json:"submitted_before_date"`
}

// params reads a method's parameters into p, strictly (crm.ReadParams),
// from the body (POST) or from the query string (GET), whose values are
// JSON when they look like an object or a list. The token is checked as
// it is read.
func (s *Server) params(w http.ResponseWriter, r *http.Request, p any) error {
	if r.Method != http.MethodGet {
		body := s.body(w, r)
		return crm.ReadParams(body, p, crm.ReadOptions{Authorize: body.authorize})
	}
	obj := map[string]json.RawMessage{}
	for k, vs := range r.URL.Query() {
		if len(vs) > 1 {
			return &crm.Error{Code: crm.CodeInvalidRequest, Message: "Parameter " + strings.ToValidUTF8(k[:min(len(k), 64)], "") + " Is Given More Than Once",
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
	return crm.ReadParams(bytes.NewReader(b), p, crm.ReadOptions{Authorize: func(token string) error {
		if !s.valid(token) {
			return invalidToken()
		}
		return nil
	}})
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
		key, keyErr := eventKeyOf(p.CustomerEvent)
		if keyErr != nil {
			writeError(w, http.StatusBadRequest, keyErr)
			return
		}
		obj, err := s.eng.Event(ctx, key)
		if err == nil {
			err = mustBeType(obj, kind, key)
		}
		if err == nil && method == "cancel" {
			obj, err = s.eng.Cancel(ctx, key)
		}
		if err != nil {
			s.fail(w, err)
			return
		}
		writeRaw(w, selectFields(obj, p.FieldsSet))
	case "list":
		f := Filter{Kind: string(kind), CreatedAfter: p.SubmittedAfterDate, CreatedBefore: p.SubmittedBeforeDate}
		if p.AccountsReceivable != nil {
			n, err := s.eng.refValue(ctx, entAccount, p.AccountsReceivable, "number")
			if err != nil {
				s.fail(w, err)
				return
			}
			f.Account = n
		}
		if p.Classification != nil {
			n, err := s.eng.refValue(ctx, entClassification, p.Classification, "name")
			if err != nil {
				s.fail(w, err)
				return
			}
			f.Classification = n
		}
		var buf bytes.Buffer
		buf.WriteByte('[')
		first := true
		err := s.eng.Events(ctx, f, func(obj []byte) error {
			if !first {
				buf.WriteByte(',')
			}
			first = false
			buf.Write(selectFields(obj, p.FieldsSet))
			return nil
		})
		if err != nil {
			s.fail(w, err)
			return
		}
		buf.WriteByte(']')
		writeRaw(w, buf.Bytes())
	}
}

// createOne is a single create: the event's parameters with the token, as
// one event of a bulk call; the answer is the created event object.
func (s *Server) createOne(w http.ResponseWriter, r *http.Request, kind crm.Kind) {
	var in struct {
		Token     string `json:"token"`
		FieldsSet string `json:"fields_set"`
		crm.Event
	}
	if err := s.params(w, r, &in); err != nil {
		s.readFailed(w, err)
		return
	}
	in.Event.RequestUniqueIdentifier = "1"
	req := &crm.BulkRequest{Kind: kind, Events: []crm.Event{in.Event}}
	res, err := s.eng.CreateEvents(context.WithoutCancel(r.Context()), *req)
	if err != nil {
		s.fail(w, err)
		return
	}
	if len(res.Unprocessed) > 0 {
		u := res.Unprocessed[0]
		writeJSON(w, http.StatusBadRequest, crm.Response[any]{Status: crm.Status{Code: u.ErrorCode, Description: u.ErrorDescription}})
		return
	}
	obj, err := s.eng.Event(r.Context(), res.Processed[0].ID)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeRaw(w, selectFields(obj, in.FieldsSet))
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	if apiErr, ok := err.(*crm.Error); ok {
		status := http.StatusBadRequest
		if apiErr.Code == crm.CodeEventNotFound || apiErr.Code == crm.CodeNotFound {
			status = http.StatusNotFound
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

func eventKeyOf(id *eventIdentifier) (string, *crm.Error) {
	switch {
	case id == nil:
		return "", &crm.Error{Code: crm.CodeMandatoryMissing, Message: "Mandatory parameter customer_event_identifier is missing", Reason: "A mandatory parameter was not specified."}
	case (id.ID == "") == (id.Number == ""):
		return "", &crm.Error{Code: crm.CodeInvalidIdentifier, Message: "customer_event_identifier must be specified by exactly one of its fields (id, number)", Reason: "An identifier must be specified by exactly one of its allowed fields."}
	case id.ID != "":
		return id.ID, nil
	}
	return id.Number, nil
}

// mustBeType refuses an event of another kind than the method's.
func mustBeType(obj []byte, kind crm.Kind, key string) error {
	var o struct {
		Type string `json:"type"`
	}
	json.Unmarshal(obj, &o)
	if o.Type != kind.EventType() {
		return &crm.Error{Code: crm.CodeInvalidValue, Message: fmt.Sprintf("Customer Event (%s) Is Not of Type %s", key, kind.EventType()),
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

// refValue resolves an identifier of e and returns the record's column
// col: the account number or classification name list filters on.
func (e *Engine) refValue(ctx context.Context, ent *entity, id crm.Identifier, col string) (string, error) {
	for _, f := range id.Set() {
		if f.Name != "id" && !slices.Contains(ent.lookup, f.Name) {
			return "", &crm.Error{Code: crm.CodeInvalidIdentifier, Message: fmt.Sprintf("%s cannot be identified by %s here", ent.label, f.Name),
				Reason: "An identifier can be specified only by one of its allowed fields."}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.refreshCache(ctx); err != nil {
		return "", err
	}
	r := newResolver(e.store, &e.cache)
	for {
		s := &eval{r: r}
		ref := s.ident(ent, id)
		if s.err != nil {
			return "", s.err
		}
		if !s.incomplete {
			if ref == nil {
				return "", &crm.Error{Code: crm.CodeInvalidIdentifier, Message: "The identifier must be specified by exactly one of its fields", Reason: "An identifier must be specified by exactly one of its allowed fields."}
			}
			return ref.get(ent, col), nil
		}
		if err := r.fetch(ctx); err != nil {
			return "", err
		}
	}
}
