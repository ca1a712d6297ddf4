package engine

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
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

// webEvent is a web event of testdata/seed/reference.yaml's participant
// RP0000000010 with request id id.
func webEvent(id string) crm.Event {
	return crm.Event{RequestUniqueIdentifier: id, RewardsParticipant: &crm.ParticipantIdentifier{Number: "RP0000000010"},
		Classification: &crm.NamedIdentifier{Name: "Newsletter Signup"}, PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"},
		PerformedOn: "2016-06-22T15:00:00", Website: "www.a.com"}
}

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
	ev := webEvent("")
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

func TestLoadKey(t *testing.T) {
	for _, tc := range []struct {
		key        string
		file, line uint64
		ok         bool
	}{
		{"0:2", 0, 2, true}, {"12:345", 12, 345, true}, {"9999999999999999999:1", 9999999999999999999, 1, true},
		{"0:18446744073709551615", 0, 0, false}, {"10000000000000000000:1", 0, 0, false}, {"", 0, 0, false}, {":", 0, 0, false},
		{"0:", 0, 0, false}, {":0", 0, 0, false}, {"00:1", 0, 0, false}, {"0:01", 0, 0, false}, {"0:1:2", 0, 0, false},
		{"-1:2", 0, 0, false}, {"1:+2", 0, 0, false}, {" 0:5", 0, 0, false}, {"abc", 0, 0, false},
	} {
		f, l, ok := loadKey(tc.key)
		if ok != tc.ok || ok && (f != tc.file || l != tc.line) {
			t.Errorf("loadKey(%q) = %d, %d, %v; want %d, %d, %v", tc.key, f, l, ok, tc.file, tc.line, tc.ok)
		}
	}
}

// TestKeyOrder: keyLess and keyOrder's strings order a load's keys alike,
// by file, then line, as numbers.
func TestKeyOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := [][2]uint64{{0, 0}, {0, 9}, {0, 10}, {1, 2}, {9, 99}, {10, 1}, {9999999999999999999, 9999999999999999999}}
	for range 300 {
		keys = append(keys, [2]uint64{uint64(rng.IntN(20)), rng.Uint64N(10_000_000_000_000_000_000) >> rng.IntN(64)})
	}
	for _, a := range keys {
		for _, b := range keys {
			want := a[0] < b[0] || a[0] == b[0] && a[1] < b[1]
			if got := keyLess(a, b); got != want {
				t.Errorf("keyLess(%v, %v) = %v, want %v", a, b, got, want)
			}
			if got := keyOrder(a[0], a[1]) < keyOrder(b[0], b[1]); got != want {
				t.Errorf("keyOrder(%v) < keyOrder(%v) = %v, want %v", a, b, got, want)
			}
		}
	}
}

