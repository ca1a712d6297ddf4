package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/crmload/crmload/crm"
)

func seedEvents(t *testing.T, store string) *Engine {
	t.Helper()
	e := newStoreEngine(t, store, "../testdata/seed/reference.yaml")
	web := func(id, account, on string) crm.Event {
		return crm.Event{RequestUniqueIdentifier: id, AccountsReceivable: &crm.AccountIdentifier{Number: account},
			Classification:  &crm.NamedIdentifier{Name: "Newsletter Signup"},
			PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: on, Website: "www.crm.com"}
	}
	ctx := context.Background()
	if _, err := e.CreateEvents(ctx, crm.BulkRequest{Kind: crm.Web, Events: []crm.Event{
		web("1", "ACR0000000077", "2016-06-22T15:00:00"),
		web("2", "ACR0000000020", "2016-06-23T15:00:00"),
		web("3", "ACR0000000077", "2016-06-24T15:00:00"),
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateEvents(ctx, crm.BulkRequest{Kind: crm.Referrals, Events: []crm.Event{{
		RequestUniqueIdentifier: "4", PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2016-06-25T15:00:00",
		ReferredRewardsParticipant:   &crm.ParticipantIdentifier{Number: "RP0000000017"},
		ReferredByRewardsParticipant: &crm.ParticipantIdentifier{Number: "RP0000000010"},
	}}}); err != nil {
		t.Fatal(err)
	}
	return e
}

func listNumbers(t *testing.T, e *Engine, f Filter) []string {
	t.Helper()
	var out []string
	err := e.Events(context.Background(), f, func(obj []byte) error {
		var o EventObject
		if err := json.Unmarshal(obj, &o); err != nil {
			return err
		}
		out = append(out, o.Number)
		return nil
	})
	if err != nil {
		t.Fatalf("Events(%+v): %v", f, err)
	}
	return out
}

func TestEventsFilters(t *testing.T) { forStores(t, testEventsFilters) }

func testEventsFilters(t *testing.T, store string) {
	e := seedEvents(t, store)
	tests := []struct {
		name   string
		filter Filter
		want   string
	}{
		{"all", Filter{}, "[1 2 3 4]"},
		{"kind", Filter{Kind: "referrals"}, "[4]"},
		{"account", Filter{Account: "ACR0000000077"}, "[1 3]"},
		{"participant", Filter{Participant: "RP0000000017"}, "[4]"},
		{"classification", Filter{Classification: "Newsletter Signup"}, "[1 2 3]"},
		{"since", Filter{Since: "2016-06-23T15:00:00"}, "[2 3 4]"},
		{"until", Filter{Until: "2016-06-23T15:00:00"}, "[1 2]"},
		{"state", Filter{State: "CANCELLED"}, "[]"},
		{"limit", Filter{Limit: 2}, "[1 2]"},
		{"combined", Filter{Kind: "web", Account: "ACR0000000077", Since: "2016-06-23T00:00:00"}, "[3]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := listNumbers(t, e, tt.filter); fmt.Sprint(got) != tt.want {
				t.Errorf("Events(%+v) = %v, want %s", tt.filter, got, tt.want)
			}
		})
	}
	if err := e.Events(context.Background(), Filter{Since: "22/06/2016"}, func([]byte) error { return nil }); err == nil {
		t.Error("Events with a malformed --since succeeded, want an error")
	}
}

func TestCancel(t *testing.T) { forStores(t, testCancel) }

func testCancel(t *testing.T, store string) {
	e := seedEvents(t, store)
	ctx := context.Background()
	obj, err := e.Cancel(ctx, "2")
	if err != nil {
		t.Fatalf("Cancel(2): %v", err)
	}
	var o EventObject
	if err := json.Unmarshal(obj, &o); err != nil {
		t.Fatal(err)
	}
	if o.LifeCycleState != "CANCELLED" || o.Number != "2" {
		t.Errorf("Cancel(2) = %s, want event 2 CANCELLED", obj)
	}
	if got := listNumbers(t, e, Filter{State: "CANCELLED"}); fmt.Sprint(got) != "[2]" {
		t.Errorf("cancelled events = %v, want [2]", got)
	}
	var apiErr *crm.Error
	if _, err := e.Cancel(ctx, o.ID); !errors.As(err, &apiErr) || apiErr.Code != crm.CodeInvalidLifeCycleState {
		t.Errorf("Cancel of a cancelled event (by id) error = %v, want %s", err, crm.CodeInvalidLifeCycleState)
	}
	if _, err := e.Cancel(ctx, "99"); !errors.As(err, &apiErr) || apiErr.Code != crm.CodeEventNotFound {
		t.Errorf("Cancel(99) error = %v, want %s", err, crm.CodeEventNotFound)
	}
	if _, err := e.Event(ctx, "ABCDEF"); !errors.As(err, &apiErr) || apiErr.Code != crm.CodeEventNotFound {
		t.Errorf("Event(unknown id) error = %v, want %s", err, crm.CodeEventNotFound)
	}
}

// TestDryRun: a dry-run engine gives the results a real one would, and
// stores nothing.
func TestDryRun(t *testing.T) { forStores(t, testDryRun) }

func testDryRun(t *testing.T, store string) {
	e := newStoreEngine(t, store, "../testdata/seed/reference.yaml")
	e.DryRun = true
	ctx := context.Background()
	res, err := e.CreateEvents(ctx, crm.BulkRequest{Kind: crm.Referrals, Events: []crm.Event{{
		RequestUniqueIdentifier: "r", PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2016-06-25T15:00:00",
		ReferredRewardsParticipant:   &crm.ParticipantIdentifier{Number: "RP0000000017"},
		ReferredByRewardsParticipant: &crm.ParticipantIdentifier{Number: "RP0000000010"},
	}, {
		RequestUniqueIdentifier: "x", PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2016-06-25T15:00:00",
		ReferredRewardsParticipant:   &crm.ParticipantIdentifier{Number: "RP0000000004"},
		ReferredByRewardsParticipant: &crm.ParticipantIdentifier{Number: "RP0000000010"},
	}}})
	if err != nil || len(res.Processed) != 1 || len(res.Unprocessed) != 1 {
		t.Fatalf("dry-run CreateEvents = %+v, %v; want one processed, one refused", res, err)
	}
	if got := listNumbers(t, e, Filter{}); len(got) != 0 {
		t.Errorf("dry run stored events %v", got)
	}
	p := lookupOne(t, e, entParticipant, "number", "RP0000000017")
	if p.get(entParticipant, "referred_by") != "" {
		t.Error("dry run stored a referral")
	}
	e.DryRun = false
	if res, _ := e.CreateEvents(ctx, crm.BulkRequest{Kind: crm.Referrals, Events: []crm.Event{{
		RequestUniqueIdentifier: "r", PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2016-06-25T15:00:00",
		ReferredRewardsParticipant:   &crm.ParticipantIdentifier{Number: "RP0000000017"},
		ReferredByRewardsParticipant: &crm.ParticipantIdentifier{Number: "RP0000000010"},
	}}}); len(res.Processed) != 1 {
		t.Errorf("after a dry run, the real referral = %+v, want it processed", res)
	}
}

// TestReplay: a call sent again after an ambiguous failure gets the events
// the first one stored (same ids and numbers) and stores only the rest;
// a replayed referral is not refused as "already referred" by itself.
func TestReplay(t *testing.T) { forStores(t, testReplay) }

func testReplay(t *testing.T, store string) {
	e := newStoreEngine(t, store, "../testdata/seed/reference.yaml")
	ctx := context.Background()
	ref := crm.Event{RequestUniqueIdentifier: "r", PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2016-06-25T15:00:00",
		ReferredRewardsParticipant:   &crm.ParticipantIdentifier{Number: "RP0000000017"},
		ReferredByRewardsParticipant: &crm.ParticipantIdentifier{Number: "RP0000000010"}}
	web := crm.Event{RequestUniqueIdentifier: "w", AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"},
		PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2016-06-22T15:00:00", Website: "w"}
	first, err := e.CreateEvents(ctx, crm.BulkRequest{Kind: crm.Referrals, Events: []crm.Event{ref}, Run: "run1", Keys: []string{"0:2"}})
	if err != nil || len(first.Processed) != 1 {
		t.Fatalf("first call = %+v, %v", first, err)
	}
	again, err := e.CreateEvents(ctx, crm.BulkRequest{Kind: crm.Referrals, Events: []crm.Event{ref}, Run: "run1", Keys: []string{"0:2"}, Replay: true})
	if err != nil || len(again.Processed) != 1 || again.Processed[0] != first.Processed[0] {
		t.Errorf("replay = %+v, %v; want the first call's event %+v", again, err, first.Processed[0])
	}
	// A replay of a call that stored nothing stores it.
	res, err := e.CreateEvents(ctx, crm.BulkRequest{Kind: crm.Web, Events: []crm.Event{web}, Run: "run1", Keys: []string{"0:3"}, Replay: true})
	if err != nil || len(res.Processed) != 1 {
		t.Fatalf("replay of an unstored call = %+v, %v", res, err)
	}
	res2, _ := e.CreateEvents(ctx, crm.BulkRequest{Kind: crm.Web, Events: []crm.Event{web}, Run: "run1", Keys: []string{"0:3"}, Replay: true})
	if res2.Processed[0] != res.Processed[0] {
		t.Errorf("second replay = %+v, want %+v", res2.Processed[0], res.Processed[0])
	}
	if got := listNumbers(t, e, Filter{}); len(got) != 2 {
		t.Errorf("engine holds events %v, want 2", got)
	}
	// Without Replay, the same keys are stored again (a new load's choice).
	if res3, _ := e.CreateEvents(ctx, crm.BulkRequest{Kind: crm.Web, Events: []crm.Event{web}, Run: "run1", Keys: []string{"0:3"}}); res3.Processed[0] == res.Processed[0] {
		t.Error("a call that is no replay was answered from receipts")
	}
}
