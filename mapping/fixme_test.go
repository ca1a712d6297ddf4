package mapping

import (
	"strings"
	"testing"
)

// TestPlaceholders: validate names every value crmload init left FIXME at
// once, in the order of the file, and a FIXME inside a constant is data.
func TestPlaceholders(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want []string // "" : compiles
	}{
		{"one date format", purchaseBase + "columns:\n  InvoiceDate: {date: FIXME}\n",
			[]string{`spec.yaml:13: columns: InvoiceDate: the date format is still FIXME: choose the day/month order`}},
		{"one parameter", strings.Replace(purchaseBase, "net_amount: UnitPrice", "net_amount: FIXME", 1),
			[]string{`spec.yaml:10: products_set.net_amount: still FIXME: name the column that holds it`}},
		{"a value's format", strings.Replace(purchaseBase, "performed_on: InvoiceDate", "performed_on: {column: InvoiceDate, format: \"%d/FIXME\"}", 1),
			[]string{`spec.yaml:5: performed_on.format: the date format is still FIXME`}},
		{"a column type", purchaseBase + "columns:\n  Quantity: FIXME\n",
			[]string{`spec.yaml:13: columns: Quantity: the type is still FIXME`}},
		{"every one, in the file's order", "columns:\n  InvoiceDate: { date: FIXME }\n" +
			strings.NewReplacer("{ number: CustomerID }", "{ number: FIXME }", "vat_amount: { const: 0 }", "vat_amount: FIXME").Replace(purchaseBase) +
			"request_id: FIXME\n",
			[]string{
				"spec.yaml: 4 values are still FIXME, the placeholders crmload init left to choose",
				"\n  spec.yaml:2: columns: InvoiceDate: choose the day/month order",
				"\n  spec.yaml:5: accounts_receivable_identifier.number: name the column",
				"\n  spec.yaml:13: products_set.vat_amount: name the column",
				"\n  spec.yaml:14: request_id: name the column",
			}},
		{"a constant that says FIXME", strings.Replace(purchaseBase, "{ const: Admin Unit }", "{ const: FIXME later }", 1), nil},
		{"a constant FIXME", strings.Replace(purchaseBase, "{ const: Admin Unit }", "{ const: FIXME }", 1), nil},
		{"a map to FIXME", strings.Replace(purchaseBase, "performed_on: InvoiceDate", "performed_on: InvoiceDate\n  udf_string_1: { column: Country, map: { XX: FIXME } }", 1), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileSpec(t, tt.spec, retailHeader)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Compile = %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Compile = nil, want %q", tt.want)
			}
			msg := err.Error()
			at := 0
			for _, w := range tt.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("Compile = %v\nwant, in this order: %q", msg, tt.want)
				}
				at += i + len(w)
			}
		})
	}
}

// TestDelimiterHint: a header read as one column that holds a ";" (a
// report re-saved by a spreadsheet) says to set input.delimiter.
func TestDelimiterHint(t *testing.T) {
	_, err := compileSpec(t, purchaseBase, []string{strings.Join(retailHeader, ";")})
	want := `: the header was read as one column, and holds ";": if that is its delimiter, set input.delimiter: ";" in the mapping`
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("Compile = %v\nwant it to end %s", err, want)
	}
	if _, err := compileSpec(t, purchaseBase, []string{"InvoiceNo"}); err == nil || strings.Contains(err.Error(), "delimiter") {
		t.Errorf("Compile with a one-column header without ';' = %v, want no delimiter hint", err)
	}
}
