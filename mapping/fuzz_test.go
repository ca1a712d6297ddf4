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
	// Deep nesting and huge literals (issue 17.3): an error, never a crash.
	f.Add("kind: web\nfields:\n  website: {expr: '" + strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300) + "'}\n")
	f.Add("kind: web\nfields:\n  website: {expr: '" + strings.Repeat("-", 12000) + "1'}\n")
	f.Add("kind: web\nfields:\n  website: {expr: '\"" + strings.Repeat("x", 70000) + "\"'}\n")
	f.Add("kind: web\nfields: " + strings.Repeat("[", 2000) + "\n")
	f.Add("kind: web\nfilter: '" + strings.Repeat("{a: ", 200) + "1" + strings.Repeat("}", 200) + "'\nfields: {}\n")
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

// FuzzExprEval compiles and runs expressions over a row: any error is
// fine; a crash, a hang or unbounded memory is not (the budgets of
// expr.go bound every evaluation).
func FuzzExprEval(f *testing.F) {
	for _, s := range []string{
		`lpad(id, int(q), "0")`, `repeat(id, 1000)`, `all(split(id, ""), {all(split(id, ""), {true})})`,
		`map(1..1000, {# * q})`, `round(q * 1.2, 2)`, `todate(id, "%d/%m/%Y")`, `coalesce(id, q)`,
		strings.Repeat("(", 200) + "1" + strings.Repeat(")", 200), `len(1..100000000)`,
	} {
		f.Add(s, "000123", "42")
	}
	f.Fuzz(func(t *testing.T, src, id, q string) {
		p, err := compileExpr(src, false)
		if err != nil {
			return
		}
		e := &exprEnv{header: []string{"id", "q"}, cols: map[string]int{"id": 0, "q": 1}, vars: map[string]any{}}
		e.run(p, &Record{Line: 2, Values: []string{id, q}})
	})
}
