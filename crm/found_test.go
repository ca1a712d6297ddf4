package crm

import (
	"slices"
	"testing"
)

func TestFound(t *testing.T) {
	for _, c := range []struct {
		found []int
		text  string
	}{
		{nil, ""},
		{[]int{0}, "0"},
		{[]int{0, 1, 2, 5, 7, 8}, "0-2,5,7-8"},
		{[]int{3, 999}, "3,999"},
	} {
		if got := FormatFound(c.found); got != c.text {
			t.Errorf("FormatFound(%v) = %q, want %q", c.found, got, c.text)
		}
		if got := ParseFound(c.text, 1000); !slices.Equal(got, c.found) {
			t.Errorf("ParseFound(%q) = %v, want %v", c.text, got, c.found)
		}
	}
	// Not of the form, or out of the call: nothing found (taken as created).
	for _, bad := range []string{"x", "1,1", "2,1", "1-1", "3-2", "-1", "1-", ",", "0,,1", "+1", "0-+2", "1000", "0-1000", " 1"} {
		if got := ParseFound(bad, 1000); got != nil {
			t.Errorf("ParseFound(%q) = %v, want nil", bad, got)
		}
	}
}

// FuzzParseFound: whatever ParseFound takes is increasing positions in the
// call, which FormatFound writes back as it was given or shorter.
func FuzzParseFound(f *testing.F) {
	f.Add("0-2,5,7-8", 10)
	f.Add("3", 2)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 2 * MaxBulkEvents // a call's events: ParseFound makes up to n positions
		found := ParseFound(s, n)
		for i, p := range found {
			if p < 0 || p >= n || i > 0 && p <= found[i-1] {
				t.Fatalf("ParseFound(%q, %d) = %v: not increasing positions in the call", s, n, found)
			}
		}
		if found != nil && !slices.Equal(ParseFound(FormatFound(found), n), found) {
			t.Fatalf("ParseFound(FormatFound(%v)) = %v", found, ParseFound(FormatFound(found), n))
		}
	})
}
