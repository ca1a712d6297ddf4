package crm

import (
	"encoding/json"
	"unicode/utf8"
)

// appendEvent appends ev's wire form to b: byte for byte what
// json.Marshal(ev) writes (field order, omitempty, compact, HTML-escaped
// strings), without reflection. ok is false when json.Marshal fails on
// ev (a json.Number that is not a number); b is then undefined and the
// caller asks json.Marshal for its error.
//
// Every field of Event and of the types it holds must be written here:
// TestAppendEventCoversEveryField walks the types by reflection and
// FuzzAppendEvent compares the two on arbitrary events.
func appendEvent(b []byte, ev *Event) (_ []byte, ok bool) {
	w := wire{b: b, ok: true}
	w.open()
	w.b = append(w.b, `"request_unique_identifier":`...)
	w.b = appendJSONString(w.b, ev.RequestUniqueIdentifier)
	if ev.AccountsReceivable != nil {
		w.key(`"accounts_receivable_identifier":`)
		w.account(ev.AccountsReceivable)
	}
	if ev.RewardsParticipant != nil {
		w.key(`"rewards_participant_identifier":`)
		w.participant(ev.RewardsParticipant)
	}
	if ev.Classification != nil {
		w.key(`"classification_identifier":`)
		w.named(ev.Classification)
	}
	if ev.PerformedByUnit != nil {
		w.key(`"performed_by_unit_identifier":`)
		w.named(ev.PerformedByUnit)
	}
	if ev.PerformedByBusinessUnit != nil {
		w.key(`"performed_by_business_unit_identifier":`)
		w.coded(ev.PerformedByBusinessUnit)
	}
	if ev.PerformedByTAP != nil {
		w.key(`"performed_by_tap_identifier":`)
		w.coded(ev.PerformedByTAP)
	}
	w.str(`"performed_on":`, ev.PerformedOn)
	w.str(`"description":`, ev.Description)
	w.str(`"external_system":`, ev.ExternalSystem)
	w.str(`"external_system_reference_number":`, ev.ExternalSystemReferenceNumber)
	w.str(`"reference_number":`, ev.ReferenceNumber)
	if ev.PaymentMediumBrand != nil {
		w.key(`"payment_medium_brand_identifier":`)
		w.named(ev.PaymentMediumBrand)
	}
	if ev.PaymentMediumType != nil {
		w.key(`"payment_medium_type_identifier":`)
		w.named(ev.PaymentMediumType)
	}
	w.str(`"payment_medium_identifier":`, ev.PaymentMediumIdentifier)
	if i := ev.Invoice; i != nil {
		w.key(`"invoice_identifier":`)
		w.open()
		w.str(`"id":`, i.ID)
		w.str(`"number":`, i.Number)
		w.str(`"reference_number":`, i.ReferenceNumber)
		w.str(`"back_office_code":`, i.BackOfficeCode)
		w.close()
	}
	if s := ev.SpendRequest; s != nil {
		w.key(`"spend_request":`)
		w.open()
		w.num(`"spend_amount":`, s.SpendAmount)
		w.num(`"spend_alternative_amount":`, s.SpendAlternativeAmount)
		w.close()
	}
	if len(ev.ProductsSet) > 0 {
		w.key(`"products_set":[`)
		for i := range ev.ProductsSet {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			l := &ev.ProductsSet[i]
			w.open()
			if l.Product != nil {
				w.key(`"product_identifier":`)
				w.product(l.Product)
			}
			w.num(`"quantity":`, l.Quantity)
			w.num(`"net_amount":`, l.NetAmount)
			w.num(`"vat_amount":`, l.VATAmount)
			w.num(`"total_amount":`, l.TotalAmount)
			w.close()
		}
		w.b = append(w.b, ']')
	}
	if ev.ReferredRewardsParticipant != nil {
		w.key(`"referred_rewards_participant_identifier":`)
		w.participant(ev.ReferredRewardsParticipant)
	}
	if ev.ReferredByRewardsParticipant != nil {
		w.key(`"referred_by_rewards_participant_identifier":`)
		w.participant(ev.ReferredByRewardsParticipant)
	}
	w.str(`"social_media":`, ev.SocialMedia)
	w.str(`"profile":`, ev.Profile)
	w.str(`"action":`, ev.Action)
	w.str(`"website":`, ev.Website)
	if ev.Product != nil {
		w.key(`"product_identifier":`)
		w.product(ev.Product)
	}
	w.num(`"amount":`, ev.Amount)
	if ev.AuthorizedByAccessToken != nil {
		w.key(`"authorized_by_access_token_identifier":`)
		w.token(ev.AuthorizedByAccessToken)
	}
	w.str(`"promo_code":`, ev.PromoCode)
	if len(ev.MeasuredKPIs) > 0 {
		w.key(`"measured_key_performance_indicators_set":[`)
		for i := range ev.MeasuredKPIs {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			m := &ev.MeasuredKPIs[i]
			w.open()
			if m.KPI != nil {
				w.key(`"key_performance_indicator_identifier":`)
				w.named(m.KPI)
			}
			w.num(`"value":`, m.Value)
			if m.Product != nil {
				w.key(`"product_identifier":`)
				w.product(m.Product)
			}
			w.close()
		}
		w.b = append(w.b, ']')
	}
	u := &ev.UDFs
	w.str(`"udf_string_1":`, u.UDFString1)
	w.str(`"udf_string_2":`, u.UDFString2)
	w.str(`"udf_string_3":`, u.UDFString3)
	w.str(`"udf_string_4":`, u.UDFString4)
	w.str(`"udf_string_5":`, u.UDFString5)
	w.str(`"udf_string_6":`, u.UDFString6)
	w.str(`"udf_string_7":`, u.UDFString7)
	w.str(`"udf_string_8":`, u.UDFString8)
	w.str(`"udf_string_9":`, u.UDFString9)
	w.str(`"udf_string_10":`, u.UDFString10)
	w.str(`"udf_string_11":`, u.UDFString11)
	w.str(`"udf_string_12":`, u.UDFString12)
	w.str(`"udf_string_13":`, u.UDFString13)
	w.str(`"udf_string_14":`, u.UDFString14)
	w.str(`"udf_string_15":`, u.UDFString15)
	w.str(`"udf_string_16":`, u.UDFString16)
	w.num(`"udf_float_1":`, u.UDFFloat1)
	w.num(`"udf_float_2":`, u.UDFFloat2)
	w.num(`"udf_float_3":`, u.UDFFloat3)
	w.num(`"udf_float_4":`, u.UDFFloat4)
	w.str(`"udf_date_1":`, u.UDFDate1)
	w.str(`"udf_date_2":`, u.UDFDate2)
	w.str(`"udf_date_3":`, u.UDFDate3)
	w.str(`"udf_date_4":`, u.UDFDate4)
	w.close()
	return w.b, w.ok
}

