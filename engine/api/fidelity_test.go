package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/crmload/crmload/engine"

	"github.com/crmload/crmload/crm"
)

// Issue 14: engine serve as a faithful CRM.COM. Each test sends what a
// client written against the real API sends (the pages' examples verbatim
// where they exist, with {{token}} replaced) to a served engine on SQLite,
// and checks the HTTP status, the envelope and the body.

// fidelityServer serves an engine seeded with the pages' reference data.
func fidelityServer(t *testing.T, cfg ServerConfig) (*engine.Engine, string, string) {
	t.Helper()
	return fidelityServerOn(t, "sqlite", cfg)
}

// fidelityServerOn is fidelityServer on a store of the given kind.
func fidelityServerOn(t *testing.T, store string, cfg ServerConfig) (*engine.Engine, string, string) {
	t.Helper()
	e := newStoreEngine(t, store, "../testdata/pages/seed.yaml", "../testdata/pages/seed_single.yaml")
	cfg.Users, cfg.Organisation = map[string]string{"loader": "pw"}, "ACME"
	srv := httptest.NewServer(NewServer(e, cfg))
	t.Cleanup(srv.Close)
	return e, srv.URL, login(t, srv.URL)
}

// pageExample reads a page's request example and puts the token in.
func pageExample(t *testing.T, name, token string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../testdata/pages", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "{{token}}", token)
}

// call posts body to base+path and decodes the envelope.
type answer struct {
	code    int
	status  crm.Status
	data    json.RawMessage
	ignored string
}

func call(t *testing.T, base, path, body string) answer {
	t.Helper()
	code, st, data, h := postFull(t, base+"/"+path, body)
	return answer{code, st, data, h.Get(HeaderIgnored)}
}

func bulkResult(t *testing.T, a answer) crm.BulkResult {
	t.Helper()
	var res crm.BulkResult
	if err := json.Unmarshal(a.data, &res); err != nil {
		t.Fatalf("data %s: %v", a.data, err)
	}
	return res
}

// wantError checks a refused call: the status, the code, and the one
// envelope rule (data null, description "Error:...", message its short
// form).
func wantError(t *testing.T, what string, a answer, httpStatus int, code, inDescription string) {
	t.Helper()
	if a.code != httpStatus || a.status.Code != code || !strings.Contains(a.status.Description, inDescription) ||
		string(a.data) != "null" || a.status.Message == "" || !strings.HasPrefix(a.status.Description, "Error:"+a.status.Message+". - Description:") {
		t.Errorf("%s = %d %+v data %s, want %d %s with %q", what, a.code, a.status, a.data, httpStatus, code, inDescription)
	}
}

