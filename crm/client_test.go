package crm_test

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmload/crmload/engine/api"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
)

// tlsServer serves a seeded engine over HTTPS with a self-signed
// certificate, with a web API key; it returns the URL and a CA file for it.
func tlsServer(t *testing.T) (string, string) {
	t.Helper()
	e, err := engine.Open(context.Background(), filepath.Join(t.TempDir(), "e.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if _, err := e.Seed(context.Background(), "../testdata/seed/reference.yaml"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(api.NewServer(e, api.ServerConfig{APIKeys: []string{"KEY-1"}}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL, ca
}

func webEvent() crm.BulkRequest {
	return crm.BulkRequest{Kind: crm.Web, Events: []crm.Event{{RequestUniqueIdentifier: "1",
		AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"}, PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"},
		PerformedOn: "2016-06-22T15:00:00", Website: "w"}}}
}

func TestClientTLSAndAPIKey(t *testing.T) {
	url, ca := tlsServer(t)
	ctx := context.Background()
	key := crm.Credentials{APIKey: "KEY-1"}

	// Verification is on: a self-signed server is refused without its CA.
	c, err := crm.NewClient(url, key, crm.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctx); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Login to a self-signed server = %v, want a certificate error", err)
	}
	// With its CA file, the web API key logs in and events are created.
	for _, opts := range []crm.ClientOptions{{CAFile: ca}, {InsecureSkipVerify: true}} {
		c, err := crm.NewClient(url, key, opts)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.CreateEvents(ctx, webEvent())
		if err != nil || len(res.Processed) != 1 {
			t.Errorf("CreateEvents with %+v = %+v, %v; want one event created", opts, res, err)
		}
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	// A wrong key is refused; the key is in no message.
	bad, _ := crm.NewClient(url, crm.Credentials{APIKey: "KEY-2"}, crm.ClientOptions{CAFile: ca})
	if err := bad.Login(ctx); err == nil || strings.Contains(err.Error(), "KEY-2") {
		t.Errorf("Login with a wrong key = %v, want a refusal that does not show the key", err)
	}
	if _, err := crm.NewClient(url, key, crm.ClientOptions{CAFile: filepath.Join(t.TempDir(), "none.pem")}); err == nil {
		t.Error("NewClient with a missing CA file succeeded")
	}
	if _, err := crm.NewClient("ftp://host", key, crm.ClientOptions{}); err == nil {
		t.Error("NewClient of an ftp URL succeeded")
	}
}

// TestNewClientBaseURL: a query string or a fragment would swallow the
// methods' paths ("Unknown Method ."): NewClient refuses them, saying
// why, without echoing the query (it may hold a secret) or a password.
func TestNewClientBaseURL(t *testing.T) {
	tests := []struct{ url, want string }{
		{"http://127.0.0.1:8080/crmapi/rest/v2?token=S3CRET", "engine URL http://127.0.0.1:8080/crmapi/rest/v2: it has a query string (after ?)"},
		{"http://127.0.0.1:8080?", "it has a query string"},
		{"https://u:pw@host/crmapi/rest/v2#top", "engine URL https://host/crmapi/rest/v2: it has a fragment (after #)"},
		{"https://host/x#", "it has a fragment"},
		{"ftp://host/x", "want http:// or https://"},
		{"http:///x", "no host"},
		{"https://ops:S3CRET@host/crmapi/rest/v2", "engine URL https://host/crmapi/rest/v2: it holds a user name or password (user:password@), which crmload does not use: give --username"},
	}
	for _, tt := range tests {
		_, err := crm.NewClient(tt.url, crm.Credentials{}, crm.ClientOptions{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewClient(%q) = %v, want an error containing %q", tt.url, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "S3CRET") || strings.Contains(err.Error(), "pw@") {
			t.Errorf("NewClient(%q) = %v: the error shows a secret", tt.url, err)
		}
	}
	for _, ok := range []string{"http://127.0.0.1:8080", "http://127.0.0.1:8080/", "https://host/crmapi/rest/v2"} {
		if _, err := crm.NewClient(ok, crm.Credentials{}, crm.ClientOptions{}); err != nil {
			t.Errorf("NewClient(%q) = %v", ok, err)
		}
	}
}

// TestClientReportsIgnoredParameters: engine serve names the parameters it
// ignored (issue 14); the client reports each distinct list once.
func TestClientReportsIgnoredParameters(t *testing.T) {
	e, err := engine.Open(context.Background(), filepath.Join(t.TempDir(), "e.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if _, err := e.Seed(context.Background(), "../testdata/seed/reference.yaml"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.NewServer(e, api.ServerConfig{Users: map[string]string{"u": "p"}, Organisation: "O"}))
	t.Cleanup(srv.Close)
	var reported []string
	c, err := crm.NewClient(srv.URL, crm.Credentials{Username: "u", Password: "p", Organisation: "O"}, crm.ClientOptions{OnIgnored: func(names string) { reported = append(reported, names) }})
	if err != nil {
		t.Fatal(err)
	}
	req := webEvent()
	req.Events[0].ReferenceNumber = "R1" // a purchase's parameter, not a web event's
	for range 2 {
		res, err := c.CreateEvents(context.Background(), req)
		if err != nil || len(res.Processed) != 1 {
			t.Fatalf("CreateEvents = %+v, %v", res, err)
		}
	}
	if want := []string{"web_customer_events_set[0].reference_number"}; !slices.Equal(reported, want) {
		t.Errorf("reported %q, want %q once", reported, want)
	}
}

// TestClientConcurrentLoginsShareOne guards the login of many senders at
// once: one round trip is made and every caller gets its token; a caller
// whose context ends stops waiting for it.
func TestClientConcurrentLoginsShareOne(t *testing.T) {
	var logins atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/token") {
			logins.Add(1)
			<-release
			fmt.Fprint(w, `{"data":{"token":"T1"},"status":{"code":"OK"}}`)
			return
		}
		fmt.Fprint(w, `{"data":{"processed":[],"unprocessed":[]},"status":{"code":"OK"}}`)
	}))
	t.Cleanup(srv.Close)
	c, err := crm.NewClient(srv.URL, crm.Credentials{APIKey: "K"}, crm.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}

	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Login(gone); !errors.Is(err, context.Canceled) {
		t.Errorf("Login with an ended context = %v, want context.Canceled", err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := c.CreateEvents(context.Background(), webEvent())
			errs <- err
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them all wait for the one login
	close(release)
	for range 8 {
		if err := <-errs; err != nil {
			t.Errorf("CreateEvents = %v, want nil", err)
		}
	}
	if got := logins.Load(); got != 1 || c.Logins() != 1 {
		t.Errorf("%d login round trips (client counts %d), want 1", got, c.Logins())
	}
}

// TestRedirectsNotFollowed: a login answered with a redirect (to plain
// HTTP, another origin) does not send the password there: the client
// stops with an error that names where it points and is permanent.
func TestRedirectsNotFollowed(t *testing.T) {
	var got atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusTeapot)
	}))
	defer elsewhere.Close()
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, elsewhere.URL+r.URL.Path, code)
			}))
			defer srv.Close()
			c, err := crm.NewClient(srv.URL, crm.Credentials{Username: "u", Password: "S3cret", Organisation: "O"}, crm.ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Login(context.Background())
			var ce *crm.CallError
			if !errors.As(err, &ce) || !ce.Redirect || !ce.Permanent() || ce.Sent || !strings.Contains(err.Error(), "redirects to "+elsewhere.URL+"/authentication/token") {
				t.Errorf("Login = %v; want a permanent redirect error naming where it points", err)
			}
			if n := got.Load(); n != 0 {
				t.Errorf("the other origin got %d requests", n)
			}
		})
	}
}
