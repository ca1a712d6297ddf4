package mapping

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/crmload/crmload/crm"
)

// mapRows compiles spec for header and maps rows (CSV values, one string
// per row with | between cells), returning each item as JSON or as its
// error.
func mapRows(t *testing.T, spec string, header []string, rows ...string) []string {
	t.Helper()
	m, err := compileSpec(t, spec, header)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	var out []string
	emit := func(it Item) {
		switch {
		case it.Filtered:
			out = append(out, "filtered")
		case it.Err != nil:
			out = append(out, "ERR "+it.Err.Code+" "+it.Err.Error())
		default:
			b, _ := json.Marshal(it.Event)
			out = append(out, string(b))
		}
	}
	for i, row := range rows {
		m.Push(&Record{Line: i + 2, Values: strings.Split(row, "|")}, emit)
	}
	m.Flush(emit)
	return out
}

// decimalV declares the column v of the conversion tests a decimal.
const decimalV = "\ncolumns: {v: decimal}"

func TestConversions(t *testing.T) {
	header := []string{"v"}
	web := func(field string) string {
		return "kind: web\nfields:\n  accounts_receivable_identifier: {number: {const: A}}\n  performed_by_unit_identifier: {name: {const: U}}\n  performed_on: {const: 2016-06-22T15:00:00}\n  website: {const: w}\n  " + field + "\n"
	}
	tests := []struct {
		name, field, in, want string
	}{
		{"number keeps its digits", "udf_float_1: v", "1250.75", `"udf_float_1":1250.75`},
		{"many digits", "udf_float_1: v", "0.1000000000000000055511151231257827", `"udf_float_1":0.1000000000000000055511151231257827`},
		{"leading plus and point", "udf_float_1: v", "+.5", `"udf_float_1":0.5`},
		{"leading zeros", "udf_float_1: v", "007", `"udf_float_1":7`},
		{"spaces", "udf_float_1: v", " 12 ", `"udf_float_1":12`},
		{"decimal comma refused", "udf_float_1: v", "12,5", `ERR InvalidInputValueException line 2, column v (udf_float_1): value "12,5": is not a number (a decimal comma`},
		{"empty is not sent", "udf_float_1: v", "", `"website":"w"}`},
		{"default", "udf_float_1: {column: v, default: 0}", "", `"udf_float_1":0`},
		{"required", "udf_string_1: {column: v, required: true}", "", `ERR InvalidInputValueException line 2, column v (udf_string_1): is empty, and the mapping marks it required`},
		{"trim", "udf_string_1: {column: v, trim: true}", "  x  ", `"udf_string_1":"x"`},
		{"map", "udf_string_1: {column: v, map: {Y: yes, N: no}}", "Y", `"udf_string_1":"yes"`},
		{"map miss", "udf_string_1: {column: v, map: {Y: yes}}", "Q", `ERR InvalidInputValueException line 2, column v (udf_string_1): value "Q": "Q" is not in the map (known: "Y")`},
		{"map miss with default", "udf_string_1: {column: v, map: {Y: yes}, default: other}", "Q", `"udf_string_1":"other"`},
		{"ISO date", "udf_date_1: v", "2016-06-22", `"udf_date_1":"2016-06-22T00:00:00"`},
		{"ISO date with space", "udf_date_1: v", "2016-06-22 15:04", `"udf_date_1":"2016-06-22T15:04:00"`},
		{"ISO date with zone", "udf_date_1: v", "2016-06-22T15:04:05+02:00", `"udf_date_1":"2016-06-22T15:04:05"`},
		{"ambiguous date refused", "udf_date_1: v", "12/1/2010 8:26", `is not a year-first date, and day/month order cannot be guessed: give the column a format`},
		{"US date with format", `udf_date_1: {column: v, format: "%m/%d/%Y %H:%M"}`, "12/1/2010 8:26", `"udf_date_1":"2010-12-01T08:26:00"`},
		{"European date with format", `udf_date_1: {column: v, format: "%d/%m/%Y %H:%M"}`, "12/1/2010 8:26", `"udf_date_1":"2010-01-12T08:26:00"`},
		{"date not matching format", `udf_date_1: {column: v, format: "%d/%m/%Y"}`, "2010-01-12", `value "2010-01-12": does not match the format`},
		// strftime's %p reads either case.
		{"12-hour clock, PM", `udf_date_1: {column: v, format: "%d/%m/%Y %I:%M %p"}`, "12/1/2010 01:05 PM", `"udf_date_1":"2010-01-12T13:05:00"`},
		{"12-hour clock, pm", `udf_date_1: {column: v, format: "%d/%m/%Y %I:%M %p"}`, "12/1/2010 01:05 pm", `"udf_date_1":"2010-01-12T13:05:00"`},
		{"12-hour clock, Am", `udf_date_1: {column: v, format: "%d/%m/%Y %I:%M%p"}`, "12/1/2010 11:05Am", `"udf_date_1":"2010-01-12T11:05:00"`},
		{"12-hour clock, month name before", `udf_date_1: {column: v, format: "%b %d %Y %I:%M %p"}`, "Mar 01 2010 01:05 pm", `"udf_date_1":"2010-03-01T13:05:00"`},
		{"17850.0 as an id", `udf_string_1: {expr: "string(int(v))"}`, "17850.0", `"udf_string_1":"17850"`},
		{"leading zero id stays a string", `udf_string_1: {expr: "v + 'X'"}`, "000123", `"udf_string_1":"000123X"`},
		{"arithmetic and round", `udf_float_1: {expr: "round(v * 1.2, 2)"}` + decimalV, "2.55", `"udf_float_1":3.06`},
		{"lpad", `udf_string_1: {expr: "'ACR' + lpad(int(v), 10, '0')"}`, "77.0", `"udf_string_1":"ACR0000000077"`},
		{"todate", `udf_date_1: {expr: "todate(v, '%d.%m.%Y')"}`, "24.12.2016", `"udf_date_1":"2016-12-24T00:00:00"`},
		{"expression error", `udf_float_1: {expr: "v * 2"}`, "abc", `ERR InvalidInputValueException line 2, expression v * 2 (udf_float_1): expression "v * 2": v is "abc" (a string): * cannot be applied to a string and an integer; a column is a string unless the mapping's columns: section declares its type`},
		{"declared decimal that is none", `udf_float_1: {expr: "v * 2"}` + decimalV, "abc", `ERR InvalidInputValueException line 2, column v: value "abc": is not a number: the mapping's columns: declares v a decimal (spec line 8); fix the cell, or declare the column a string`},
		{"constant", "udf_string_1: {const: fixed}", "x", `"udf_string_1":"fixed"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapRows(t, web(tt.field), header, tt.in)
			if len(got) != 1 || !strings.Contains(got[0], tt.want) {
				t.Errorf("map %q = %v\nwant it to contain %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestGroupAndFilter(t *testing.T) {
	spec := purchaseBase + "request_id: InvoiceNo\ngroup_by: InvoiceNo\nfilter: Quantity > 0\ncolumns: {Quantity: decimal}\n"
	rows := []string{
		"1|BRZ|a|2|2016-06-22|10.10|ACR1|UK",
		"1|SLV|b|1|2016-06-22|20.20|ACR1|UK",
		"C2|BRZ|return|-1|2016-06-22|10.10|ACR1|UK",
		"3|GLD|c|1|2016-06-22|5|ACR2|FR",
		"1|BRZ|again|1|2016-06-23|1|ACR1|UK", // not consecutive: a new event
	}
	got := mapRows(t, spec, retailHeader, rows...)
	want := []string{
		`{"request_unique_identifier":"1","accounts_receivable_identifier":{"number":"ACR1"},"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-06-22T00:00:00","reference_number":"1","products_set":[{"product_identifier":{"code":"BRZ"},"net_amount":10.10,"vat_amount":0,"total_amount":10.10},{"product_identifier":{"code":"SLV"},"net_amount":20.20,"vat_amount":0,"total_amount":20.20}]}`,
		"filtered",
		`{"request_unique_identifier":"3","accounts_receivable_identifier":{"number":"ACR2"},"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-06-22T00:00:00","reference_number":"3","products_set":[{"product_identifier":{"code":"GLD"},"net_amount":5,"vat_amount":0,"total_amount":5}]}`,
		`{"request_unique_identifier":"1","accounts_receivable_identifier":{"number":"ACR1"},"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-06-23T00:00:00","reference_number":"1","products_set":[{"product_identifier":{"code":"BRZ"},"net_amount":1,"vat_amount":0,"total_amount":1}]}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("items =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDefaultRequestID(t *testing.T) {
	got := mapRows(t, purchaseBase, retailHeader, "1|BRZ|a|2|2016-06-22|10|ACR1|UK")
	if len(got) != 1 || !strings.Contains(got[0], `"request_unique_identifier":"in.csv:2"`) {
		t.Errorf("items = %v, want request id in.csv:2", got)
	}
}

func TestValidationNamesColumnAndLine(t *testing.T) {
	spec := purchaseBase + "group_by: InvoiceNo\n"
	got := mapRows(t, spec, retailHeader, "1|BRZ|a|2|2016-06-22|10|ACR1|UK", "1||b|2|2016-06-22|10|ACR1|UK")
	want := "ERR MandatoryAPIParameterMissingException line 3, column StockCode (products_set[1].product_identifier): Error:Mandatory parameter products_set[1].product_identifier is missing."
	if len(got) != 1 || !strings.HasPrefix(got[0], want) {
		t.Errorf("items = %v\nwant %s", got, want)
	}
}

func TestJSONLFrom(t *testing.T) {
	spec := `kind: purchases
input: {format: jsonl}
request_id: order.id
fields:
  accounts_receivable_identifier: { number: customer.number }
  performed_by_unit_identifier: { name: { const: Admin Unit } }
  performed_on: order.at
  reference_number: order.id
products_set:
  from: order.items
  product_identifier: { code: sku }
  quantity: qty
  total_amount: { expr: "round(price * qty, 2)" }
  net_amount: price
  vat_amount: { const: 0 }
`
	m, err := compileSpec(t, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	dec := json.NewDecoder(strings.NewReader(`{"order":{"id":"R1","at":"2016-06-22T15:00:00","items":[{"sku":"A","qty":3,"price":0.1},{"sku":"B","qty":1,"price":1250.75}]},"customer":{"number":"ACR1"}}`))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		t.Fatal(err)
	}
	var got []Item
	m.Push(&Record{Line: 1, Object: obj}, func(it Item) { got = append(got, it) })
	if len(got) != 1 || got[0].Err != nil {
		t.Fatalf("items = %+v", got)
	}
	b, _ := json.Marshal(got[0].Event.ProductsSet)
	want := `[{"product_identifier":{"code":"A"},"quantity":3,"net_amount":0.1,"vat_amount":0,"total_amount":0.3},{"product_identifier":{"code":"B"},"quantity":1,"net_amount":1250.75,"vat_amount":0,"total_amount":1250.75}]`
	if string(b) != want {
		t.Errorf("products_set = %s\nwant %s", b, want)
	}
}

// TestEventAlloc: a mapper given its events' places (SetEventAlloc) maps
// every row as one that makes its own, writes each event where alloc
// said, and leaves failed rows' places unused by any item.
func TestEventAlloc(t *testing.T) {
	spec := "kind: purchases\nrequest_id: id\nfields:\n  accounts_receivable_identifier: {number: a}\n  performed_by_unit_identifier: {name: {const: U}}\n  performed_on: d\n  reference_number: id\nproducts_set:\n  product_identifier: {code: p}\n  quantity: {const: 1}\n  net_amount: n\n  vat_amount: {const: 0}\n  total_amount: n\n"
	header := []string{"id", "a", "d", "p", "n"}
	rows := []string{"r1|A1|2024-01-02T03:04:05|P|1.5", "r2|A2|bad date|P|2", "r3|A3|2024-01-02T03:04:05|P|x", "r4|A4|2024-01-02T03:04:05|Q|3", "|A5|2024-01-02T03:04:05|Q|3"}
	mapAll := func(alloc func() *crm.Event) []Item {
		m, err := compileSpec(t, spec, header)
		if err != nil {
			t.Fatalf("Compile: %v", err)
		}
		if alloc != nil {
			m.SetEventAlloc(alloc)
		}
		var items []Item
		for i, row := range rows {
			m.Push(&Record{Line: i + 2, Values: strings.Split(row, "|")}, func(it Item) { items = append(items, it) })
		}
		return items
	}
	want := mapAll(nil)
	if n := len(slices.DeleteFunc(slices.Clone(want), func(it Item) bool { return it.Event == nil })); n != 2 {
		t.Fatalf("%d rows mapped, want 2 (r1 and r4)", n)
	}
	var given []*crm.Event
	got := mapAll(func() *crm.Event { given = append(given, new(crm.Event)); return given[len(given)-1] })
	if len(got) != len(want) || len(given) != len(rows) {
		t.Fatalf("with SetEventAlloc: %d items from %d allocs, want %d items from %d", len(got), len(given), len(want), len(rows))
	}
	for i := range want {
		if (want[i].Event == nil) != (got[i].Event == nil) || (got[i].Event != nil && got[i].Event != given[i]) {
			t.Fatalf("row %d: event %p (allocs %p), want the alloc's or none as without it (%v)", i, got[i].Event, given[i], want[i].Event != nil)
		}
		if want[i].Event != nil && !reflect.DeepEqual(*got[i].Event, *want[i].Event) {
			t.Errorf("row %d: event %+v, want %+v", i, *got[i].Event, *want[i].Event)
		}
		if (want[i].Err == nil) != (got[i].Err == nil) || (want[i].Err != nil && want[i].Err.Error() != got[i].Err.Error()) {
			t.Errorf("row %d: error %v, want %v", i, got[i].Err, want[i].Err)
		}
	}
}

// TestFailedBeforeMappingKeepsRequestID: a row that fails before it is
// mapped (a cell its columns: type refuses, a filter that fails) keeps
// the request id its cells give, alone or in a group, for whoever
// matches failed.* with the rows; one whose id needs the failed cell has
// none.
func TestFailedBeforeMappingKeepsRequestID(t *testing.T) {
	for _, tt := range []struct{ name, extra, row, want string }{
		{"a cell its type refuses", "columns: {Quantity: decimal}\n", "7|BRZ|a|six|2016-06-22|10|ACR1|UK", "7"},
		{"in a group", "columns: {Quantity: decimal}\ngroup_by: InvoiceNo\n", "7|BRZ|a|six|2016-06-22|10|ACR1|UK", "7"},
		{"a filter that fails", "filter: 'int(Quantity) > 0'\n", "7|BRZ|a|six|2016-06-22|10|ACR1|UK", "7"},
		{"an id that needs the cell", "columns: {Quantity: decimal}\nrequest_id: {expr: 'InvoiceNo + string(Quantity)'}\n", "7|BRZ|a|six|2016-06-22|10|ACR1|UK", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := purchaseBase + tt.extra
			if !strings.Contains(tt.extra, "request_id") {
				spec += "request_id: InvoiceNo\n"
			}
			m, err := compileSpec(t, spec, retailHeader)
			if err != nil {
				t.Fatal(err)
			}
			var items []Item
			m.Push(&Record{Line: 2, Values: strings.Split(tt.row, "|")}, func(it Item) { items = append(items, it) })
			m.Flush(func(it Item) { items = append(items, it) })
			if len(items) != 1 || items[0].Err == nil || items[0].RequestID != tt.want {
				t.Fatalf("items = %+v, want one failure with request id %q", items, tt.want)
			}
		})
	}
}
