package mapping

import (
	"math"
	"strconv"
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

// FuzzRoundDecimal holds roundFast to roundDigits, the digits of the
// decimal, wherever it says it decides.
func FuzzRoundDecimal(f *testing.F) {
	for _, s := range []struct {
		x float64
		d int
	}{{2.675, 2}, {9.995, 2}, {-30.974999999999998, 2}, {7.419999999999995, 2}, {10.94, 2}, {0.1 + 0.2, 16},
		{5e-324, 2}, {4503599627370495.5, 0}, {0.000123456, 4}, {999.9999999, 3}, {-0.5, 0}, {1e21, 2},
		{123456789.987654321, 3}, {-0.001, 2}, {0.125, 2}, {1.0000000000000002, 15}} {
		f.Add(s.x, s.d)
	}
	f.Fuzz(func(t *testing.T, x float64, digits int) {
		digits %= 30
		if math.IsInf(x, 0) || math.IsNaN(x) || x == 0 {
			return
		}
		fast, ok := roundFast(x, digits)
		if !ok {
			return
		}
		if slow := roundDigits(x, digits); math.Float64bits(fast) != math.Float64bits(slow) {
			t.Fatalf("roundFast(%v, %d) = %v, the decimal's digits give %v", x, digits, fast, slow)
		}
	})
}

func BenchmarkRoundDecimal(b *testing.B) {
	for _, x := range []float64{10.94, 30.974999999999998, 1234.5678, 2.675} {
		b.Run(strconv.FormatFloat(x, 'g', -1, 64), func(b *testing.B) {
			for b.Loop() {
				roundDecimal(x, 2)
			}
		})
	}
}

// TestRoundFastOnAmounts holds roundFast to roundDigits on what loads
// round: products and quotients of quantities and prices in cents, and
// their differences, to 0-4 places (the fuzzer's floats are rarely such).
func TestRoundFastOnAmounts(t *testing.T) {
	decided := 0
	for q := -3; q <= 60; q++ {
		for cents := 1; cents <= 3000; cents += 7 {
			price := float64(cents) / 100
			total := float64(q) * price
			for _, x := range []float64{total, total / 1.2, total * 1.2, total - total/1.2, total / 3, price * 0.15} {
				for digits := range 5 {
					if x == 0 {
						continue
					}
					fast, ok := roundFast(x, digits)
					if !ok {
						continue
					}
					decided++
					if slow := roundDigits(x, digits); math.Float64bits(fast) != math.Float64bits(slow) {
						t.Fatalf("roundFast(%v, %d) = %v, the decimal's digits give %v", x, digits, fast, slow)
					}
				}
			}
		}
	}
	if decided < 100_000 {
		t.Errorf("roundFast decided %d amounts: fewer than it should", decided)
	}
}
