package mapping

import (
	"strings"
	"testing"
)

func TestRoundDecimal(t *testing.T) {
	tests := []struct {
		x      float64
		digits int
		want   float64
	}{
		{2.675, 2, 2.68}, {2.665, 2, 2.67}, {-2.675, 2, -2.68}, {1.005, 2, 1.01},
		{3.0599999999999996, 2, 3.06}, {0.5, 0, 1}, {-0.5, 0, -1}, {1.4999, 0, 1},
		{9.995, 2, 10}, {99.5, 0, 100}, {1234.5, -2, 1200}, {1250, -2, 1300}, {-15, -1, -20},
		{49, -2, 0}, {50, -2, 100}, {7, -3, 0}, {12.5, 5, 12.5}, {0.000123456, 4, 0.0001},
		{1e21, 2, 1e21}, {123456789.987654321, 3, 123456789.988},
		// Float noise past fifteen significant digits is not a digit the
		// user has: 37.17 / 1.2 is 30.975, 44.55 - 37.13 is 7.42.
		{30.974999999999998, 2, 30.98}, {7.419999999999995, 2, 7.42},
		{-30.974999999999998, 2, -30.98}, {0.1 + 0.2, 16, 0.3}, {2.0000000000000004, 0, 2},
		// Fifteen significant digits are kept: 0.12345678901234 is not 0.1234567890123.
		{0.123456789012345, 14, 0.12345678901235}, {123456789012.345, 2, 123456789012.35},
	}
	for _, tt := range tests {
		if got := roundDecimal(tt.x, tt.digits); got != tt.want {
			t.Errorf("roundDecimal(%v, %d) = %v, want %v", tt.x, tt.digits, got, tt.want)
		}
	}
}

func TestToIntOfStrings(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
		err  bool
	}{
		{"17850.0", 17850, false}, {" +77 ", 77, false}, {"-3.7", -3, false}, {"99999999999999.9", 99999999999999, false},
		{"0.99999999999999999", 0, false}, {"999999999999999.99", 999999999999999, false}, {"-0.5", 0, false},
		{"9007199254740992", 0, true}, {"1.5.2", 0, true}, {"", 0, true}, {".", 0, true}, {"1e3", 1000, false},
	} {
		got, err := toInt(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("toInt(%q) = %d, %v; want %d (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestNotANumberHints: the hint for a number with commas is an expression
// that reads it: thousands separators dropped, a decimal comma made a point.
func TestNotANumberHints(t *testing.T) {
	for in, want := range map[string]string{
		"1,000.50":  `num(replace(Col, ",", ""))`,
		"1,000,000": `num(replace(Col, ",", ""))`,
		"1.000,50":  `num(replace(replace(Col, ".", ""), ",", "."))`,
		"2,5":       `num(replace(Col, ",", "."))`,
		" ":         "no digits",
		"abc":       "is not a number",
	} {
		if got := notANumber(in).Error(); !strings.Contains(got, want) {
			t.Errorf("notANumber(%q) = %q, want it to say %s", in, got, want)
		}
	}
}
