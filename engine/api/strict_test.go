package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crmload/crmload/engine"

	"github.com/crmload/crmload/crm"
)

// Issue 18: engine serve reads requests exactly. Each test sends the
// request over HTTP to a served engine and checks the status, the
// envelope, and what the engine stored.

// storedWeb returns the stored web events, by request order.
func storedWeb(t *testing.T, e *engine.Engine) []engine.EventObject {
	t.Helper()
	var out []engine.EventObject
	err := e.Events(context.Background(), engine.Filter{Kind: string(crm.Web)}, func(obj []byte) error {
		var o engine.EventObject
		if err := json.Unmarshal(obj, &o); err != nil {
			return err
		}
		out = append(out, o)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// webEvent is a valid web event of the seeded engine, with extra
// parameters (`"description":"A"`) spliced in.
func webEventJSON(id, extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return `{"request_unique_identifier":"` + id + `","accounts_receivable_identifier":{"number":"ACR0000000077"},"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-06-22T15:00:00","website":"www.crm.com"` + extra + `}`
}

// postFull posts body and returns the status, envelope, data and headers.
func postFull(t *testing.T, url, body string) (int, crm.Status, json.RawMessage, http.Header) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env crm.Response[json.RawMessage]
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("POST %s: the answer is not an envelope: %v", url, err)
	}
	return resp.StatusCode, env.Status, env.Data, resp.Header
}

// sendRaw posts body with headers and returns the status and envelope.
func sendRaw(t *testing.T, url string, body []byte, header http.Header) (int, crm.Status) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env crm.Response[json.RawMessage]
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("POST %s: the answer is not an envelope: %v", url, err)
	}
	return resp.StatusCode, env.Status
}

