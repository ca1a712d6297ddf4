package mapping

import (
	"strings"
	"testing"
	"time"
)

func evalOn(t *testing.T, src string, obj map[string]any) (any, error) {
	t.Helper()
	p, err := compileExpr(src, false)
	if err != nil {
		t.Fatalf("compile %s: %v", src, err)
	}
	e := &exprEnv{vars: map[string]any{}}
	return e.run(p, &Record{Object: obj})
}

// TestLpadBounded is issue 17.2: lpad's width may come from the data; a
// width of a million took 101 s (quadratic), now it is refused at once,
// and any width up to the cap is built in one allocation.
func TestLpadBounded(t *testing.T) {
	start := time.Now()
	_, err := evalOn(t, `lpad(id, int(q), "0")`, map[string]any{"id": "77", "q": "1000000"})
	if err == nil || !strings.Contains(err.Error(), "width 1000000 is over 1024") {
		t.Errorf("lpad to a million: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("lpad to a million took %s", d)
	}
	for _, c := range []struct{ src, want string }{
		{`lpad("77", 5, "0")`, "00077"},
		{`lpad("77", 6, "ab")`, "abab77"},
		{`lpad("77", 5, "ab")`, "abab77"}, // as before: whole pads, until at least the width
		{`lpad("123456", 3, "0")`, "123456"},
		{`lpad("7", 1024, "0")`, strings.Repeat("0", 1023) + "7"},
	} {
		got, err := evalOn(t, c.src, nil)
		if err != nil || got != c.want {
			t.Errorf("%s = %v, %v; want %q", c.src, got, err, c.want)
		}
	}
}

// TestExpressionBudget: no row can make an expression run for long or
// allocate without bound.
func TestExpressionBudget(t *testing.T) {
	long := strings.Repeat("x", 3000)
	for _, c := range []struct{ name, src, want string }{
		{"nested loops over a cell", `all(split(A, ""), {all(split(A, ""), {true})})`, "over 1000000 steps"},
		{"a huge range", `len(1..100000000)`, "memory budget exceeded"},
		{"repeat of a cell", `repeat(A, 1000000)`, "would be over 16777216 bytes"},
		{"replace between every character", `replace(A, "", A + A)`, "would be over 16777216 bytes"},
		{"join of a cell's characters with it", `join(split(A, ""), A + A + A)`, "would be over 16777216 bytes"},
		{"doubling with let", `let a = A + A; let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e; let g = f + f; let h = g + g; let i = h + h; let j = i + i; let k = j + j; let l = k + k; len(l + l)`, "+: the string would be over 16777216 bytes"},
	} {
		start := time.Now()
		_, err := evalOn(t, c.src, map[string]any{"A": long})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an error saying %q", c.name, err, c.want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %s", c.name, d)
		}
	}
	// + still adds numbers, joins strings, and moves times.
	for src, want := range map[string]any{`1 + 2`: 3, `1.5 + q`: 43.5, `"a" + "b"`: "ab", `"ACR" + lpad("77", 4, "0")`: "ACR0077", `replace("a-b", "-", "+")`: "a+b", `join(["a", "b"], "-")`: "a-b"} {
		got, err := evalOn(t, src, map[string]any{"q": 42.0})
		if err != nil || got != want {
			t.Errorf("%s = %v (%T), %v; want %v", src, got, got, err, want)
		}
	}
	// Within the budget, loops work, and the budget is per evaluation.
	for range 3 {
		got, err := evalOn(t, `len(filter(split(A, ""), {# == "x"}))`, map[string]any{"A": long})
		if err != nil || got != 3000 {
			t.Errorf("filter within the budget: %v, %v", got, err)
		}
	}
}

// TestPlainTypeWords is issue 17.11: JSONL type errors name JSON kinds in
// plain words, never Go types.
func TestPlainTypeWords(t *testing.T) {
	for v, want := range map[any]string{nil: "null", "s": "a string", true: "true or false", 1.5: "a number"} {
		if got := jsonKind(v); got != want {
			t.Errorf("jsonKind(%v) = %q, want %q", v, got, want)
		}
	}
	if got := jsonKind(map[string]any{}); got != "an object" {
		t.Errorf("object: %q", got)
	}
	if got := jsonKind([]any{}); got != "an array" {
		t.Errorf("array: %q", got)
	}
	_, err := toFloat(map[string]any{"a": 1})
	if err == nil || strings.Contains(err.Error(), "interface") || !strings.Contains(err.Error(), "is an object, not a number") {
		t.Errorf("toFloat of an object: %v", err)
	}
}

// TestLongListsCut is issue 17.1: a message about a header of 20,000
// columns lists 20 of them and says how many more, instead of them all.
func TestLongListsCut(t *testing.T) {
	header := make([]string, 20_000)
	for i := range header {
		header[i] = "c" + strings.Repeat("x", 10) + string(rune('a'+i%26))
	}
	header[3] = "bell\x07\x1b]0;title"
	spec, err := ParseSpec("spec.yaml", []byte("kind: web\nfields:\n  accounts_receivable_identifier: {number: nope}\n  performed_by_unit_identifier: {name: {const: U}}\n  performed_on: {const: '2016-01-01T00:00:00'}\n  website: {const: w}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compile(spec, Options{File: "in.csv", Header: header})
	if err == nil {
		t.Fatal("compiled")
	}
	msg := err.Error()
	if len(msg) > 2000 || !strings.Contains(msg, "... and 19,980 more columns") || strings.ContainsAny(msg, "\x07\x1b") {
		t.Errorf("message of %d bytes: %.600q", len(msg), msg)
	}
}
