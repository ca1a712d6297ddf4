package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmload/crmload/crm"
	"golang.org/x/crypto/bcrypt"
)

// fakeClock is a clock tests advance by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestServeFailedLogins: failed logins are limited per user and per
// address: past the burst, even the right password waits (429 with
// Retry-After) until the bucket refills.
func TestServeFailedLogins(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	hash, _ := bcrypt.GenerateFromPassword([]byte("hashed-pw"), bcrypt.MinCost)
	_, base := testServer(t, ServerConfig{Users: map[string]string{"loader": "pw"}, PasswordHashes: map[string][]byte{"h": hash},
		Organisation: "ACME", LoginRate: 1, LoginBurst: 3, Now: clock.Now})
	loginAs := func(user, pw string) (int, crm.Status) {
		return sendRaw(t, base+"/authentication/token", []byte(`{"username":"`+user+`","password":"`+pw+`","organisation":"ACME"}`), nil)
	}
	if code, _ := loginAs("h", "hashed-pw"); code != 200 {
		t.Fatalf("a user of the users file (bcrypt) = %d, want 200", code)
	}
	for i := range 3 {
		if code, st := loginAs("loader", "wrong"); code != http.StatusUnauthorized {
			t.Fatalf("failed login %d = %d %+v, want 401", i+1, code, st)
		}
	}
	if code, st := loginAs("loader", "pw"); code != http.StatusTooManyRequests || !strings.Contains(st.Description, "Too Many Failed Logins") {
		t.Errorf("the right password after 3 failures = %d %+v, want 429", code, st)
	}
	clock.Advance(1100 * time.Millisecond)
	if code, st := loginAs("loader", "pw"); code != 200 {
		t.Errorf("the right password a second later = %d %+v, want 200", code, st)
	}
	// Unknown user names count against the address only, which is
	// still limited.
	for range 3 {
		loginAs(fmt.Sprintf("nobody%d", time.Now().UnixNano()), "x")
	}
	if code, _ := loginAs("h", "hashed-pw"); code != http.StatusTooManyRequests {
		t.Errorf("after failures for unknown users from this address = %d, want 429", code)
	}
}

