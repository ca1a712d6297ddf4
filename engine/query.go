package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/crmload/crmload/crm"
)

// Events streams the event objects that match f, in number order, as JSON.
// fn must not keep obj after it returns.
func (e *Engine) Events(ctx context.Context, f Filter, fn func(obj []byte) error) error {
	if f.Kind != "" {
		if _, err := crm.ParseKind(f.Kind); err != nil {
			return err
		}
	}
	for _, d := range []struct{ name, v string }{{"since", f.Since}, {"until", f.Until},
		{"submitted_after_date", f.CreatedAfter}, {"submitted_before_date", f.CreatedBefore}} {
		if d.v != "" && !crm.IsDate(d.v) {
			return &crm.Error{Code: crm.CodeInvalidValue, Message: fmt.Sprintf("%s %q is not a date of the form YYYY-MM-DDTHH:MM:SS", d.name, d.v),
				Reason: "The specified API value is not valid.", Field: d.name}
		}
	}
	var buf []byte
	return e.store.Events(ctx, f, func(o *EventObject) error {
		buf = appendObject(buf[:0], o)
		return fn(buf)
	})
}

// Event returns the event object with the given id or number, or a
// *crm.Error with CodeEventNotFound.
func (e *Engine) Event(ctx context.Context, key string) ([]byte, error) {
	obj, err := e.store.Event(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return nil, eventNotFound(key)
	}
	if err != nil {
		return nil, err
	}
	return renderObject(obj), nil
}

// Cancel moves a POSTED event to CANCELLED and returns it. Any other state
// is refused with a *crm.Error (CodeInvalidLifeCycleState).
func (e *Engine) Cancel(ctx context.Context, key string) ([]byte, error) {
	obj, err := e.store.SetState(ctx, key, "POSTED", "CANCELLED", e.now())
	var se *StateError
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, eventNotFound(key)
	case errors.As(err, &se):
		return nil, &crm.Error{
			Code:    crm.CodeInvalidLifeCycleState,
			Message: fmt.Sprintf("Customer Event (%s) Is %s", key, se.State),
			Reason:  "Only posted customer events can be cancelled.",
		}
	case err != nil:
		return nil, err
	}
	return renderObject(obj), nil
}

func eventNotFound(key string) *crm.Error {
	return &crm.Error{
		Code:    crm.CodeEventNotFound,
		Message: fmt.Sprintf("Customer Event (%s) Not Found", key),
		Reason:  "The specified API value was not found.",
	}
}

// EventIdentifier identifies one customer event (customer_event_identifier
// in the show and cancel methods, seeds/002).
type EventIdentifier struct {
	ID     string `json:"id,omitempty"`
	Number string `json:"number,omitempty"`
}

// EventByIdentifier returns the event a customer_event_identifier names
// (nil: none was given), by the field it gives: {"id":"1098"} is the event
// whose id is 1098 (none: ids are 32 hex digits), never the one whose
// number is.
func (e *Engine) EventByIdentifier(ctx context.Context, id *EventIdentifier) ([]byte, error) {
	switch {
	case id == nil:
		return nil, &crm.Error{Code: crm.CodeMandatoryMissing, Message: "Mandatory parameter customer_event_identifier is missing",
			Reason: "A mandatory parameter was not specified.", Field: "customer_event_identifier"}
	case (id.ID == "") == (id.Number == ""):
		return nil, &crm.Error{Code: crm.CodeInvalidIdentifier, Message: "customer_event_identifier must be specified by exactly one of its fields (id, number)",
			Reason: "An identifier must be specified by exactly one of its allowed fields.", Field: "customer_event_identifier"}
	case id.ID != "":
		// The store takes a key of digits for a number.
		if _, err := strconv.ParseInt(id.ID, 10, 64); err == nil && len(id.ID) < 32 {
			return nil, eventNotFound(id.ID)
		}
		return e.Event(ctx, id.ID)
	}
	// A number is matched as the string it is (a String identifier on
	// the page): 0003 and +3 are not event 3.
	if n, err := strconv.ParseInt(id.Number, 10, 64); err != nil || n <= 0 || strconv.FormatInt(n, 10) != id.Number {
		return nil, eventNotFound(id.Number)
	}
	return e.Event(ctx, id.Number)
}

// FilterBy resolves the list method's identifiers (each may be nil) into
// f: an error names the identifier's parameter in its Field.
func (e *Engine) FilterBy(ctx context.Context, f *Filter, account *crm.AccountIdentifier, participant *crm.ParticipantIdentifier, classification *crm.NamedIdentifier) error {
	var err error
	if account != nil {
		if f.Account, err = e.refValue(ctx, entAccount, account, "number"); err != nil {
			return withField(err, "accounts_receivable_identifier")
		}
	}
	if participant != nil {
		// A participant's events are those of its account (an event names
		// one or the other).
		accountID, err := e.refValue(ctx, entParticipant, participant, "accounts_receivable")
		if err != nil {
			return withField(err, "rewards_participant_identifier")
		}
		number := ""
		if accountID != "" {
			if number, err = e.refValue(ctx, entAccount, &crm.AccountIdentifier{ID: accountID}, "number"); err != nil {
				return err
			}
		}
		if number == "" || f.Account != "" && f.Account != number {
			f.Limit = -1 // nothing matches both
		}
		f.Account = number
	}
	if classification != nil {
		if f.Classification, err = e.refValue(ctx, entClassification, classification, "name"); err != nil {
			return withField(err, "classification_identifier")
		}
		// A list's page allows its own kind's classifications only, as
		// its create does (a web classification listed nothing).
		if _, restricted := classificationKind(crm.Kind(f.Kind)); restricted {
			typ, err := e.refValue(ctx, entClassification, classification, "type")
			if err != nil {
				return withField(err, "classification_identifier")
			}
			if err := classificationOfKind(crm.Kind(f.Kind), f.Classification, typ); err != nil {
				return err
			}
		}
	}
	return nil
}

func withField(err error, field string) error {
	if apiErr, ok := err.(*crm.Error); ok && apiErr.Field == "" {
		apiErr.Field = field
	}
	return err
}

// refValue resolves an identifier of e and returns the record's column
// col: the account number or classification name list filters on.
func (e *Engine) refValue(ctx context.Context, ent *Entity, id crm.Identifier, col string) (string, error) {
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
