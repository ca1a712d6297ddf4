package engine

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/crmload/crmload/crm"
)

// TestClaimInputsConcurrent: of loads of one file started together, by
// two processes on one store, exactly one claims it.
func TestClaimInputsConcurrent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
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
func TestReceiptConflict(t *testing.T) {
	e := newTestEngine(t, "../testdata/seed/reference.yaml")
	ctx := context.Background()
	ev := crm.Event{RequestUniqueIdentifier: "r1", RewardsParticipant: &crm.ParticipantIdentifier{Number: "RP0000000010"},
		Classification: &crm.NamedIdentifier{Name: "Newsletter Signup"}, PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2016-06-22T15:00:00", Website: "www.a.com"}
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