// TestFidelityPerEventFailures: point 1. A wrong-typed value in one event
// answered 400 for the whole call with decoder text, and unknown
// parameters did too; seeds/002's own create example (udf_float_5..8,
// "amount":"11.50" in quotes) was refused.
func TestFidelityPerEventFailures(t *testing.T) {
	e, base, token := fidelityServer(t, ServerConfig{})

	a := call(t, base, "customer_events/financial_achievements/create", pageExample(t, "financial_achievements_create.request.json", token))
	var obj map[string]any
	json.Unmarshal(a.data, &obj)
	if a.code != 200 || a.status != (crm.Status{Code: "OK"}) || obj["amount"] != 11.5 || obj["udf_float_4"] != 40.0 || obj["udf_string_8"] != "udf string 8" {
		t.Fatalf("seeds/002 create example = %d %+v %s", a.code, a.status, a.data)
	}
	if want := "udf_float_5, udf_float_6, udf_float_7, udf_float_8"; a.ignored != want {
		t.Errorf("%s = %q, want %q", HeaderIgnored, a.ignored, want)
	}
	if !strings.Contains(string(a.data), `"amount":11.5,`) {
		t.Errorf("amount printed as %s, want 11.5 as the page prints it", a.data)
	}

	web := func(id, extra string) string { return webEventJSON(id, extra) }
	a = call(t, base, "customer_events/bulk/web/create", `{"token":"`+token+`","web_customer_events_set":[`+
		web("1", `"udf_float_5":5`)+`,`+web("2", `"description":{"text":"x"}`)+`,`+web("3", "")+`]}`)
	res := bulkResult(t, a)
	if a.code != 200 || len(res.Processed) != 2 || res.Processed[0].RequestUniqueIdentifier != "1" || res.Processed[1].RequestUniqueIdentifier != "3" ||
		len(res.Unprocessed) != 1 || res.Unprocessed[0] != (crm.Unprocessed{RequestUniqueIdentifier: "2", ErrorCode: crm.CodeInvalidValue,
		ErrorDescription: "Error:Value of description is not a string. - Description:The specified API value is not valid."}) {
		t.Errorf("web call = %d %+v", a.code, res)
	}
	if a.ignored != "web_customer_events_set[0].udf_float_5" {
		t.Errorf("%s = %q", HeaderIgnored, a.ignored)
	}

	purchase := func(id, qty string) string {
		return `{"request_unique_identifier":"` + id + `","accounts_receivable_identifier":{"number":"ACR0000000228"},"performed_by_unit_identifier":{"name":"Admin Unit"},` +
			`"performed_on":"2016-06-22T15:00:00","reference_number":"RF01","products_set":[{"product_identifier":{"code":"Bronze"},"quantity":` + qty + `,"total_amount":180,"net_amount":160,"vat_amount":20}]}`
	}
	a = call(t, base, "customer_events/bulk/purchases/create", `{"token":"`+token+`","purchase_customer_events_set":[`+purchase("1", `"abc"`)+`,`+purchase("2", `"2.50"`)+`]}`)
	res = bulkResult(t, a)
	if a.code != 200 || len(res.Processed) != 1 || len(res.Unprocessed) != 1 || res.Unprocessed[0].ErrorCode != crm.CodeInvalidValue ||
		res.Unprocessed[0].ErrorDescription != "Error:Value (abc) of products_set[0].quantity is not a number. - Description:The specified API value is not valid." {
		t.Errorf("purchases with quantity \"abc\" = %d %+v", a.code, res)
	}
	shown, _ := e.Event(t.Context(), res.Processed[0].ID)
	if !strings.Contains(string(shown), `"quantity":2.5,`) {
		t.Errorf("a quantity sent as \"2.50\" is shown as %s, want 2.5", shown)
	}
	// An exponent within the bound is stored as the decimal it writes;
	// past it (1e999999 is a megabyte written out, which events list
	// adds exactly), the event is refused.
	a = call(t, base, "customer_events/bulk/purchases/create", `{"token":"`+token+`","purchase_customer_events_set":[`+purchase("3", `2.5E+1`)+`,`+purchase("4", `1e999999`)+`]}`)
	res = bulkResult(t, a)
	if a.code != 200 || len(res.Processed) != 1 || len(res.Unprocessed) != 1 || res.Unprocessed[0].ErrorCode != crm.CodeInvalidValue ||
		res.Unprocessed[0].ErrorDescription != "Error:Value (1e999999) of products_set[0].quantity is not a number of at most 60 digits before and after its point once its exponent is written out. - Description:The specified API value is not valid." {
		t.Errorf("purchases with quantities 2.5E+1 and 1e999999 = %d %+v", a.code, res)
	} else if shown, _ := e.Event(t.Context(), res.Processed[0].ID); !strings.Contains(string(shown), `"quantity":25,`) {
		t.Errorf("a quantity sent as 2.5E+1 is shown as %s, want 25", shown)
	}

	kpi := func(id, ident string) string {
		return `{"request_unique_identifier":"` + id + `","accounts_receivable_identifier":{"number":"ACR0000000077"},"classification_identifier":{"name":"Monthly Statement"},` +
			`"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-06-22T15:00:00","measured_key_performance_indicators_set":[{"key_performance_indicator_identifier":` + ident + `,"value":10}]}`
	}
	a = call(t, base, "customer_events/bulk/financial_statements/create", `{"token":"`+token+`","financial_achievement_customer_events_set":[`+kpi("1", `{"code":"TO"}`)+`,`+kpi("2", `{"alternative_code":"TO"}`)+`]}`)
	res = bulkResult(t, a)
	if a.code != 200 || len(res.Processed) != 1 || len(res.Unprocessed) != 1 || res.Unprocessed[0].ErrorCode != crm.CodeInvalidIdentifier ||
		!strings.Contains(res.Unprocessed[0].ErrorDescription, "measured_key_performance_indicators_set[0].key_performance_indicator_identifier must be specified by exactly one of its fields (id, name, alternative_code), got 0") {
		t.Errorf("a KPI identifier by code = %d %+v", a.code, res)
	}
	if a.ignored != "financial_achievement_customer_events_set[0].measured_key_performance_indicators_set[0].key_performance_indicator_identifier.code" {
		t.Errorf("%s = %q", HeaderIgnored, a.ignored)
	}
}

