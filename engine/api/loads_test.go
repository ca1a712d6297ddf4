package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crmload/crmload/crm"
)

const testHash = "6b86b273ff34fce19d6b804eff5a3f5747ada4ea22f1d49c01e52ddb7875b4b8"

func claimBody(token, run, kind string, again bool) string {
	b, _ := json.Marshal(crm.ClaimLoadsParams{Token: token, Again: again, Claims: []crm.LoadClaim{{Hash: testHash, Size: "1000", Name: "/in/w3k.csv",
		Kind: kind, Run: run, RunDir: "/reports/" + run, StartedAt: "2026-11-25T15:00:00Z"}}})
	return string(b)
}

// TestLoadsMethods: the ledger methods claim in the store's ledger as the
// embedded engine does (a second run of the same content and kind gets
// the first's claim; other shards of a split coexist; a whole file after
// a shard is refused), finish sets the state, and both need a token and
// a well-formed body.
func TestLoadsMethods(t *testing.T) {
	_, base := testServer(t, ServerConfig{})
	token := login(t, base)
	claim, finish := base+"/"+crm.PathClaimLoads, base+"/"+crm.PathFinishLoads
	earlier := func(data json.RawMessage) []crm.LoadClaim {
		var res crm.ClaimLoadsResult
		if err := json.Unmarshal(data, &res); err != nil || res.Earlier == nil {
			t.Fatalf("claim answered %s (%v)", data, err)
		}
		return res.Earlier
	}

	// Authentication comes first, whatever the body.
	for _, body := range []string{claimBody("", "r1", "web", false), claimBody("nope", "r1", "web", false), `{"claims":[]}`} {
		code, st, _ := post(t, claim, body)
		if code != http.StatusUnauthorized || st.Code != crm.CodeInvalidToken {
			t.Errorf("claim without a valid token %s = %d %+v", body, code, st)
		}
	}
	if code, st, _ := post(t, finish, `{"token":"nope","run":"r1","state":"loaded"}`); code != http.StatusUnauthorized || st.Code != crm.CodeInvalidToken {
		t.Errorf("finish without a valid token = %d %+v", code, st)
	}
	if code, _, _ := post(t, claim, `{"token":"`+strings.Repeat("x", 2<<20)+`"}`); code != http.StatusRequestEntityTooLarge && code != http.StatusBadRequest {
		t.Errorf("an oversized token: %d", code)
	}

	// Bad bodies are refused with the API's errors, recording nothing.
	for body, want := range map[string]string{
		`[]`:                        crm.CodeInvalidRequest,
		`{"token":"T","claims":{}}`: crm.CodeInvalidValue,
		`{"token":"T","claims":[{"hash":"` + testHash + `"}]}`:                                                                                              crm.CodeMandatoryMissing,
		`{"token":"T","claims":[{"hash":"zz","size":1,"kind":"web","run":"r","run_dir":"/r","started_at":"2026-11-25T15:00:00Z"}]}`:                         crm.CodeInvalidValue,
		`{"token":"T","claims":[{"hash":"` + testHash + `","size":1,"kind":"web shard 9/2","run":"r","run_dir":"/r","started_at":"2026-11-25T15:00:00Z"}]}`: crm.CodeInvalidValue,
		`{"token":"T","claims":[{"hash":"` + testHash + `","size":-1,"kind":"web","run":"r","run_dir":"/r","started_at":"2026-11-25T15:00:00Z"}]}`:          crm.CodeInvalidValue,
		`{"token":"T","claims":[{"hash":"` + testHash + `","size":1,"kind":"web","run":"r","run_dir":"/r","started_at":"yesterday"}]}`:                      crm.CodeInvalidValue,
		`{"token":"T","claims":[],"again":"yes"}`: crm.CodeInvalidValue,
		`{"token":"T","token":"T","claims":[]}`:   crm.CodeInvalidRequest,
		`{"token":"T","claims":[]} {}`:            crm.CodeInvalidRequest,
	} {
		body = strings.ReplaceAll(body, `"T"`, `"`+token+`"`)
		code, st, _ := post(t, claim, body)
		if code != http.StatusBadRequest || st.Code != want {
			t.Errorf("claim %s = %d %+v, want 400 %s", body, code, st, want)
		}
	}
	for _, body := range []string{`{"token":"T","state":"loaded"}`, `{"token":"T","run":"r1","state":"done"}`, `{"token":"T","run":"r1","state":7}`} {
		body = strings.ReplaceAll(body, `"T"`, `"`+token+`"`)
		if code, st, _ := post(t, finish, body); code != http.StatusBadRequest {
			t.Errorf("finish %s = %d %+v, want 400", body, code, st)
		}
	}

	// An empty claim claims nothing (the client's probe).
	if code, st, data := post(t, claim, `{"token":"`+token+`","claims":[]}`); code != 200 || st.Code != "OK" || len(earlier(data)) != 0 {
		t.Fatalf("empty claim = %d %+v %s", code, st, data)
	}
	if code, st, data := post(t, claim, claimBody(token, "r1", crm.ShardKind("web", 1, 2), false)); code != 200 || len(earlier(data)) != 0 {
		t.Fatalf("first claim = %d %+v %s", code, st, data)
	}
	// The run's own claim again (a resume, a retried call): no conflict.
	if code, _, data := post(t, claim, claimBody(token, "r1", crm.ShardKind("web", 1, 2), false)); code != 200 || len(earlier(data)) != 0 {
		t.Fatalf("the run's own claim again = %d %s", code, data)
	}
	if code, _, data := post(t, claim, claimBody(token, "r2", crm.ShardKind("web", 2, 2), false)); code != 200 || len(earlier(data)) != 0 {
		t.Fatalf("the other shard = %d %s", code, data)
	}
	if code, st, data := post(t, finish, `{"token":"`+token+`","run":"r1","state":"loaded"}`); code != 200 || st.Code != "OK" {
		t.Fatalf("finish = %d %+v %s", code, st, data)
	}
	_, _, data := post(t, claim, claimBody(token, "r3", crm.ShardKind("web", 1, 2), false))
	if e := earlier(data); len(e) != 1 || e[0].Run != "r1" || e[0].State != "loaded" || e[0].Size != "1000" || e[0].RunDir != "/reports/r1" || e[0].Name != "/in/w3k.csv" {
		t.Fatalf("shard 1/2 again: earlier = %+v", e)
	}
	_, _, data = post(t, claim, claimBody(token, "r4", "web", false))
	if e := earlier(data); len(e) != 2 {
		t.Fatalf("the whole file after its shards: earlier = %+v", e)
	}
	// Another kind of events from the same file is no conflict.
	if _, _, data = post(t, claim, claimBody(token, "r5", "referrals", false)); len(earlier(data)) != 0 {
		t.Fatalf("another kind: earlier = %s", data)
	}
	// With again, the claim is recorded: a later load finds it too.
	if code, _, data := post(t, claim, claimBody(token, "r6", "web", true)); code != 200 || len(earlier(data)) != 0 {
		t.Fatalf("again = %d %s", code, data)
	}
	_, _, data = post(t, claim, claimBody(token, "r7", "web", false))
	if e := earlier(data); len(e) != 3 {
		t.Fatalf("after --again: earlier = %+v", e)
	}
}

