package mapping

import (
	"encoding/json"
	"strings"
	"testing"
)

// webWith is a web spec whose udf_string_1 is expr, over the column v,
// with extra top-level lines (columns:, filter:).
func webWith(expr, extra string) string {
	return "kind: web\nfields:\n  accounts_receivable_identifier: {number: {const: A}}\n  performed_by_unit_identifier: {name: {const: U}}\n" +
		"  performed_on: {const: 2016-06-22T15:00:00}\n  website: {const: w}\n  udf_string_1: {expr: '" + expr + "'}\n" + extra
}

// udf1 is the udf_string_1 of each mapped row, or its error.
func udf1(t *testing.T, items []string) []string {
	t.Helper()
	out := make([]string, len(items))
	for i, it := range items {
		if strings.HasPrefix(it, "ERR") || it == "filtered" {
			out[i] = it
			continue
		}
		var ev struct {
			U string `json:"udf_string_1"`
		}
		if err := json.Unmarshal([]byte(it), &ev); err != nil {
			t.Fatalf("%s: %v", it, err)
		}
		out[i] = ev.U
	}
	return out
}

// TestOneTypePerColumn guards issue 13 point 1: the same expression over a
// column whose cells look different (digits, a C prefix, leading zeros, an
// exponent, spaces) gives the same type of result on every row. Before,
// a cell that looked like a number was a number and the others strings,
// so InvoiceNo startsWith "C" failed on every all-digit invoice.
func TestOneTypePerColumn(t *testing.T) {
	mixed := []string{"536365", "C536379", "000123", "17850.0", " 42 ", "1e3", "-7", "abc"}
	tests := []struct {
		name, expr, columns string
		cells               []string
		want                []string // one per cell
	}{
		{"undeclared: a string on every row", "type(v)", "", mixed,
			[]string{"string", "string", "string", "string", "string", "string", "string", "string"}},
		{"startsWith works on every row", `v startsWith "C" ? "cancel" : "sale"`, "", mixed,
			[]string{"sale", "cancel", "sale", "sale", "sale", "sale", "sale", "sale"}},
		{"string operations keep the digits as written", `v + "|"`, "", mixed,
			[]string{"536365|", "C536379|", "000123|", "17850.0|", " 42 |", "1e3|", "-7|", "abc|"}},
		{"float() converts any numeric cell", `type(float(v))`, "", []string{"6", "+6", "2.50", "1e3", "-7"},
			[]string{"float", "float", "float", "float", "float"}},
		{"declared decimal: a float on every row", "type(v)", "columns: {v: decimal}\n", []string{"6", "+6", "2.50", "1e3", " 7 ", "007", "17850.0"},
			[]string{"float", "float", "float", "float", "float", "float", "float"}},
		{"declared decimal: arithmetic on every row", "string(v * 2)", "columns: {v: decimal}\n", []string{"6", "+6", "2.5", "1e3", "007"},
			[]string{"12", "12", "5", "2000", "14"}},
		{"declared integer: an int on every row", "type(v)", "columns: {v: integer}\n", []string{"6", "+6", "17850.0", "007"},
			[]string{"int", "int", "int", "int"}},
		{"declared date: a time on every row", `v.Year() > 2000 ? type(v) : "old"`, "columns: {v: {date: \"%m/%d/%Y %H:%M\"}}\n", []string{"12/1/2010 8:26", "1/13/2011 17:05"},
			[]string{"time.Time", "time.Time"}},
		{"declared string: the same as undeclared", "type(v)", "columns: {v: string}\n", mixed[:3],
			[]string{"string", "string", "string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := udf1(t, mapRows(t, webWith(tt.expr, tt.columns), []string{"v"}, tt.cells...))
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("over %q\ngot  %q\nwant %q", tt.cells, got, tt.want)
			}
		})
	}
}

// TestIssueFilter runs the filter of issue 13, written exactly so, over
// Online Retail rows: kept or filtered, never an error, whatever the
// invoice number looks like.
func TestIssueFilter(t *testing.T) {
	filter := `filter: 'CustomerID != "" && !(InvoiceNo startsWith "C") && float(Quantity) > 0'` + "\n"
	rows := []string{
		"581475|BRZ|a|36|2016-06-22|0.39|13069.0|UK",   // kept
		"C581490|BRZ|b|-11|2016-06-22|0.83|14397.0|UK", // a cancellation
		"581492|BRZ|c|2|2016-06-22|2.46||UK",           // no customer
		"581493|BRZ|d|0|2016-06-22|1.00|12345.0|UK",    // no quantity
		"A563185|BRZ|e|1|2016-06-22|1.00|12345.0|UK",   // an adjustment: not C, kept
	}
	// With Quantity declared or not: float() takes a number or a string.
	for _, spec := range []string{purchaseBase + filter, purchaseBase + "columns: {Quantity: decimal}\n" + filter} {
		checkIssueFilter(t, mapRows(t, spec, retailHeader, rows...))
	}
}

