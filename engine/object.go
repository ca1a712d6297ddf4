package engine

import (
	"encoding/json"
	"fmt"

	"github.com/crmload/crmload/crm"
)

// dateLayout is the API's date format.
const dateLayout = crm.DateLayout

// EventObject is a stored customer event: the parameters it was created
// with, and the referenced records as nested objects in place of
// identifiers. It is stored as encoding/json writes it (compact: empty
// fields left out) and rendered in the API's shape by render.
type EventObject struct {
	ID             string `json:"id"`
	Number         string `json:"number"`
	Type           string `json:"type"`
	LifeCycleState string `json:"life_cycle_state"`
	PerformedOn    string `json:"performed_on"`
	Description    string `json:"description,omitempty"`

	AccountsReceivable      *RefObject `json:"accounts_receivable,omitempty"`
	RewardsParticipant      *RefObject `json:"rewards_participant,omitempty"`
	AuthorizedByAccessToken *RefObject `json:"authorized_by_access_token,omitempty"`
	Classification          *RefObject `json:"classification,omitempty"`
	PerformedByUnit         *RefObject `json:"performed_by_unit,omitempty"`
	PerformedByBusinessUnit *RefObject `json:"performed_by_business_unit,omitempty"`
	PerformedByTAP          *RefObject `json:"performed_by_tap,omitempty"`

	ReferenceNumber         string            `json:"reference_number,omitempty"`
	PaymentMediumType       *RefObject        `json:"payment_medium_type,omitempty"`
	PaymentMediumBrand      *RefObject        `json:"payment_medium_brand,omitempty"`
	PaymentMediumIdentifier string            `json:"payment_medium_identifier,omitempty"`
	Invoice                 *RefObject        `json:"invoice,omitempty"`
	SpendRequest            *crm.SpendRequest `json:"spend_request,omitempty"`
	ProductsSet             []ProductLine     `json:"products_set,omitempty"`

	ReferredRewardsParticipant   *RefObject `json:"referred_rewards_participant,omitempty"`
	ReferredByRewardsParticipant *RefObject `json:"referred_by_rewards_participant,omitempty"`

	SocialMedia string `json:"social_media,omitempty"`
	Profile     string `json:"profile,omitempty"`
	Action      string `json:"action,omitempty"`
	Website     string `json:"website,omitempty"`

	Product      *RefObject  `json:"product,omitempty"`
	Amount       json.Number `json:"amount,omitempty"`
	PromoCode    string      `json:"promo_code,omitempty"`
	MeasuredKPIs []KPILine   `json:"measured_key_performance_indicators_set,omitempty"`

	ExternalSystem                string `json:"external_system,omitempty"`
	ExternalSystemReferenceNumber string `json:"external_system_reference_number,omitempty"`
	// The UDFs, nil for none (most events): by value they were half the
	// object's bytes, allocated and scanned for every event stored.
	*crm.UDFs

	LogInformation LogInformation `json:"log_information"`
}

// RefObject is a referenced record inside an event object.
type RefObject struct {
	ID                 string `json:"id"`
	Number             string `json:"number,omitempty"`
	Name               string `json:"name,omitempty"`
	Code               string `json:"code,omitempty"`
	AlternativeCode    string `json:"alternative_code,omitempty"`
	ReferenceNumber    string `json:"reference_number,omitempty"`
	BackOfficeCode     string `json:"back_office_code,omitempty"`
	AuthenticationCode string `json:"authentication_code,omitempty"`
	// row is the record's rid in the SQLite store (0: not known), so that
	// storing a compact event needs no lookup.
	row int64
}

// number is o's number, "" for nil.
func (o *RefObject) number() string {
	if o == nil {
		return ""
	}
	return o.Number
}

// name is o's name, "" for nil.
func (o *RefObject) name() string {
	if o == nil {
		return ""
	}
	return o.Name
}

// ProductLine is one line of a purchase event object's products_set.
type ProductLine struct {
	Product     *RefObject  `json:"product"`
	Quantity    json.Number `json:"quantity"`
	NetAmount   json.Number `json:"net_amount"`
	VATAmount   json.Number `json:"vat_amount"`
	TotalAmount json.Number `json:"total_amount"`
}

// KPILine is one measured key performance indicator of a financial
// statement event object.
type KPILine struct {
	KPI     *RefObject  `json:"key_performance_indicator"`
	Value   json.Number `json:"value"`
	Product *RefObject  `json:"product,omitempty"`
}

// LogInformation says when the event was created and last changed.
type LogInformation struct {
	CreatedDate string `json:"created_date"`
	UpdatedDate string `json:"updated_date"`
}

// object renders a resolved record as it appears nested in an event
// object. It is nil for a nil record. Event objects share it: it must not
// be changed.
func object(e *Entity, r *Ref) *RefObject {
	if r == nil {
		return nil
	}
	if r.obj != nil {
		return r.obj
	}
	o := &RefObject{ID: r.ID, row: r.row}
	defer func() { r.obj = o }()
	for i, col := range e.cols {
		v := r.Vals[i]
		switch col {
		case "number":
			o.Number = v
		case "name":
			o.Name = v
		case "code":
			o.Code = v
		case "alternative_code":
			o.AlternativeCode = v
		case "reference_number":
			o.ReferenceNumber = v
		case "back_office_code":
			o.BackOfficeCode = v
		case "authentication_code":
			o.AuthenticationCode = v
		}
	}
	return o
}

// numberAt is where an encoded event object's number goes: the object
// starts {"id":"<32 hex>","number":" (id and number are its first fields).
const numberAt = len(`{"id":"`) + 32 + len(`","number":"`)

// encodeObject encodes an event object before it has a number, so that
// encoding happens outside the store's lock; numbered puts the number in.
func encodeObject(obj *EventObject) ([]byte, error) {
	obj.Number = ""
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	if len(b) < numberAt+1 || string(b[:7]) != `{"id":"` || string(b[numberAt-12:numberAt+1]) != `","number":""` {
		return nil, fmt.Errorf("encode event object: unexpected layout %.60s", b)
	}
	return b, nil
}

// numbered appends to buf the encoded object with its number.
func numbered(buf, encoded []byte, number string) []byte {
	buf = append(buf, encoded[:numberAt]...)
	buf = append(buf, number...)
	return append(buf, encoded[numberAt:]...)
}
