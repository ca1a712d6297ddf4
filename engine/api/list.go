package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/crmload/crmload/engine"

	"github.com/crmload/crmload/crm"
)

// list is financial_achievements/list (seeds/002): by account, rewards
// participant and classification (at least one; several narrow it), the
// submission dates, and number_of_results events from offset.
func (s *Server) list(w http.ResponseWriter, r *http.Request, kind crm.Kind, p *methodParams) {
	f, offset, err := s.listQuery(r.Context(), kind, p)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.writeList(r.Context(), w, f, offset, p.FieldsSet)
}

// listQuery checks list's parameters and turns them into a filter and an
// offset. A Limit of -1 selects nothing.
func (s *Server) listQuery(ctx context.Context, kind crm.Kind, p *methodParams) (engine.Filter, int, error) {
	if p.AccountsReceivable == nil && p.RewardsParticipant == nil && p.Classification == nil {
		return engine.Filter{}, 0, &crm.Error{Code: crm.CodeSemiOptional,
			Message: "One of accounts_receivable_identifier, rewards_participant_identifier, classification_identifier must be specified, got 0",
			Reason:  "It is mandatory to specify one of the semi-optional parameters. Multiple parameters are allowed to be specified.",
			Field:   "accounts_receivable_identifier"}
	}
	offset, err := count("offset", p.Offset, 0)
	if err != nil {
		return engine.Filter{}, 0, err
	}
	n, err := count("number_of_results", p.NumberOfResults, -1)
	if err != nil {
		return engine.Filter{}, 0, err
	}
	f := engine.Filter{Kind: string(kind), CreatedAfter: p.SubmittedAfterDate, CreatedBefore: p.SubmittedBeforeDate}
	switch {
	case n == 0:
		f.Limit = -1
	case n > 0:
		f.Limit = offset + n
	}
	return f, offset, s.eng.FilterBy(ctx, &f, p.AccountsReceivable, p.RewardsParticipant, p.Classification)
}

func withField(err error, field string) error {
	if apiErr, ok := err.(*crm.Error); ok && apiErr.Field == "" {
		apiErr.Field = field
	}
	return err
}

// writeList answers the events of f after the first offset.
func (s *Server) writeList(ctx context.Context, w http.ResponseWriter, f engine.Filter, offset int, fieldsSet string) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	seen := 0
	var err error
	if f.Limit >= 0 {
		err = s.eng.Events(ctx, f, func(obj []byte) error {
			seen++
			if seen <= offset {
				return nil
			}
			if buf.Len() > 1 {
				buf.WriteByte(',')
			}
			buf.Write(selectFields(obj, fieldsSet))
			return nil
		})
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	buf.WriteByte(']')
	writeRaw(w, buf.Bytes())
}

// count reads a non-negative integer parameter (def when not given).
func count(name string, v json.Number, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(string(v))
	switch {
	case errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(string(v), "-"):
		return 0, &crm.Error{Code: crm.CodeInvalidValue, Message: fmt.Sprintf("Value (%s) of %s is larger than %d", v, name, math.MaxInt),
			Reason: "The specified API value is not valid.", Field: name}
	case err != nil || n < 0:
		return 0, &crm.Error{Code: crm.CodeInvalidValue, Message: fmt.Sprintf("Value (%s) of %s is not a non-negative integer", v, name),
			Reason: "The specified API value is not valid.", Field: name}
	}
	return n, nil
}