// TestLoadsClient: crm.Client's ClaimLoads and FinishLoads against engine
// serve, and ErrNoLedgerMethods from a server without them.
func TestLoadsClient(t *testing.T) {
	ctx := context.Background()
	_, base := testServer(t, ServerConfig{})
	c, err := crm.NewClient(base, crm.Credentials{Username: "loader", Password: "pw", Organisation: "ACME"}, crm.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctx); err != nil {
		t.Fatal(err)
	}
	if !c.SupportsReplay() {
		t.Fatal("engine serve does not advertise receipts")
	}
	cl := crm.LoadClaim{Hash: testHash, Size: "12", Name: "a.csv", Kind: "web", Run: "r1", RunDir: "/r/r1", StartedAt: time.Now().UTC().Format(time.RFC3339Nano)}
	if e, err := c.ClaimLoads(ctx, []crm.LoadClaim{cl}, false); err != nil || len(e) != 0 {
		t.Fatalf("claim = %v, %v", e, err)
	}
	if err := c.FinishLoads(ctx, "r1", "stopped"); err != nil {
		t.Fatal(err)
	}
	cl.Run = "r2"
	if e, err := c.ClaimLoads(ctx, []crm.LoadClaim{cl}, false); err != nil || len(e) != 1 || e[0].Run != "r1" || e[0].State != "stopped" {
		t.Fatalf("claim again = %+v, %v", e, err)
	}

	// A server that does not know the methods (an earlier engine serve).
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderReceipts, "1")
		if strings.HasSuffix(r.URL.Path, "/authentication/token") {
			writeOK(w, map[string]string{"token": "t"})
			return
		}
		writeError(w, http.StatusNotFound, &crm.Error{Code: crm.CodeInvalidRequest, Message: "Unknown Method", Reason: "The method does not exist."})
	}))
	defer old.Close()
	c2, _ := crm.NewClient(old.URL, crm.Credentials{Username: "u", Password: "p", Organisation: "o"}, crm.ClientOptions{})
	if _, err := c2.ClaimLoads(ctx, nil, false); !errors.Is(err, crm.ErrNoLedgerMethods) {
		t.Fatalf("an earlier server: %v", err)
	}
}
