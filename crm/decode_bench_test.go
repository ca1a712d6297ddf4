package crm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"
)

// benchBody is a bulk body of 1000 purchases of three product lines, as
// crmload sends them.
func benchBody(b *testing.B) []byte {
	req := BulkRequest{Kind: Purchases, Token: "T"}
	for i := range MaxBulkEvents {
		ev := Event{RequestUniqueIdentifier: fmt.Sprint(i), AccountsReceivable: &AccountIdentifier{Number: "ACR0000000077"},
			PerformedByUnit: &NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2016-06-22T15:00:00", ReferenceNumber: fmt.Sprint("INV", i),
			Description: "a purchase", UDFs: UDFs{UDFString1: "United Kingdom", UDFFloat1: "12.5"}}
		for j := range 3 {
			ev.ProductsSet = append(ev.ProductsSet, PurchaseProduct{Product: &ProductIdentifier{Code: fmt.Sprint("P", j)}, Quantity: "2", NetAmount: "10.00", VATAmount: "2.00", TotalAmount: "12.00"})
		}
		req.Events = append(req.Events, ev)
	}
	body, err := json.Marshal(req)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkReadBulkRequest: the server's hot spot (docs/DESIGN.md); the strict
// reader (its quick reader reads these bodies) against the token-by-token
// reader alone and encoding/json reading the same events, the old way.
func BenchmarkReadBulkRequest(b *testing.B) {
	body := benchBody(b)
	b.Run("strict", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := DecodeBulkRequest(Purchases, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("strict-counted", func(b *testing.B) {
		// As engine serve reads a crmload client's call: the count of
		// its events in a header, the token checked.
		opts := ReadOptions{Events: MaxBulkEvents, Authorize: func(string) error { return nil }}
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := ReadBulkRequest(Purchases, bytes.NewReader(body), opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Each event with a member that is not a parameter (ignored, named
	// in the answer): read by the quick reader too.
	ignored := bytes.ReplaceAll(body, []byte(`"description":`), []byte(`"comment":"not a parameter","description":`))
	for _, c := range []struct {
		name string
		read func(io.Reader, ReadOptions) (*BulkRequest, error)
	}{
		{"ignored-names", func(r io.Reader, o ReadOptions) (*BulkRequest, error) { return ReadBulkRequest(Purchases, r, o) }},
		{"ignored-names-token-by-token", func(r io.Reader, o ReadOptions) (*BulkRequest, error) {
			return readBulkStrict(Purchases, SchemaFor(Purchases, ""), r, o)
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			opts := ReadOptions{Events: MaxBulkEvents, Authorize: func(string) error { return nil }, Ignored: func(string) {}}
			b.SetBytes(int64(len(ignored)))
			for b.Loop() {
				if _, err := c.read(bytes.NewReader(ignored), opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("token-by-token-counted", func(b *testing.B) {
		// strict-counted by the token-by-token reader alone, as it read
		// every body before the quick reader (quickbulk.go).
		opts := ReadOptions{Events: MaxBulkEvents, Authorize: func(string) error { return nil }}
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := readBulkStrict(Purchases, SchemaFor(Purchases, ""), bytes.NewReader(body), opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var v struct {
				Token  string  `json:"token"`
				Events []Event `json:"purchase_customer_events_set"`
			}
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
