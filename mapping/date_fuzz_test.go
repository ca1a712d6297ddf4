package mapping

import (
	"testing"

	"github.com/crmload/crmload/crm"
)

// parseDateSlow is parseDate without its fast path: the reference.
func parseDateSlow(s, layout string) (string, error) {
	t, err := parseTime(s, layout)
	if err != nil {
		return "", err
	}
	return apiDate(t)
}

var dateFastLayouts = []string{"", crm.DateLayout, "2006-01-02 15:04:05", "1/2/2006 15:04"}

var dateFastSeeds = []string{"2016-06-22T15:00:00", "2016-06-22 15:00:00", " 2016-06-22T15:00:00 ", "\t2016-06-22 15:00:00\n",
	"0000-02-29T00:00:00", "0000-02-29 00:00:00", "2023-02-29T12:00:00", "2024-04-31 00:00:00", "2024-01-01T24:00:00",
	"2024-01-01x00:00:00", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00.5", "2024-01-01", "2024-01-01T00:00",
	"\u00a02024-01-01T00:00:00", "2024-01-01T00:00:00\u00a0", "1/2/2024 15:04", "+024-01-01T00:00:00"}

func TestParseDateFast(t *testing.T) {
	for _, s := range dateFastSeeds {
		for _, l := range dateFastLayouts {
			checkDateFast(t, s, l)
		}
	}
}

func checkDateFast(t *testing.T, s, layout string) {
	got, err := parseDate(s, layout)
	want, wantErr := parseDateSlow(s, layout)
	if got != want || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
		t.Errorf("parseDate(%q, %q) = %q, %v; the slow path gives %q, %v", s, layout, got, err, want, wantErr)
	}
}

// FuzzParseDateFast: parseDate (with its fast path) gives what the slow
// path gives, for every text and a few layouts.
func FuzzParseDateFast(f *testing.F) {
	for _, s := range dateFastSeeds {
		for i := range dateFastLayouts {
			f.Add(s, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, s string, l uint8) {
		checkDateFast(t, s, dateFastLayouts[int(l)%len(dateFastLayouts)])
	})
}
