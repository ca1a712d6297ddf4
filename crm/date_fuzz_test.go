package crm

import (
	"testing"
	"time"
)

// isDateSlow is IsDate by time.Parse alone: the reference of its fast path.
func isDateSlow(s string) bool {
	if len(s) != len(DateLayout) {
		return false
	}
	_, err := time.Parse(DateLayout, s)
	return err == nil
}

var dateSeeds = []string{"2016-06-22T15:00:00", "0000-02-29T00:00:00", "1900-02-29T00:00:00", "2000-02-29T23:59:59",
	"2023-02-29T12:00:00", "2024-13-01T00:00:00", "2024-00-10T00:00:00", "2024-04-31T00:00:00", "2024-04-00T00:00:00",
	"2024-01-01T24:00:00", "2024-01-01T23:60:00", "2024-01-01T23:59:60", "2024-01-01 00:00:00", "2024-1-01T00:00:00",
	"+024-01-01T00:00:00", "2024-01-01T0:00:00.", "2024-01-01T00:00:0Z", "9999-12-31T23:59:59", "2024-01-0 T00:00:00",
	"2024-01-01T00:00:00.5", "2024-01-01T00:00", "２024-01-01T00:00:0"}

func TestIsDateFast(t *testing.T) {
	for _, s := range dateSeeds {
		if got, want := IsDate(s), isDateSlow(s); got != want {
			t.Errorf("IsDate(%q) = %v, time.Parse says %v", s, got, want)
		}
	}
}

// FuzzIsDateFast: IsDate's fast path answers as time.Parse does.
func FuzzIsDateFast(f *testing.F) {
	for _, s := range dateSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := IsDate(s), isDateSlow(s); got != want {
			t.Errorf("IsDate(%q) = %v, time.Parse says %v", s, got, want)
		}
	})
}
