package crm

import "encoding/json"

// Event is one customer event of a bulk create call. It is the union of the
// parameters of the seven kinds; which of them a kind accepts, and which are
// mandatory, is in the kind's Schema. Empty fields are not sent.
//
// Numbers are json.Number so that a value keeps every digit it was given
// ("1250.75" stays 1250.75 on the wire). Dates are strings in the API's
// YYYY-MM-DDTHH:MM:SS form (see DateLayout).
type Event struct {
	RequestUniqueIdentifier string `json:"request_unique_identifier"`

	AccountsReceivable      *AccountIdentifier     `json:"accounts_receivable_identifier,omitempty"`
	RewardsParticipant      *ParticipantIdentifier `json:"rewards_participant_identifier,omitempty"`
	Classification          *NamedIdentifier       `json:"classification_identifier,omitempty"`
	PerformedByUnit         *NamedIdentifier       `json:"performed_by_unit_identifier,omitempty"`
	PerformedByBusinessUnit *CodedIdentifier       `json:"performed_by_business_unit_identifier,omitempty"`
	PerformedByTAP          *CodedIdentifier       `json:"performed_by_tap_identifier,omitempty"`

	PerformedOn                   string `json:"performed_on,omitempty"`
	Description                   string `json:"description,omitempty"`
	ExternalSystem                string `json:"external_system,omitempty"`
	ExternalSystemReferenceNumber string `json:"external_system_reference_number,omitempty"`

	// Purchases.
	ReferenceNumber         string             `json:"reference_number,omitempty"`
	PaymentMediumBrand      *NamedIdentifier   `json:"payment_medium_brand_identifier,omitempty"`
	PaymentMediumType       *NamedIdentifier   `json:"payment_medium_type_identifier,omitempty"`
	PaymentMediumIdentifier string             `json:"payment_medium_identifier,omitempty"`
	Invoice                 *InvoiceIdentifier `json:"invoice_identifier,omitempty"`
	SpendRequest            *SpendRequest      `json:"spend_request,omitempty"`
	ProductsSet             []PurchaseProduct  `json:"products_set,omitempty"`

	// Referrals.
	ReferredRewardsParticipant   *ParticipantIdentifier `json:"referred_rewards_participant_identifier,omitempty"`
	ReferredByRewardsParticipant *ParticipantIdentifier `json:"referred_by_rewards_participant_identifier,omitempty"`

	// Social media.
	SocialMedia string `json:"social_media,omitempty"`
	Profile     string `json:"profile,omitempty"`
	Action      string `json:"action,omitempty"`

	// Web.
	Website string `json:"website,omitempty"`

	// Financial achievements.
	Product *ProductIdentifier `json:"product_identifier,omitempty"`
	Amount  json.Number        `json:"amount,omitempty"`

	// The single achievements create method (seeds/003, R15-R18).
	AuthorizedByAccessToken *AccessTokenIdentifier `json:"authorized_by_access_token_identifier,omitempty"`
	PromoCode               string                 `json:"promo_code,omitempty"`

	// Financial statements.
	MeasuredKPIs []MeasuredKPI `json:"measured_key_performance_indicators_set,omitempty"`

	UDFs
}

// UDFs are the user defined fields. Purchases have udf_string_1 to 16; the
// other kinds stop at udf_string_8.
type UDFs struct {
	UDFString1  string      `json:"udf_string_1,omitempty"`
	UDFString2  string      `json:"udf_string_2,omitempty"`
	UDFString3  string      `json:"udf_string_3,omitempty"`
	UDFString4  string      `json:"udf_string_4,omitempty"`
	UDFString5  string      `json:"udf_string_5,omitempty"`
	UDFString6  string      `json:"udf_string_6,omitempty"`
	UDFString7  string      `json:"udf_string_7,omitempty"`
	UDFString8  string      `json:"udf_string_8,omitempty"`
	UDFString9  string      `json:"udf_string_9,omitempty"`
	UDFString10 string      `json:"udf_string_10,omitempty"`
	UDFString11 string      `json:"udf_string_11,omitempty"`
	UDFString12 string      `json:"udf_string_12,omitempty"`
	UDFString13 string      `json:"udf_string_13,omitempty"`
	UDFString14 string      `json:"udf_string_14,omitempty"`
	UDFString15 string      `json:"udf_string_15,omitempty"`
	UDFString16 string      `json:"udf_string_16,omitempty"`
	UDFFloat1   json.Number `json:"udf_float_1,omitempty"`
	UDFFloat2   json.Number `json:"udf_float_2,omitempty"`
	UDFFloat3   json.Number `json:"udf_float_3,omitempty"`
	UDFFloat4   json.Number `json:"udf_float_4,omitempty"`
	UDFDate1    string      `json:"udf_date_1,omitempty"`
	UDFDate2    string      `json:"udf_date_2,omitempty"`
	UDFDate3    string      `json:"udf_date_3,omitempty"`
	UDFDate4    string      `json:"udf_date_4,omitempty"`
}

// PurchaseProduct is one line of a purchase's products_set. Quantity
// defaults to 1 when empty.
type PurchaseProduct struct {
	Product     *ProductIdentifier `json:"product_identifier,omitempty"`
	Quantity    json.Number        `json:"quantity,omitempty"`
	NetAmount   json.Number        `json:"net_amount,omitempty"`
	VATAmount   json.Number        `json:"vat_amount,omitempty"`
	TotalAmount json.Number        `json:"total_amount,omitempty"`
}

// MeasuredKPI is one line of a financial statement's
// measured_key_performance_indicators_set.
type MeasuredKPI struct {
	KPI     *NamedIdentifier   `json:"key_performance_indicator_identifier,omitempty"`
	Value   json.Number        `json:"value,omitempty"`
	Product *ProductIdentifier `json:"product_identifier,omitempty"`
}

// SpendRequest asks a purchase to spend an amount in the system currency or
// in the alternative currency (exactly one of the two).
type SpendRequest struct {
	SpendAmount            json.Number `json:"spend_amount,omitempty"`
	SpendAlternativeAmount json.Number `json:"spend_alternative_amount,omitempty"`
}
