// Package crm holds the CRM.COM customer-events vocabulary, the bottom of
// crmload's import graph: every other package imports it and it imports
// none of them.
//
// In the load pipeline (read → map → validate → batch → send → report) it
// is what the mapping produces and what is sent: event kinds and their
// parameters per API version (kind.go, schema.go, version.go), events and
// identifiers (event.go, identifier.go), the call-level and per-event
// checks run before anything is sent (validate.go), the bulk request and
// response envelopes and error codes (envelope.go, errors.go), the digest
// that keys load receipts (digest.go), and the HTTP client of a remote
// CRM.COM or engine serve (client.go). For engine serve it also holds the
// strict, streaming reader of request bodies (decode.go, bodyreader.go,
// codec.go).
package crm