// TestFidelityAchievementCreate: point 2. achievements/create followed the
// bulk page; it follows seeds/003 (R15-R18): an account by access token, a
// business unit or transaction acquiring point as performer, product,
// payment medium, amount, promo code, authorising access token, and the
// awarded totals in the answer.
func TestFidelityAchievementCreate(t *testing.T) {
	_, base, token := fidelityServer(t, ServerConfig{})
	body := `{"token":"` + token + `",
		"accounts_receivable_identifier":{"access_token_identifier":{"one_time_password":123456}},
		"classification_identifier":{"name":"Customer Feedback 3"},
		"performed_by_business_unit_identifier":{"code":"BU-ADMIN"},
		"performed_on":"2016-06-22T15:00:00",
		"product_identifier":{"code":"Bronze"},
		"payment_medium_type_identifier":{"alternative_code":"CC"},
		"payment_medium_brand_identifier":{"name":"VISA"},
		"payment_medium_identifier":"PI000002",
		"amount":"20.00",
		"promo_code":"SUMMER",
		"authorized_by_access_token_identifier":{"authentication_code":"4111111111111111"},
		"udf_string_1":"u1"}`
	a := call(t, base, "customer_events/achievements/create", body)
	var obj map[string]any
	json.Unmarshal(a.data, &obj)
	if a.code != 200 || a.status.Code != "OK" || obj["type"] != "ACHIEVEMENT" || obj["amount"] != 20.0 || obj["promo_code"] != "SUMMER" {
		t.Fatalf("achievements/create = %d %+v %s", a.code, a.status, a.data)
	}
	for _, k := range []string{"total_awarded_amount", "total_awarded_alternative_amount", "award_reward_transactions_set"} {
		if v, ok := obj[k]; !ok || v != nil {
			t.Errorf("%s = %v (present %v), want null", k, v, ok)
		}
	}
	nested := func(k, field string) any {
		m, _ := obj[k].(map[string]any)
		return m[field]
	}
	checks := map[[2]string]any{
		{"accounts_receivable", "number"}:                     "ACR0000000069",
		{"performed_by_business_unit", "code"}:                "BU-ADMIN",
		{"performed_by_unit", "name"}:                         "Admin Unit",
		{"product", "code"}:                                   "Bronze",
		{"payment_medium_type", "name"}:                       "CREDIT CARD",
		{"payment_medium_brand", "name"}:                      "VISA",
		{"authorized_by_access_token", "authentication_code"}: "4111111111111111",
	}
	for k, want := range checks {
		if got := nested(k[0], k[1]); got != want {
			t.Errorf("%s.%s = %v, want %v", k[0], k[1], got, want)
		}
	}
	tests := []struct {
		name, from, to string
		code, desc     string
	}{
		{"no account (mandatory from R17)", `"accounts_receivable_identifier":{"access_token_identifier":{"one_time_password":123456}},`, ``,
			crm.CodeMandatoryMissing, "Mandatory parameter accounts_receivable_identifier is missing"},
		{"two performers", `"performed_by_business_unit_identifier":{"code":"BU-ADMIN"},`, `"performed_by_business_unit_identifier":{"code":"BU-ADMIN"},"performed_by_tap_identifier":{"code":"TAP-1"},`,
			crm.CodeSemiOptional, "Exactly one of performed_by_business_unit_identifier, performed_by_unit_identifier, performed_by_tap_identifier must be specified, got 2"},
		{"a payment medium type the account does not allow", `"alternative_code":"CC"`, `"alternative_code":"XX"`,
			crm.CodeNotFound, "Payment Medium Type (XX) Not Found"},
		{"amount not a number", `"amount":"20.00"`, `"amount":"twenty"`,
			crm.CodeInvalidValue, "Value (twenty) of amount is not a number"},
		{"amount of the wrong type", `"amount":"20.00"`, `"amount":{"value":20}`,
			crm.CodeInvalidValue, "Value of amount is not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := strings.Replace(body, tt.from, tt.to, 1)
			if b == body {
				t.Fatal("the test's replacement does not apply")
			}
			wantError(t, "achievements/create", call(t, base, "customer_events/achievements/create", b), 400, tt.code, tt.desc)
		})
	}
	// A transaction acquiring point without a unit: the unit follows from it.
	a = call(t, base, "customer_events/achievements/create", strings.Replace(body, `"performed_by_business_unit_identifier":{"code":"BU-ADMIN"}`, `"performed_by_tap_identifier":{"name":"Till 1"}`, 1))
	obj = nil
	json.Unmarshal(a.data, &obj)
	if a.code != 200 || nested("performed_by_tap", "code") != "TAP-1" || nested("performed_by_unit", "name") != "Admin Unit" || obj["performed_by_business_unit"] != nil {
		t.Errorf("achievements/create by a transaction acquiring point = %d %+v %s", a.code, a.status, a.data)
	}
	// Under R10 the single create takes the bulk page's parameters: a
	// rewards participant, a unit; the R18 ones are not parameters.
	_, base10, token10 := fidelityServer(t, ServerConfig{APIVersion: crm.R10})
	a = call(t, base10, "customer_events/achievements/create", `{"token":"`+token10+`","rewards_participant_identifier":{"number":"RP0000000069"},
		"classification_identifier":{"name":"Customer Feedback 3"},"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-06-22T15:00:00","promo_code":"X"}`)
	if a.code != 200 || a.ignored != "promo_code" || !strings.Contains(string(a.data), `"promo_code":null`) {
		t.Errorf("R10 achievements/create = %d %+v %s (ignored %q)", a.code, a.status, a.data, a.ignored)
	}
}

