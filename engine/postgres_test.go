package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/internal/pgtest"
)

// twoEngines opens two engines on one fresh PostgreSQL database, each
// with its own connection pool and cache, as two processes would be.
func twoEngines(t *testing.T, seed string) [2]*Engine {
	t.Helper()
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	var es [2]*Engine
	for i := range es {
		e, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		es[i] = e
	}
	if seed != "" {
		f := writeFile(t, t.TempDir(), "seed.yaml", seed)
		if _, err := es[0].Seed(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	return es
}

// participantsSeed is reference data with n participants to refer.
func participantsSeed(n int) string {
	var b strings.Builder
	b.WriteString("currencies:\n  - {code: EUR}\nunits:\n  - {name: Admin Unit, currency: EUR}\naccounts_receivable:\n  - {number: ACR1}\nrewards_participants:\n")
	b.WriteString("  - {number: BY-A, accounts_receivable: ACR1}\n  - {number: BY-B, accounts_receivable: ACR1}\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {number: P%03d, accounts_receivable: ACR1}\n", i)
	}
	return b.String()
}

func referral(id, referred, by string) crm.Event {
	return crm.Event{RequestUniqueIdentifier: id, PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2016-06-22T15:00:00",
		ReferredRewardsParticipant: &crm.ParticipantIdentifier{Number: referred}, ReferredByRewardsParticipant: &crm.ParticipantIdentifier{Number: by}}
}

// TestPostgresReferredOnceAcrossEngines: two engines (two processes' worth
// of pools and caches) receive the two referrals of one participant at the
// same moment, many times: exactly one succeeds each time.
func TestPostgresReferredOnceAcrossEngines(t *testing.T) {
	const n = 40
	es := twoEngines(t, participantsSeed(n))
	ctx := context.Background()
	for i := range n {
		p := fmt.Sprintf("P%03d", i)
		var wg sync.WaitGroup
		var ok [2]bool
		start := make(chan struct{})
		for j, by := range []string{"BY-A", "BY-B"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := es[j].CreateEvents(ctx, crm.BulkRequest{Kind: crm.Referrals, Events: []crm.Event{referral("r", p, by)}})
				if err != nil {
					t.Error(err)
					return
				}
				ok[j] = len(res.Processed) == 1
				if !ok[j] && (len(res.Unprocessed) != 1 || res.Unprocessed[0].ErrorCode != crm.CodeReferredByAnother) {
					t.Errorf("%s by %s: %+v, want processed or %s", p, by, res, crm.CodeReferredByAnother)
				}
			}()
		}
		close(start)
		wg.Wait()
		if ok[0] == ok[1] {
			t.Fatalf("%s: referrals processed by engine 0: %v, engine 1: %v; want exactly one", p, ok[0], ok[1])
		}
	}
	got := 0
	if err := es[1].Events(ctx, Filter{Kind: "referrals"}, func([]byte) error { got++; return nil }); err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Errorf("%d referral events stored, want %d", got, n)
	}
}

// TestPostgresCancelRace: a cancel racing a cancel of the same event in
// another engine ends with one success.
func TestPostgresCancelRace(t *testing.T) {
	es := twoEngines(t, participantsSeed(0))
	ctx := context.Background()
	var events []crm.Event
	for i := range 20 {
		events = append(events, crm.Event{RequestUniqueIdentifier: fmt.Sprint(i), AccountsReceivable: &crm.AccountIdentifier{Number: "ACR1"},
			PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2016-06-22T15:00:00", Website: "w"})
	}
	res, err := es[0].CreateEvents(ctx, crm.BulkRequest{Kind: crm.Web, Events: events})
	if err != nil || len(res.Processed) != 20 {
		t.Fatalf("CreateEvents = %+v, %v", res, err)
	}
	for _, p := range res.Processed {
		var wg sync.WaitGroup
		var errs [2]error
		for j := range es {
			wg.Add(1)
			go func() { defer wg.Done(); _, errs[j] = es[j].Cancel(ctx, p.Number) }()
		}
		wg.Wait()
		var apiErr *crm.Error
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.As(err, &apiErr) || apiErr.Code != crm.CodeInvalidLifeCycleState:
				t.Errorf("cancel %s: %v", p.Number, err)
			}
		}
		if wins != 1 {
			t.Fatalf("cancel %s from two engines at once: %d succeeded, want 1", p.Number, wins)
		}
	}
}

