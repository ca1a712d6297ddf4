package crm

import (
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// decodeBulkResponse decodes data, the answer to a bulk create call, into
// out (overwritten) when it has the form engine serve and the API give
// it: an object of a status and a data object of the two sets, lists of
// objects whose members are strings. It scans the text byte by byte
// straight into the structs, every value cut from one string of the
// answer, where encoding/json first checks the whole answer and then
// finds each member by reflection (a sixth of a remote load's client
// CPU), and a token decoder allocates a string per value (a tenth).
//
// It reports false, and leaves out as it was, for any answer it would not
// read as encoding/json does: a member of another name (encoding/json
// also matches names in any case), null, a number or another type where
// a string or list goes, a name with escapes, a duplicate name, invalid
// UTF-8, data after the object. The caller then decodes it with
// encoding/json. FuzzDecodeBulkResponse checks that whenever it reports
// true, encoding/json reads the same.
func decodeBulkResponse(data []byte, out *Response[BulkResult]) bool {
	// One string of the answer: every value is cut from it, where a
	// decoder allocates a string per value.
	d := bulkScanner{s: string(data)}
	var r Response[BulkResult]
	var seen uint8
	ok := d.object(func(name string) bool {
		switch name {
		case "status":
			return d.once(&seen, 0) && d.status(&r.Status)
		case "data":
			return d.once(&seen, 1) && d.result(&r.Data)
		}
		return false
	})
	if !ok {
		return false
	}
	d.ws()
	if d.i != len(d.s) { // data after the object
		return false
	}
	*out = r
	return true
}

// bulkScanner reads an answer's text byte by byte: objects, lists of
// objects, and strings, nothing else.
type bulkScanner struct {
	s string
	i int
}

// once marks member bit of an object being read in *seen; false for a
// member given twice (encoding/json would take the last).
func (d *bulkScanner) once(seen *uint8, bit uint) bool {
	if *seen&(1<<bit) != 0 {
		return false
	}
	*seen |= 1 << bit
	return true
}

func (d *bulkScanner) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// at reads c, after white space, if it comes next.
func (d *bulkScanner) at(c byte) bool {
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

// object reads an object, calling member with each name, the scanner at
// its value; false if the text is not such an object or member is false.
func (d *bulkScanner) object(member func(name string) bool) bool {
	if !d.at('{') {
		return false
	}
	if d.at('}') {
		return true
	}
	for {
		var name string
		from := d.i
		if !d.str(&name) || strings.IndexByte(d.s[from:d.i], '\\') >= 0 || !d.at(':') || !member(name) {
			return false // a name with escapes is none of the form's
		}
		if !d.at(',') {
			return d.at('}')
		}
	}
}

// list reads a list, calling elem for each element.
func (d *bulkScanner) list(elem func() bool) bool {
	if !d.at('[') {
		return false
	}
	if d.at(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if !d.at(',') {
			return d.at(']')
		}
	}
}

// str reads a string into *s: cut from the text when it has no escape,
// else unquoted as jsontext does (which refuses what is not valid JSON).
// False for anything encoding/json would read otherwise: a control
// character, invalid UTF-8 (it would put U+FFFD in its place).
func (d *bulkScanner) str(s *string) bool {
	if !d.at('"') {
		return false
	}
	start, ascii, escaped := d.i, true, false
	for ; d.i < len(d.s); d.i++ {
		switch c := d.s[d.i]; {
		case c == '"':
			v := d.s[start:d.i]
			d.i++
			if escaped {
				u, err := jsontext.AppendUnquote(nil, d.s[start-1:d.i])
				if err != nil {
					return false
				}
				v = string(u)
			} else if !ascii && !utf8.ValidString(v) {
				return false
			}
			*s = v
			return true
		case c == '\\':
			escaped = true
			d.i++ // the escaped byte cannot end the string
		case c < 0x20:
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return false
}

func (d *bulkScanner) status(s *Status) bool {
	var seen uint8
	return d.object(func(name string) bool {
		switch name {
		case "code":
			return d.once(&seen, 0) && d.str(&s.Code)
		case "description":
			return d.once(&seen, 1) && d.str(&s.Description)
		case "message":
			return d.once(&seen, 2) && d.str(&s.Message)
		}
		return false
	})
}

func (d *bulkScanner) result(r *BulkResult) bool {
	var seen uint8
	return d.object(func(name string) bool {
		switch name {
		case "processed_customer_events_set":
			return d.once(&seen, 0) && readList(d, &r.Processed, processedMember)
		case "unprocessed_customer_events_set":
			if !d.once(&seen, 1) || !readList(d, &r.Unprocessed, unprocessedMember) {
				return false
			}
			// A failure's code and reason may be kept for the whole run
			// (the summary counts failures by code): copies of their own,
			// not cuts that would keep the answer.
			for i := range r.Unprocessed {
				u := &r.Unprocessed[i]
				u.ErrorCode, u.ErrorDescription = strings.Clone(u.ErrorCode), strings.Clone(u.ErrorDescription)
			}
			return true
		}
		return false
	})
}

// readList reads a list of objects of string members into *set (an empty
// list is an empty, not a nil, slice: as encoding/json reads it); member
// returns where the value of a member name goes (nil for a name T does
// not have) and its bit among T's members.
func readList[T any](d *bulkScanner, set *[]T, member func(*T, string) (*string, uint)) bool {
	*set = []T{}
	return d.list(func() bool {
		*set = append(*set, *new(T))
		var seen uint8
		return d.object(func(name string) bool {
			dst, bit := member(&(*set)[len(*set)-1], name)
			return dst != nil && d.once(&seen, bit) && d.str(dst)
		})
	})
}

// processedMember and unprocessedMember place the members of the two
// sets' entries.
func processedMember(p *Processed, name string) (*string, uint) {
	switch name {
	case "number":
		return &p.Number, 0
	case "id":
		return &p.ID, 1
	case "request_unique_identifier":
		return &p.RequestUniqueIdentifier, 2
	}
	return nil, 0
}

func unprocessedMember(u *Unprocessed, name string) (*string, uint) {
	switch name {
	case "error_description":
		return &u.ErrorDescription, 0
	case "error_code":
		return &u.ErrorCode, 1
	case "request_unique_identifier":
		return &u.RequestUniqueIdentifier, 2
	}
	return nil, 0
}
