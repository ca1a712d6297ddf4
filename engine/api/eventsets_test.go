package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
)

// A finished call's event set, kept for the next call, comes back zero:
// what the first call's events held is not found in the next one's.
func TestServerEventSetsComeBackZero(t *testing.T) {
	s := &Server{}
	reused := 0
	for range 200 {
		evs := s.eventSet(100)
		if cap(evs) == 128 {
			reused++
			for i := range evs[:cap(evs)] {
				if evs[:cap(evs)][i].Description != "" || evs[:cap(evs)][i].AccountsReceivable != nil {
					t.Fatalf("a kept set's event %d holds %+v", i, evs[:cap(evs)][i])
				}
			}
		} else {
			evs = make([]crm.Event, 0, 128)
		}
		evs = evs[:100] // as the readers fill a set: from its start
		for i := range evs {
			evs[i].Description = "first call"
			evs[i].AccountsReceivable = &crm.AccountIdentifier{Number: "ACR1"}
		}
		s.keepEventSet(evs)
	}
	if reused == 0 {
		t.Error("no set was ever kept for a later call")
	}
}

// Over HTTP, keyed calls (the sets sized from X-Crmload-Keys and kept):
// events stored by a call after one with descriptions have none. (The
// readers write each event over a zero Event, so this would hold for a
// set kept uncleared too; the test above checks the clearing, which keeps
// nothing of a finished call alive.)
func TestServerKeyedCallsAfterOthers(t *testing.T) {
	e, base := testServer(t, ServerConfig{})
	token := login(t, base)
	call := func(n int, run string, desc string, strict bool) {
		t.Helper()
		var evs, keys []string
		for i := range n {
			ev := fmt.Sprintf(`{"request_unique_identifier":"%s-%d","accounts_receivable_identifier":{"number":"ACR0000000020"},"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-06-22T15:00:00","website":"www.crm.com"`, run, i)
			if desc != "" {
				ev += fmt.Sprintf(`,"description":%q,"udf_string_1":%q`, desc, desc)
			}
			evs = append(evs, ev+"}")
			keys = append(keys, fmt.Sprintf("0:%d", i+2))
		}
		body := fmt.Sprintf(`{"token":%q,"web_customer_events_set":[%s]}`, token, strings.Join(evs, ","))
		if strict {
			// A name that is no parameter before the token: the quick
			// reader gives up and the token-by-token reader reads the
			// call, into a set of its own.
			body = `{"not_a_parameter":1,` + body[1:]
		}
		r, _ := http.NewRequest(http.MethodPost, base+"/customer_events/bulk/web/create", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set(HeaderRun, run)
		r.Header.Set(HeaderKeys, strings.Join(keys, ","))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Data crm.BulkResult `json:"data"`
		}
		json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(env.Data.Processed) != n {
			t.Fatalf("call %s: %d, %d processed; want 200, %d", run, resp.StatusCode, len(env.Data.Processed), n)
		}
	}
	for round := range 6 {
		call(200, fmt.Sprintf("described%d", round), "from a call before", round%2 == 0)
		call(200, fmt.Sprintf("bare%d", round), "", round%3 == 0)
	}
	described := 0
	err := e.Events(context.Background(), engine.Filter{Kind: "web"}, func(obj []byte) error {
		if strings.Contains(string(obj), "from a call before") {
			described++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if described != 6*200 {
		t.Errorf("%d events stored with a description, want %d (the described calls' only)", described, 6*200)
	}
}
