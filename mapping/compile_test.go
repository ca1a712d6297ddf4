package mapping

import (
	"strings"
	"testing"
)

var retailHeader = []string{"InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"}

const purchaseBase = `kind: purchases
fields:
  accounts_receivable_identifier: { number: CustomerID }
  performed_by_unit_identifier: { name: { const: Admin Unit } }
  performed_on: InvoiceDate
  reference_number: InvoiceNo
products_set:
  product_identifier: { code: StockCode }
  total_amount: UnitPrice
  net_amount: UnitPrice
  vat_amount: { const: 0 }
`

func compileSpec(t *testing.T, src string, header []string) (*Mapper, error) {
	t.Helper()
	spec, err := ParseSpec("spec.yaml", []byte(src))
	if err != nil {
		return nil, err
	}
	return Compile(spec, Options{File: "in.csv", Header: header})
}

// TestCompileErrors: every mistake is reported before a row is read, with
// the spec line and what would be valid.
func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		spec string
		want string
	}{
		{"unknown top-level key", purchaseBase + "colour: red\n", `spec.yaml:12: unknown key "colour" (valid here: kind, input,`},
		{"unknown input key", "kind: web\ninput:\n  sep: ';'\n", `spec.yaml:3: unknown key "sep" (valid here: format, delimiter, encoding, comment)`},
		{"unknown kind", "kind: tweets\nfields: {}\n", `spec.yaml:1: kind: unknown kind "tweets" (valid: achievements, purchases,`},
		{"missing kind", "fields: {}\n", "kind: is missing"},
		{"unknown field", strings.Replace(purchaseBase, "  reference_number:", "  website: Country\n  reference_number:", 1),
			`spec.yaml:6: fields: "website" is not a parameter of purchases events (valid: accounts_receivable_identifier,`},
		{"identifier field it does not have", strings.Replace(purchaseBase, "{ name: { const: Admin Unit } }", "{ code: { const: Admin Unit } }", 1),
			`spec.yaml:4: performed_by_unit_identifier: "code" is not a field of this identifier (fields: id, name, alternative_code)`},
		{"identifier as a column", strings.Replace(purchaseBase, "{ number: CustomerID }", "CustomerID", 1),
			`spec.yaml:3: accounts_receivable_identifier: an identifier is a mapping of one of its fields to a value, e.g. {id: COLUMN}`},
		{"set on a kind without one", "kind: web\nfields:\n  accounts_receivable_identifier: {number: CustomerID}\n  performed_by_unit_identifier: {name: {const: U}}\n  performed_on: InvoiceDate\n  website: Country\nproducts_set:\n  quantity: Quantity\n",
			`spec.yaml:7: products_set: web events have no set of line items`},
		{"wrong set for the kind", purchaseBase + "measured_key_performance_indicators_set:\n  value: Quantity\n",
			`spec.yaml:12: measured_key_performance_indicators_set: purchases events have products_set instead`},
		{"set under fields", strings.Replace(purchaseBase, "  reference_number: InvoiceNo\n", "  reference_number: InvoiceNo\n  products_set: x\n", 1),
			`spec.yaml:7: fields: products_set goes at the top level of the spec, not under fields`},
		{"expression does not compile", strings.Replace(purchaseBase, "total_amount: UnitPrice", `total_amount: { expr: "Quantity * * UnitPrice" }`, 1),
			`spec.yaml:9: products_set.total_amount: expression "Quantity * * UnitPrice" does not compile`},
		{"expression reads a missing column", strings.Replace(purchaseBase, "total_amount: UnitPrice", `total_amount: { expr: "Qty * UnitPrice" }`, 1),
			`spec.yaml:9: products_set.total_amount: expression "Qty * UnitPrice" reads "Qty", which is not a column of in.csv (columns: InvoiceNo,`},
		{"column missing from header", strings.Replace(purchaseBase, "performed_on: InvoiceDate", "performed_on: Date", 1),
			`spec.yaml:5: performed_on: column "Date" is not in the header of in.csv (columns: InvoiceNo, StockCode,`},
		{"mandatory field not mapped", strings.Replace(purchaseBase, "  reference_number: InvoiceNo\n", "", 1),
			`reference_number is mandatory for purchases events: map it`},
		{"mandatory set not mapped", strings.Split(purchaseBase, "products_set:")[0], "products_set: is mandatory for purchases events"},
		{"mandatory set field not mapped", strings.Replace(purchaseBase, "  vat_amount: { const: 0 }\n", "", 1),
			`spec.yaml:7: products_set.vat_amount is mandatory for purchases events: map it`},
		{"semi-optional not mapped", strings.Replace(purchaseBase, "  accounts_receivable_identifier: { number: CustomerID }\n", "", 1),
			"fields: map one of accounts_receivable_identifier or rewards_participant_identifier"},
		{"enum constant", "kind: social_media\nfields:\n  accounts_receivable_identifier: {number: CustomerID}\n  performed_by_unit_identifier: {name: {const: U}}\n  performed_on: InvoiceDate\n  social_media: {const: TWITTER}\n  profile: Country\n  action: {const: LIKE}\n",
			`spec.yaml:6: social_media: constant "TWITTER" is not one of FACEBOOK`},
		{"number constant", strings.Replace(purchaseBase, "vat_amount: { const: 0 }", "vat_amount: { const: zero }", 1),
			`spec.yaml:11: products_set.vat_amount: constant "zero" is not a number`},
		{"from in CSV", purchaseBase + "", ""},
		{"two sources", strings.Replace(purchaseBase, "performed_on: InvoiceDate", "performed_on: { column: InvoiceDate, const: x }", 1),
			`spec.yaml:5: performed_on: give exactly one of column, const or expr (got 2)`},
		{"unknown value key", strings.Replace(purchaseBase, "performed_on: InvoiceDate", "performed_on: { column: InvoiceDate, fmt: x }", 1),
			`spec.yaml:5: performed_on: unknown key "fmt" (valid: column, const, expr, format, default, trim, map, required)`},
		{"bad strftime", strings.Replace(purchaseBase, "performed_on: InvoiceDate", `performed_on: { column: InvoiceDate, format: "%Q" }`, 1),
			`spec.yaml:5: performed_on: format "%Q": %Q is not a supported directive`},
		{"format on a string", strings.Replace(purchaseBase, "reference_number: InvoiceNo", `reference_number: { column: InvoiceNo, format: "%Y" }`, 1),
			`spec.yaml:6: reference_number: format applies to dates only`},
		{"request id in fields", strings.Replace(purchaseBase, "  reference_number: InvoiceNo\n", "  reference_number: InvoiceNo\n  request_unique_identifier: InvoiceNo\n", 1),
			"spec.yaml:7: request_unique_identifier is set by request_id: at the top level of the spec"},
		{"filter does not compile", purchaseBase + "filter: 'Quantity >'\n", `spec.yaml:12: filter: "Quantity >" does not compile`},
		{"call parameter from a column", purchaseBase + "call:\n  intended_currency_identifier: {code: Country}\n",
			"spec.yaml:13: call.intended_currency_identifier.code: a call parameter applies to a whole call of many rows, so it must be a {const: ...}"},
		{"call parameter of another kind", "kind: web\nfields:\n  accounts_receivable_identifier: {number: CustomerID}\n  performed_by_unit_identifier: {name: {const: U}}\n  performed_on: InvoiceDate\n  website: Country\ncall:\n  intended_currency_identifier: {code: {const: EUR}}\n",
			`spec.yaml:8: call: "intended_currency_identifier" is not a call parameter of web (valid: none)`},
		{"empty spec", "", "the mapping spec is empty"},
		{"not YAML", "kind: [", "spec.yaml:1: yaml: line 1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileSpec(t, tt.spec, retailHeader)
			if tt.want == "" {
				if err != nil {
					t.Errorf("Compile() error = %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile() error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCompileFromOnlyForJSONL(t *testing.T) {
	spec := purchaseBase + "" // products_set has no from: fine for CSV
	if _, err := compileSpec(t, strings.Replace(spec, "products_set:\n", "products_set:\n  from: items\n", 1), retailHeader); err == nil ||
		!strings.Contains(err.Error(), "products_set.from: takes an array of a JSONL object") {
		t.Errorf("Compile(from: in a CSV spec) error = %v", err)
	}
	if _, err := compileSpec(t, strings.Replace(spec, "products_set:\n", "products_set:\n  from: items\n", 1), nil); err != nil {
		t.Errorf("Compile(from: in a JSONL spec) error = %v, want none", err)
	}
}