func checkIssueFilter(t *testing.T, got []string) {
	t.Helper()
	kinds := make([]string, len(got))
	for i, g := range got {
		switch {
		case strings.HasPrefix(g, "ERR"):
			kinds[i] = g
		case g == "filtered":
			kinds[i] = g
		default:
			kinds[i] = "event"
		}
	}
	want := []string{"event", "filtered", "filtered", "filtered", "event"}
	if strings.Join(kinds, "\n") != strings.Join(want, "\n") {
		t.Errorf("outcomes = %q, want %q", kinds, want)
	}
}

func TestColumnsDeclarationErrors(t *testing.T) {
	tests := []struct{ name, columns, want string }{
		{"unknown type", "columns:\n  Quantity: number\n", `spec.yaml:14: columns: Quantity: unknown type "number" (valid: string, decimal, integer, date, or {date: "%d/%m/%Y %H:%M"})`},
		{"not in the header", "columns:\n  Qty: decimal\n", `spec.yaml:14: columns: "Qty" is not in the header of in.csv (columns: InvoiceNo,`},
		{"bad date format", "columns:\n  InvoiceDate: {date: \"%Q\"}\n", `spec.yaml:14: columns: InvoiceDate: format "%Q": %Q is not a supported directive`},
		{"date FIXME", "columns:\n  InvoiceDate: {date: FIXME}\n", `columns: InvoiceDate: the date format is still FIXME`},
		{"not a mapping", "columns: [Quantity]\n", `spec.yaml:13: columns: want a mapping of column: type`},
		{"a mapping of another type", "columns:\n  Quantity: {decimal: 2}\n", `columns: Quantity: a mapping here is {date: FORMAT}`},
		{"twice", "columns:\n  Quantity: decimal\n  Quantity: string\n", `columns: Quantity is declared twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileSpec(t, purchaseBase+"request_id: InvoiceNo\n"+tt.columns, retailHeader)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile = %v\nwant %s", err, tt.want)
			}
		})
	}
}

// TestDeclaredDateFormat: a date column declared with a format maps to a
// date parameter without repeating it; a cell that does not match fails
// its row naming the column, the value and the line.
func TestDeclaredDateFormat(t *testing.T) {
	spec := strings.Replace(purchaseBase, "performed_on: InvoiceDate", "performed_on: InvoiceDate\n  udf_string_1: InvoiceDate", 1) +
		"columns:\n  InvoiceDate: {date: \"%m/%d/%Y %H:%M\"}\n"
	got := mapRows(t, spec, retailHeader,
		"1|BRZ|a|2|12/1/2010 8:26|1|ACR1|UK",
		"2|BRZ|a|2|someday|1|ACR1|UK",
		"3|BRZ|a|2|2011-12-09 08:39:00|1|ACR1|UK",
		"4|BRZ|a|2|2/30/2011 8:26|1|ACR1|UK")
	if len(got) != 4 || !strings.Contains(got[0], `"performed_on":"2010-12-01T08:26:00"`) || !strings.Contains(got[0], `"udf_string_1":"12/1/2010 8:26"`) {
		t.Errorf("row 2 = %v, want the date read with the declared format and the string parameter as written", got)
	}
	for i, want := range []string{
		`ERR InvalidInputValueException line 3, column InvoiceDate: value "someday": does not match the format: the mapping's columns: declares InvoiceDate a date of the format "%m/%d/%Y %H:%M" (spec line 14); fix the cell, or change the format`,
		// An ISO date read with a US format fails on month 20: the
		// format does not fit, the date is not impossible.
		`ERR InvalidInputValueException line 4, column InvoiceDate: value "2011-12-09 08:39:00": does not match the format: the mapping's columns: declares InvoiceDate a date of the format "%m/%d/%Y %H:%M" (spec line 14); fix the cell, or change the format`,
		`ERR InvalidInputValueException line 5, column InvoiceDate: value "2/30/2011 8:26": this date does not exist (day out of range): the mapping's columns:`,
	} {
		if len(got) != 4 || !strings.HasPrefix(got[i+1], want) {
			t.Errorf("rows = %v\nwant row %d: %s", got, i+3, want)
		}
	}
}

// TestExpressionErrorsInUserTerms: a runtime error names the columns and
// values involved and the fix, never a Go runtime message.
func TestExpressionErrorsInUserTerms(t *testing.T) {
	tests := []struct {
		name, expr, columns, cell string
		want                      []string
	}{
		{"a number declared where a string is used", `v startsWith "C" ? "c" : "s"`, "columns: {v: decimal}\n", "536365",
			[]string{`v is 536365 (a decimal): a decimal was given where a string is needed`, `v is declared decimal under columns: (spec line 8)`, `string(v)`}},
		{"arithmetic on a string column", `string(v * 2)`, "", "6",
			[]string{`v is "6" (a string): * cannot be applied to a string and an integer`, `columns: {v: decimal}`, `float(v)`}},
		{"an empty declared cell", `string(v * 2)`, "columns: {v: decimal}\n", "",
			[]string{`v is empty: * cannot be applied to no value (an empty cell) and an integer`, `an empty cell is no value`}},
		{"float of a word", `string(float(v))`, "", "abc",
			[]string{`v is "abc" (a string): float("abc") is not a number`}},
		{"a helper's own message stays", `lpad(int(v), 10, "0")`, "", "",
			[]string{`v is "" (a string): int(""): not a number`}},
		{"len of a number", `string(len(v))`, "columns: {v: decimal}\n", "5",
			[]string{`v is 5 (a decimal): len() cannot take a decimal`}},
	}
	goWords := []string{"interface conversion", "interface {}", "float64", "invalid operation", "(1:"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapRows(t, webWith(tt.expr, tt.columns), []string{"v"}, tt.cell)
			if len(got) != 1 || !strings.HasPrefix(got[0], "ERR InvalidInputValueException line 2, expression ") {
				t.Fatalf("got %v, want one expression error on line 2", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("got %s\nwant it to contain %s", got[0], w)
				}
			}
			for _, w := range goWords {
				if strings.Contains(got[0], w) {
					t.Errorf("got %s\nwhich speaks Go: %q", got[0], w)
				}
			}
		})
	}
}

