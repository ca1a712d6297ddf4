package crm

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzMarshalEvents: a bulk body's events (appendEvents) are written as json.Marshal
// writes them (a server decodes them; a digest of the body's bytes would
// not change), and an event json.Marshal cannot write fails the body
// with json.Marshal's error.
func FuzzMarshalEvents(f *testing.F) {
	f.Add([]byte("\x05hello\x01\x01\x01\x02"), uint8(3))
	f.Add([]byte("\x01\x04\x05x1.5\x02\x03\x04"), uint8(2))
	f.Add([]byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		events := make([]Event, n%5)
		for i := range events {
			(&eventFiller{data: data[min(len(data), i):]}).fill(reflect.ValueOf(&events[i]).Elem())
		}
		got, err := appendEvents(nil, events)
		want, wantErr := json.Marshal(events)
		if len(events) == 0 {
			want = []byte("[]")
		}
		switch {
		case (err == nil) != (wantErr == nil):
			t.Fatalf("appendEvents error %v; json.Marshal's %v", err, wantErr)
		case err == nil && !bytes.Equal(got, want):
			t.Fatalf("appendEvents =\n%s\njson.Marshal =\n%s", got, want)
		}
	})
}

// TestMarshalEventsNil: a request without events sends an empty list.
func TestMarshalEventsNil(t *testing.T) {
	b, err := BulkRequest{Kind: Web, Token: "T"}.MarshalJSON()
	if err != nil || string(b) != `{"token":"T","web_customer_events_set":[]}` {
		t.Errorf("MarshalJSON = %s, %v", b, err)
	}
	if _, err := (BulkRequest{Kind: Web, Events: []Event{{Amount: "not a number"}}}).MarshalJSON(); err == nil {
		t.Error("an event with an invalid amount was written")
	}
}

// TestMarshalReservesBounded: a call of a few large events does not size
// the buffer of a call of many small ones after it by its own events.
func TestMarshalReservesBounded(t *testing.T) {
	big := make([]Event, 2)
	for i := range big {
		big[i] = Event{RequestUniqueIdentifier: strings.Repeat("x", 1<<20)}
	}
	if _, err := (BulkRequest{Kind: Web, Events: big}).MarshalJSON(); err != nil {
		t.Fatal(err)
	}
	small := make([]Event, 1000)
	for i := range small {
		small[i] = Event{RequestUniqueIdentifier: "r", Website: "w"}
	}
	b, err := BulkRequest{Kind: Web, Events: small}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if cap(b) > maxGuess+64<<10 {
		t.Errorf("a call of 1000 small events reserved %d bytes after one of two 1 MiB events, want at most %d", cap(b), maxGuess+64<<10)
	}
}