// TestServeRefusesDuplicatesAndInexactNames: issue 18 points 1 and 2, as
// issue 14 point 1 reconciles them. A duplicated events set used to be
// merged (the stored event kept the first copy's description and
// udf_string_1); a second token was honoured: a name given twice is a 400
// naming it, and nothing is stored. Names in another case were matched:
// they are not the parameter; like any name that is not a parameter of the
// method they are ignored (the real API ignores unknown parameters), named
// in the X-Crmload-Ignored-Parameters header, and never applied.
func TestServeRefusesDuplicatesAndInexactNames(t *testing.T) {
	e, base := testServer(t, ServerConfig{})
	token := login(t, base)
	url := base + "/customer_events/bulk/web/create"
	tests := []struct {
		name, body string
		wantMsg    string
	}{
		{"duplicated events set", `{"token":"` + token + `","web_customer_events_set":[` + webEventJSON("1", `"description":"A","udf_string_1":"U"`) + `],"web_customer_events_set":[` + webEventJSON("1", "") + `]}`,
			"Error:Parameter web_customer_events_set Is Given More Than Once."},
		{"valid token then a bogus one", `{"token":"` + token + `","token":"BOGUS","web_customer_events_set":[` + webEventJSON("1", "") + `]}`,
			"Error:Parameter token Is Given More Than Once."},
		{"duplicated nested key", `{"token":"` + token + `","web_customer_events_set":[` + webEventJSON("1", `"performed_by_unit_identifier":{"name":"Admin Unit"}`) + `]}`,
			"Error:Parameter web_customer_events_set[0].performed_by_unit_identifier Is Given More Than Once."},
		{"duplicated unknown name", `{"token":"` + token + `","web_customer_events_set":[` + webEventJSON("1", `"Website":"a","Website":"b"`) + `]}`,
			"Error:Parameter web_customer_events_set[0].Website Is Given More Than Once."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, st := sendRaw(t, url, []byte(tt.body), nil)
			if code != http.StatusBadRequest || st.Code != crm.CodeInvalidRequest || !strings.HasPrefix(st.Description, tt.wantMsg) {
				t.Errorf("POST = %d %+v, want 400 %s %q", code, st, crm.CodeInvalidRequest, tt.wantMsg)
			}
			if got := storedWeb(t, e); len(got) != 0 {
				t.Errorf("stored %d events, want none", len(got))
			}
		})
	}
	// The first token is checked the moment it is read: a bogus one is a
	// 401 before the second copy is seen.
	code, st := sendRaw(t, url, []byte(`{"token":"BOGUS","token":"`+token+`","web_customer_events_set":[`+webEventJSON("1", "")+`]}`), nil)
	if code != http.StatusUnauthorized || st.Code != crm.CodeInvalidToken || len(storedWeb(t, e)) != 0 {
		t.Errorf("a bogus token, then the valid one = %d %+v, want 401 %s and nothing stored", code, st, crm.CodeInvalidToken)
	}
	// Other spellings: ignored, named, not applied. Website in place of
	// website leaves the event without its mandatory website.
	spellings := `{"token":"` + token + `","Token":"x","web_customer_events_set":[` +
		webEventJSON("1", `"REWARDS_PARTICIPANT_IDENTIFIER":{"number":"RP0000000010"},"UDF_STRING_1":"x","description":"spelt"`) + `,` +
		strings.Replace(webEventJSON("2", ""), `"website"`, `"Website"`, 1) + `]}`
	code, st, data, h := postFull(t, url, spellings)
	wantHeader := "Token, web_customer_events_set[0].REWARDS_PARTICIPANT_IDENTIFIER, web_customer_events_set[0].UDF_STRING_1, web_customer_events_set[1].Website"
	var res crm.BulkResult
	json.Unmarshal(data, &res)
	if code != 200 || st.Code != crm.StatusOK || h.Get(HeaderIgnored) != wantHeader {
		t.Fatalf("names in other cases = %d %+v, %s %q; want 200 naming them %q", code, st, HeaderIgnored, h.Get(HeaderIgnored), wantHeader)
	}
	if len(res.Processed) != 1 || len(res.Unprocessed) != 1 || res.Unprocessed[0].ErrorCode != crm.CodeMandatoryMissing || !strings.Contains(res.Unprocessed[0].ErrorDescription, "website") {
		t.Errorf("result = %+v, want event 1 processed and event 2 refused for its missing website", res)
	}
	got := storedWeb(t, e)
	if len(got) != 1 || got[0].Description != "spelt" || got[0].UDFString1 != "" || got[0].RewardsParticipant != nil {
		t.Errorf("stored %+v, want one event without the misspelt parameters' values", got)
	}
	t.Run("login names", func(t *testing.T) {
		for body, want := range map[string]string{
			`{"USERNAME":"loader","password":"pw","organisation":"ACME"}`:                "Mandatory parameter username is missing",
			`{"username":"loader","Password":"pw","organisation":"ACME"}`:                "Mandatory parameter password is missing",
			`{"username":"x","username":"loader","password":"pw","organisation":"ACME"}`: "Parameter username Is Given More Than Once",
		} {
			code, st := sendRaw(t, base+"/authentication/token", []byte(body), nil)
			if code != http.StatusBadRequest || !strings.Contains(st.Description, want) {
				t.Errorf("login %s = %d %+v, want 400 %q", body, code, st, want)
			}
		}
	})
	t.Run("GET parameter given twice", func(t *testing.T) {
		resp, err := http.Get(base + "/customer_events/financial_achievements/list?token=BOGUS&token=" + token)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET with two tokens = %d, want 400", resp.StatusCode)
		}
	})
	// What is sent once, exactly named, is stored as sent.
	code, st = sendRaw(t, url, []byte(`{"token":"`+token+`","web_customer_events_set":[`+webEventJSON("1", `"description":"B","udf_string_1":"V"`)+`]}`), nil)
	got = storedWeb(t, e)
	if code != 200 || st.Code != crm.StatusOK || len(got) != 2 || got[1].Description != "B" || got[1].UDFString1 != "V" {
		t.Errorf("a well-formed call = %d %+v, stored %+v; want one more event with description B and udf_string_1 V", code, st, got)
	}
}

