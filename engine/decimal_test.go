package engine

import (
	"strconv"
	"strings"
	"testing"
)

// decimalByRoundTrip is decimal's definition, as it was written first:
// split at the dot, parse, and keep the split only if formatDecimal gives
// the literal back.
func decimalByRoundTrip(s string) (m int64, scale byte, ok bool) {
	digits := s
	if dot := strings.IndexByte(s, '.'); dot >= 0 {
		if len(s)-dot-1 > 30 {
			return 0, 0, false
		}
		scale = byte(len(s) - dot - 1)
		digits = s[:dot] + s[dot+1:]
	}
	m, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || formatDecimal(m, scale) != s {
		return 0, 0, false
	}
	return m, scale, true
}

var decimalCases = []string{"", "0", "-0", "0.0", "-0.0", "00", "01", "1", "-1", "10", "1.", ".5", "-.5", "0.05", "-0.05", "00.5",
	"12.50", "+5", "1e3", "1.2.3", "1_000", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
	"-9223372036854775809", "92233720368547758070", "18446744073709551615", "184467440737095516150", "0." + strings.Repeat("1", 30),
	"0." + strings.Repeat("1", 31), "1." + strings.Repeat("0", 18), "1." + strings.Repeat("0", 19), "-", "--1", " 1", "1 ", "١"}

func TestDecimal(t *testing.T) {
	for _, s := range decimalCases {
		m, scale, ok := decimal(s)
		wm, wscale, wok := decimalByRoundTrip(s)
		if m != wm || scale != wscale || ok != wok {
			t.Errorf("decimal(%q) = %d, %d, %v; want %d, %d, %v", s, m, scale, ok, wm, wscale, wok)
		}
	}
	if n := testing.AllocsPerRun(100, func() { decimal("-12345.678") }); n != 0 {
		t.Errorf("decimal allocates %v times", n)
	}
}

func FuzzDecimal(f *testing.F) {
	for _, s := range decimalCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, scale, ok := decimal(s)
		wm, wscale, wok := decimalByRoundTrip(s)
		if m != wm || scale != wscale || ok != wok {
			t.Errorf("decimal(%q) = %d, %d, %v; want %d, %d, %v", s, m, scale, ok, wm, wscale, wok)
		}
	})
}
