package loader

import (
	"unicode"
	"unicode/utf8"
)

// The reports write their CSV rows with appendCSVRecord straight into
// their buffer: encoding/csv's Writer, which wrote them before, buffers
// again in a bufio.Writer of its own and writes rune by rune (a tenth of
// the loader's own CPU in a 1M-row load). The bytes are its bytes
// exactly (fuzzed against it): a report is read back as an input, and
// its tests are golden files.

// csvDelimOK reports whether encoding/csv's Writer takes comma as its
// Comma (appendCSVRecord is its Write for such a comma only).
func csvDelimOK(comma rune) bool {
	return comma != 0 && comma != '"' && comma != '\r' && comma != '\n' && utf8.ValidRune(comma) && comma != utf8.RuneError
}

// appendCSVRecord appends record to b as encoding/csv's Writer.Write
// writes it with Comma comma (csvDelimOK) and UseCRLF false.
func appendCSVRecord(b []byte, record []string, comma rune) []byte {
	for n, field := range record {
		if n > 0 {
			b = utf8.AppendRune(b, comma)
		}
		if !csvFieldNeedsQuotes(field, comma) {
			b = append(b, field...)
			continue
		}
		b = append(b, '"')
		for len(field) > 0 {
			i := 0
			for i < len(field) && field[i] != '"' {
				i++
			}
			b = append(b, field[:i]...)
			if i < len(field) {
				b = append(b, '"', '"') // CR and LF are written as they are without UseCRLF
				i++
			}
			field = field[i:]
		}
		b = append(b, '"')
	}
	return append(b, '\n')
}

// csvFieldNeedsQuotes is encoding/csv's Writer.fieldNeedsQuotes.
func csvFieldNeedsQuotes(field string, comma rune) bool {
	if field == "" {
		return false
	}
	if field == `\.` {
		return true
	}
	if comma < utf8.RuneSelf {
		// Most bytes are above every byte that asks for quotes: one
		// comparison for them.
		c0 := byte(comma)
		hi := max(c0, '"')
		for i := 0; i < len(field); i++ {
			if c := field[i]; c <= hi && (c == '\n' || c == '\r' || c == '"' || c == c0) {
				return true
			}
		}
	} else {
		for _, r := range field {
			if r == comma || r == '"' || r == '\r' || r == '\n' {
				return true
			}
		}
	}
	if c := field[0]; c < utf8.RuneSelf {
		return c == ' ' || '\t' <= c && c <= '\r' // unicode.IsSpace's ASCII
	}
	r1, _ := utf8.DecodeRuneInString(field)
	return unicode.IsSpace(r1)
}