// TestPostgresIdempotentAcrossEngines: one keyed call sent to two engines
// at once (a replay on another replica while the first copy is still
// running) is stored once, and both copies answer with the same events;
// numbers from both engines are unique and ids too.
func TestPostgresIdempotentAcrossEngines(t *testing.T) {
	const n = 30
	es := twoEngines(t, participantsSeed(0))
	ctx := context.Background()
	var evs []crm.Event
	for i := range 3 {
		evs = append(evs, crm.Event{RequestUniqueIdentifier: fmt.Sprint(i), AccountsReceivable: &crm.AccountIdentifier{Number: "ACR1"},
			PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2016-06-22T15:00:00", Website: "w"})
	}
	for i := range n {
		var wg sync.WaitGroup
		var out [2]crm.BulkResult
		start := make(chan struct{})
		for j := range es {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				keys := []string{fmt.Sprintf("%d:1", i), fmt.Sprintf("%d:2", i), fmt.Sprintf("%d:3", i)}
				r, err := es[j].CreateEvents(ctx, crm.BulkRequest{Kind: crm.Web, Events: evs, Run: "run", Keys: keys, Idempotent: true, Replay: j == 1 && i%2 == 0})
				if err != nil {
					t.Error(err)
				}
				out[j] = r
			}()
		}
		close(start)
		wg.Wait()
		if len(out[0].Processed) != 3 || !jsonEqual(out[0], out[1]) {
			t.Fatalf("call %d on two engines: %+v and %+v, want the same three events", i, out[0], out[1])
		}
		// One copy created the three, the other found them stored.
		if f0, f1 := len(out[0].Found), len(out[1].Found); f0+f1 != 3 || f0 != 0 && f1 != 0 {
			t.Errorf("call %d on two engines: found %v and %v, want one copy to find all three and the other none", i, out[0].Found, out[1].Found)
		}
	}
	numbers, ids := map[string]bool{}, map[string]bool{}
	count := 0
	err := es[0].store.Events(ctx, Filter{}, func(o *EventObject) error {
		count++
		if numbers[o.Number] || ids[o.ID] {
			t.Errorf("event %s %s stored twice", o.Number, o.ID)
		}
		numbers[o.Number], ids[o.ID] = true, true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if count != 3*n {
		t.Errorf("%d events stored, want %d", count, 3*n)
	}
}

// TestPostgresOpenConcurrently: processes starting at once on an empty
// database migrate it once (the advisory lock), and all open it.
func TestPostgresOpenConcurrently(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	if _, err := OpenExisting(ctx, dsn); !errors.Is(err, ErrNoStore) {
		t.Errorf("OpenExisting on an empty database: %v, want ErrNoStore", err)
	}
	if _, err := OpenReadOnly(ctx, dsn); !errors.Is(err, ErrNoStore) {
		t.Errorf("OpenReadOnly on an empty database: %v, want ErrNoStore", err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := Open(ctx, dsn)
			if err != nil {
				t.Error(err)
				return
			}
			e.Close()
		}()
	}
	wg.Wait()
	for _, open := range []func(context.Context, string) (*Engine, error){OpenExisting, OpenReadOnly} {
		e, err := open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		e.Close()
	}
}

// TestPostgresErrorsHideThePassword: a failure to open names the database
// without its password.
func TestPostgresErrorsHideThePassword(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	bad := strings.Replace(dsn, pgtest.Password, "wrong-"+pgtest.Password, 1)
	if !strings.Contains(bad, "wrong-") {
		t.Skip("the test server's DSN has no password")
	}
	_, err := Open(ctx, bad)
	if err == nil {
		t.Fatal("Open with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), pgtest.Password) {
		t.Errorf("Open error shows the password: %v", err)
	}
	t.Log(err)
}

// TestPostgresSeedRefreshesOtherEngines: a seed through one engine bumps
// the reference version, so that another engine's cache (another process)
// starts over and finds the new record.
func TestPostgresSeedRefreshesOtherEngines(t *testing.T) {
	es := twoEngines(t, participantsSeed(0))
	ctx := context.Background()
	call := crm.BulkRequest{Kind: crm.Web, Events: []crm.Event{{RequestUniqueIdentifier: "1", AccountsReceivable: &crm.AccountIdentifier{Number: "ACR2"},
		PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2016-06-22T15:00:00", Website: "w"}}}
	res, err := es[0].CreateEvents(ctx, call)
	if err != nil || len(res.Unprocessed) != 1 || res.Unprocessed[0].ErrorCode != crm.CodeNotFound {
		t.Fatalf("before the seed: %+v %v, want ACR2 not found", res, err)
	}
	f := writeFile(t, t.TempDir(), "more.yaml", "accounts_receivable:\n  - {number: ACR2}\n")
	if _, err := es[1].Seed(ctx, f); err != nil {
		t.Fatal(err)
	}
	res, err = es[0].CreateEvents(ctx, call)
	if err != nil || len(res.Processed) != 1 {
		t.Errorf("after another engine seeded ACR2: %+v %v, want it processed", res, err)
	}
}

// TestPostgresKeyedReferralOnOtherEngine: a keyed referral stored through
// one engine, sent again to another (a replica behind a load balancer, as
// a replay or an idempotent call), is answered with the stored event, not
// refused as "already referred" by itself; other content under the same
// key is a conflict.
func TestPostgresKeyedReferralOnOtherEngine(t *testing.T) {
	es := twoEngines(t, participantsSeed(2))
	ctx := context.Background()
	call := func(e *Engine, ev crm.Event, replay bool) crm.BulkResult {
		t.Helper()
		res, err := e.CreateEvents(ctx, crm.BulkRequest{Kind: crm.Referrals, Events: []crm.Event{ev}, Run: "run1", Keys: []string{"0:2"}, Idempotent: !replay, Replay: replay})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := call(es[0], referral("r", "P000", "BY-A"), false)
	if len(first.Processed) != 1 {
		t.Fatalf("first copy = %+v", first)
	}
	for _, replay := range []bool{false, true} {
		if again := call(es[1], referral("r", "P000", "BY-A"), replay); len(again.Processed) != 1 || again.Processed[0] != first.Processed[0] {
			t.Errorf("copy on the other engine (replay %v) = %+v, want the stored %+v", replay, again, first.Processed[0])
		}
	}
	if other := call(es[1], referral("r", "P000", "BY-B"), true); len(other.Unprocessed) != 1 || other.Unprocessed[0].ErrorCode != crm.CodeReceiptConflict {
		t.Errorf("other content under the key = %+v, want a receipt conflict", other)
	}
}

// TestPostgresSchemaVersions: a database of schema 1 (before the digests'
// migration 2) is read as it is and migrated by a writer, which records
// the digests' form; a database of a newer release is refused to a reader
// and a writer.
func TestPostgresSchemaVersions(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	e, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	pool := e.store.(*pgStore).pool
	setVersion := func(v int) {
		t.Helper()
		if _, err := pool.Exec(ctx, "UPDATE crmload_schema_version SET version = $1", v); err != nil {
			t.Fatal(err)
		}
	}
	digestForm := func() (form int64) {
		t.Helper()
		if err := pool.QueryRow(ctx, "SELECT coalesce((SELECT value FROM meta WHERE key = 'receipt_digest'), 0)").Scan(&form); err != nil {
			t.Fatal(err)
		}
		return form
	}
	if f := digestForm(); f != 2 {
		t.Errorf("a new database records digests of form %d, want 2", f)
	}
	if _, err := pool.Exec(ctx, "DELETE FROM meta WHERE key = 'receipt_digest'"); err != nil {
		t.Fatal(err)
	}
	setVersion(1)
	if r, err := OpenReadOnly(ctx, dsn); err != nil {
		t.Errorf("a reader of schema 1: %v", err)
	} else {
		r.Close()
	}
	w, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("a writer of schema 1: %v", err)
	}
	w.Close()
	if f := digestForm(); f != 2 {
		t.Errorf("after migration 2 the database records digests of form %d, want 2", f)
	}
	setVersion(len(pgMigrations) + 1)
	for name, open := range openers {
		if _, err := open(ctx, dsn); err == nil || !strings.Contains(err.Error(), "newer than this crmload") {
			t.Errorf("%s of a newer release's database: %v", name, err)
		}
	}
	e.Close()
}
