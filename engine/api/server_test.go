package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmload/crmload/engine"

	"github.com/crmload/crmload/crm"
)

// serveEngine serves e with the user loader:pw of organisation ACME.
func serveEngine(t *testing.T, e *engine.Engine) string {
	t.Helper()
	srv := httptest.NewServer(NewServer(e, ServerConfig{Users: map[string]string{"loader": "pw"}, Organisation: "ACME"}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func testServer(t *testing.T, cfg ServerConfig) (*engine.Engine, string) {
	t.Helper()
	e := newTestEngine(t, "../testdata/pages/seed.yaml")
	if cfg.Users == nil && !cfg.NoAuth {
		cfg.Users, cfg.Organisation = map[string]string{"loader": "pw"}, "ACME"
	}
	srv := httptest.NewUnstartedServer(NewServer(e, cfg))
	srv.Config.ReadHeaderTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	return e, srv.URL
}

// post sends body and returns the HTTP status and the envelope's status.
func post(t *testing.T, url, body string) (int, crm.Status, json.RawMessage) {
	t.Helper()
	code, st, data, _ := postFull(t, url, body)
	return code, st, data
}

func login(t *testing.T, base string) string {
	t.Helper()
	code, st, data := post(t, base+"/authentication/token", `{"username":"loader","password":"pw","organisation":"ACME"}`)
	var tok struct{ Token string }
	json.Unmarshal(data, &tok)
	if code != 200 || st.Code != "OK" || tok.Token == "" {
		t.Fatalf("login = %d %+v %s", code, st, data)
	}
	return tok.Token
}

// TestServerPageExamples sends every request example of the bulk page to
// the server and checks the page's response shape and split.
func TestServerPageExamples(t *testing.T) {
	for _, k := range crm.Kinds {
		t.Run(string(k), func(t *testing.T) {
			_, base := testServer(t, ServerConfig{})
			token := login(t, base)
			body, err := os.ReadFile(filepath.Join("../testdata/pages", string(k)+".request.json"))
			if err != nil {
				t.Fatal(err)
			}
			body = bytes.Replace(body, []byte("{{token}}"), []byte(token), 1)
			code, st, data := post(t, base+"/"+k.BulkPath(), string(body))
			var got crm.BulkResult
			if err := json.Unmarshal(data, &got); err != nil || code != 200 || st != (crm.Status{Code: "OK"}) {
				t.Fatalf("POST %s = %d %+v %s", k.BulkPath(), code, st, data)
			}
			var want crm.Response[crm.BulkResult]
			wb, _ := os.ReadFile(filepath.Join("../testdata/pages", string(k)+".response.json"))
			json.Unmarshal(wb, &want)
			if g, w := mustJSON(t, got.Unprocessed), mustJSON(t, want.Data.Unprocessed); g != w || len(got.Processed) != len(want.Data.Processed) {
				t.Errorf("response = %s\nwant the page's %s", data, wb)
			}
			for _, key := range []string{`"unprocessed_customer_events_set"`, `"processed_customer_events_set"`, `"request_unique_identifier"`, `"number"`, `"id"`} {
				if !bytes.Contains(data, []byte(key)) {
					t.Errorf("response %s lacks %s", data, key)
				}
			}
		})
	}
}

// TestServerHardening: each bad call gets the documented error, and the
// server keeps serving others.
func TestServerHardening(t *testing.T) {
	_, base := testServer(t, ServerConfig{MaxBody: 1 << 16})
	token := login(t, base)
	web := func(tok string, n int) string {
		var b strings.Builder
		fmt.Fprintf(&b, `{"token":%q,"web_customer_events_set":[`, tok)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"request_unique_identifier":"%d","accounts_receivable_identifier":{"number":"ACR0000000077"},"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-06-22T15:00:00","website":"w"}`, i)
		}
		b.WriteString("]}")
		return b.String()
	}
	tests := []struct {
		name, path, body string
		wantHTTP         int
		wantCode         string
	}{
		{"missing token", "/customer_events/bulk/web/create", web("", 1), 401, crm.CodeInvalidToken},
		{"invalid token", "/customer_events/bulk/web/create", web("NOPE", 1), 401, crm.CodeInvalidToken},
		{"wrong password", "/authentication/token", `{"username":"loader","password":"x","organisation":"ACME"}`, 401, crm.CodeAuthenticationFailed},
		{"wrong organisation", "/authentication/token", `{"username":"loader","password":"pw","organisation":"Other"}`, 401, crm.CodeAuthenticationFailed},
		{"missing organisation", "/authentication/token", `{"username":"loader","password":"pw"}`, 400, crm.CodeMandatoryMissing},
		{"malformed JSON", "/customer_events/bulk/web/create", `{"token":`, 400, crm.CodeInvalidRequest},
		{"empty events set", "/customer_events/bulk/web/create", `{"token":"` + token + `","web_customer_events_set":[],"colour":"red"}`, 400, crm.CodeMandatoryMissing},
		{"oversized body", "/customer_events/bulk/web/create", web(token, 400), 413, crm.CodeInvalidRequest},
		{"unknown kind", "/customer_events/bulk/tweets/create", `{}`, 404, crm.CodeInvalidRequest},
		{"unknown path", "/nothing/here", `{}`, 404, crm.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, st, _ := post(t, base+tt.path, tt.body)
			if code != tt.wantHTTP || st.Code != tt.wantCode || !strings.HasPrefix(st.Description, "Error:") {
				t.Errorf("POST %s = HTTP %d %+v, want %d %s", tt.path, code, st, tt.wantHTTP, tt.wantCode)
			}
		})
	}
	t.Run("1001 events", func(t *testing.T) {
		_, big := testServer(t, ServerConfig{})
		code, st, _ := post(t, big+"/customer_events/bulk/web/create", web(login(t, big), 1001))
		if code != 400 || st.Code != crm.CodeTooManyEvents {
			t.Errorf("1001 events = HTTP %d %+v, want 400 %s", code, st, crm.CodeTooManyEvents)
		}
	})
	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(base + "/customer_events/bulk/web/create?token=" + token)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET = %d, want 405", resp.StatusCode)
		}
	})
	t.Run("a client that sends its headers slowly is cut off", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, "POST /authentication/token HTTP/1.1\r\nHost: x\r\n")
		time.Sleep(400 * time.Millisecond) // past ReadHeaderTimeout
		fmt.Fprint(conn, "Content-Length: 2\r\n\r\n{}")
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		line, _ := bufio.NewReader(conn).ReadString('\n')
		if strings.Contains(line, "200") {
			t.Errorf("a slow client was served: %q", line)
		}
	})
	// After all that, the server still serves.
	code, st, _ := post(t, base+"/customer_events/bulk/web/create", web(token, 2))
	if code != 200 || st.Code != "OK" {
		t.Errorf("a good call after the bad ones = %d %+v", code, st)
	}
}

func TestServerTokens(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	_, base := testServer(t, ServerConfig{Users: map[string]string{"u": "p"}, Organisation: "O", APIKeys: []string{"KEY1"}, TokenTTL: time.Hour, Now: clock})
	body := func(tok string) string {
		return `{"token":"` + tok + `","web_customer_events_set":[{}]}`
	}
	_, _, data := post(t, base+"/authentication/token", `{"username":"u","password":"p","organisation":"O"}`)
	var tok struct{ Token string }
	json.Unmarshal(data, &tok)
	if code, _, _ := post(t, base+"/customer_events/bulk/web/create", body(tok.Token)); code != 200 {
		t.Errorf("a fresh token = %d, want 200", code)
	}
	now = now.Add(2 * time.Hour)
	if code, st, _ := post(t, base+"/customer_events/bulk/web/create", body(tok.Token)); code != 401 || st.Code != crm.CodeInvalidToken {
		t.Errorf("an expired token = %d %s, want 401 %s", code, st.Code, crm.CodeInvalidToken)
	}
	// A web API key: HTTP Basic user name, empty password.
	req, _ := http.NewRequest(http.MethodPost, base+"/authentication/web_api_key/token", strings.NewReader("{}"))
	req.SetBasicAuth("KEY1", "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var env crm.Response[struct{ Token string }]
	json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if resp.StatusCode != 200 || env.Data.Token == "" {
		t.Fatalf("web API key login = %d %+v", resp.StatusCode, env)
	}
	if code, _, _ := post(t, base+"/authentication/token/release", `{"token":"`+env.Data.Token+`"}`); code != 200 {
		t.Errorf("release = %d", code)
	}
	if code, _, _ := post(t, base+"/customer_events/bulk/web/create", body(env.Data.Token)); code != 401 {
		t.Errorf("a released token = %d, want 401", code)
	}
}

// TestClientAgainstServer: crm.Client against the served engine: login,
// the page example, release; bad credentials are an *crm.Error.
func TestClientAgainstServer(t *testing.T) {
	_, base := testServer(t, ServerConfig{})
	ctx := context.Background()
	bad, _ := crm.NewClient(base, crm.Credentials{Username: "loader", Password: "nope", Organisation: "ACME"}, crm.ClientOptions{})
	var apiErr *crm.Error
	if err := bad.Login(ctx); !asAPIError(err, &apiErr) || apiErr.Code != crm.CodeAuthenticationFailed {
		t.Errorf("Login with a bad password = %v, want %s", err, crm.CodeAuthenticationFailed)
	}
	if strings.Contains(fmt.Sprint(bad.Login(ctx)), "nope") {
		t.Error("the login error shows the password")
	}
	c, _ := crm.NewClient(base+"/", crm.Credentials{Username: "loader", Password: "pw", Organisation: "ACME"}, crm.ClientOptions{})
	body, _ := os.ReadFile("../testdata/pages/web.request.json")
	req, err := crm.DecodeBulkRequest(crm.Web, body)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.CreateEvents(ctx, *req)
	if err != nil || len(res.Processed) != 2 || len(res.Unprocessed) != 2 {
		t.Errorf("CreateEvents = %+v, %v; want the page's 2 + 2", res, err)
	}
	if err := c.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func asAPIError(err error, target **crm.Error) bool {
	e, ok := err.(*crm.Error)
	if ok {
		*target = e
	}
	return ok
}

// TestReceiptKeysOfAnyForm: over HTTP, a keyed call is idempotent whatever
// form its row keys take (a load's "F:L" or another client's): the same
// call again is answered with the events the first stored, which the
// answer says it found (crm.HeaderFound: BulkResult.Found), and a key
// presented with other content is a receipt conflict.
func TestReceiptKeysOfAnyForm(t *testing.T) {
	_, base := testServer(t, ServerConfig{})
	ctx := context.Background()
	c, _ := crm.NewClient(base, crm.Credentials{Username: "loader", Password: "pw", Organisation: "ACME"}, crm.ClientOptions{})
	body, _ := os.ReadFile("../testdata/pages/web.request.json")
	page, err := crm.DecodeBulkRequest(crm.Web, body)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctx); err != nil { // the client learns the server keeps receipts
		t.Fatal(err)
	}
	if _, err := c.CreateEvents(ctx, crm.BulkRequest{Kind: crm.Web, Events: page.Events[:1]}); err != nil {
		t.Fatal(err)
	}
	if !c.SupportsReplay() {
		t.Fatal("the client did not learn that engine serve keeps receipts")
	}
	for _, keys := range [][]string{
		{"0:2", "0:3", "0:4", "0:5"},
		{"7f0c2a1e-uuid-a", "7f0c2a1e-uuid-b", "x", "0:06"},
	} {
		req := crm.BulkRequest{Kind: crm.Web, Events: slices.Clone(page.Events), Run: "run-" + keys[0], Keys: keys}
		first, err := c.CreateEvents(ctx, req)
		if err != nil || len(first.Processed) == 0 {
			t.Fatalf("keys %q: %+v, %v", keys, first, err)
		}
		if len(first.Found) != 0 {
			t.Errorf("keys %q: found %v on the first call, want none", keys, first.Found)
		}
		var stored []int // the positions of the events the first call stored
		for i, ev := range req.Events {
			if slices.ContainsFunc(first.Processed, func(p crm.Processed) bool { return p.RequestUniqueIdentifier == ev.RequestUniqueIdentifier }) {
				stored = append(stored, i)
			}
		}
		// Sent again as a copy (idempotent: the commit finds the
		// receipts) and as a replay (found before resolving).
		for _, replay := range []bool{false, true} {
			req := req
			req.Replay = replay
			again, err := c.CreateEvents(ctx, req)
			if err != nil || !slices.Equal(again.Processed, first.Processed) {
				t.Errorf("keys %q again (replay %v): %+v, %v; want the events stored first, %+v", keys, replay, again.Processed, err, first.Processed)
			}
			if !slices.Equal(again.Found, stored) {
				t.Errorf("keys %q again (replay %v): found %v, want %v (the positions of the events stored first)", keys, replay, again.Found, stored)
			}
		}
		other := req
		other.Events = slices.Clone(page.Events)
		for i := range other.Events {
			other.Events[i].Website = "www.other.example"
		}
		res, err := c.CreateEvents(ctx, other)
		if err != nil || len(res.Processed) != 0 {
			t.Errorf("keys %q with other content: %+v, %v; want nothing stored", keys, res, err)
		}
		conflicts := 0
		for _, u := range res.Unprocessed {
			if u.ErrorCode == crm.CodeReceiptConflict {
				conflicts++
			}
		}
		if conflicts != len(first.Processed) {
			t.Errorf("keys %q with other content: %d receipt conflicts, want one per stored event (%d): %+v", keys, conflicts, len(first.Processed), res.Unprocessed)
		}
	}
}
