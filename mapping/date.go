package mapping

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crmload/crmload/crm"
)

// strftimeLayout converts a strftime pattern (%Y-%m-%d %H:%M:%S) to a Go
// time layout. Only the directives that make sense for parsing are
// accepted; anything else is an error naming the directive.
func strftimeLayout(p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(p) {
			return "", fmt.Errorf("format %q ends with a lone %%", p)
		}
		switch p[i] {
		case 'Y':
			b.WriteString("2006")
		case 'y':
			b.WriteString("06")
		case 'm':
			b.WriteString("1") // Go's "1" also reads "01"
		case 'd', 'e':
			b.WriteString("2") // and "2" reads "02"
		case 'H':
			b.WriteString("15")
		case 'I':
			b.WriteString("3")
		case 'M':
			b.WriteString("4")
		case 'S':
			b.WriteString("5")
		case 'p':
			b.WriteString("PM")
		case 'b', 'h':
			b.WriteString("Jan")
		case 'B':
			b.WriteString("January")
		case 'a':
			b.WriteString("Mon")
		case 'A':
			b.WriteString("Monday")
		case 'f':
			b.WriteString("999999999")
		case 'z':
			b.WriteString("-0700")
		case 'Z':
			b.WriteString("MST")
		case 'T':
			b.WriteString("15:04:05")
		case 'F':
			b.WriteString("2006-01-02")
		case '%':
			b.WriteByte('%')
		default:
			return "", fmt.Errorf("format %q: %%%c is not a supported directive (use %%Y %%y %%m %%d %%H %%I %%M %%S %%p %%b %%B %%f %%z %%T %%F)", p, p[i])
		}
	}
	return b.String(), nil
}

// isoLayouts are the forms recognised without a format: unambiguous, year
// first. A fraction of a second is dropped (the API has none).
var isoLayouts = []string{
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
	time.RFC3339Nano,
}

// parseDate reads a date with the given Go layout, or, with none, one of
// the ISO forms; it refuses day/month orders it would have to guess. The
// result is the API form, the wall clock as written (an offset, if given,
// is read and dropped: CRM.COM dates have none).
func parseDate(s, layout string) (string, error) {
	if d, ok := parseDateFast(s, layout); ok {
		return d, nil
	}
	t, err := parseTime(s, layout)
	if err != nil {
		return "", err
	}
	return apiDate(t)
}

// parseDateFast is parseDate for the commonest inputs, a date already in
// the API's form (or with a space for the T), read without a layout or
// with the API's, and without a layout the same to the minute (seconds
// 00) or the day (midnight): the text is the answer, and time.Parse and
// Format are skipped (a web export's "2016-06-22 15:00" went through up
// to six layouts, a fifth of its load's CPU). ok is false for anything
// else (parseDate reads it). FuzzParseDateFast holds it to the slow path.
func parseDateFast(s, layout string) (string, bool) {
	if layout != "" && layout != crm.DateLayout {
		return "", false
	}
	if len(s) != len(crm.DateLayout) {
		s = strings.TrimSpace(s)
	}
	switch {
	case layout != "":
	case len(s) == len("2006-01-02T15:04") && (s[10] == ' ' || s[10] == 'T'):
		s = s[:10] + "T" + s[11:] + ":00"
	case len(s) == len("2006-01-02"):
		s += "T00:00:00"
	}
	if len(s) != len(crm.DateLayout) {
		return "", false
	}
	if s[10] == ' ' && layout == "" {
		s = s[:10] + "T" + s[11:]
	}
	if s[0] == '0' && s[1] == '0' && s[2] == '0' && s[3] == '0' {
		return "", false // year 0000: the slow path's error
	}
	if !crm.IsDate(s) {
		return "", false
	}
	return s, true
}

// parseTime is parseDate's reading of the text: the wall clock as
// written, the offset dropped.
func parseTime(s, layout string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if layout != "" {
		if strings.Contains(layout, "PM") {
			s = upperMeridiem(s)
		}
		t, err := time.Parse(layout, s)
		if err != nil {
			// A value out of range is an impossible date only when the
			// text has the format's shape: "2011-12-09 08:39:00" read
			// with %m/%d/%Y fails on month 20, but it is the format that
			// is wrong, not the date.
			if impossible(err) && sameShape(s, layout) {
				return time.Time{}, errNoSuchDate(err)
			}
			return time.Time{}, fmt.Errorf("does not match the format")
		}
		return t, nil
	}
	var rangeErr error
	for _, l := range isoLayouts {
		t, err := time.Parse(l, s)
		if err == nil {
			return t, nil
		}
		if rangeErr == nil && impossible(err) {
			rangeErr = err
		}
	}
	if rangeErr != nil {
		return time.Time{}, errNoSuchDate(rangeErr)
	}
	if strings.Count(s, "/") == 2 || strings.Count(s, ".") == 2 {
		return time.Time{}, fmt.Errorf("is not a year-first date, and day/month order cannot be guessed: give the column a format, such as %%d/%%m/%%Y %%H:%%M or %%m/%%d/%%Y %%H:%%M")
	}
	return time.Time{}, fmt.Errorf("is not a date (YYYY-MM-DD[THH:MM[:SS]]); give the column a format such as %%d/%%m/%%Y")
}

// upperMeridiem writes the am or pm of s (a word of its own, in any case)
// in capitals: strftime's %p reads either case, Go's PM capitals only.
func upperMeridiem(s string) string {
	isLetter := func(i int) bool {
		return i >= 0 && i < len(s) && ('a' <= s[i]|0x20 && s[i]|0x20 <= 'z')
	}
	for i := 0; i+1 < len(s); i++ {
		if c := s[i] | 0x20; (c == 'a' || c == 'p') && s[i+1]|0x20 == 'm' && !isLetter(i-1) && !isLetter(i+2) {
			if s[i] >= 'a' || s[i+1] >= 'a' {
				return s[:i] + strings.ToUpper(s[i:i+2]) + s[i+2:]
			}
			return s
		}
	}
	return s
}

// apiDate formats t as the API's date-time; year 0000 does not exist.
func apiDate(t time.Time) (string, error) {
	if t.Year() < 1 {
		return "", fmt.Errorf("this date does not exist: there is no year 0000")
	}
	return t.Format(crm.DateLayout), nil
}

// impossible reports whether a parse failed on a value out of range (the
// 29th of February 2010, hour 24): the text has the form of a date, but
// no such date exists.
func impossible(err error) bool {
	var pe *time.ParseError
	return errors.As(err, &pe) && strings.Contains(pe.Message, "out of range")
}

// sameShape reports whether s has the shape of a date written with the Go
// layout: the same separators in the same order between runs of digits
// and of letters (how many digits or letters a run has is not compared:
// %m reads 1 and 12).
func sameShape(s, layout string) bool {
	return shape(s) == shape(time.Date(2001, 11, 22, 13, 44, 55, 0, time.UTC).Format(layout))
}

// shape is s with each run of digits written 9 and each run of letters a.
func shape(s string) string {
	var b strings.Builder
	var last byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c = '9'
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			c = 'a'
		}
		if (c == '9' || c == 'a') && c == last {
			continue
		}
		b.WriteByte(c)
		last = c
	}
	return b.String()
}

func errNoSuchDate(err error) error {
	var pe *time.ParseError
	errors.As(err, &pe)
	return fmt.Errorf("this date does not exist (%s)", strings.TrimPrefix(pe.Message, ": "))
}
