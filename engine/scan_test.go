package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmload/crmload/crm"
)

// countingStore is the SQLite store, counting the lookups and whole-table
// reads of accounts the engine asks of it.
type countingStore struct {
	*sqliteStore
	lookups, keys, scans int
}

func (s *countingStore) Lookup(ctx context.Context, e *Entity, col string, keys []string) ([]*Ref, error) {
	if e == entAccount {
		s.lookups++
		s.keys += len(keys)
	}
	return s.sqliteStore.Lookup(ctx, e, col, keys)
}

func (s *countingStore) ScanTable(ctx context.Context, e *Entity) ([]*Ref, error) {
	if e == entAccount {
		s.scans++
	}
	return s.sqliteStore.ScanTable(ctx, e)
}

// TestScanWholeTable: a load that keeps naming new accounts has the
// accounts table read whole once its lookups have paid for the read
// (resolver.scan), and every event resolves as it would by lookups: the
// account it names, the first of two accounts of one name, an unknown
// account not found, an account seeded after the read found.
func TestScanWholeTable(t *testing.T) {
	const accounts = 2400
	dir := t.TempDir()
	var seed strings.Builder
	seed.WriteString("currencies:\n  - {code: EUR}\nunits:\n  - {name: Admin Unit, currency: EUR}\naccounts_receivable:\n")
	seed.WriteString("  - {number: TWIN1, name: Twin}\n")
	for i := range accounts {
		fmt.Fprintf(&seed, "  - {number: A%05d, name: Name %05d}\n", i, i)
	}
	seed.WriteString("  - {number: TWIN2, name: Twin}\n")
	seedFile := filepath.Join(dir, "seed.yaml")
	if err := os.WriteFile(seedFile, []byte(seed.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	base := newTestEngine(t, seedFile)
	cs := &countingStore{sqliteStore: base.store.(*sqliteStore)}
	e := New(cs)

	// call sends n web events naming accounts by identifier members.
	seq := 0
	call := func(idents ...string) crm.BulkResult {
		t.Helper()
		var evs []string
		for _, id := range idents {
			seq++
			evs = append(evs, fmt.Sprintf(`{"request_unique_identifier":"r%d","accounts_receivable_identifier":%s,"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-06-22T15:00:00","website":"w"}`, seq, id))
		}
		req, err := crm.DecodeBulkRequest(crm.Web, []byte(`{"web_customer_events_set":[`+strings.Join(evs, ",")+`]}`))
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.CreateEvents(ctx, *req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	byNumber := func(from, to int) []string {
		var ids []string
		for i := from; i < to; i++ {
			ids = append(ids, fmt.Sprintf(`{"number":"A%05d"}`, i))
		}
		return ids
	}
	// account returns the number of the account the stored event of
	// processed result p names.
	account := func(p crm.Processed) string {
		t.Helper()
		raw, err := e.Event(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		var obj struct {
			Account struct{ Number string } `json:"accounts_receivable"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatal(err)
		}
		return obj.Account.Number
	}

	// 300 new accounts: looked up (300 * 5 < 2402 records).
	res := call(byNumber(0, 300)...)
	if len(res.Processed) != 300 || cs.scans != 0 || cs.keys != 300 {
		t.Fatalf("first call: %d processed, %d scans, %d keys looked up; want 300, 0, 300", len(res.Processed), cs.scans, cs.keys)
	}
	// 300 more: 600 looked up pays for the read of 2402.
	res = call(byNumber(300, 600)...)
	if len(res.Processed) != 300 || cs.scans != 1 || cs.keys != 300 {
		t.Fatalf("second call: %d processed, %d scans, %d keys looked up; want 300, 1, 300", len(res.Processed), cs.scans, cs.keys)
	}
	for i, p := range res.Processed {
		if got, want := account(p), fmt.Sprintf("A%05d", 300+i); got != want {
			t.Fatalf("second call, event %d: account %s, want %s", i, got, want)
		}
	}
	// Every other account is cached now; an unknown one is still looked
	// up, and not found; of two accounts of one name the first is taken.
	lookups := cs.lookups
	res = call(append(byNumber(600, 1500), `{"number":"NOPE"}`, `{"name":"Twin"}`, `{"name":"Name 02399"}`)...)
	if len(res.Processed) != 900+2 || len(res.Unprocessed) != 1 {
		t.Fatalf("third call: %d processed, %d unprocessed; want 902, 1", len(res.Processed), len(res.Unprocessed))
	}
	if u := res.Unprocessed[0]; u.ErrorCode != crm.CodeNotFound || !strings.Contains(u.ErrorDescription, "Account (NOPE) Not Found") {
		t.Errorf("unknown account: %s %s", u.ErrorCode, u.ErrorDescription)
	}
	if cs.lookups != lookups+2 || cs.scans != 1 {
		// NOPE by number, and the two names (one query, by name).
		t.Errorf("third call: %d lookups, %d scans; want 2 (the unknown number, the names), 1", cs.lookups-lookups, cs.scans)
	}
	n := len(res.Processed)
	if got := account(res.Processed[n-2]); got != "TWIN1" {
		t.Errorf("account named Twin: %s, want TWIN1 (the first)", got)
	}
	if got := account(res.Processed[n-1]); got != fmt.Sprintf("A%05d", accounts-1) {
		t.Errorf("account by name Name 02399: %s", got)
	}
	lookups = cs.lookups
	res = call(byNumber(1500, accounts)...)
	if len(res.Processed) != accounts-1500 || cs.lookups != lookups {
		t.Fatalf("fourth call: %d processed, %d lookups; want %d, none", len(res.Processed), cs.lookups-lookups, accounts-1500)
	}
	if got := account(res.Processed[len(res.Processed)-1]); got != fmt.Sprintf("A%05d", accounts-1) {
		t.Errorf("last account by number: %s", got)
	}

	// An account seeded after the read is found: seeding starts the
	// cache over.
	more := filepath.Join(dir, "more.yaml")
	if err := os.WriteFile(more, []byte("accounts_receivable:\n  - {number: NOPE, name: Late}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Seed(ctx, more); err != nil {
		t.Fatal(err)
	}
	res = call(`{"number":"NOPE"}`)
	if len(res.Processed) != 1 || account(res.Processed[0]) != "NOPE" {
		t.Fatalf("after seeding NOPE: %+v", res)
	}
}

// BenchmarkLookupAccounts and BenchmarkScanAccounts: what resolver.scan
// weighs, a record of a 20k-account table looked up (calls of 1000 keys)
// or read in a pass over the table. Both report ns/record.
func BenchmarkLookupAccounts(b *testing.B) { benchAccounts(b, false) }
func BenchmarkScanAccounts(b *testing.B)   { benchAccounts(b, true) }

func benchAccounts(b *testing.B, scan bool) {
	const accounts = 20000
	var seed strings.Builder
	seed.WriteString("accounts_receivable:\n")
	for i := range accounts {
		fmt.Fprintf(&seed, "  - {number: A%05d, name: Name %05d}\n", i, i)
	}
	seedFile := filepath.Join(b.TempDir(), "seed.yaml")
	if err := os.WriteFile(seedFile, []byte(seed.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	s := newTestEngine(b, seedFile).store.(*sqliteStore)
	ctx := context.Background()
	keys := make([]string, accounts)
	for i := range keys {
		keys[i] = fmt.Sprintf("A%05d", (i*7919)%accounts) // in no order, as a load names them
	}
	b.ResetTimer()
	for b.Loop() {
		if scan {
			if refs, err := s.ScanTable(ctx, entAccount); err != nil || len(refs) != accounts {
				b.Fatal(len(refs), err)
			}
			continue
		}
		for i := 0; i < accounts; i += 1000 {
			if refs, err := s.Lookup(ctx, entAccount, "number", keys[i:i+1000]); err != nil || len(refs) != 1000 {
				b.Fatal(len(refs), err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*accounts), "ns/record")
}