// TestStoredKeysMeetFewCalls: a load's calls take ranges that do not
// overlap, also where their lines cross a power of ten, across files, and
// with a key of another form among theirs (kept in receipt_keys), so that
// a call's lookup meets its own call only.
func TestStoredKeysMeetFewCalls(t *testing.T) {
	e := newTestEngine(t, "../testdata/seed/reference.yaml")
	ctx := context.Background()
	ev := webEvent("")
	var calls [][]string
	for file := range 3 {
		for start := 2; start < 1200; start += 97 { // lines 2-98, 99-195, ... crossing 100 and 1000
			req := crm.BulkRequest{Kind: crm.Web, Run: "run", Idempotent: true}
			for line := start; line < start+97; line++ {
				ev.RequestUniqueIdentifier = fmt.Sprintf("%d-%d", file, line)
				req.Events = append(req.Events, ev)
				req.Keys = append(req.Keys, fmt.Sprintf("%d:%d", file, line))
			}
			if start%3 == 0 {
				ev.RequestUniqueIdentifier = fmt.Sprintf("other-%d-%d", file, start)
				req.Events = append(req.Events, ev)
				req.Keys = append(req.Keys, ev.RequestUniqueIdentifier)
			}
			if res, err := e.CreateEvents(ctx, req); err != nil || len(res.Processed) != len(req.Events) {
				t.Fatalf("%+v, %v", res, err)
			}
			calls = append(calls, req.Keys)
		}
	}
	s := e.store.(*sqliteStore)
	for _, keys := range calls {
		var r callRange
		for _, k := range keys {
			if f, l, ok := loadKey(k); ok {
				r.add(1, f, l)
			}
		}
		met := 0
		if err := sqlitex.Execute(s.writer, "SELECT count(*) FROM load_calls WHERE run = 1 AND hi >= ? AND lo <= ?", &sqlitex.ExecOptions{
			Args:       []any{keyOrder(r.lo[0], r.lo[1]), keyOrder(r.hi[0], r.hi[1])},
			ResultFunc: func(st *sqlite.Stmt) error { met = st.ColumnInt(0); return nil },
		}); err != nil {
			t.Fatal(err)
		}
		if met != 1 {
			t.Errorf("the lookup of keys %s..%s meets %d calls, want its own only", keys[0], keys[len(keys)-1], met)
		}
		got, err := e.store.Stored(ctx, "run", keys)
		if err != nil || len(got) != len(keys) {
			t.Errorf("Stored found %d of %d keys, %v", len(got), len(keys), err)
		}
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
	// Run 1: 3600 events, but numbers 1200-1209 are run 2's, 500-504
	// have keys of another form and 2000 has no receipt; run 2 goes on
	// after. Other keys as a load makes them.
	want := map[int64]map[string]int64{1: {}, 2: {}}
	script := "INSERT INTO load_runs (rid, run) VALUES (1, 'r1'), (2, 'r2');\n"
	for n := int64(1); n <= 3700; n++ {
		run, key := int64(1), fmt.Sprintf("0:%d", n+1)
		switch {
		case n >= 500 && n < 505: // keys of another form: receipt_keys
			key = fmt.Sprintf("x%d", n)
		case n >= 1200 && n < 1210, n > 3600:
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
	// Run 1's first 1199 events are two stretches around the keys of
	// another form; 2000 ends its third; its fourth is cut at 1000 events.
	// Run 2's two stretches are its own ranges.
	wantCalls := [][3]int64{{1, 1, 499}, {1, 505, 1199}, {2, 1200, 1209}, {1, 1210, 1999}, {1, 2001, 3000}, {1, 3001, 3600}, {2, 3601, 3700}}
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
	e := openStoreCopy(t, "testdata/store-v6.db")
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
	ev := retailPurchase()
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

// TestGroupCommitReceipts: calls committed together each record their own
// receipts' range, and only the calls that are stored do: a keyless row
// inside a call, a call that fails (rolled back alone), a dry run, and an
// idempotent copy of a call committed earlier in the same group (answered
// with its events) leave no range that a lookup could trust.
func TestGroupCommitReceipts(t *testing.T) {
	e := newTestEngine(t, "testdata/rules.yaml")
	s := e.store.(*sqliteStore)
	ctx := context.Background()
	pending := func(prefix string, keys ...string) []*PendingEvent {
		req := crm.BulkRequest{Kind: crm.Purchases}
		for i := range keys {
			req.Events = append(req.Events, crm.Event{RequestUniqueIdentifier: prefix + string(rune('a'+i)),
				AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"}, PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"},
				PerformedOn: "2016-06-22T15:00:00", ReferenceNumber: "RF" + prefix,
				ProductsSet: []crm.PurchaseProduct{{Product: &crm.ProductIdentifier{Code: "Bronze"}, TotalAmount: "12.50"}}})
		}
		p, err := e.resolveAll(ctx, req, nil, make([]*crm.Error, len(keys)), newArena(len(req.Events)))
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range keys {
			if k != "" {
				p[i].LoadRun, p[i].LoadKey, p[i].Digest = "r", k, fmt.Sprintf("%02x", i+1)
			}
		}
		return p
	}
	a := pending("1", "0:9", "", "0:10")
	bad := pending("2", "0:11", "0:12")
	bad[1].Obj.Product = &RefObject{ID: "NO-SUCH-PRODUCT"} // the store cannot find it: the call fails
	dry := pending("3", "0:13")
	copyOfA := pending("1", "0:9", "", "0:10")
	d := pending("4", "0:14", "x-other")
	group := []*commitCall{{ctx: ctx, rows: a, opts: CommitOptions{Idempotent: true}}, {ctx: ctx, rows: bad, opts: CommitOptions{Idempotent: true}},
		{ctx: ctx, rows: dry, opts: CommitOptions{DryRun: true, Idempotent: true}}, {ctx: ctx, rows: copyOfA, opts: CommitOptions{Idempotent: true}},
		{ctx: ctx, rows: d, opts: CommitOptions{Idempotent: true}}}
	s.mu.Lock()
	s.commitGroup(group)
	s.mu.Unlock()
	if group[0].err != nil || group[1].err == nil || group[3].err != nil || group[4].err != nil {
		t.Fatalf("call errors: %v, %v, %v, %v, %v; want only the second to fail (and the dry run to roll back)",
			group[0].err, group[1].err, group[2].err, group[3].err, group[4].err)
	}
	if copyOfA[0].Obj.Number != a[0].Obj.Number || copyOfA[2].Obj.Number != a[2].Obj.Number {
		t.Errorf("the copy was answered with events %s, %s; want %s, %s", copyOfA[0].Obj.Number, copyOfA[2].Obj.Number, a[0].Obj.Number, a[2].Obj.Number)
	}
	got := map[string]string{}
	if err := e.store.Receipts(ctx, "r", func(k string, r Receipt) error { got[k] = r.Number; return nil }); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"0:9": a[0].Obj.Number, "0:10": a[2].Obj.Number, "0:14": d[0].Obj.Number, "x-other": d[1].Obj.Number}
	if !maps.Equal(got, want) {
		t.Errorf("receipts %v, want %v", got, want)
	}
	var calls, events int
	if err := sqlitex.Execute(s.writer, "SELECT (SELECT count(*) FROM load_calls), (SELECT count(*) FROM events)", &sqlitex.ExecOptions{
		ResultFunc: func(st *sqlite.Stmt) error { calls, events = st.ColumnInt(0), st.ColumnInt(1); return nil },
	}); err != nil {
		t.Fatal(err)
	}
	// The copy's keyless row has no receipt to be answered from: stored again.
	if calls != 2 || events != 6 {
		t.Errorf("%d load_calls rows and %d events, want 2 (the stored calls) and 6", calls, events)
	}
}