func TestExpressionWarnings(t *testing.T) {
	spec := webWith(`string(v * 2)`, "filter: 'w != \"x\"'\n")
	m, err := compileSpec(t, spec, []string{"v", "w"})
	if err != nil {
		t.Fatal(err)
	}
	emit := func(Item) {}
	for i, row := range []string{"1|a", "2|b", "3|c"} {
		m.Push(&Record{Line: i + 2, Values: strings.Split(row, "|")}, emit)
	}
	m.Flush(emit)
	m2, _ := compileSpec(t, spec, []string{"v", "w"}) // a second input file of the same spec
	m2.Push(&Record{Line: 2, Values: []string{"4", "d"}}, emit)
	got := ExpressionWarnings(m, m2)
	want := `line 7 of the mapping: expression "string(v * 2)" failed on every row so far (4 of 4): fix the mapping rather than the data; the first: line 2: expression "string(v * 2)": v is "1" (a string)`
	if len(got) != 1 || !strings.HasPrefix(got[0], want) {
		t.Errorf("warnings = %q\nwant one: %s", got, want)
	}
	// One row where it works: no warning.
	m2.Push(&Record{Line: 3, Values: []string{"5", "x"}}, emit) // filtered: the expression does not run
	spec2 := webWith(`v == "1" ? "one" : string(v * 2)`, "")
	m3, _ := compileSpec(t, spec2, []string{"v", "w"})
	m3.Push(&Record{Line: 2, Values: []string{"1", "a"}}, emit)
	m3.Push(&Record{Line: 3, Values: []string{"2", "a"}}, emit)
	if got := ExpressionWarnings(m3); len(got) != 0 {
		t.Errorf("warnings = %q, want none: the expression worked on one row", got)
	}
}

// TestJSONLColumns: JSON values keep their JSON types; columns: names
// top-level keys, whose values it converts.
func TestJSONLColumns(t *testing.T) {
	spec := webWith(`type(q) + "," + type(n)`, "columns: {q: decimal}\n")
	m, err := compileSpec(t, spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	emit := func(it Item) {
		if it.Err != nil {
			got = append(got, "ERR "+it.Err.Error())
			return
		}
		got = append(got, it.Event.UDFString1)
	}
	m.Push(&Record{Line: 1, Object: map[string]any{"q": "6", "n": json.Number("7")}}, emit)
	m.Push(&Record{Line: 2, Object: map[string]any{"q": json.Number("2.5"), "n": "7"}}, emit)
	m.Push(&Record{Line: 3, Object: map[string]any{"q": "x", "n": "7"}}, emit)
	want := []string{"float,float", "float,string", `ERR line 3, column q: value "x": is not a number`}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || !strings.HasPrefix(got[2], want[2]) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
