package engine

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitemigration"
	"zombiezen.com/go/sqlite/sqlitex"

	"github.com/crmload/crmload/crm"
)

// TestStoredKeys: receipts are found by the calls that stored them
// (load_calls' key ranges), whatever their keys: a load's "F:L" lines
// out of order and across files, keys of other shapes and lengths, two
// runs. Every stored key is found with its own event, no other key is,
// and a run's receipts are all listed, checked against a plain map.
func TestStoredKeys(t *testing.T) { forStores(t, testStoredKeys) }

func testStoredKeys(t *testing.T, store string) {
	e := newStoreEngine(t, store, "../testdata/seed/reference.yaml")
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(11, uint64(len(store))))
	randomKey := func() string {
		switch rng.IntN(4) {
		case 0, 1: // a load's row key
			return fmt.Sprintf("%d:%d", rng.IntN(3), 1+rng.IntN(20000))
		case 2: // keys of other lengths than their neighbours'
			return strings.Repeat("k", 1+rng.IntN(12)) + strconv.Itoa(rng.IntN(100))
		default: // what another client may send
			return fmt.Sprintf("%x", rng.Uint64()>>rng.IntN(64))
		}
	}
	ev := crm.Event{RewardsParticipant: &crm.ParticipantIdentifier{Number: "RP0000000010"}, Classification: &crm.NamedIdentifier{Name: "Newsletter Signup"},
		PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2016-06-22T15:00:00", Website: "www.a.com"}
	runs := []string{"run-a", "run-b"}
	stored := map[string]map[string]string{} // run, key: number
	var all []string
	var sent []crm.BulkRequest
	for call := range 60 {
		run := runs[call%2]
		if stored[run] == nil {
			stored[run] = map[string]string{}
		}
		req := crm.BulkRequest{Kind: crm.Web, Run: run, Idempotent: true}
		base := 1 + rng.IntN(19000) // most calls: a run of lines, as a load's
		for i := range 1 + rng.IntN(40) {
			k := fmt.Sprintf("%d:%d", call%3, base+i)
			if rng.IntN(4) == 0 {
				k = randomKey()
			}
			if _, dup := stored[run][k]; dup || slices.Contains(req.Keys, k) {
				continue
			}
			ev.RequestUniqueIdentifier = fmt.Sprintf("c%d-%d", call, i)
			req.Events = append(req.Events, ev)
			req.Keys = append(req.Keys, k)
		}
		res, err := e.CreateEvents(ctx, req)
		if err != nil || len(res.Processed) != len(req.Events) {
			t.Fatalf("call %d: %+v, %v", call, res, err)
		}
		for i, p := range res.Processed {
			stored[run][req.Keys[i]] = p.Number
			all = append(all, req.Keys[i])
		}
		sent = append(sent, req)
	}
	// Copies of earlier calls, whole or with new events among theirs (a
	// replay after a lost answer, a resumed run's call): the stored
	// events are answered, not stored again; only the new ones are.
	for i := range 20 {
		req := sent[rng.IntN(len(sent))]
		req.Events, req.Keys = slices.Clone(req.Events), slices.Clone(req.Keys)
		fresh := map[string]bool{}
		if i%2 == 1 {
			for j := range 1 + rng.IntN(5) {
				k := fmt.Sprintf("new%d-%d", i, j)
				ev.RequestUniqueIdentifier = k
				at := rng.IntN(len(req.Events) + 1)
				req.Events = slices.Insert(req.Events, at, ev)
				req.Keys = slices.Insert(req.Keys, at, k)
				fresh[k] = true
			}
		}
		res, err := e.CreateEvents(ctx, req)
		if err != nil || len(res.Processed) != len(req.Events) {
			t.Fatalf("copy %d: %+v, %v", i, res, err)
		}
		for j, p := range res.Processed {
			k := req.Keys[j]
			if fresh[k] {
				if _, dup := stored[req.Run][k]; dup {
					t.Fatalf("copy %d: new key %s was stored before", i, k)
				}
				stored[req.Run][k] = p.Number
				all = append(all, k)
				continue
			}
			if p.Number != stored[req.Run][k] {
				t.Errorf("copy %d: key %s answered with event %s, stored as %s", i, k, p.Number, stored[req.Run][k])
			}
		}
	}
	var events int
	if err := e.Events(ctx, Filter{}, func([]byte) error { events++; return nil }); err != nil {
		t.Fatal(err)
	}
	if want := len(stored["run-a"]) + len(stored["run-b"]); events != want {
		t.Errorf("%d events stored, want %d (one per key)", events, want)
	}
	for _, run := range runs {
		listed := map[string]string{}
		if err := e.store.Receipts(ctx, run, func(k string, r Receipt) error { listed[k] = r.Number; return nil }); err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(listed, stored[run]) {
			t.Errorf("%s: Receipts listed %d keys, want the %d stored", run, len(listed), len(stored[run]))
		}
		for q := range 300 {
			var keys []string
			for range 1 + rng.IntN(30) {
				if q%3 == 0 {
					keys = append(keys, randomKey())
				} else {
					keys = append(keys, all[rng.IntN(len(all))])
				}
			}
			got, err := e.store.Stored(ctx, run, keys)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for _, k := range keys {
				if n, ok := stored[run][k]; ok {
					want[k] = n
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%s: Stored(%q) found %d keys, want %d", run, keys, len(got), len(want))
			}
			for k, r := range got {
				if r.Number != want[k] {
					t.Fatalf("%s: Stored(%q)[%s] = event %s, want %s", run, keys, k, r.Number, want[k])
				}
			}
		}
	}
}

func TestKeyOrder(t *testing.T) {
	keys := []string{"", ":", "0:", ":0", "0:0", "0:9", "0:10", "1:10", "0:100", "0:99", "00:1", "0:01", "0:1:2", "-1:2", "1:-2",
		"9:9502", "10:1", "abc", "ab", "b", "0:1000000", "9999999999999999999:1", "10000000000000000000:1", "0:18446744073709551615",
		"k" + strings.Repeat("z", 300)}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		keys = append(keys, fmt.Sprintf("%d:%d", rng.IntN(20), rng.Uint64()>>rng.IntN(64)), fmt.Sprintf("%x", rng.Uint64()>>rng.IntN(64)))
	}
	for _, a := range keys {
		for _, b := range keys {
			if got, want := keyLess(a, b), keyOrder(a) < keyOrder(b); got != want {
				t.Errorf("keyLess(%q, %q) = %v, keyOrder says %v", a, b, got, want)
			}
		}
	}
	// A load's keys sort by file, then line, as numbers: a call whose
	// lines cross a power of ten holds no other file's keys.
	for _, c := range [][3]string{{"0:9502", "1:5000", "0:10501"}, {"0:9", "0:5", "0:10"}, {"10:1", "9:99", "10:2"}} {
		if keyLess(c[0], c[1]) && keyLess(c[1], c[2]) {
			t.Errorf("%s sorts between %s and %s", c[1], c[0], c[2])
		}
	}
	if !keyLess("0:9", "0:10") || !keyLess("0:99", "0:100") || !keyLess("9:5", "10:1") || keyLess("1:10", "0:10") || !keyLess("9:1", "abc") {
		t.Error("keys do not sort by file and line, then other keys")
	}
}

