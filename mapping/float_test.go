package mapping

import "testing"

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
