package mapping

import (
	"strings"
	"testing"
)

// TestDeepNestingIsACompileError is issue 17.3: a spec of a million
// nested parentheses crashed crmload with a stack overflow; it is a
// compile error naming the spec, its line and the field.
func TestDeepNestingIsACompileError(t *testing.T) {
	const n = 1_000_000
	for _, c := range []struct{ name, expr string }{
		{"parentheses", strings.Repeat("(", n) + "1" + strings.Repeat(")", n)},
		{"brackets", strings.Repeat("[", n) + strings.Repeat("]", n)},
		{"maps", strings.Repeat("{a: ", n/5) + "1" + strings.Repeat("}", n/5)},
		{"unary minus", strings.Repeat("-", n) + "1"},
		{"not", strings.Repeat("!", n) + "true"},
		// Within the length bound: the depth check, and expr-lang's node limit.
		{"30k parentheses", strings.Repeat("(", 30000) + "1" + strings.Repeat(")", 30000)},
		{"30k brackets in a string and out", `"((((" + ` + strings.Repeat("[", 30000) + strings.Repeat("]", 30000)},
		{"60k unary minus", strings.Repeat("-", 60000) + "1"},
		{"a huge literal", `"` + strings.Repeat("x", 2<<20) + `"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := "kind: web\nfields:\n  accounts_receivable_identifier: {number: {const: A}}\n  performed_by_unit_identifier: {name: {const: U}}\n  performed_on: {const: '2016-01-01T00:00:00'}\n  website:\n    expr: '" + c.expr + "'\n"
			spec, err := ParseSpec("spec.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Compile(spec, Options{File: "in.csv", Header: []string{"a"}})
			if err == nil {
				t.Fatal("compiled")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "spec.yaml:7: website") || len(msg) > 1000 {
				t.Errorf("error (%d bytes) does not name the spec, line and field, or is long: %.300s", len(msg), msg)
			}
			t.Log(msg[:min(len(msg), 300)])
		})
	}
}
