package mapping

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dustin/go-humanize/english"
)

// MaxListed is how many items a message lists before it cuts the list.
const MaxListed = 20

// maxItem bounds the length of one listed item (a column name).
const maxItem = 80

// CutList joins items with ", ", at most MaxListed of them, each at most
// 80 characters and with control characters escaped, and says how many
// more there are ("... and 19,990 more columns"): a message about a
// header of a million columns stays one line.
func CutList(items []string, noun string) string {
	n := min(len(items), MaxListed)
	parts := make([]string, 0, n+1)
	for _, it := range items[:n] {
		parts = append(parts, CutText(it, maxItem))
	}
	if rest := len(items) - n; rest > 0 {
		parts = append(parts, fmt.Sprintf("... and %s more %s", thousands(rest), noun))
	}
	return strings.Join(parts, ", ")
}

// CutText escapes control characters in s and cuts it to at most max
// characters, saying how much was left out.
func CutText(s string, max int) string {
	s = EscapeControl(s)
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max]) + fmt.Sprintf("... (%d characters more)", len(r)-max)
}

// EscapeControl replaces the control characters of s (ESC, BEL, NUL,
// line breaks, DEL, C1 controls) and invalid UTF-8 with Go escapes, so
// that a value printed in a message or a table cannot move the cursor,
// retitle the terminal or hide text.
func EscapeControl(s string) string {
	clean := true
	for _, r := range s {
		if isControl(r) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				fmt.Fprintf(&b, `\x%02x`, s[i])
				continue
			}
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case isControl(r) && r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case isControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// EscapeTerminal is EscapeControl for a message of several lines: line
// breaks and tabs stay.
func EscapeTerminal(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		fields := strings.Split(l, "\t")
		for j, f := range fields {
			fields[j] = EscapeControl(f)
		}
		lines[i] = strings.Join(fields, "\t")
	}
	return strings.Join(lines, "\n")
}

func isControl(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r < 0xa0) || r == '\u2028' || r == '\u2029' || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

// thousands writes n with comma separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// CountOf is n and the word, plural unless n is 1 ("1 row", "2 rows"):
// regular English plurals unless many is given.
func CountOf(n int, one, many string) string {
	return strconv.Itoa(n) + " " + english.PluralWord(n, one, many)
}
