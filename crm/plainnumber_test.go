package crm

import (
	"math/big"
	"strings"
	"testing"
)

func TestPlainNumber(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		bounded  bool
	}{
		{"1E+2", "100", true}, {"5e-3", "0.005", true}, {"-2.50e1", "-25.0", true}, {"0.5e1", "5", true},
		{"0e5", "0", true}, {"1.25e-1", "0.125", true}, {"12.5", "12.5", true}, {"7", "7", true},
		{"1e60", "1e60", false}, {"1e59", "1" + strings.Repeat("0", 59), true},
		{"1e-60", "0." + strings.Repeat("0", 59) + "1", true}, {"1e-61", "1e-61", false},
		{"1e999999", "1e999999", false}, {"1e-999999999999999999999", "1e-999999999999999999999", false},
		{"not a number", "not a number", false}, {"1e", "1e", false},
	} {
		if got := PlainNumber(tt.in); got != tt.want {
			t.Errorf("PlainNumber(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := IsBoundedNumber(tt.in); got != tt.bounded {
			t.Errorf("IsBoundedNumber(%q) = %v, want %v", tt.in, got, tt.bounded)
		}
	}
}

// FuzzPlainNumber: a bounded number written out is a plain literal of the
// same exact value, within the bounds.
func FuzzPlainNumber(f *testing.F) {
	for _, s := range []string{"1E+2", "5e-3", "-2.50e1", "0.5e1", "0e5", "1e59", "1e-60", "123.456e-2", "-0.0e0", "9e+0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !IsBoundedNumber(s) {
			return
		}
		out := PlainNumber(s)
		if !IsPlainNumber(out) {
			t.Fatalf("PlainNumber(%q) = %q, not a plain literal", s, out)
		}
		a, _ := new(big.Rat).SetString(s)
		b, _ := new(big.Rat).SetString(out)
		if a.Cmp(b) != 0 {
			t.Fatalf("PlainNumber(%q) = %q, another value", s, out)
		}
		if IsPlainNumber(s) {
			if out != s {
				t.Fatalf("PlainNumber(%q) = %q, a plain literal changed", s, out)
			}
			return
		}
		ip, fp, _ := strings.Cut(strings.TrimPrefix(out, "-"), ".")
		if len(ip) > MaxPlainDigits || len(fp) > MaxPlainDigits {
			t.Fatalf("PlainNumber(%q) = %q, past %d digits", s, out, MaxPlainDigits)
		}
	})
}
