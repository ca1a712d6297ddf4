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
	"\u00a02024-01-01T00:00:00", "2024-01-01T00:00:00\u00a0", "1/2/2024 15:04", "+024-01-01T00:00:00",
	"2016-06-22 15:00", " 2016-06-22 15:00 ", "2016-06-22x15:00", "2016-06-22T24:00", "2016-06-22 15:60", "0000-01-01 00:00",
	"2023-02-29 00:00", "2023-02-29", "0000-01-01", " 2024-01-01", "2024-1-01", "2024-01-01Z", "+024-01-01", "2024-01-01 1:00"}

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

// BenchmarkParseDate: a date read without a format, in the forms exports
// write: to the second (the API's form, or with a space), to the minute
// (a web export's visited_on), the day alone; and one the fast path
// leaves to time.Parse (a fraction of a second).
func BenchmarkParseDate(b *testing.B) {
	for _, s := range []string{"2016-06-22T15:00:00", "2016-06-22 15:00:00", "2016-06-22 15:00", "2016-06-22", "2016-06-22T15:00:00.5"} {
		b.Run(s, func(b *testing.B) {
			for b.Loop() {
				if _, err := parseDate(s, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
