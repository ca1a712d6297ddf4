package crm

import (
	"encoding/json"
	"strings"
	"testing"
)

func validPurchase() *Event {
	return &Event{
		RequestUniqueIdentifier: "31",
		AccountsReceivable:      &AccountIdentifier{Number: "ACR0000000228"},
		PerformedByUnit:         &NamedIdentifier{Name: "Admin Unit"},
		PerformedOn:             "2016-06-22T15:00:00",
		ReferenceNumber:         "RF01",
		ProductsSet: []PurchaseProduct{{
			Product: &ProductIdentifier{Code: "Bronze"}, TotalAmount: "180", NetAmount: "160", VATAmount: "20",
		}},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		kind      Kind
		edit      func(*Event)
		wantCode  string
		wantField string
	}{
		{"valid purchase", Purchases, func(*Event) {}, "", ""},
		{"missing performed_on", Purchases, func(e *Event) { e.PerformedOn = "" }, CodeMandatoryMissing, "performed_on"},
		{"missing request id", Purchases, func(e *Event) { e.RequestUniqueIdentifier = "" }, CodeMandatoryMissing, "request_unique_identifier"},
		{"missing products_set", Purchases, func(e *Event) { e.ProductsSet = nil }, CodeMandatoryMissing, "products_set"},
		{"missing line amount", Purchases, func(e *Event) { e.ProductsSet[0].VATAmount = "" }, CodeMandatoryMissing, "products_set[0].vat_amount"},
		{"bad line amount", Purchases, func(e *Event) { e.ProductsSet[0].NetAmount = "1,5" }, CodeInvalidValue, "products_set[0].net_amount"},
		{"second line, value named like the field", Purchases, func(e *Event) {
			e.ProductsSet = append(e.ProductsSet, e.ProductsSet[0])
			e.ProductsSet[1].NetAmount = "net_amount"
		}, CodeInvalidValue, "products_set[1].net_amount"},
		{"two account fields", Purchases, func(e *Event) { e.AccountsReceivable.Name = "x" }, CodeInvalidIdentifier, "accounts_receivable_identifier"},
		{"empty identifier", Purchases, func(e *Event) { e.PerformedByUnit = &NamedIdentifier{}; e.PerformedByTAP = &CodedIdentifier{Code: "T"} }, CodeInvalidIdentifier, "performed_by_unit_identifier"},
		{"account and participant", Purchases, func(e *Event) { e.RewardsParticipant = &ParticipantIdentifier{Number: "RP1"} }, CodeSemiOptional, "accounts_receivable_identifier"},
		{"neither account nor participant", Purchases, func(e *Event) { e.AccountsReceivable = nil }, CodeSemiOptional, "accounts_receivable_identifier"},
		{"no performer at all", Purchases, func(e *Event) { e.PerformedByUnit = nil }, CodeMandatoryMissing, "performed_by_unit_identifier or performed_by_business_unit_identifier or performed_by_tap_identifier"},
		{"tap alone is a performer", Purchases, func(e *Event) { e.PerformedByUnit = nil; e.PerformedByTAP = &CodedIdentifier{Code: "T1"} }, "", ""},
		{"bad date", Purchases, func(e *Event) { e.PerformedOn = "22/06/2016" }, CodeInvalidValue, "performed_on"},
		{"udf_string_16 on purchase", Purchases, func(e *Event) { e.UDFString16 = "x" }, "", ""},
		{"udf_string_9 on web", Web, func(e *Event) { e.ReferenceNumber, e.ProductsSet, e.Website, e.UDFString9 = "", nil, "w", "x" }, CodeNotAllowedParameter, "udf_string_9"},
		{"website on purchase", Purchases, func(e *Event) { e.Website = "www.crm.com" }, CodeNotAllowedParameter, "website"},
		{"token on purchase account", Purchases, func(e *Event) {
			e.AccountsReceivable = &AccountIdentifier{AccessToken: &AccessTokenIdentifier{AuthenticationCode: "4111"}}
		}, "", ""},
		{"token identifier needs pass code", Purchases, func(e *Event) {
			e.AccountsReceivable = &AccountIdentifier{AccessToken: &AccessTokenIdentifier{Identifier: "card-1"}}
		}, CodeMandatoryMissing, "accounts_receivable_identifier.access_token_identifier.pass_code"},
		{"token with two fields", Purchases, func(e *Event) {
			e.AccountsReceivable = &AccountIdentifier{AccessToken: &AccessTokenIdentifier{AuthenticationCode: "1", OneTimePassword: "2"}}
		}, CodeInvalidIdentifier, "accounts_receivable_identifier.access_token_identifier"},
		{"token not allowed on achievements", Achievements, func(e *Event) {
			*e = Event{RequestUniqueIdentifier: "1", AccountsReceivable: &AccountIdentifier{AccessToken: &AccessTokenIdentifier{AuthenticationCode: "1"}},
				Classification: &NamedIdentifier{Name: "C"}, PerformedByUnit: &NamedIdentifier{Name: "U"}, PerformedOn: "2016-06-22T15:00:00"}
		}, CodeInvalidIdentifier, "accounts_receivable_identifier"},
		{"spend request needs exactly one amount", Purchases, func(e *Event) { e.SpendRequest = &SpendRequest{SpendAmount: "1", SpendAlternativeAmount: "2"} }, CodeSemiOptional, "spend_request.spend_amount"},
		{"achievement needs classification", Achievements, func(e *Event) {
			*e = Event{RequestUniqueIdentifier: "1", AccountsReceivable: &AccountIdentifier{Number: "A"}, PerformedByUnit: &NamedIdentifier{Name: "U"}, PerformedOn: "2016-06-22T15:00:00"}
		}, CodeMandatoryMissing, "classification_identifier"},
		{"social media enum", SocialMedia, func(e *Event) {
			*e = Event{RequestUniqueIdentifier: "1", AccountsReceivable: &AccountIdentifier{Number: "A"}, PerformedByUnit: &NamedIdentifier{Name: "U"}, PerformedOn: "2016-06-22T15:00:00",
				SocialMedia: "TWITTER", Profile: "p", Action: "LIKE"}
		}, CodeInvalidValue, "social_media"},
		{"social media action enum", SocialMedia, func(e *Event) {
			*e = Event{RequestUniqueIdentifier: "1", AccountsReceivable: &AccountIdentifier{Number: "A"}, PerformedByUnit: &NamedIdentifier{Name: "U"}, PerformedOn: "2016-06-22T15:00:00",
				SocialMedia: "FACEBOOK", Profile: "p", Action: "SHARE"}
		}, CodeInvalidValue, "action"},
		{"referral needs both participants", Referrals, func(e *Event) {
			*e = Event{RequestUniqueIdentifier: "1", PerformedByUnit: &NamedIdentifier{Name: "U"}, PerformedOn: "2016-06-22T15:00:00",
				ReferredRewardsParticipant: &ParticipantIdentifier{Number: "RP1"}}
		}, CodeMandatoryMissing, "referred_by_rewards_participant_identifier"},
		{"referral takes no account", Referrals, func(e *Event) {
			*e = Event{RequestUniqueIdentifier: "1", PerformedByUnit: &NamedIdentifier{Name: "U"}, PerformedOn: "2016-06-22T15:00:00",
				ReferredRewardsParticipant: &ParticipantIdentifier{Number: "RP1"}, ReferredByRewardsParticipant: &ParticipantIdentifier{Number: "RP2"},
				AccountsReceivable: &AccountIdentifier{Number: "A"}}
		}, CodeNotAllowedParameter, "accounts_receivable_identifier"},
		{"kpi value mandatory", FinancialStatements, func(e *Event) {
			*e = Event{RequestUniqueIdentifier: "1", AccountsReceivable: &AccountIdentifier{Number: "A"}, Classification: &NamedIdentifier{Name: "FS"},
				PerformedByUnit: &NamedIdentifier{Name: "U"}, PerformedOn: "2016-06-22T15:00:00",
				MeasuredKPIs: []MeasuredKPI{{KPI: &NamedIdentifier{Name: "Turnover"}}}}
		}, CodeMandatoryMissing, "measured_key_performance_indicators_set[0].value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := validPurchase()
			tt.edit(ev)
			err := Validate(tt.kind, ev)
			gotCode, gotField := "", ""
			if err != nil {
				gotCode, gotField = err.Code, err.Field
			}
			if gotCode != tt.wantCode || gotField != tt.wantField {
				t.Errorf("Validate() = %v (field %q), want code %q field %q", err, gotField, tt.wantCode, tt.wantField)
			}
		})
	}
}