// wire appends JSON objects. A member is preceded by a comma unless it is
// its object's first: the last byte written is then the object's '{' (no
// value ends with '{').
type wire struct {
	b  []byte
	ok bool
}

func (w *wire) open()  { w.b = append(w.b, '{') }
func (w *wire) close() { w.b = append(w.b, '}') }

// key starts a member; name is its quoted name and colon.
func (w *wire) key(name string) {
	if w.b[len(w.b)-1] != '{' {
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, name...)
}

// str writes an omitempty string member. It is small enough to be
// inlined: most of an event's members are empty (its user defined fields,
// the other kinds' parameters), and a call for each cost a fifth of
// appendEvent.
func (w *wire) str(name, v string) {
	if v != "" {
		w.member(name, v)
	}
}

// member writes a string member.
func (w *wire) member(name, v string) {
	w.key(name)
	w.b = appendJSONString(w.b, v)
}

// num writes an omitempty json.Number member as encoding/json does (see
// number); inlined as str is.
func (w *wire) num(name string, v json.Number) {
	if v != "" {
		w.number(name, v)
	}
}

// number writes a json.Number member: the literal itself, which must be a
// JSON number.
func (w *wire) number(name string, v json.Number) {
	if !isValidNumber(string(v)) {
		w.ok = false
		return
	}
	w.key(name)
	w.b = append(w.b, v...)
}

func (w *wire) token(t *AccessTokenIdentifier) {
	w.open()
	w.str(`"authentication_code":`, t.AuthenticationCode)
	w.str(`"identifier":`, t.Identifier)
	w.str(`"pass_code":`, t.PassCode)
	w.num(`"one_time_password":`, t.OneTimePassword)
	w.close()
}

func (w *wire) account(a *AccountIdentifier) {
	w.open()
	w.str(`"id":`, a.ID)
	w.str(`"number":`, a.Number)
	w.str(`"name":`, a.Name)
	if a.AccessToken != nil {
		w.key(`"access_token_identifier":`)
		w.token(a.AccessToken)
	}
	w.close()
}

func (w *wire) participant(p *ParticipantIdentifier) {
	w.open()
	w.str(`"id":`, p.ID)
	w.str(`"number":`, p.Number)
	if p.AccessToken != nil {
		w.key(`"access_token_identifier":`)
		w.token(p.AccessToken)
	}
	w.close()
}

func (w *wire) named(n *NamedIdentifier) {
	w.open()
	w.str(`"id":`, n.ID)
	w.str(`"name":`, n.Name)
	w.str(`"alternative_code":`, n.AlternativeCode)
	w.close()
}

func (w *wire) coded(c *CodedIdentifier) {
	w.open()
	w.str(`"id":`, c.ID)
	w.str(`"name":`, c.Name)
	w.str(`"code":`, c.Code)
	w.close()
}

func (w *wire) product(p *ProductIdentifier) {
	w.open()
	w.str(`"id":`, p.ID)
	w.str(`"code":`, p.Code)
	w.str(`"alternative_code":`, p.AlternativeCode)
	w.close()
}

// htmlSafe[c] says ASCII byte c is written as itself in a string by
// encoding/json with HTML escaping (its default): everything but control
// characters, '"', '\\', '<', '>' and '&'.
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	t['"'], t['\\'], t['<'], t['>'], t['&'] = false, false, false, false, false
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes a string (with
// HTML escaping): invalid UTF-8 becomes \ufffd, U+2028 and U+2029 are
// escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if htmlSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// isValidNumber reports whether s is a JSON number literal: encoding/json
// refuses to write a json.Number that is not (its isValidNumber).
func isValidNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if s == "" {
			return false
		}
	}
	switch {
	default:
		return false
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = s[1:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s = s[2:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	return s == ""
}