// TestFidelityListAndShow: points 3 and 4, on seeds/002's list examples.
func TestFidelityListAndShow(t *testing.T) { forStores(t, testFidelityListAndShow) }

func testFidelityListAndShow(t *testing.T, store string) {
	_, base, token := fidelityServerOn(t, store, ServerConfig{})
	var numbers []string
	var ids []string
	for i, who := range []string{`"accounts_receivable_identifier":{"number":"ACR0000000069"}`, `"rewards_participant_identifier":{"number":"RP0000000069"}`,
		`"accounts_receivable_identifier":{"number":"ACR0000000069"}`, `"accounts_receivable_identifier":{"number":"ACR0000000659"}`} {
		a := call(t, base, "customer_events/financial_achievements/create", `{"token":"`+token+`",`+who+`,
			"classification_identifier":{"name":"Financial Achievement 1"},"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-10-26T17:0`+string(rune('0'+i))+`:00"}`)
		var o engine.EventObject
		json.Unmarshal(a.data, &o)
		if a.code != 200 {
			t.Fatalf("create %d = %d %+v", i, a.code, a.status)
		}
		numbers, ids = append(numbers, o.Number), append(ids, o.ID)
	}
	listNumbers := func(a answer) []string {
		var objs []engine.EventObject
		json.Unmarshal(a.data, &objs)
		var out []string
		for _, o := range objs {
			out = append(out, o.Number)
		}
		return out
	}
	tests := []struct {
		name, body string
		want       []string
	}{
		{"page example 1", pageExample(t, "financial_achievements_list.request.json", token), numbers[:3]},
		{"page example 2 (fields_set, dates)", strings.Replace(pageExample(t, "financial_achievements_list2.request.json", token), "2016-11-03T15:00:12", "2100-01-01T00:00:00", 1), numbers[3:]},
		{"by rewards participant", `{"token":"` + token + `","rewards_participant_identifier":{"number":"RP0000000069"}}`, numbers[:3]},
		{"number_of_results", `{"token":"` + token + `","classification_identifier":{"alternative_code":"FA"},"number_of_results":2}`, numbers[:2]},
		{"offset", `{"token":"` + token + `","classification_identifier":{"alternative_code":"FA"},"number_of_results":2,"offset":1}`, numbers[1:3]},
		{"offset past the end", `{"token":"` + token + `","classification_identifier":{"alternative_code":"FA"},"offset":9}`, nil},
		{"account and classification narrow", `{"token":"` + token + `","accounts_receivable_identifier":{"number":"ACR0000000659"},"classification_identifier":{"alternative_code":"FA"}}`, numbers[3:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, base, "customer_events/financial_achievements/list", tt.body)
			if got := listNumbers(a); a.code != 200 || !slices.Equal(got, tt.want) {
				t.Errorf("list = %d %+v %v, want %v", a.code, a.status, got, tt.want)
			}
		})
	}
	a := call(t, base, "customer_events/financial_achievements/list", pageExample(t, "financial_achievements_list2.request.json", token))
	if string(a.data) != `[]` {
		t.Errorf("page example 2 as sent (2016 dates) = %s, want [] (the events were submitted today)", a.data)
	}
	a = call(t, base, "customer_events/financial_achievements/list", `{"token":"`+token+`","submitted_after_date":"2016-10-26T00:00:12"}`)
	wantError(t, "list without a semi-optional filter", a, 400, crm.CodeSemiOptional, "One of accounts_receivable_identifier, rewards_participant_identifier, classification_identifier must be specified")
	a = call(t, base, "customer_events/financial_achievements/list", `{"token":"`+token+`","classification_identifier":{"alternative_code":"FA"},"number_of_results":-1}`)
	wantError(t, "list with a negative number_of_results", a, 400, crm.CodeInvalidValue, "number_of_results")
	a = call(t, base, "customer_events/financial_achievements/list", `{"token":"`+token+`","classification_identifier":{"alternative_code":"FA"},"offset":99999999999999999999999}`)
	wantError(t, "list with an offset past int", a, 400, crm.CodeInvalidValue, "Value (99999999999999999999999) of offset is larger than")
	// GET with the parameters in the query string.
	resp, err := http.Get(base + "/customer_events/financial_achievements/list?token=" + token + "&rewards_participant_identifier=" + url.QueryEscape(`{"number":"RP0000000069"}`) + "&number_of_results=1&offset=2")
	if err != nil {
		t.Fatal(err)
	}
	var env crm.Response[[]engine.EventObject]
	json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if len(env.Data) != 1 || env.Data[0].Number != numbers[2] {
		t.Errorf("GET list = %+v, want event %s", env, numbers[2])
	}

	// Point 4: show honours the identifier's field.
	show := func(ident string) answer {
		return call(t, base, "customer_events/financial_achievements/show", `{"token":"`+token+`","customer_event_identifier":`+ident+`}`)
	}
	if a := show(`{"id":"` + numbers[0] + `"}`); true {
		wantError(t, "show {id: a number}", a, 400, crm.CodeEventNotFound, "Customer Event ("+numbers[0]+") Not Found")
	}
	if a := show(`{"number":"` + ids[0] + `"}`); true {
		wantError(t, "show {number: an id}", a, 400, crm.CodeEventNotFound, "Not Found")
	}
	for _, ident := range []string{`{"id":"` + ids[1] + `"}`, `{"number":"` + numbers[1] + `"}`} {
		var o engine.EventObject
		a := show(ident)
		json.Unmarshal(a.data, &o)
		if a.code != 200 || o.ID != ids[1] || o.Number != numbers[1] {
			t.Errorf("show %s = %d %+v %s", ident, a.code, a.status, a.data)
		}
	}
	// Cancel by seeds/002's example shape, with an id that is a number.
	a = call(t, base, "customer_events/financial_achievements/cancel", strings.Replace(pageExample(t, "financial_achievements_cancel.request.json", token), "79845A8FF2D3407B84BC593536BBBFBB", numbers[2], 1))
	wantError(t, "cancel {id: a number}", a, 400, crm.CodeEventNotFound, "Not Found")
	a = call(t, base, "customer_events/financial_achievements/cancel", strings.Replace(pageExample(t, "financial_achievements_cancel.request.json", token), "79845A8FF2D3407B84BC593536BBBFBB", ids[2], 1))
	if a.code != 200 || !strings.Contains(string(a.data), `"life_cycle_state":"CANCELLED"`) {
		t.Errorf("cancel = %d %+v %s", a.code, a.status, a.data)
	}
}

