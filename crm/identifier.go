package crm

import "encoding/json"

// An Identifier refers to one CRM.COM entity by exactly one of its allowed
// fields. Each identifier type below has exactly the fields its API page
// lists, with their wire names.
type Identifier interface {
	// Set returns the name and value of every field that is not empty, in
	// the order of the API page.
	Set() []FieldValue
}

// FieldValue is one field of an identifier.
type FieldValue struct {
	Name  string
	Value string
}

func collect(pairs ...string) []FieldValue {
	var out []FieldValue
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			out = append(out, FieldValue{pairs[i], pairs[i+1]})
		}
	}
	return out
}

// AccessTokenIdentifier identifies an accounts receivable or a rewards
// participant through one of its access tokens. PassCode goes with
// Identifier and only with it.
type AccessTokenIdentifier struct {
	AuthenticationCode string `json:"authentication_code,omitempty"`
	Identifier         string `json:"identifier,omitempty"`
	PassCode           string `json:"pass_code,omitempty"`
	// OneTimePassword is an Integer on the page (seeds/004): it is sent
	// as a JSON number.
	OneTimePassword json.Number `json:"one_time_password,omitempty"`
}

// Set implements Identifier. PassCode is not an identifying field: it
// qualifies Identifier.
func (a *AccessTokenIdentifier) Set() []FieldValue {
	return collect("authentication_code", a.AuthenticationCode, "identifier", a.Identifier, "one_time_password", string(a.OneTimePassword))
}

// AccountIdentifier identifies an accounts receivable.
type AccountIdentifier struct {
	ID          string                 `json:"id,omitempty"`
	Number      string                 `json:"number,omitempty"`
	Name        string                 `json:"name,omitempty"`
	AccessToken *AccessTokenIdentifier `json:"access_token_identifier,omitempty"`
}

// Set implements Identifier.
func (a *AccountIdentifier) Set() []FieldValue {
	out := collect("id", a.ID, "number", a.Number, "name", a.Name)
	if a.AccessToken != nil {
		out = append(out, FieldValue{"access_token_identifier", tokenLabel(a.AccessToken)})
	}
	return out
}

// ParticipantIdentifier identifies a rewards participant.
type ParticipantIdentifier struct {
	ID          string                 `json:"id,omitempty"`
	Number      string                 `json:"number,omitempty"`
	AccessToken *AccessTokenIdentifier `json:"access_token_identifier,omitempty"`
}

// Set implements Identifier.
func (p *ParticipantIdentifier) Set() []FieldValue {
	out := collect("id", p.ID, "number", p.Number)
	if p.AccessToken != nil {
		out = append(out, FieldValue{"access_token_identifier", tokenLabel(p.AccessToken)})
	}
	return out
}

func tokenLabel(t *AccessTokenIdentifier) string {
	if s := t.Set(); len(s) > 0 {
		return s[0].Value
	}
	return "{}"
}

// NamedIdentifier identifies an entity by id, name or alternative code:
// customer event classifications, units, payment medium types and brands,
// and key performance indicators.
type NamedIdentifier struct {
	ID              string `json:"id,omitempty"`
	Name            string `json:"name,omitempty"`
	AlternativeCode string `json:"alternative_code,omitempty"`
}

// Set implements Identifier.
func (n *NamedIdentifier) Set() []FieldValue {
	return collect("id", n.ID, "name", n.Name, "alternative_code", n.AlternativeCode)
}

// CodedIdentifier identifies an entity by id, name or code: business units
// and transaction acquiring points.
type CodedIdentifier struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	Code string `json:"code,omitempty"`
}

// Set implements Identifier.
func (c *CodedIdentifier) Set() []FieldValue {
	return collect("id", c.ID, "name", c.Name, "code", c.Code)
}

// ProductIdentifier identifies a product.
type ProductIdentifier struct {
	ID              string `json:"id,omitempty"`
	Code            string `json:"code,omitempty"`
	AlternativeCode string `json:"alternative_code,omitempty"`
}

// Set implements Identifier.
func (p *ProductIdentifier) Set() []FieldValue {
	return collect("id", p.ID, "code", p.Code, "alternative_code", p.AlternativeCode)
}

// CurrencyIdentifier identifies a currency.
type CurrencyIdentifier struct {
	ID   string `json:"id,omitempty"`
	Code string `json:"code,omitempty"`
}

// Set implements Identifier.
func (c *CurrencyIdentifier) Set() []FieldValue { return collect("id", c.ID, "code", c.Code) }

// InvoiceIdentifier identifies an invoice.
type InvoiceIdentifier struct {
	ID              string `json:"id,omitempty"`
	Number          string `json:"number,omitempty"`
	ReferenceNumber string `json:"reference_number,omitempty"`
	BackOfficeCode  string `json:"back_office_code,omitempty"`
}

// Set implements Identifier.
func (i *InvoiceIdentifier) Set() []FieldValue {
	return collect("id", i.ID, "number", i.Number, "reference_number", i.ReferenceNumber, "back_office_code", i.BackOfficeCode)
}
