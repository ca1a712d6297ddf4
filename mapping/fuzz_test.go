package mapping

import (
	"strings"
	"testing"
)

// FuzzCompile feeds arbitrary specs to the compiler: it must return a
// mapper or an error, never panic, and a mapper must map a row without
// panicking.
func FuzzCompile(f *testing.F) {
	f.Add(purchaseBase)
	f.Add(purchaseBase + "group_by: InvoiceNo\nfilter: Quantity > 0\n")
	f.Add("kind: web\nfields:\n  accounts_receivable_identifier: {number: {expr: 'x +'}}\n") // bad expression
	f.Add("kind: purchases\nfields: [1, 2]\n")                                               // fields not a mapping
	f.Add("kind: purchases\nfields:\n  accounts_receivable_identifier: {access_token_identifier: {identifier: CustomerID, pass_code: Country}}\n")
	f.Add("kind: purchases\ncall: {intended_currency_identifier: 3}\n")            // call parameter not a mapping
	f.Add("kind: purchases\nproducts_set: {from: items}\nfields: {x: {map: 1}}\n") // map not a mapping
	f.Add("kind: web\nfields:\n  udf_date_1: {column: InvoiceDate, format: '%'}\n")
	f.Fuzz(func(t *testing.T, src string) {
		for _, header := range [][]string{retailHeader, nil} {
			spec, err := ParseSpec("spec.yaml", []byte(src))
			if err != nil {
				return
			}
			m, err := Compile(spec, Options{File: "in.csv", Header: header})
			if err != nil {
				if !strings.HasPrefix(err.Error(), "spec.yaml") {
					t.Fatalf("error %q does not name the spec", err)
				}
				continue
			}
			rec := &Record{Line: 2, Values: []string{"1", "BRZ", "x", "2", "2016-06-22", "1.5", "17850.0", "UK"}}
			if header == nil {
				rec = &Record{Line: 1, Object: map[string]any{"InvoiceNo": "1", "items": []any{map[string]any{"a": "b"}}}}
			}
			m.Push(rec, func(Item) {})
			m.Flush(func(Item) {})
		}
	})
}