// TestServeClientRate: a client over its rate gets 429 with Retry-After;
// the client (crm.Client, the loader) retries on it.
func TestServeClientRate(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	_, base := testServer(t, ServerConfig{ClientRate: 1, ClientBurst: 2, Now: clock.Now})
	codes := []int{}
	var retryAfter string
	for range 3 {
		resp, err := http.Post(base+"/authentication/token/release", "application/json", strings.NewReader(`{"token":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		retryAfter = resp.Header.Get("Retry-After")
	}
	if fmt.Sprint(codes) != "[200 200 429]" || retryAfter != "1" {
		t.Errorf("three calls at a rate of 1/s, burst 2 = %v (Retry-After %q), want [200 200 429] (Retry-After 1)", codes, retryAfter)
	}
	clock.Advance(time.Second)
	if code, _, _ := post(t, base+"/authentication/token/release", `{"token":"x"}`); code != 200 {
		t.Errorf("a second later = %d, want 200", code)
	}
}

// TestServeSlowBody: a client that stops sending its body is cut off at
// the body deadline (BodyTimeout plus the bytes allowed at MinBodyRate):
// before the token, PreAuthBody bytes, so seconds, not minutes.
func TestServeSlowBody(t *testing.T) {
	_, base := testServer(t, ServerConfig{BodyTimeout: 100 * time.Millisecond, MinBodyRate: 1 << 20, PreAuthBody: 1 << 10})
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST /customer_events/bulk/web/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"web_customer_events_set\":[")
	// The server answers on its own: no sleep here, only a safety net.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	var env crm.Response[json.RawMessage]
	json.NewDecoder(resp.Body).Decode(&env)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(env.Status.Description, "The Request Body Was Not Sent in Time") {
		t.Errorf("a stalled body = %d %+v, want 408", resp.StatusCode, env.Status)
	}
}

// TestServeConnectionLimit: past the limit, a connection waits to be
// accepted until one closes; the waiting client is then served.
func TestServeConnectionLimit(t *testing.T) {
	e := newTestEngine(t, "../testdata/pages/seed.yaml")
	srv := httptest.NewUnstartedServer(NewServer(e, ServerConfig{NoAuth: true}))
	srv.Listener = LimitListener(srv.Listener, 1, 0)
	srv.Start()
	defer srv.Close()
	hold, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(hold, "POST /authentication/token/release HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\n{\"token\":\"x\"}")
	if resp, err := http.ReadResponse(bufio.NewReader(hold), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the first connection: %v %v", resp, err)
	}
	// The one slot is held (keep-alive): a second client is not accepted...
	done := make(chan int)
	go func() {
		resp, err := http.Post(srv.URL+"/authentication/token/release", "application/json", strings.NewReader(`{"token":"x"}`))
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case code := <-done:
		t.Fatalf("a second connection was served (%d) while the limit of 1 was held", code)
	case <-time.After(200 * time.Millisecond):
		// Nothing happened, as it must not: a negative check cannot be
		// had without a wait, and a slow machine can only make it pass.
	}
	// ...until the first closes.
	hold.Close()
	if code := <-done; code != 200 {
		t.Errorf("the waiting client = %d, want 200", code)
	}
}

// TestServeTokenLimit: tokens are random, kept hashed, and bounded in number.
func TestServeTokenLimit(t *testing.T) {
	_, base := testServer(t, ServerConfig{MaxTokens: 2})
	a, b := login(t, base), login(t, base)
	if a == b || len(a) != 32 {
		t.Fatalf("tokens %q and %q: want two different 32-digit tokens", a, b)
	}
	c := login(t, base) // forgets the oldest, a
	body := func(tok string) string { return `{"token":"` + tok + `","web_customer_events_set":[{}]}` }
	for tok, want := range map[string]int{a: 401, b: 200, c: 200} {
		if code, _, _ := post(t, base+"/customer_events/bulk/web/create", body(tok)); code != want {
			t.Errorf("token %s = %d, want %d", tok[:4], code, want)
		}
	}
}

// TestServeConnectionsPerClient: one address cannot take every slot: its
// connections past the per-client limit are closed at once, and a client
// from another address is served meanwhile.
func TestServeConnectionsPerClient(t *testing.T) {
	e := newTestEngine(t, "../testdata/pages/seed.yaml")
	srv := httptest.NewUnstartedServer(NewServer(e, ServerConfig{NoAuth: true}))
	srv.Listener = LimitListener(srv.Listener, 4, 2)
	srv.Start()
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	dialFrom := func(ip string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return d.Dial("tcp", addr)
	}
	release := `POST /authentication/token/release HTTP/1.1` + "\r\nHost: x\r\nContent-Length: 13\r\n\r\n" + `{"token":"x"}`
	// Two connections from 127.0.0.1 are served and kept open (keep-alive).
	for range 2 {
		c, err := dialFrom("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, release)
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection from 127.0.0.1: %v %v", resp, err)
		}
	}
	// A third from the same address is closed unanswered.
	third, err := dialFrom("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	fmt.Fprint(third, release)
	third.SetReadDeadline(time.Now().Add(30 * time.Second)) // a safety net: the close comes at once
	if resp, err := http.ReadResponse(bufio.NewReader(third), nil); err == nil {
		t.Errorf("a third connection from one address was served: %d", resp.StatusCode)
	}
	// Another address still gets in.
	other, err := dialFrom("127.0.0.2")
	if err != nil {
		t.Skipf("no 127.0.0.2 here: %v", err)
	}
	defer other.Close()
	fmt.Fprint(other, release)
	if resp, err := http.ReadResponse(bufio.NewReader(other), nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("a client from another address: %v %v", resp, err)
	}
}

// TestServeKeepsOpenOnlyShownConnections: the connection of a request
// that showed neither a live token nor valid credentials is closed after
// its answer (a client without credentials could otherwise hold every
// slot, idle, with one cheap request each); a login that succeeds and a
// call with a live token keep theirs open.
func TestServeKeepsOpenOnlyShownConnections(t *testing.T) {
	_, base := testServer(t, ServerConfig{})
	call := func(t *testing.T, conn net.Conn, br *bufio.Reader, path, body string) *http.Response {
		t.Helper()
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
		conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // a safety net
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: no answer: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	dial := func(t *testing.T) (net.Conn, *bufio.Reader) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn, bufio.NewReader(conn)
	}
	closed := func(conn net.Conn, br *bufio.Reader) bool {
		conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // the close comes at once
		_, err := br.ReadByte()
		return err == io.EOF
	}
	for _, tt := range []struct{ name, path, body string }{
		{"a release of no token", "/authentication/token/release", `{}`},
		{"a failed login", "/authentication/token", `{"username":"loader","password":"wrong","organisation":"ACME"}`},
		{"a call with a bad token", "/customer_events/bulk/web/create", `{"token":"BOGUS","web_customer_events_set":[{}]}`},
		{"an unknown method", "/nowhere", `{}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, br := dial(t)
			if resp := call(t, conn, br, tt.path, tt.body); !resp.Close {
				t.Errorf("answered %d without Connection: close", resp.StatusCode)
			}
			if !closed(conn, br) {
				t.Error("the connection was left open")
			}
		})
	}
	t.Run("a login, then a call with its token", func(t *testing.T) {
		conn, br := dial(t)
		resp := call(t, conn, br, "/authentication/token", `{"username":"loader","password":"pw","organisation":"ACME"}`)
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("a login = %d, Connection: close %v; want 200, kept open", resp.StatusCode, resp.Close)
		}
		token := login(t, base)
		resp = call(t, conn, br, "/customer_events/bulk/web/create", `{"token":"`+token+`","web_customer_events_set":[{}]}`)
		if resp.StatusCode != 200 || resp.Close {
			t.Errorf("a call with a live token = %d, Connection: close %v; want 200, kept open", resp.StatusCode, resp.Close)
		}
		// The same connection, a bad token: closed after all.
		if resp := call(t, conn, br, "/customer_events/bulk/web/create", `{"token":"BOGUS","web_customer_events_set":[{}]}`); !resp.Close {
			t.Errorf("a bad token on a kept connection answered %d without Connection: close", resp.StatusCode)
		}
	})
}
