package engine

import (
	"encoding/json"
	"testing"

	"github.com/crmload/crmload/crm"
)

// storedPurchase is a purchase as the store keeps it.
func storedPurchase(tb testing.TB) []byte {
	tb.Helper()
	obj := &EventObject{ID: "01A212CAFC86E6AB3EDEA9DBAEB08E91", Number: "12", Type: "PURCHASE", LifeCycleState: "POSTED", PerformedOn: "2016-06-22T15:00:00",
		AccountsReceivable: &RefObject{ID: "A1", Number: "ACR0000000077", Name: "ACR0000000077 Polina Kestora"},
		PerformedByUnit:    &RefObject{ID: "1", Name: "Admin Unit", AlternativeCode: "adminunit"},
		ReferenceNumber:    "RF01",
		ProductsSet: []ProductLine{{Product: &RefObject{ID: "P1", Code: "Bronze", AlternativeCode: "BRZ"}, Quantity: "2", NetAmount: "160.00", VATAmount: "20.00", TotalAmount: "180.00"},
			{Product: &RefObject{ID: "P2", Code: "Silver"}, Quantity: "1", NetAmount: "50", VATAmount: "10", TotalAmount: "60"}},
		UDFs:           &crm.UDFs{UDFString1: "United Kingdom", UDFFloat1: "1.50"},
		LogInformation: LogInformation{CreatedDate: "2026-11-25T13:00:00", UpdatedDate: "2026-11-25T13:00:00"}}
	b, err := json.Marshal(obj)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestRenderPurchase: a rendered purchase is valid JSON, starts with id
// and number, has its kind's keys with nulls, and prints amounts as the
// pages do.
func TestRenderPurchase(t *testing.T) {
	out, err := render(storedPurchase(t))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("render = %s: %v", out, err)
	}
	if string(out[:numberAt]) != `{"id":"01A212CAFC86E6AB3EDEA9DBAEB08E91","number":"` {
		t.Errorf("render starts %.60s, want id and number first", out)
	}
	for k, want := range map[string]any{"description": nil, "invoice": nil, "spend_request": nil, "udf_string_16": nil, "udf_float_1": 1.5,
		"reference_number": "RF01", "performed_by_tap": nil, "process_immediately": false, "award_reward_transactions_set": nil} {
		if v, ok := m[k]; !ok || !jsonEqual(v, want) {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	for _, k := range []string{"website", "amount", "referred_rewards_participant", "promo_code"} {
		if _, ok := m[k]; ok {
			t.Errorf("a purchase has %s, a key of other kinds", k)
		}
	}
	lines := m["products_set"].([]any)
	if got := mustJSON(t, lines[0]); got != `{"net_amount":160,"product":{"alternative_code":"BRZ","code":"Bronze","description":null,"id":"P1","product_type":null},"quantity":2,"total_amount":180,"vat_amount":20}` {
		t.Errorf("products_set[0] = %s", got)
	}
}

// TestRenderEscapes: strings are escaped as encoding/json escapes them.
func TestRenderEscapes(t *testing.T) {
	for _, s := range []string{"plain", `quo"te`, `back\slash`, "new\nline", "<tag>&", "é", "\u2028", "\xff"} {
		w := objWriter{}
		w.open()
		w.str("k", s)
		w.close()
		want, _ := json.Marshal(map[string]string{"k": s})
		if string(w.b) != string(want) {
			t.Errorf("str(%q) = %s, want %s", s, w.b, want)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	stored := storedPurchase(b)
	b.SetBytes(int64(len(stored)))
	for b.Loop() {
		if _, err := render(stored); err != nil {
			b.Fatal(err)
		}
	}
}
