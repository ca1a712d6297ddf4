package loader

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/mapping"
)

// refBatches is how batches were cut before the batcher wrote events in
// their calls' places: the same ids and sizes must make the same calls.
func refBatches(evs []event, size, maxBytes int) [][]string {
	var out [][]string
	var cur []string
	n := 0
	ids := map[string]bool{}
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
			cur, n = nil, 0
			clear(ids)
		}
	}
	for _, ev := range evs {
		if ids[ev.item.RequestID] || n+ev.size > maxBytes {
			flush()
		}
		cur = append(cur, ev.item.RequestID)
		n += ev.size
		ids[ev.item.RequestID] = true
		if len(cur) == size {
			flush()
		}
	}
	flush()
	return out
}

// TestBatcherPlaces feeds the batcher as the reader does (an alloc for
// each item mapped; items that fail or are settled without a call leave
// their place written and unused; now and then an event made elsewhere)
// and checks that it cuts the calls the old batch stage cut, that each
// alloc is a zero Event, that a call's Events are its events in order and
// in place, and that no call's Events change from when it is sent to when
// it returns. With odd seeds the calls' arrays are recycled as the
// pipeline recycles them: a call returns (its array given back) at a
// random later point, as the senders would.
func TestBatcherPlaces(t *testing.T) {
	for seed := range uint64(600) {
		rng := rand.New(rand.NewPCG(seed, 7))
		size := 1 + rng.IntN(6)
		maxBytes := 1 + rng.IntN(40)
		out := make(chan batch, 1000)
		var arrays *recycled[crm.Event]
		if seed%2 == 1 {
			arrays = newRecycled[crm.Event](size, 3)
		}
		b := newBatcher(size, maxBytes, out, nil, arrays)
		var added []event
		want := map[string]string{} // request id -> the event's description
		var got [][]string
		var inFlight []batch
		check := func(bt batch, when string) {
			for i := range bt.events {
				ev := &bt.events[i]
				if ev.Description != want[ev.RequestUniqueIdentifier] || ev.UDFString9 != "written" {
					t.Fatalf("seed %d: a call's event %q reads %q %q %s, want %q: written over after it was sent", seed, ev.RequestUniqueIdentifier, ev.Description, ev.UDFString9, when, want[ev.RequestUniqueIdentifier])
				}
			}
		}
		// receive takes the calls sent so far; then calls return, oldest
		// first, each checked before its array is given back.
		receive := func(all bool) {
			for more := true; more; {
				select {
				case bt := <-out:
					var ids []string
					for i, ev := range bt.evs {
						ids = append(ids, ev.item.RequestID)
						if ev.item.Event != &bt.events[i] {
							t.Fatalf("seed %d: event %d of a call is not in its place in the call's Events", seed, i)
						}
					}
					if len(bt.events) != len(bt.evs) || cap(bt.events) != len(bt.evs) {
						t.Fatalf("seed %d: a call of %d events has Events of len %d cap %d", seed, len(bt.evs), len(bt.events), cap(bt.events))
					}
					check(bt, "when sent")
					got = append(got, ids)
					inFlight = append(inFlight, bt)
				default:
					more = false
				}
			}
			for len(inFlight) > 0 && (all || rng.IntN(3) == 0) {
				check(inFlight[0], "when it returned")
				arrays.give(inFlight[0].events)
				inFlight = inFlight[1:]
			}
		}
		for i := range 60 {
			id := fmt.Sprintf("R%d", rng.IntN(40))
			desc := fmt.Sprintf("event %d", i)
			var ev *crm.Event
			if rng.IntN(8) == 0 {
				ev = &crm.Event{} // made elsewhere: copied into its place
			} else {
				ev = b.alloc()
				if !reflect.ValueOf(*ev).IsZero() {
					t.Fatalf("seed %d: alloc %d gave %+v, want a zero Event", seed, i, *ev)
				}
			}
			ev.RequestUniqueIdentifier, ev.Description = id, desc
			ev.UDFString9 = "written"
			if rng.IntN(5) == 0 {
				continue // failed, filtered, or settled without a call
			}
			if _, dup := want[id]; dup {
				continue // ids stay unique among the events kept, to check by id
			}
			want[id] = desc
			e := event{item: mapping.Item{RequestID: id, Event: ev}, size: 1 + rng.IntN(10)}
			added = append(added, e)
			b.add(e)
			receive(false)
		}
		b.flush()
		receive(true)
		if ref := refBatches(added, size, maxBytes); !reflect.DeepEqual(got, ref) {
			t.Fatalf("seed %d: batches %v, want %v", seed, got, ref)
		}
	}
}

// TestBulkCallCopiesOtherBatches: a batch whose events are not in one
// place (one made by hand, or split oddly) is sent as a copy of them; a
// call's keys (one shared string) are key()'s.
func TestBulkCallCopiesOtherBatches(t *testing.T) {
	r := &run{inputs: []*input{{mapper: newTestMapper(t)}}}
	evs := []event{
		{item: mapping.Item{RequestID: "a", Event: &crm.Event{RequestUniqueIdentifier: "a"}, Records: []*mapping.Record{{Line: 2}}}},
		{item: mapping.Item{RequestID: "b", Event: &crm.Event{RequestUniqueIdentifier: "b"}, Records: []*mapping.Record{{Line: 3}}}, file: 1},
		{item: mapping.Item{RequestID: "c", Event: &crm.Event{RequestUniqueIdentifier: "c"}, Records: []*mapping.Record{{Line: 123456789}}}, file: 12},
	}
	for _, bt := range []batch{{evs: evs}, {evs: evs, events: make([]crm.Event, 3)}} {
		c := r.newBulkCall(bt)
		for i, ev := range evs {
			if c.req.Keys[i] != key(ev.file, ev.item) {
				t.Errorf("newBulkCall's key %d = %q, want key()'s %q", i, c.req.Keys[i], key(ev.file, ev.item))
			}
		}
		if len(c.req.Events) != 3 || c.req.Events[0].RequestUniqueIdentifier != "a" || c.req.Events[2].RequestUniqueIdentifier != "c" {
			t.Errorf("newBulkCall of events made elsewhere sends %+v, want copies of a, b and c", c.req.Events)
		}
	}
}

func newTestMapper(t *testing.T) *mapping.Mapper {
	t.Helper()
	spec, err := mapping.ParseSpec("test.yaml", []byte(stageSpec))
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.Compile(spec, mapping.Options{File: "t.csv", Header: []string{"id", "account", "performed_on", "reference", "product", "quantity", "net", "vat", "total"}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
