package engine

import (
	"context"
	"errors"
	"fmt"

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
	return e.store.Events(ctx, f, func(obj []byte) error {
		out, err := render(obj)
		if err != nil {
			return err
		}
		return fn(out)
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
	return render(obj)
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
	return render(obj)
}

func eventNotFound(key string) *crm.Error {
	return &crm.Error{
		Code:    crm.CodeEventNotFound,
		Message: fmt.Sprintf("Customer Event (%s) Not Found", key),
		Reason:  "The specified API value was not found.",
	}
}
