package crm

import (
	"fmt"
	"strings"
)

// Kind is one of the seven customer event kinds that have a bulk create
// method, named as in the method path (customer_events/bulk/<kind>/create).
type Kind string

// The seven kinds.
const (
	Achievements          Kind = "achievements"
	Purchases             Kind = "purchases"
	Referrals             Kind = "referrals"
	SocialMedia           Kind = "social_media"
	Web                   Kind = "web"
	FinancialAchievements Kind = "financial_achievements"
	FinancialStatements   Kind = "financial_statements"
)

// Kinds lists every kind in the order of the API page.
var Kinds = []Kind{Achievements, Purchases, Referrals, SocialMedia, Web, FinancialAchievements, FinancialStatements}

// MaxBulkEvents is the most events a single bulk call may carry.
const MaxBulkEvents = 1000

// ParseKind returns the kind named s, or an error listing the valid names.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown kind %q (valid: %s)", s, kindNames())
}

func kindNames() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// BulkPath is the API path of the kind's bulk create method, relative to the
// API base URL.
func (k Kind) BulkPath() string { return "customer_events/bulk/" + string(k) + "/create" }

// SetName is the name of the request parameter that carries the events.
// Financial statements reuse the financial achievements set name: the API page
// names it so (a copy of the achievements page), and the wire follows the page.
func (k Kind) SetName() string {
	switch k {
	case Achievements:
		return "achievement_customer_events_set"
	case Purchases:
		return "purchase_customer_events_set"
	case Referrals:
		return "referral_customer_events_set"
	case SocialMedia:
		return "social_media_customer_events_set"
	case Web:
		return "web_customer_events_set"
	case FinancialAchievements, FinancialStatements:
		return "financial_achievement_customer_events_set"
	}
	return ""
}

// AltSetName is a second name the server accepts for the kind's events
// set, or "": financial statements' own name,
// financial_statement_customer_events_set, which a client written from the
// kind's name sends. Clients send SetName, the page's name.
func (k Kind) AltSetName() string {
	if k == FinancialStatements {
		return "financial_statement_customer_events_set"
	}
	return ""
}

// EventType is the value of the "type" attribute of a stored event of this
// kind, as the API's event objects show it (ACHIEVEMENT, PURCHASE, ...).
func (k Kind) EventType() string {
	switch k {
	case Achievements:
		return "ACHIEVEMENT"
	case Purchases:
		return "PURCHASE"
	case Referrals:
		return "REFERRAL"
	case SocialMedia:
		return "SOCIAL_MEDIA"
	case Web:
		return "WEB"
	case FinancialAchievements:
		return "FINANCIAL_ACHIEVEMENT"
	case FinancialStatements:
		return "FINANCIAL_STATEMENT"
	}
	return ""
}

// ItemSet is the name of the kind's nested set of line items: products_set
// for purchases, measured_key_performance_indicators_set for financial
// statements, and "" for kinds that have none.
func (k Kind) ItemSet() string {
	switch k {
	case Purchases:
		return "products_set"
	case FinancialStatements:
		return "measured_key_performance_indicators_set"
	}
	return ""
}