// TestServeEncodings: issue 18 point 3. A gzip body used to answer 400
// "invalid character '\x1f'", a BOM 400 "invalid character 'ï'".
func TestServeEncodings(t *testing.T) {
	e, base := testServer(t, ServerConfig{})
	token := login(t, base)
	url := base + "/customer_events/bulk/web/create"
	body := []byte(`{"token":"` + token + `","web_customer_events_set":[` + webEventJSON("1", `"description":"BOM"`) + `]}`)

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(body)
	zw.Close()
	for _, enc := range []string{"gzip", "br", "deflate, gzip"} {
		code, st := sendRaw(t, url, gz.Bytes(), http.Header{"Content-Encoding": {enc}})
		if code != http.StatusUnsupportedMediaType || st.Code != crm.CodeInvalidRequest || !strings.Contains(st.Description, "Is Not Supported") {
			t.Errorf("Content-Encoding %s = %d %+v, want 415 %s", enc, code, st, crm.CodeInvalidRequest)
		}
	}
	if got := storedWeb(t, e); len(got) != 0 {
		t.Fatalf("stored %d events from compressed bodies, want none", len(got))
	}
	code, st := sendRaw(t, url, []byte(`{"token":"`+token+`","web_customer_events_set":[{}]}`), http.Header{"Content-Encoding": {"identity"}})
	if code != 200 {
		t.Errorf("Content-Encoding identity = %d %+v, want 200", code, st)
	}

	code, st = sendRaw(t, url, append([]byte("\xef\xbb\xbf"), body...), nil)
	got := storedWeb(t, e)
	if code != 200 || st.Code != crm.StatusOK || len(got) != 1 || got[0].Description != "BOM" {
		t.Errorf("a body with a UTF-8 byte order mark = %d %+v, stored %+v; want it read past the mark", code, st, got)
	}
	code, st = sendRaw(t, url, append([]byte("\xfe\xff"), body...), nil)
	if code != 400 || !strings.Contains(st.Description, "The Request Body Starts With a UTF-16 Byte Order Mark") {
		t.Errorf("a UTF-16 byte order mark = %d %+v, want 400 saying so", code, st)
	}
	code, st = sendRaw(t, url, bytes.Replace(body, []byte("BOM"), []byte("\xff"), 1), nil)
	if code != 400 || !strings.Contains(st.Description, "invalid UTF-8") {
		t.Errorf("invalid UTF-8 = %d %+v, want 400 saying so", code, st)
	}
	if got := storedWeb(t, e); len(got) != 1 {
		t.Errorf("stored %d events, want the BOM body's one", len(got))
	}
}

