package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// TestCacheBoundsLookedUpEntity: the cache holds at most about
// maxLookedUp keys of an entity it did not read whole (participants, which
// referrals change): past it that entity's records start over, while the
// accounts read whole stay, and a participant dropped resolves again from
// the store. Without the bound a referral load of 200k participants held
// them all (80 MB), its heap at the runtime's memory limit.
func TestCacheBoundsLookedUpEntity(t *testing.T) {
	const participants = maxLookedUp/2 + 10_000 // keys under id and number
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("number,accounts_receivable,referred_by\n")
	for i := range participants {
		fmt.Fprintf(&csv, "P%06d,A%03d,\n", i, i%300)
	}
	if err := os.WriteFile(filepath.Join(dir, "rewards_participants.csv"), []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var seed strings.Builder
	seed.WriteString("accounts_receivable:\n")
	for i := range 300 {
		fmt.Fprintf(&seed, "  - {number: A%03d, name: Name %03d}\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "seed.yaml"), []byte(seed.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newTestEngine(t, filepath.Join(dir, "seed.yaml"), filepath.Join(dir, "rewards_participants.csv"))
	ctx := context.Background()
	c := &e.cache
	c.reset(0)
	resolve := func(ent *Entity, col string, vals ...string) []*Ref {
		t.Helper()
		r := newResolver(e.store, c)
		for _, v := range vals {
			r.find(ent, col, v)
		}
		if err := r.fetch(ctx); err != nil {
			t.Fatal(err)
		}
		out := make([]*Ref, len(vals))
		for i, v := range vals {
			ref, ok := r.find(ent, col, v)
			if !ok || ref == nil {
				t.Fatalf("%s %s=%s: not found (known %v)", ent.name, col, v, ok)
			}
			out[i] = ref
		}
		return out
	}
	accounts := make([]string, 300)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("A%03d", i)
	}
	resolve(entAccount, "number", accounts...) // 300 accounts: read whole
	if !c.scanned[entAccount.slot] {
		t.Fatal("the accounts were not read whole")
	}
	first := resolve(entParticipant, "number", "P000000")[0]
	most := 0
	for i := 1; i < participants; i += 1000 {
		batch := make([]string, 0, 1000)
		for j := i; j < min(i+1000, participants); j++ {
			batch = append(batch, fmt.Sprintf("P%06d", j))
		}
		for k, ref := range resolve(entParticipant, "number", batch...) {
			if got := ref.get(entParticipant, "number"); got != batch[k] {
				t.Fatalf("%s resolved as %s", batch[k], got)
			}
		}
		most = max(most, c.held[entParticipant.slot])
	}
	if most > maxLookedUp+2*1000 {
		t.Errorf("the cache held %d keys of participants, past the bound %d", most, maxLookedUp)
	}
	if _, ok := c.get(entParticipant, "number", "P000000"); ok {
		t.Error("the first participant is still cached: the participants never started over")
	}
	if _, ok := c.get(entAccount, "number", "A123"); !ok || c.held[entAccount.slot] != 2*300 {
		t.Errorf("the accounts read whole were dropped with the participants (held %d)", c.held[entAccount.slot])
	}
	again := resolve(entParticipant, "number", "P000000")[0]
	if again == first || again.ID != first.ID || !slices.Equal(again.Vals, first.Vals) {
		t.Errorf("P000000 again: %+v, first %+v", again, first)
	}
	if n := c.held[entParticipant.slot] + c.held[entAccount.slot]; c.n != n+len(c.other) {
		t.Errorf("the cache counts %d keys, its indexes hold %d and other %d", c.n, n, len(c.other))
	}
}
