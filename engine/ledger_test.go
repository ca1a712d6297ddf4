package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmload/crmload/crm"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// TestClaimInputsConcurrent: of loads of one file started together, by
// two processes on one store, exactly one claims it.
func TestClaimInputsConcurrent(t *testing.T) { forStores(t, testClaimInputsConcurrent) }

func testClaimInputsConcurrent(t *testing.T, store string) {
	ctx := context.Background()
	path := storeDB(t, store)
	var engines []*Engine
	for range 2 {
		e, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		engines = append(engines, e)
	}
	var wg sync.WaitGroup
	refused := make([]bool, 8)
	for i := range refused {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := InputClaim{Hash: "h", Size: 1, Name: "a.csv", Kind: "web", Run: string(rune('a' + i)), RunDir: "/r", StartedAt: time.Now()}
			earlier, err := engines[i%2].ClaimInputs(ctx, []InputClaim{c}, false)
			if err != nil {
				t.Error(err)
			}
			refused[i] = len(earlier) > 0
		}()
	}
	wg.Wait()
	won := 0
	for _, r := range refused {
		if !r {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d of 8 concurrent claims of one input won, want 1", won)
	}
}

// TestReceiptConflict: a keyed call whose receipt was stored from other
// content is refused per event, plain and as a replay; the same content
// is answered with the stored event.
func TestReceiptConflict(t *testing.T) { forStores(t, testReceiptConflict) }

func testReceiptConflict(t *testing.T, store string) {
	e := newStoreEngine(t, store, "../testdata/seed/reference.yaml")
	ctx := context.Background()
	ev := webEvent("r1")
	req := crm.BulkRequest{Kind: crm.Web, Events: []crm.Event{ev}, Run: "run", Keys: []string{"0:2"}, Idempotent: true}
	first, err := e.CreateEvents(ctx, req)
	if err != nil || len(first.Processed) != 1 {
		t.Fatalf("first call: %+v %v", first, err)
	}
	again, err := e.CreateEvents(ctx, req)
	if err != nil || len(again.Processed) != 1 || again.Processed[0].ID != first.Processed[0].ID {
		t.Fatalf("same content again: %+v %v, want the stored event", again, err)
	}
	other := req
	other.Events = []crm.Event{ev}
	other.Events[0].Website = "www.b.com"
	for _, replay := range []bool{false, true} {
		other.Replay = replay
		res, err := e.CreateEvents(ctx, other)
		if err != nil || len(res.Processed) != 0 || len(res.Unprocessed) != 1 || res.Unprocessed[0].ErrorCode != crm.CodeReceiptConflict {
			t.Errorf("other content (replay %v): %+v %v, want a receipt conflict", replay, res, err)
		}
	}
}

// nearlyFullEngine is an engine whose store has room for two more pages.
func nearlyFullEngine(t *testing.T) *Engine {
	e := newTestEngine(t, "../testdata/seed/reference.yaml")
	s := e.store.(*sqliteStore)
	var pages int64
	if err := sqlitex.ExecuteTransient(s.writer, "PRAGMA page_count", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { pages = stmt.ColumnInt64(0); return nil },
	}); err != nil {
		t.Fatal(err)
	}
	if err := sqlitex.ExecuteTransient(s.writer, fmt.Sprintf("PRAGMA max_page_count = %d", pages+2), nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// bigWebRequest is a call of 1000 web events, more than two pages.
func bigWebRequest() crm.BulkRequest {
	req := crm.BulkRequest{Kind: crm.Web}
	for i := range 1000 {
		req.Events = append(req.Events, crm.Event{RequestUniqueIdentifier: fmt.Sprint(i), RewardsParticipant: &crm.ParticipantIdentifier{Number: "RP0000000010"},
			Classification: &crm.NamedIdentifier{Name: "Newsletter Signup"}, PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"},
			PerformedOn: "2016-06-22T15:00:00", Website: strings.Repeat("w", 200)})
	}
	return req
}

// TestStoreFull: a write the store has no room for is a *StoreFullError
// (permanent: a load stops instead of retrying), and nothing of it stays.
func TestStoreFull(t *testing.T) {
	e := nearlyFullEngine(t)
	ctx := context.Background()
	_, err := e.CreateEvents(ctx, bigWebRequest())
	var full *StoreFullError
	if !errors.As(err, &full) || !full.Permanent() || !strings.Contains(err.Error(), "the store's disk is full") {
		t.Fatalf("CreateEvents on a full store: %v, want a StoreFullError", err)
	}
	n := 0
	e.Events(ctx, Filter{}, func([]byte) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d events stored by a call that failed", n)
	}
}
