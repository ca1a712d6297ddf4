package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crmload/crmload/engine"

	"github.com/crmload/crmload/crm"
)

func getJSON(t *testing.T, u string) (int, crm.Status, json.RawMessage) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env crm.Response[json.RawMessage]
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, env.Status, env.Data
}

// TestFinancialAchievementMethods walks seeds/002: create (the page's
// example, on the sample reference data), show, list with fields_set and
// dates, cancel, and the refusals.
func TestFinancialAchievementMethods(t *testing.T) { forStores(t, testFinancialAchievementMethods) }

func testFinancialAchievementMethods(t *testing.T, store string) {
	e := newStoreEngine(t, store, "../../testdata/seed/reference.yaml")
	srvURL := serveEngine(t, e)
	token := login(t, srvURL)
	create := `{"token":"` + token + `",
		"accounts_receivable_identifier":{"number":"ACR0000000077"},
		"classification_identifier":{"name":"Financial Achievement 1"},
		"performed_by_unit_identifier":{"name":"Admin Unit"},
		"performed_on":"2016-10-07T15:00:00",
		"description":"Testing creation of financial achievement customer event through API",
		"payment_medium_brand_identifier":{"name":"VISA"},
		"payment_medium_type_identifier":{"alternative_code":"CC"},
		"payment_medium_identifier":"PI000002",
		"product_identifier":{"code":"Bronze"},
		"amount":11.50,
		"udf_string_1":"udf string 1","udf_float_1":10}`
	code, st, data := post(t, srvURL+"/customer_events/financial_achievements/create", create)
	var created engine.EventObject
	json.Unmarshal(data, &created)
	if code != 200 || st.Code != "OK" || created.Type != "FINANCIAL_ACHIEVEMENT" || created.Amount != "11.5" || created.PaymentMediumBrand.Name != "VISA" {
		t.Fatalf("create = %d %+v %s", code, st, data)
	}

	ident := url.QueryEscape(`{"id":"` + created.ID + `"}`)
	code, st, data = getJSON(t, srvURL+"/customer_events/financial_achievements/show?token="+token+"&customer_event_identifier="+ident)
	if code != 200 || !strings.Contains(string(data), `"number":"`+created.Number+`"`) {
		t.Errorf("show = %d %+v %s", code, st, data)
	}

	code, _, data = post(t, srvURL+"/customer_events/financial_achievements/list", `{"token":"`+token+`",
		"accounts_receivable_identifier":{"number":"ACR0000000077"},"fields_set":"number,performed_on",
		"submitted_after_date":"2000-01-01T00:00:00"}`)
	if code != 200 || string(data) != `[{"number":"`+created.Number+`","performed_on":"2016-10-07T15:00:00"}]` {
		t.Errorf("list = %d %s", code, data)
	}
	code, _, data = getJSON(t, srvURL+"/customer_events/financial_achievements/list?token="+token+"&classification_identifier="+url.QueryEscape(`{"alternative_code":"FA2"}`)+"&accounts_receivable_identifier="+url.QueryEscape(`{"number":"ACR0000000077"}`))
	if code != 200 || string(data) != `[]` {
		t.Errorf("list of another classification = %d %s, want []", code, data)
	}

	code, _, data = post(t, srvURL+"/customer_events/financial_achievements/cancel", `{"token":"`+token+`","customer_event_identifier":{"number":"`+created.Number+`"}}`)
	if code != 200 || !strings.Contains(string(data), `"life_cycle_state":"CANCELLED"`) {
		t.Errorf("cancel = %d %s", code, data)
	}
	tests := []struct {
		name, path, body string
		wantHTTP         int
		wantCode         string
	}{
		{"cancel twice", "cancel", `{"token":"` + token + `","customer_event_identifier":{"id":"` + created.ID + `"}}`, 400, crm.CodeInvalidLifeCycleState},
		{"show unknown", "show", `{"token":"` + token + `","customer_event_identifier":{"number":"999"}}`, 400, crm.CodeEventNotFound},
		// A number is a String identifier: matched as written.
		{"show by a number with a leading zero", "show", `{"token":"` + token + `","customer_event_identifier":{"number":"0` + created.Number + `"}}`, 400, crm.CodeEventNotFound},
		{"show by a number with a plus", "show", `{"token":"` + token + `","customer_event_identifier":{"number":"+` + created.Number + `"}}`, 400, crm.CodeEventNotFound},
		{"show without identifier", "show", `{"token":"` + token + `"}`, 400, crm.CodeMandatoryMissing},
		{"create of another classification type", "create", strings.Replace(create, "Financial Achievement 1", "Customer Feedback 3", 1), 400, crm.CodeInvalidClassification},
		{"create without token", "create", strings.Replace(create, token, "x", 1), 401, crm.CodeInvalidToken},
		{"list with a malformed date", "list", `{"token":"` + token + `","accounts_receivable_identifier":{"number":"ACR0000000077"},"submitted_after_date":"26/10/2016"}`, 400, crm.CodeInvalidValue},
		{"list by an account's access token", "list", `{"token":"` + token + `","accounts_receivable_identifier":{"access_token_identifier":{"authentication_code":"4111111111111111"}}}`, 400, crm.CodeInvalidIdentifier},
		{"list by a classification of another type", "list", `{"token":"` + token + `","classification_identifier":{"name":"Customer Feedback 3"}}`, 400, crm.CodeInvalidClassification},
		{"list by an unknown account", "list", `{"token":"` + token + `","accounts_receivable_identifier":{"number":"ACR9"}}`, 400, crm.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, st, _ := post(t, srvURL+"/customer_events/financial_achievements/"+tt.path, tt.body)
			if code != tt.wantHTTP || st.Code != tt.wantCode {
				t.Errorf("%s = %d %+v, want %d %s", tt.path, code, st, tt.wantHTTP, tt.wantCode)
			}
		})
	}
	// An event of another type is not a financial achievement's to show.
	code, _, data = post(t, srvURL+"/customer_events/achievements/create", `{"token":"`+token+`",
		"accounts_receivable_identifier":{"number":"ACR0000000077"},"classification_identifier":{"name":"Customer Feedback 3"},
		"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-06-22T15:00:00"}`)
	var ach engine.EventObject
	json.Unmarshal(data, &ach)
	if code != 200 || ach.Type != "ACHIEVEMENT" {
		t.Fatalf("achievements/create = %d %s", code, data)
	}
	if code, st, _ := post(t, srvURL+"/customer_events/financial_achievements/show", `{"token":"`+token+`","customer_event_identifier":{"id":"`+ach.ID+`"}}`); code != 400 || st.Code != crm.CodeInvalidValue {
		t.Errorf("show of an achievement as a financial achievement = %d %+v", code, st)
	}
}