// TestFidelityEventObject: point 6. The event object has every key of
// seeds/002's create response, null where the engine has no data, and
// prints amounts as the page does.
func TestFidelityEventObject(t *testing.T) { forStores(t, testFidelityEventObject) }

func testFidelityEventObject(t *testing.T, store string) {
	_, base, token := fidelityServerOn(t, store, ServerConfig{})
	a := call(t, base, "customer_events/financial_achievements/create", pageExample(t, "financial_achievements_create.request.json", token))
	var got map[string]any
	if err := json.Unmarshal(a.data, &got); err != nil || a.code != 200 {
		t.Fatalf("create = %d %s", a.code, a.data)
	}
	b, _ := os.ReadFile("../testdata/pages/financial_achievements_create.response.json")
	var page struct{ Data map[string]any }
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatal(err)
	}
	// Every key of the page's object, and of its nested objects where the
	// engine has the object; values where the engine keeps them.
	var walk func(path string, want, got map[string]any)
	walk = func(path string, want, got map[string]any) {
		for k, wv := range want {
			gv, ok := got[k]
			if !ok {
				t.Errorf("%s%s is missing", path, k)
				continue
			}
			if wm, ok := wv.(map[string]any); ok {
				if gm, ok := gv.(map[string]any); ok {
					walk(path+k+".", wm, gm)
				}
			}
		}
	}
	walk("", page.Data, got)
	same := []string{"type", "description", "amount", "payment_medium_identifier", "life_cycle_state", "performed_on", "process_immediately",
		"udf_string_1", "udf_float_1", "udf_float_4", "udf_date_4", "external_system", "award_reward_transactions_set"}
	for _, k := range same {
		if !jsonEqual(got[k], page.Data[k]) {
			t.Errorf("%s = %v, want %v as on the page", k, got[k], page.Data[k])
		}
	}
	for path, want := range map[string]any{
		"accounts_receivable.number": "ACR0000000069", "accounts_receivable.account_owner": nil, "accounts_receivable.life_cycle_state": nil,
		"performed_by_unit.group_name": nil, "performed_by_unit.alternative_code": "adminunit", "product.product_type": nil, "product.code": "Bronze",
		"payment_medium_brand.description": nil, "payment_medium_type.alternative_code": "CC", "log_information.created_by_user": nil,
	} {
		k, f, _ := strings.Cut(path, ".")
		m, _ := got[k].(map[string]any)
		if v, ok := m[f]; !ok || !jsonEqual(v, want) {
			t.Errorf("%s = %v (present %v), want %v", path, v, ok, want)
		}
	}
	if !strings.Contains(string(a.data), `"amount":11.5,`) || !strings.Contains(string(a.data), `"udf_float_1":10,`) {
		t.Errorf("numbers printed as %s, want 11.5 and 10 as on the page", a.data)
	}
	// Every kind's objects have their keys even when empty: a web event
	// with no description has "description":null.
	a = call(t, base, "customer_events/bulk/web/create", `{"token":"`+token+`","web_customer_events_set":[`+webEventJSON("1", "")+`]}`)
	res := bulkResult(t, a)
	a = call(t, base, "customer_events/financial_achievements/show", `{"token":"`+token+`","customer_event_identifier":{"id":"`+res.Processed[0].ID+`"}}`)
	wantError(t, "show of a web event as a financial achievement", a, 400, crm.CodeInvalidValue, "Is Not of Type FINANCIAL_ACHIEVEMENT")
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestPageNumber: amounts print as decimals without trailing zeros; an
// exponent is written out (a server keeping decimals answers 1E+2 as
// 100), unless it is past the bound the create methods refuse.
func TestPageNumber(t *testing.T) {
	for in, want := range map[string]string{"11.50": "11.5", "10": "10", "10.0": "10", "0.10": "0.1", "-0.0": "0", "-0": "0", "1.5e3": "1500",
		"1E+2": "100", "5e-3": "0.005", "-2.50e1": "-25", "1e999999": "1e999999", "100": "100", "abc": "abc", "1250.7500000000000001": "1250.7500000000000001"} {
		if got := engine.PageNumber(in); got != want {
			t.Errorf("engine.PageNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFidelityStatuses: point 7, one rule for envelopes and statuses
// across methods (see the README's table): data null and description
// "Error:<message>. - Description:<reason>" with message its short form on
// every error; 400 for a call's values (not-found included), 401 for
// tokens only, 404 for unknown methods only; unknown parameters ignored by
// every method.
func TestFidelityStatuses(t *testing.T) {
	var logged syncBuffer
	_, base, token := fidelityServer(t, ServerConfig{Log: slog.New(slog.NewTextHandler(&logged, nil))})
	tests := []struct {
		name, path, body string
		http             int
		code, desc       string
	}{
		{"malformed body on single create", "customer_events/achievements/create", `{"token":"` + token + `","performed_on":}`, 400, crm.CodeInvalidRequest, "Not Valid JSON"},
		{"malformed body before the token", "customer_events/achievements/create", `{"performed_on" "x","token":"` + token + `"}`, 400, crm.CodeInvalidRequest, "Not Valid JSON"},
		{"bad token on single create", "customer_events/achievements/create", `{"token":"BOGUS"}`, 401, crm.CodeInvalidToken, "Token"},
		{"unknown account on list", "customer_events/financial_achievements/list", `{"token":"` + token + `","accounts_receivable_identifier":{"number":"ACR9"}}`, 400, crm.CodeNotFound, "Account (ACR9) Not Found"},
		{"unknown account on single create", "customer_events/financial_achievements/create", `{"token":"` + token + `","accounts_receivable_identifier":{"number":"ACR9"},"classification_identifier":{"name":"Financial Achievement 1"},"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-10-07T15:00:00"}`, 400, crm.CodeNotFound, "Account (ACR9) Not Found"},
		{"unknown event on show", "customer_events/financial_achievements/show", `{"token":"` + token + `","customer_event_identifier":{"number":"999"}}`, 400, crm.CodeEventNotFound, "(999) Not Found"},
		{"unknown method", "customer_events/financial_achievements/delete", `{"token":"` + token + `"}`, 404, crm.CodeInvalidRequest, "Unknown Method"},
		{"bulk with a bad token", "customer_events/bulk/web/create", `{"token":"BOGUS","web_customer_events_set":[{}]}`, 401, crm.CodeInvalidToken, "Token"},
		{"bulk call-level wrong type", "customer_events/bulk/purchases/create", `{"token":"` + token + `","intended_currency_identifier":"EUR","purchase_customer_events_set":[{}]}`, 400, crm.CodeInvalidValue, "Value of intended_currency_identifier is not an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, tt.path, call(t, base, tt.path, tt.body), tt.http, tt.code, tt.desc)
		})
	}
	// show, list and bulk alike ignore a parameter they do not have, and
	// name it in the header and the log.
	for path, body := range map[string]string{
		"customer_events/financial_achievements/show": `{"token":"` + token + `","colour":"red","customer_event_identifier":{"number":"1"}}`,
		"customer_events/financial_achievements/list": `{"token":"` + token + `","colour":"red","classification_identifier":{"alternative_code":"FA"}}`,
		"customer_events/bulk/web/create":             `{"token":"` + token + `","colour":"red","web_customer_events_set":[{}]}`,
	} {
		if a := call(t, base, path, body); a.ignored != "colour" {
			t.Errorf("%s with colour = %d %+v, %s %q, want colour named", path, a.code, a.status, HeaderIgnored, a.ignored)
		}
		if want := "path=/" + path + " names=colour"; !strings.Contains(logged.String(), want) {
			t.Errorf("log after %s:\n%s\nwant a line with %q", path, logged.String(), want)
		}
	}
	// A login's stray name may be a secret in the wrong place: the client
	// is told, the log only counts it.
	a := call(t, base, "authentication/token", `{"username":"loader","password":"pw","organisation":"ACME","hunter2":"x"}`)
	if a.code != 200 || a.ignored != "hunter2" || strings.Contains(logged.String(), "hunter2") || !strings.Contains(logged.String(), "path=/authentication/token count=1") {
		t.Errorf("login with a stray name = %d, %s %q; log:\n%s", a.code, HeaderIgnored, a.ignored, logged.String())
	}
	// Names that are not plain are quoted in the header.
	a = call(t, base, "customer_events/bulk/web/create", `{"token":"`+token+`","a, b\n":1,"é":2,"web_customer_events_set":[{}]}`)
	if a.ignored != `"a, b\n", "\u00e9"` {
		t.Errorf("%s = %q, want the names quoted", HeaderIgnored, a.ignored)
	}
}

// syncBuffer is a log the server writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFidelityMandatorySetsAndFieldsSet: point 8. An absent, empty or null
// events set was accepted with 200; bulk fields_set was ignored.
func TestFidelityMandatorySetsAndFieldsSet(t *testing.T) {
	e, base, token := fidelityServer(t, ServerConfig{})
	for name, set := range map[string]string{"absent": ``, "empty": `,"web_customer_events_set":[]`, "null": `,"web_customer_events_set":null`} {
		a := call(t, base, "customer_events/bulk/web/create", `{"token":"`+token+`"`+set+`}`)
		wantError(t, name+" set", a, 400, crm.CodeMandatoryMissing, "Mandatory parameter web_customer_events_set is missing")
	}
	a := call(t, base, "customer_events/bulk/web/create", `{"token":"`+token+`","fields_set":"request_unique_identifier, number, error_code","web_customer_events_set":[`+
		webEventJSON("1", "")+`,{"request_unique_identifier":"2"}]}`)
	var data map[string][]map[string]string
	json.Unmarshal(a.data, &data)
	p, u := data["processed_customer_events_set"], data["unprocessed_customer_events_set"]
	if a.code != 200 || len(p) != 1 || len(u) != 1 || len(p[0]) != 2 || p[0]["request_unique_identifier"] != "1" || p[0]["number"] == "" ||
		len(u[0]) != 2 || u[0]["error_code"] != crm.CodeMandatoryMissing {
		t.Errorf("bulk with fields_set = %d %s", a.code, a.data)
	}
	if got := storedWeb(t, e); len(got) != 1 {
		t.Errorf("stored %d events, want 1", len(got))
	}
}

// TestFidelityFinancialStatementsSetName: point 9. The page names the set
// financial_achievement_customer_events_set; a client written from the
// kind's name sends financial_statement_customer_events_set. Both are
// read; both at once are refused.
func TestFidelityFinancialStatementsSetName(t *testing.T) {
	_, base, token := fidelityServer(t, ServerConfig{})
	ev := `{"request_unique_identifier":"1","accounts_receivable_identifier":{"number":"ACR0000000077"},"classification_identifier":{"name":"Monthly Statement"},` +
		`"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-06-22T15:00:00","measured_key_performance_indicators_set":[{"key_performance_indicator_identifier":{"name":"Turnover"},"value":1250.50}]}`
	for _, set := range []string{"financial_achievement_customer_events_set", "financial_statement_customer_events_set"} {
		a := call(t, base, "customer_events/bulk/financial_statements/create", `{"token":"`+token+`","`+set+`":[`+ev+`]}`)
		if res := bulkResult(t, a); a.code != 200 || len(res.Processed) != 1 || a.ignored != "" {
			t.Errorf("financial statements under %s = %d %+v %s", set, a.code, a.status, a.data)
		}
	}
	a := call(t, base, "customer_events/bulk/financial_statements/create", `{"token":"`+token+`","financial_achievement_customer_events_set":[`+ev+`],"financial_statement_customer_events_set":[`+ev+`]}`)
	wantError(t, "both set names", a, 400, crm.CodeInvalidRequest, "Are Both Given")
}

// TestFidelityPurchaseVersions: point 10. seeds/004 (R18) makes the account
// mandatory and drops the rewards participant; seeds/001 (R10) takes
// either, and has no business units. engine serve --api-version picks;
// the newest is the default.
func TestFidelityPurchaseVersions(t *testing.T) {
	byParticipant := `{"request_unique_identifier":"p","rewards_participant_identifier":{"number":"RP0000000069"},"performed_by_unit_identifier":{"name":"Admin Unit"},` +
		`"performed_on":"2016-06-22T15:00:00","reference_number":"RF01","products_set":[{"product_identifier":{"code":"Bronze"},"total_amount":180,"net_amount":160,"vat_amount":20}]}`
	byBusinessUnit := `{"request_unique_identifier":"b","accounts_receivable_identifier":{"access_token_identifier":{"one_time_password":123456}},"performed_by_business_unit_identifier":{"code":"BU-ADMIN"},` +
		`"performed_on":"2016-06-22T15:00:00","reference_number":"RF02","products_set":[{"product_identifier":{"code":"Bronze"},"total_amount":180,"net_amount":160,"vat_amount":20}]}`
	body := func(token string) string {
		return `{"token":"` + token + `","purchase_customer_events_set":[` + byParticipant + `,` + byBusinessUnit + `]}`
	}

	_, base, token := fidelityServer(t, ServerConfig{}) // the default: R18
	a := call(t, base, "customer_events/bulk/purchases/create", pageExample(t, "purchases_004.request.json", token))
	res := bulkResult(t, a)
	b, _ := os.ReadFile("../testdata/pages/purchases_004.response.json")
	var page crm.Response[crm.BulkResult]
	json.Unmarshal(b, &page)
	if a.code != 200 || mustJSON(t, res.Unprocessed) != mustJSON(t, page.Data.Unprocessed) || len(res.Processed) != 2 {
		t.Errorf("seeds/004 example under R18 = %d %+v\nwant unprocessed %+v", a.code, res, page.Data.Unprocessed)
	}
	a = call(t, base, "customer_events/bulk/purchases/create", body(token))
	res = bulkResult(t, a)
	if len(res.Unprocessed) != 1 || res.Unprocessed[0].RequestUniqueIdentifier != "p" || res.Unprocessed[0].ErrorCode != crm.CodeMandatoryMissing ||
		!strings.Contains(res.Unprocessed[0].ErrorDescription, "accounts_receivable_identifier") || len(res.Processed) != 1 ||
		a.ignored != "purchase_customer_events_set[0].rewards_participant_identifier" {
		t.Errorf("R18: by participant, by business unit = %+v (ignored %q); want the first refused, the second processed", res, a.ignored)
	}

	_, base10, token10 := fidelityServer(t, ServerConfig{APIVersion: crm.R10})
	a = call(t, base10, "customer_events/bulk/purchases/create", body(token10))
	res = bulkResult(t, a)
	if len(res.Processed) != 1 || res.Processed[0].RequestUniqueIdentifier != "p" || len(res.Unprocessed) != 1 ||
		res.Unprocessed[0].ErrorCode != crm.CodeInvalidIdentifier || a.ignored != "purchase_customer_events_set[1].accounts_receivable_identifier.access_token_identifier, purchase_customer_events_set[1].performed_by_business_unit_identifier" {
		t.Errorf("R10: by participant, by business unit = %+v (ignored %q); want the first processed, the second refused", res, a.ignored)
	}
}

// TestFidelityBulkPageExamplesOverHTTP: the seven bulk page examples
// (seeds/001), sent verbatim to engine serve under each API version,
// answer as the page does: the same processed and unprocessed split, codes
// and descriptions, and nothing ignored.
func TestFidelityBulkPageExamplesOverHTTP(t *testing.T) {
	forStores(t, testFidelityBulkPageExamplesOverHTTP)
}

func testFidelityBulkPageExamplesOverHTTP(t *testing.T, store string) {
	for _, v := range crm.APIVersions {
		for _, k := range crm.Kinds {
			t.Run(string(v)+"/"+string(k), func(t *testing.T) {
				_, base, token := fidelityServerOn(t, store, ServerConfig{APIVersion: v})
				a := call(t, base, k.BulkPath(), pageExample(t, string(k)+".request.json", token))
				res := bulkResult(t, a)
				b, _ := os.ReadFile(filepath.Join("../testdata/pages", string(k)+".response.json"))
				var page crm.Response[crm.BulkResult]
				if err := json.Unmarshal(b, &page); err != nil {
					t.Fatal(err)
				}
				if a.code != 200 || a.status != page.Status || a.ignored != "" || mustJSON(t, res.Unprocessed) != mustJSON(t, page.Data.Unprocessed) {
					t.Errorf("%s = %d %+v (ignored %q)\nunprocessed %s\nwant %s", k.BulkPath(), a.code, a.status, a.ignored, mustJSON(t, res.Unprocessed), mustJSON(t, page.Data.Unprocessed))
				}
				var got, want []string
				for _, p := range res.Processed {
					got = append(got, p.RequestUniqueIdentifier)
				}
				for _, p := range page.Data.Processed {
					want = append(want, p.RequestUniqueIdentifier)
				}
				if !slices.Equal(got, want) {
					t.Errorf("processed %v, want %v", got, want)
				}
			})
		}
	}
}
