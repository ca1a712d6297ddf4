package engine

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/crmload/crmload/crm"
)

// Event objects are stored compact (the fields the event has, numbers as
// they were sent: bytes stored per event are what a bulk load pays) and
// rendered on the way out (show, list, cancel, create, events list) in the
// shape of the API pages (seeds/002, 003): every key the pages show for the
// kind, null where the engine has no data (an account's owner, a unit's
// group, an event's award transactions), and numbers as the pages print
// them (11.50 is 11.5).

// render turns a stored event object (encoding/json's encoding of an
// EventObject) into the API's event object.
func render(stored []byte) ([]byte, error) {
	o, err := decodeObject(stored)
	if err != nil {
		return nil, err
	}
	return appendObject(make([]byte, 0, 2*len(stored)+512), o), nil
}

// renderObject turns an event object into the API's event object.
func renderObject(o *EventObject) []byte {
	return appendObject(make([]byte, 0, 1024), o)
}

// decodeObject decodes an event object as encodeObject encoded it.
func decodeObject(stored []byte) (*EventObject, error) {
	o := new(EventObject)
	if err := json.Unmarshal(stored, o); err != nil {
		return nil, fmt.Errorf("decode stored event object: %w", err)
	}
	return o, nil
}

// objWriter appends one JSON object's members.
type objWriter struct {
	b     []byte
	first bool
}

func (w *objWriter) open() { w.b = append(w.b, '{'); w.first = true }

func (w *objWriter) close() { w.b = append(w.b, '}'); w.first = false }

