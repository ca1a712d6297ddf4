package mapping

import (
	"testing"

	"github.com/expr-lang/expr"
)

// TestFloatResults: a float computed by an expression is written with the
// fifteen significant digits a float64 carries, never its binary noise.
func TestFloatResults(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want string
	}{
		{0.1 + 0.2, "0.3"},
		{15.3 - 15.3/1.2, "2.55"},
		{12.75 - 10.63, "2.12"},
		{1.0 / 3, "0.333333333333333"},
		{1e20 * 10, "1000000000000000000000"},
		{-0.0005, "-0.0005"},
		{42, "42"},
		{2.5e-7, "0.00000025"},
	} {
		got, ok, err := formatResult(tt.in)
		if err != nil || !ok || got != tt.want {
			t.Errorf("formatResult(%v) = %q, %v, %v; want %q", tt.in, got, ok, err, tt.want)
		}
	}
}

// TestCheckedArithmetic: integer + - * that leave the int64 range fail the
// row instead of wrapping; everything else computes as before.
func TestCheckedArithmetic(t *testing.T) {
	for _, tt := range []struct {
		src     string
		env     map[string]any
		want    any
		wantErr bool
	}{
		{"9223372036854775807 + 1", nil, nil, true},
		{"9223372036854775807 * 2", nil, nil, true},
		{"-9223372036854775807 - 2", nil, nil, true},
		{"x * 1000000", map[string]any{"x": 999999999999999}, nil, true},
		{"x + 1", map[string]any{"x": 41}, 42, false},
		{"x * -3", map[string]any{"x": int64(7)}, int64(-21), false},
		{"1.5 + 2", nil, 3.5, false},
		{`"ACR" + "7"`, nil, "ACR7", false},
		{"x * 0", map[string]any{"x": 1 << 62}, 0, false},
	} {
		p, err := compileExpr(tt.src, false)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		got, err := expr.Run(p.prog, tt.env)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("%s = %v, %v; want %v (error %v)", tt.src, got, err, tt.want, tt.wantErr)
		}
	}
}