// TestMigrateLoadCalls: migration 7 groups the receipts a store of
// schema version 6 holds (runs interleaved, gaps, events without one)
// into ranges of at most 1000 consecutive events of a run, and every
// receipt is then found, by run and key, with its own event.
func TestMigrateLoadCalls(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v6.db")
	c, err := sqlite.OpenConn(path, sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	v6 := schema
	v6.Migrations = schema.Migrations[:6]
	if err := sqlitemigration.Migrate(ctx, c, v6); err != nil {
		t.Fatal(err)
	}
	// Run 1: 2600 events, but numbers 1200-1209 are run 2's and 2000 has
	// no receipt; run 2 goes on after. Keys as a load makes them.
	want := map[int64]map[string]int64{1: {}, 2: {}}
	script := "INSERT INTO load_runs (rid, run) VALUES (1, 'r1'), (2, 'r2');\n"
	for n := int64(1); n <= 2700; n++ {
		run, key := int64(1), fmt.Sprintf("0:%d", n+1)
		switch {
		case n >= 1200 && n < 1210, n > 2600:
			run, key = 2, fmt.Sprintf("1:%d", n)
		case n == 2000:
			script += fmt.Sprintf("INSERT INTO events (number, created, kind, performed_on, request_id) VALUES (%d, 0, 0, '', 'x');\n", n)
			continue
		}
		want[run][key] = n
		script += fmt.Sprintf("INSERT INTO events (number, created, kind, performed_on, request_id, load_run, load_key, load_digest) VALUES (%d, 0, 0, '', 'x', %d, '%s', x'01');\n", n, run, key)
	}
	if err := sqlitex.ExecuteScript(c, script, nil); err != nil {
		t.Fatal(err)
	}
	c.Close()

	e, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s := e.store.(*sqliteStore)
	var calls [][3]int64
	if err := sqlitex.Execute(s.writer, "SELECT run, first, last FROM load_calls ORDER BY first", &sqlitex.ExecOptions{
		ResultFunc: func(st *sqlite.Stmt) error {
			calls = append(calls, [3]int64{st.ColumnInt64(0), st.ColumnInt64(1), st.ColumnInt64(2)})
			return nil
		},
	}); err != nil {
		t.Fatal(err)
	}
	// Run 1's first 1199 events are one stretch, cut at 1000; 2000 ends
	// its second stretch. Run 2's two stretches are its own ranges.
	wantCalls := [][3]int64{{1, 1, 1000}, {1, 1001, 1199}, {2, 1200, 1209}, {1, 1210, 1999}, {1, 2001, 2600}, {2, 2601, 2700}}
	if !slices.Equal(calls, wantCalls) {
		t.Errorf("load_calls = %v, want %v", calls, wantCalls)
	}
	for run, keys := range want {
		name := fmt.Sprintf("r%d", run)
		all := slices.Sorted(maps.Keys(keys))
		for i := 0; i < len(all); i += 97 {
			chunk := all[i:min(i+97, len(all))]
			got, err := e.store.Stored(ctx, name, slices.Concat(chunk, []string{"9:9"}))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(chunk) {
				t.Fatalf("%s: found %d of %d keys", name, len(got), len(chunk))
			}
			for _, k := range chunk {
				if got[k].Number != strconv.FormatInt(keys[k], 10) {
					t.Fatalf("%s: key %s = event %s, want %d", name, k, got[k].Number, keys[k])
				}
			}
		}
		n := 0
		if err := e.store.Receipts(ctx, name, func(k string, r Receipt) error {
			if r.Number != strconv.FormatInt(keys[k], 10) {
				t.Errorf("%s: receipt %s = event %s", name, k, r.Number)
			}
			n++
			return nil
		}); err != nil || n != len(keys) {
			t.Errorf("%s: %d receipts listed, %v; want %d", name, n, err, len(keys))
		}
	}
	var idx int
	if err := sqlitex.Execute(s.writer, "SELECT count(*) FROM sqlite_schema WHERE name = 'events_load'", &sqlitex.ExecOptions{
		ResultFunc: func(st *sqlite.Stmt) error { idx = st.ColumnInt(0); return nil },
	}); err != nil || idx != 0 {
		t.Errorf("the per-event receipts index is still there (%d, %v)", idx, err)
	}
}

// v6Runs are the load runs of testdata/store-v6.db, made by the release
// before receipts by call (schema version 6, commit 4aa1630): engine seed
// of testdata/seed/reference.yaml, a load of
// testdata/purchases/online_retail.csv with testdata/purchases/mapping.yaml
// (run one: three purchases), events cancel 2, a load of
// testdata/purchases/orders.jsonl with mapping_jsonl.yaml (run two: two).
var v6Runs = map[string]map[string]string{ // run, key: number
	"20261204T170655.277Z-ca5a7efc": {"0:2": "1", "0:4": "2", "0:6": "3"},
	"20261204T170700.629Z-8346da93": {"0:1": "4", "0:2": "5"},
}

// TestMigrateV6Store: a store made by the previous release opens (and is
// migrated to receipts by call), lists its events, finds each run's
// receipts as a resume and a replay ask for them, answers a replay with
// other content as a conflict, and stores and finds new receipts after.
func TestMigrateV6Store(t *testing.T) {
	ctx := context.Background()
	src, err := os.ReadFile("testdata/store-v6.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v6.db")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var listed []string
	if err := e.Events(ctx, Filter{}, func(obj []byte) error { listed = append(listed, string(obj)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 5 || !strings.Contains(listed[1], `"life_cycle_state":"CANCELLED"`) {
		t.Fatalf("listed %d events (%v), want 5, the second cancelled", len(listed), listed)
	}
	for run, keys := range v6Runs {
		got := map[string]string{}
		if err := e.store.Receipts(ctx, run, func(k string, r Receipt) error { got[k] = r.Number; return nil }); err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, keys) {
			t.Errorf("run %s: receipts %v, want %v", run, got, keys)
		}
		found, err := e.store.Stored(ctx, run, slices.Collect(maps.Keys(keys)))
		if err != nil || len(found) != len(keys) {
			t.Errorf("run %s: Stored found %v, %v", run, found, err)
		}
		for k, r := range found {
			if r.Number != keys[k] || r.Digest == "" {
				t.Errorf("run %s: key %s = %+v", run, k, r)
			}
		}
	}
	run := "20261204T170655.277Z-ca5a7efc"
	ev := crm.Event{RequestUniqueIdentifier: "536365", AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"},
		PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2010-12-01T08:26:00", ReferenceNumber: "536365",
		ProductsSet: []crm.PurchaseProduct{{Product: &crm.ProductIdentifier{AlternativeCode: "BRZ"}, Quantity: "1", TotalAmount: "1", NetAmount: "1", VATAmount: "0"}}}
	res, err := e.CreateEvents(ctx, crm.BulkRequest{Kind: crm.Purchases, Events: []crm.Event{ev}, Run: run, Keys: []string{"0:4"}, Idempotent: true})
	if err != nil || len(res.Unprocessed) != 1 || res.Unprocessed[0].ErrorCode != crm.CodeReceiptConflict {
		t.Errorf("replay with other content = %+v, %v; want %s", res, err, crm.CodeReceiptConflict)
	}
	ev.RequestUniqueIdentifier = "NEW"
	res, err = e.CreateEvents(ctx, crm.BulkRequest{Kind: crm.Purchases, Events: []crm.Event{ev}, Run: run, Keys: []string{"0:8"}, Idempotent: true})
	if err != nil || len(res.Processed) != 1 || res.Processed[0].Number != "6" {
		t.Fatalf("new event = %+v, %v", res, err)
	}
	found, err := e.store.Stored(ctx, run, []string{"0:2", "0:8", "0:1"})
	if err != nil || len(found) != 2 || found["0:2"].Number != "1" || found["0:8"].Number != "6" {
		t.Errorf("Stored after a new event = %v, %v", found, err)
	}
}

// TestMigrateLoadCallsStopsOldWriters: a process of the previous release
// that opened the store before migration 7 and goes on writing would store
// receipts without a load_calls row, which no lookup finds (a resume would
// store those rows again). Its next insert fails instead, and stores
// nothing: the renamed receipt columns are not where its statement, made
// again against the new schema, looks for them.
func TestMigrateLoadCallsStopsOldWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v6.db")
	old, err := sqlite.OpenConn(path, sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	v6 := schema
	v6.Migrations = schema.Migrations[:6]
	if err := sqlitemigration.Migrate(ctx, old, v6); err != nil {
		t.Fatal(err)
	}
	if err := sqlitex.ExecuteTransient(old, "INSERT INTO load_runs (rid, run) VALUES (1, 'r1')", nil); err != nil {
		t.Fatal(err)
	}
	// The previous release's insert, prepared once and kept (c.Prep).
	insert := func(n int) error {
		ins := old.Prep(`INSERT INTO events (number, created, kind, performed_on, account, participant, classification, request_id, data, load_run, load_key, load_digest)
			VALUES (?, 0, 0, '', NULL, NULL, NULL, 'x', NULL, 1, ?, x'01')`)
		ins.BindInt64(1, int64(n))
		ins.BindText(2, fmt.Sprintf("0:%d", n+1))
		_, err := ins.Step()
		if rerr := ins.Reset(); err == nil {
			err = rerr
		}
		return err
	}
	if err := insert(1); err != nil {
		t.Fatal(err)
	}

	e, err := Open(ctx, path) // migrates, while the old connection is open
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := insert(2); err == nil || !strings.Contains(err.Error(), "load_run") {
		t.Errorf("the old release's insert after the migration: %v, want it refused", err)
	}
	got := map[string]string{}
	if err := e.store.Receipts(ctx, "r1", func(k string, r Receipt) error { got[k] = r.Number; return nil }); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, map[string]string{"0:2": "1"}) {
		t.Errorf("receipts after the migration: %v, want the one stored before", got)
	}
}