func (w *objWriter) key(k string) {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

// str writes a string member, null when it is empty.
func (w *objWriter) str(k, v string) {
	w.key(k)
	if v == "" {
		w.b = append(w.b, "null"...)
		return
	}
	if plain(v) {
		w.b = append(w.b, '"')
		w.b = append(w.b, v...)
		w.b = append(w.b, '"')
		return
	}
	q, _ := json.Marshal(v) // escapes as the stored objects were escaped
	w.b = append(w.b, q...)
}

// plain reports whether s needs no escaping in JSON as encoding/json
// writes it: printable ASCII but for ", \ and the HTML characters.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// num writes a number member as the pages print it, null when empty.
func (w *objWriter) num(k string, v json.Number) {
	w.key(k)
	if v == "" {
		w.b = append(w.b, "null"...)
		return
	}
	w.b = append(w.b, PageNumber(string(v))...)
}

func (w *objWriter) null(k string) { w.key(k); w.b = append(w.b, "null"...) }

// PageNumber prints a JSON number literal as the API pages print amounts:
// without trailing zeros after the decimal point (11.50 is 11.5, 10.0 is
// 10), every other digit kept. A literal with an exponent is written out
// first (1E+2 is 100, 5e-3 is 0.005: crm.PlainNumber), as a server that
// keeps amounts as decimals answers them; one past crm.IsBoundedNumber,
// or a string that is not a JSON number, is returned as it is.
func PageNumber(s string) string {
	if !crm.IsPlainNumber(s) {
		if p := crm.PlainNumber(s); p != s {
			return PageNumber(p)
		}
		return s
	}
	dot := strings.IndexByte(s, '.')
	if dot < 0 {
		if s == "-0" {
			return "0"
		}
		return s
	}
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// noUDFs is what an event without UDFs renders (read only).
var noUDFs crm.UDFs

// ref writes a referenced record with the keys fields lists (taken from
// the record, null when it has none) and the keys nulls lists (data the
// engine does not keep); the whole member is null for no record.
func (w *objWriter) ref(k string, r *RefObject, fields []string, nulls ...string) {
	w.key(k)
	if r == nil {
		w.b = append(w.b, "null"...)
		return
	}
	in := objWriter{b: w.b}
	in.open()
	in.str("id", r.ID)
	for _, f := range fields {
		in.str(f, r.field(f))
	}
	for _, n := range nulls {
		in.null(n)
	}
	in.close()
	w.b = in.b
}

func (r *RefObject) field(name string) string {
	switch name {
	case "number":
		return r.Number
	case "name":
		return r.Name
	case "code":
		return r.Code
	case "alternative_code":
		return r.AlternativeCode
	case "reference_number":
		return r.ReferenceNumber
	case "back_office_code":
		return r.BackOfficeCode
	case "authentication_code":
		return r.AuthenticationCode
	}
	return ""
}

// The nested objects' keys, as the pages show them.
var (
	accountKeys      = []string{"number", "name"}
	accountNulls     = []string{"life_cycle_state", "account_owner"}
	participantKeys  = []string{"number"}
	namedKeys        = []string{"name", "alternative_code"}
	unitNulls        = []string{"group_name", "community_name", "description"}
	codedKeys        = []string{"code", "name"}
	productKeys      = []string{"code", "alternative_code"}
	productNulls     = []string{"description", "product_type"}
	paymentNulls     = []string{"description"}
	invoiceKeys      = []string{"number", "reference_number", "back_office_code"}
	accessTokenKeys  = []string{"authentication_code"}
	classificationsK = []string{"name", "alternative_code"}
)

// appendObject appends the API's event object o: id and number first (the
// stored form's layout), then the keys every kind has, then the kind's.
func appendObject(b []byte, o *EventObject) []byte {
	w := objWriter{b: b}
	w.open()
	w.str("id", o.ID)
	w.str("number", o.Number)
	w.str("type", o.Type)
	w.str("life_cycle_state", o.LifeCycleState)
	w.str("performed_on", o.PerformedOn)
	w.str("description", o.Description)
	w.key("process_immediately")
	w.b = append(w.b, "false"...)
	w.str("external_system", o.ExternalSystem)
	w.str("external_system_reference_number", o.ExternalSystemReferenceNumber)
	kind := kindOfType(o.Type)
	if kind != crm.Referrals {
		w.ref("accounts_receivable", o.AccountsReceivable, accountKeys, accountNulls...)
		w.ref("rewards_participant", o.RewardsParticipant, participantKeys)
	}
	w.ref("classification", o.Classification, classificationsK)
	w.ref("performed_by_unit", o.PerformedByUnit, namedKeys, unitNulls...)
	switch kind {
	case crm.Achievements, crm.Purchases:
		w.ref("performed_by_business_unit", o.PerformedByBusinessUnit, codedKeys)
		w.ref("performed_by_tap", o.PerformedByTAP, codedKeys)
		w.ref("authorized_by_access_token", o.AuthorizedByAccessToken, accessTokenKeys)
	}
	switch kind {
	case crm.Achievements, crm.FinancialAchievements:
		w.ref("product", o.Product, productKeys, productNulls...)
		w.num("amount", o.Amount)
	}
	switch kind {
	case crm.Achievements, crm.FinancialAchievements, crm.Purchases:
		w.ref("payment_medium_type", o.PaymentMediumType, namedKeys, paymentNulls...)
		w.ref("payment_medium_brand", o.PaymentMediumBrand, namedKeys, paymentNulls...)
		w.str("payment_medium_identifier", o.PaymentMediumIdentifier)
	}
	switch kind {
	case crm.Achievements:
		w.str("promo_code", o.PromoCode)
		w.null("total_awarded_amount")
		w.null("total_awarded_alternative_amount")
	case crm.Purchases:
		w.str("reference_number", o.ReferenceNumber)
		w.ref("invoice", o.Invoice, invoiceKeys)
		w.key("spend_request")
		if sr := o.SpendRequest; sr == nil {
			w.b = append(w.b, "null"...)
		} else {
			in := objWriter{b: w.b}
			in.open()
			in.num("spend_amount", sr.SpendAmount)
			in.num("spend_alternative_amount", sr.SpendAlternativeAmount)
			in.close()
			w.b = in.b
		}
		w.key("products_set")
		w.b = append(w.b, '[')
		for i, l := range o.ProductsSet {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			in := objWriter{b: w.b}
			in.open()
			in.ref("product", l.Product, productKeys, productNulls...)
			in.num("quantity", l.Quantity)
			in.num("net_amount", l.NetAmount)
			in.num("vat_amount", l.VATAmount)
			in.num("total_amount", l.TotalAmount)
			in.close()
			w.b = in.b
		}
		w.b = append(w.b, ']')
	case crm.Referrals:
		w.ref("referred_rewards_participant", o.ReferredRewardsParticipant, participantKeys)
		w.ref("referred_by_rewards_participant", o.ReferredByRewardsParticipant, participantKeys)
	case crm.SocialMedia:
		w.str("social_media", o.SocialMedia)
		w.str("profile", o.Profile)
		w.str("action", o.Action)
	case crm.Web:
		w.str("website", o.Website)
	case crm.FinancialStatements:
		w.key("measured_key_performance_indicators_set")
		w.b = append(w.b, '[')
		for i, l := range o.MeasuredKPIs {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			in := objWriter{b: w.b}
			in.open()
			in.ref("key_performance_indicator", l.KPI, namedKeys)
			in.num("value", l.Value)
			in.ref("product", l.Product, productKeys, productNulls...)
			in.close()
			w.b = in.b
		}
		w.b = append(w.b, ']')
	}
	w.null("award_reward_transactions_set")
	w.key("log_information")
	in := objWriter{b: w.b}
	in.open()
	in.str("created_date", o.LogInformation.CreatedDate)
	in.str("updated_date", o.LogInformation.UpdatedDate)
	for _, k := range []string{"created_by_unit", "updated_by_unit", "created_by_user", "updated_by_user"} {
		in.null(k)
	}
	in.close()
	w.b = in.b
	u := o.UDFs
	if u == nil {
		u = &noUDFs
	}
	strs := []string{u.UDFString1, u.UDFString2, u.UDFString3, u.UDFString4, u.UDFString5, u.UDFString6, u.UDFString7, u.UDFString8,
		u.UDFString9, u.UDFString10, u.UDFString11, u.UDFString12, u.UDFString13, u.UDFString14, u.UDFString15, u.UDFString16}
	n := 8
	if kind == crm.Purchases {
		n = 16
	}
	for i := range n {
		w.str("udf_string_"+strconv.Itoa(i+1), strs[i])
	}
	for i, f := range []json.Number{u.UDFFloat1, u.UDFFloat2, u.UDFFloat3, u.UDFFloat4} {
		w.num("udf_float_"+strconv.Itoa(i+1), f)
	}
	for i, d := range []string{u.UDFDate1, u.UDFDate2, u.UDFDate3, u.UDFDate4} {
		w.str("udf_date_"+strconv.Itoa(i+1), d)
	}
	w.close()
	return w.b
}

// kindOfType is the kind of an event object's type (PURCHASE: purchases).
func kindOfType(t string) crm.Kind {
	for _, k := range crm.Kinds {
		if k.EventType() == t {
			return k
		}
	}
	return ""
}