func TestIsNumber(t *testing.T) {
	tests := map[string]bool{
		"0": true, "-1": true, "1250.75": true, "1e10": true, "1.5E-3": true, "17850.0": true,
		"": false, "01": false, ".5": false, "1.": false, "+1": false, "1,5": false, "NaN": false, "0x10": false, "1e": false, " 1": false,
	}
	for in, want := range tests {
		if got := IsNumber(in); got != want {
			t.Errorf("IsNumber(%q) = %v, want %v", in, got, want)
		}
		plain := want && !strings.ContainsAny(in, "eE")
		if got := IsPlainNumber(in); got != plain {
			t.Errorf("IsPlainNumber(%q) = %v, want %v", in, got, plain)
		}
	}
}

func TestBulkRequestRoundTrip(t *testing.T) {
	for _, k := range Kinds {
		req := BulkRequest{Kind: k, Token: "t", Events: []Event{{RequestUniqueIdentifier: "1", UDFs: UDFs{UDFFloat1: "1250.75"}}}}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("Marshal(%s): %v", k, err)
		}
		if !strings.Contains(string(b), `"`+k.SetName()+`":[`) || !strings.Contains(string(b), `"udf_float_1":1250.75`) {
			t.Errorf("Marshal(%s) = %s, want the events under %s with the amount as given", k, b, k.SetName())
		}
		got, err := DecodeBulkRequest(k, b)
		if err != nil {
			t.Fatalf("DecodeBulkRequest(%s): %v", k, err)
		}
		if got.Token != "t" || len(got.Events) != 1 || got.Events[0].UDFFloat1 != "1250.75" {
			t.Errorf("DecodeBulkRequest(%s) = %+v, want the request back", k, got)
		}
	}
}

