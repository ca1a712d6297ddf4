package mapping

import (
	"math/big"
	"strings"
	"testing"

	"github.com/crmload/crmload/crm"
)

// FuzzNormalizeNumber: a number that is accepted comes out as a plain
// JSON literal (no exponent) of exactly the same value, and normalizing it
// again changes nothing.
func FuzzNormalizeNumber(f *testing.F) {
	f.Add(".")         // SAS/Stata missing: was stored as 0
	f.Add("-.")        // was stored as 0
	f.Add("+-1")       // was stored as -1
	f.Add("5e-3")      // was shown as 0 by events list
	f.Add("2.5e-1")    // was shown as 0.2500
	f.Add("1e400")     // would expand to 400 digits
	f.Add(" +007.50 ") // spreadsheet forms
	f.Add("1e-")
	f.Fuzz(func(t *testing.T, s string) {
		out, err := normalizeNumber(s)
		if err != nil {
			return
		}
		if !crm.IsNumber(out) || strings.ContainsAny(out, "eE") {
			t.Fatalf("normalizeNumber(%q) = %q: not a plain JSON number", s, out)
		}
		in, ok := new(big.Rat).SetString(strings.TrimPrefix(strings.TrimSpace(s), "+"))
		got, ok2 := new(big.Rat).SetString(out)
		if !ok || !ok2 || in.Cmp(got) != 0 {
			t.Fatalf("normalizeNumber(%q) = %q: another value", s, out)
		}
		if again, err := normalizeNumber(out); err != nil || again != out {
			t.Fatalf("normalizeNumber(%q) = %q, %v: not idempotent", out, again, err)
		}
	})
}
