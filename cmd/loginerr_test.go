package cmd

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/crmload/crmload/crm"
)

// TestLoginSetupError: the login failures that waiting does not mend (a
// redirect, an untrusted certificate, a client-error page of a wrong base
// path) stop at once with what to do; an engine not up yet is waited for.
func TestLoginSetupError(t *testing.T) {
	tests := []struct {
		name string
		err  *crm.CallError
		want string // "": retried
	}{
		{"redirect", &crm.CallError{Status: 308, Redirect: true, Err: errors.New("the engine redirects to http://x/")}, "the engine redirects to http://x/"},
		{"untrusted certificate", &crm.CallError{Err: fmt.Errorf("post: %w", x509.UnknownAuthorityError{})}, "its TLS certificate is not one this machine trusts"},
		{"wrong host name", &crm.CallError{Err: fmt.Errorf("post: %w", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "h"})}, "give --ca-file"},
		{"404 page", &crm.CallError{Status: 404, Sent: true, Err: errors.New("the answer is not a CRM.COM response")}, "HTTP 404, with an answer that is not a CRM.COM one"},
		{"429", &crm.CallError{Status: 429, Err: errors.New("Too Many Requests")}, ""},
		{"a gateway's 408", &crm.CallError{Status: 408, Sent: true, Err: errors.New("Request Timeout")}, ""},
		{"503", &crm.CallError{Status: 503, Err: errors.New("Service Unavailable")}, ""},
		{"502 page", &crm.CallError{Status: 502, Sent: true, Err: errors.New("Bad Gateway")}, ""},
		{"no connection", &crm.CallError{Err: errors.New("connection refused")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loginSetupError(tt.err)
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("loginSetupError = %q, want %q", got, tt.want)
			}
		})
	}
}
