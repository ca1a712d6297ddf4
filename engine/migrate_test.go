package engine

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmload/crmload/crm"
)

// retailPurchase is a purchase of testdata/purchases/online_retail.csv's
// first order with other content than the stores made from it hold.
func retailPurchase() crm.Event {
	return crm.Event{RequestUniqueIdentifier: "536365", AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"},
		PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2010-12-01T08:26:00", ReferenceNumber: "536365",
		ProductsSet: []crm.PurchaseProduct{{Product: &crm.ProductIdentifier{AlternativeCode: "BRZ"}, Quantity: "1", TotalAmount: "1", NetAmount: "1", VATAmount: "0"}}}
}

// openStoreCopy opens (and so migrates) a copy of the store file src,
// closed when t ends.
func openStoreCopy(t *testing.T, src string) *Engine {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// testdata/store-v5.db was made by the release before compact events
// (schema version 5, commit 2f99426): engine seed of
// testdata/seed/reference.yaml, a load of testdata/purchases/online_retail.csv
// with testdata/purchases/mapping.yaml (three purchases stored, run
// v5Run), then events cancel 2.
const v5Run = "20261125T144649.866Z-395e0e06"

var v5Events = []struct {
	id, key, digest, account, total, state string
}{
	{"01A2132C734996C05FA9B5F55A321361", "0:2", "ebc5e37f549860475cd8c95c3b6b5f5d", "ACR0000000077", "15.3", "POSTED"},
	{"01A2132C7349D888E7786DC8D89FEFA1", "0:4", "8f2036c97034f897c69561bd4783a708", "ACR0000000020", "11.1", "CANCELLED"},
	{"01A2132C734942AD55598D6EA79CEF32", "0:6", "4cccf8301aa44139dce2e712f9de42f5", "ACR0000000050", "54.08", "POSTED"},
}

// TestMigrateV5Store: a store made by the previous release opens (and is
// migrated), lists and shows its events as they were, by number and by
// id, keeps its load receipts (a resume finds them, a replay is answered
// from them), cancels, and takes new events after the old ones.
func TestMigrateV5Store(t *testing.T) {
	ctx := context.Background()
	e := openStoreCopy(t, "testdata/store-v5.db")

	check := func(obj []byte, i int) {
		t.Helper()
		var o EventObject
		if err := json.Unmarshal(obj, &o); err != nil {
			t.Fatal(err)
		}
		w := v5Events[i]
		if o.ID != w.id || o.Number != string(rune('1'+i)) || o.LifeCycleState != w.state || o.AccountsReceivable.Number != w.account ||
			len(o.ProductsSet) == 0 || string(o.ProductsSet[0].TotalAmount) != w.total || o.PerformedByUnit.Name != "Admin Unit" {
			t.Errorf("event %d = %s", i+1, obj)
		}
	}
	var listed int
	if err := e.Events(ctx, Filter{}, func(obj []byte) error { check(obj, listed); listed++; return nil }); err != nil {
		t.Fatal(err)
	}
	if listed != 3 {
		t.Fatalf("listed %d events, want 3", listed)
	}
	for i, w := range v5Events {
		for _, key := range []string{w.id, string(rune('1' + i))} {
			obj, err := e.Event(ctx, key)
			if err != nil {
				t.Fatalf("Event(%s): %v", key, err)
			}
			check(obj, i)
		}
	}
	var n int
	if err := e.Events(ctx, Filter{Account: "ACR0000000020", State: "CANCELLED", Kind: "purchases"}, func([]byte) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("list by account, state and kind: %d events, %v; want 1", n, err)
	}

	// The receipts a resume reads.
	got := map[string]Receipt{}
	if err := e.store.Receipts(ctx, v5Run, func(k string, r Receipt) error { got[k] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	for i, w := range v5Events {
		if r := got[w.key]; r.ID != w.id || r.Number != string(rune('1'+i)) || r.Digest != w.digest {
			t.Errorf("receipt %s = %+v", w.key, r)
		}
	}
	// A replay of the run's first row with other content is a conflict:
	// the commit found the migrated receipt.
	ev := retailPurchase()
	res, err := e.CreateEvents(ctx, crm.BulkRequest{Kind: crm.Purchases, Events: []crm.Event{ev}, Run: v5Run, Keys: []string{"0:2"}, Idempotent: true})
	if err != nil || len(res.Unprocessed) != 1 || res.Unprocessed[0].ErrorCode != crm.CodeReceiptConflict {
		t.Errorf("replay with other content = %+v, %v; want %s", res, err, crm.CodeReceiptConflict)
	}

	// A new event of the same run: the next number, an id after the old
	// ones, found by it; the old ones cancel.
	ev.RequestUniqueIdentifier = "NEW"
	res, err = e.CreateEvents(ctx, crm.BulkRequest{Kind: crm.Purchases, Events: []crm.Event{ev}, Run: v5Run, Keys: []string{"0:99"}, Idempotent: true})
	if err != nil || len(res.Processed) != 1 || res.Processed[0].Number != "4" || res.Processed[0].ID <= v5Events[2].id {
		t.Fatalf("new event = %+v, %v", res, err)
	}
	if _, err := e.Event(ctx, res.Processed[0].ID); err != nil {
		t.Errorf("Event(new id): %v", err)
	}
	obj, err := e.Cancel(ctx, v5Events[0].id)
	if err != nil || !strings.Contains(string(obj), `"life_cycle_state":"CANCELLED"`) {
		t.Errorf("Cancel(old event) = %s, %v", obj, err)
	}
	if obj, err = e.Event(ctx, "1"); err != nil || !strings.Contains(string(obj), `"life_cycle_state":"CANCELLED"`) {
		t.Errorf("old event after cancel = %s, %v", obj, err)
	}
	got = map[string]Receipt{}
	if err := e.store.Receipts(ctx, v5Run, func(k string, r Receipt) error { got[k] = r; return nil }); err != nil || len(got) != 4 {
		t.Errorf("receipts after a new event: %d, %v; want 4", len(got), err)
	}
}
