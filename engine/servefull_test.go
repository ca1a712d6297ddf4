package engine_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
	"github.com/crmload/crmload/engine/api"
)

// TestServeStoreFull: engine serve answers a call its full store could
// not take with 507, which the client takes as permanent (no retries).
func TestServeStoreFull(t *testing.T) {
	e := engine.NearlyFullEngine(t)
	srv := httptest.NewServer(api.NewServer(e, api.ServerConfig{Users: map[string]string{"u": "p"}, Organisation: "O", TokenTTL: time.Hour}))
	defer srv.Close()
	c, err := crm.NewClient(srv.URL, crm.Credentials{Username: "u", Password: "p", Organisation: "O"}, crm.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateEvents(context.Background(), engine.BigWebRequest())
	var callErr *crm.CallError
	if !errors.As(err, &callErr) || callErr.Status != http.StatusInsufficientStorage || !callErr.Permanent() {
		t.Fatalf("a call into a full store: %v, want a permanent 507", err)
	}
}