// TestServeBasePath: issue 18 point 4. A client configured with a real
// deployment's layout (http://host/crmapi/rest/v2) got "Unknown Method
// crmapi/rest/v2/authentication/token".
func TestServeBasePath(t *testing.T) {
	e := newTestEngine(t, "../testdata/pages/seed.yaml")
	for _, bp := range []string{"/crmapi/rest/v2", "crmapi/rest/v2/", "/"} {
		t.Run(bp, func(t *testing.T) {
			srv := httptest.NewServer(NewServer(e, ServerConfig{Users: map[string]string{"loader": "pw"}, Organisation: "ACME", BasePath: bp}))
			defer srv.Close()
			api := srv.URL + CleanBasePath(bp)
			c, err := crm.NewClient(api, crm.Credentials{Username: "loader", Password: "pw", Organisation: "ACME"}, crm.ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			before := len(storedWeb(t, e))
			ev := crm.Event{RequestUniqueIdentifier: "1", AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"},
				PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2016-06-22T15:00:00", Website: "www.crm.com", Description: bp}
			res, err := c.CreateEvents(context.Background(), crm.BulkRequest{Kind: crm.Web, Events: []crm.Event{ev}})
			if err != nil || len(res.Processed) != 1 {
				t.Fatalf("CreateEvents through %s = %+v, %v", api, res, err)
			}
			if got := storedWeb(t, e); len(got) != before+1 || got[len(got)-1].Description != bp {
				t.Errorf("stored %+v, want one more event described %q", got, bp)
			}
			if err := c.Close(context.Background()); err != nil {
				t.Errorf("release through %s: %v", api, err)
			}
			if bp == "/" {
				return
			}
			// Outside the base path: nothing is served.
			for _, path := range []string{"/authentication/token", "/crmapi/rest/v2x/authentication/token", "/crmapi/authentication/token"} {
				code, st := sendRaw(t, srv.URL+path, []byte(`{"username":"loader","password":"pw","organisation":"ACME"}`), nil)
				if code != http.StatusNotFound || st.Code != crm.CodeInvalidRequest || !strings.Contains(st.Description, "(the methods are served under /crmapi/rest/v2/)") {
					t.Errorf("POST %s = %d %+v, want 404 naming the base path", path, code, st)
				}
			}
		})
	}
}

// TestServeTokenFirst: the token is checked the moment it is read: a call
// with a bad token is refused without its events being read, and events
// sent before the token may not exceed PreAuthBody.
func TestServeTokenFirst(t *testing.T) {
	e, base := testServer(t, ServerConfig{PreAuthBody: 4 << 10})
	token := login(t, base)
	url := base + "/customer_events/bulk/web/create"
	// A bad token, then a body longer than MaxBody that the client is
	// still sending: answered 401 at once (a server that read the body
	// first would answer 413).
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		io.WriteString(pw, `{"token":"BAD","web_customer_events_set":[`)
		chunk := strings.Repeat("{},", 1<<14)
		for range (40 << 20) / len(chunk) {
			if _, err := io.WriteString(pw, chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	resp, err := http.Post(url, "application/json", pr)
	if err != nil {
		t.Fatal(err)
	}
	var env crm.Response[json.RawMessage]
	json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	pr.Close()
	if resp.StatusCode != http.StatusUnauthorized || env.Status.Code != crm.CodeInvalidToken {
		t.Errorf("a bad token before an endless body = %d %+v, want 401 %s", resp.StatusCode, env.Status, crm.CodeInvalidToken)
	}
	var events []string
	for i := range 40 {
		events = append(events, webEventJSON(string(rune('a'+i%26))+strings.Repeat("x", i), ""))
	}
	last := `{"web_customer_events_set":[` + strings.Join(events, ",") + `],"token":"` + token + `"}`
	code, st := sendRaw(t, url, []byte(last), nil)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(st.Description, "No Valid Token Within the First 4096 Bytes") {
		t.Errorf("40 events before the token = %d %+v, want 413", code, st)
	}
	small := `{"web_customer_events_set":[` + events[0] + `],"token":"` + token + `"}`
	if code, st := sendRaw(t, url, []byte(small), nil); code != 200 {
		t.Errorf("one event before the token = %d %+v, want 200", code, st)
	}
	first := `{"token":"` + token + `","web_customer_events_set":[` + strings.Join(events, ",") + `]}`
	if code, st := sendRaw(t, url, []byte(first), nil); code != 200 {
		t.Errorf("40 events after the token = %d %+v, want 200", code, st)
	}
	if got := storedWeb(t, e); len(got) != 41 {
		t.Errorf("stored %d events, want 41", len(got))
	}
}

// TestServeTokenFirstSmallPreAuth: with a limit of bytes before the token
// smaller than what the quick reader reads at a time (crm/quickbulk.go),
// a call whose token comes first, or ends just before the limit, is read
// in full: the read that passes the limit brings its bytes with "no token
// yet", and once the token is accepted the body reads on. (The quick
// reader took that error for the body's end: 413 for valid calls.)
func TestServeTokenFirstSmallPreAuth(t *testing.T) {
	for _, pre := range []int64{1 << 10, 5000} {
		_, base := testServer(t, ServerConfig{PreAuthBody: pre})
		token := login(t, base)
		url := base + "/customer_events/bulk/web/create"
		var events []string
		for i := range 40 {
			events = append(events, webEventJSON(string(rune('a'+i%26))+strings.Repeat("x", i), ""))
		}
		first := `{"token":"` + token + `","web_customer_events_set":[` + strings.Join(events, ",") + `]}`
		if code, st := sendRaw(t, url, []byte(first), nil); code != http.StatusOK {
			t.Errorf("PreAuthBody %d, token first, body of %d bytes: %d %s, want 200", pre, len(first), code, st.Description)
		}
		if pre != 5000 {
			continue
		}
		// The token ends inside the read that passes the limit (bytes
		// 4097 to 5001).
		head := `{"web_customer_events_set":[` + events[0] + `],"fields_set":"`
		tail := `","token":"` + token + `"}`
		body := head + strings.Repeat("z", int(pre)-len(head)-len(tail)-100) + tail + strings.Repeat(" ", 500)
		if code, st := sendRaw(t, url, []byte(body), nil); code != http.StatusOK {
			t.Errorf("PreAuthBody %d, token ending %d bytes before it: %d %s, want 200", pre, 100, code, st.Description)
		}
	}
}