func TestErrorNamesTheElement(t *testing.T) {
	ev := validPurchase()
	ev.ProductsSet = append(ev.ProductsSet, ev.ProductsSet[0])
	ev.ProductsSet[1].NetAmount = "net_amount"
	err := Validate(Purchases, ev)
	want := "Error:Value (net_amount) of products_set[1].net_amount is not a number. - Description:The specified API value is not valid."
	if err == nil || err.Description() != want {
		t.Errorf("Validate() = %v, want %q", err, want)
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"https://host/crmapi/rest/v2":             "https://host/crmapi/rest/v2",
		"https://user:s3cret@host/crmapi/rest/v2": "https://host/crmapi/rest/v2",
		"https://user@host:8443/x":                "https://host:8443/x",
		"http://127.0.0.1:8080":                   "http://127.0.0.1:8080",
		"https://u:p@host/path/with@sign":         "https://host/path/with@sign",
		"https://u:p%zz@host/":                    "https://xxxxx@host/", // does not parse: cut at the @
	}
	for in, want := range tests {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCanonicalURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":                  "http://127.0.0.1:8080",
		"http://127.0.0.1:8080/":                 "http://127.0.0.1:8080",
		"HTTP://Host.Example:80/crmapi/rest/v2/": "http://host.example/crmapi/rest/v2",
		"https://u:secret@host:443/api":          "https://host/api",
		"https://host:8443/api":                  "https://host:8443/api",
	} {
		if got := CanonicalURL(in); got != want {
			t.Errorf("CanonicalURL(%q) = %q, want %q", in, got, want)
		}
	}
}
