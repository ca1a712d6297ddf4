package cmd

import "testing"

// TestSumDecimals guards issue 16 point 11: events list showed a total of
// 5e-3 as 0 and 2.5e-1 as 0.2500.
func TestSumDecimals(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"0.1", "0.2"}, "0.3"},
		{[]string{"5e-3"}, "0.005"},
		{[]string{"2.5e-1"}, "0.25"},
		{[]string{"1.5E+3", "0.25"}, "1500.25"},
		{[]string{"12.50", "1"}, "13.50"},
		{[]string{"x"}, ""},
	}
	for _, tt := range tests {
		if got := sumDecimals(tt.in); got != tt.want {
			t.Errorf("sumDecimals(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
