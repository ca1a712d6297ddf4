package crm

import (
	"bytes"
	"io"

	"github.com/go-json-experiment/json/jsontext"
)

// decodeBulkResponse decodes data, the answer to a bulk create call, into
// out (overwritten) when it has the form engine serve and the API give
// it: an object of a status and a data object of the two sets, lists of
// objects whose members are strings. It reads the tokens straight into
// the structs, where encoding/json first checks the whole answer and
// then finds each member by reflection: that was a sixth of a remote
// load's client CPU.
//
// It reports false, and leaves out as it was, for any answer it would not
// read as encoding/json does: a member of another name (encoding/json
// also matches names in any case), null, a number or another type where
// a string or list goes, a name with escapes, a duplicate name, invalid
// UTF-8, data after the object. The caller then decodes it with
// encoding/json. FuzzDecodeBulkResponse checks that whenever it reports
// true, encoding/json reads the same.
func decodeBulkResponse(data []byte, out *Response[BulkResult]) bool {
	// Duplicate names are found here (once), not by the decoder, which
	// keeps every name of an open object in a set.
	d := bulkDecoder{dec: jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowDuplicateNames(true)), ok: true}
	var r Response[BulkResult]
	if !d.open('{') {
		return false
	}
	var seen uint8
	for d.more('}') {
		switch string(d.name()) {
		case `"status"`:
			if !d.once(&seen, 0) || !d.status(&r.Status) {
				return false
			}
		case `"data"`:
			if !d.once(&seen, 1) || !d.result(&r.Data) {
				return false
			}
		default:
			return false
		}
	}
	if !d.ok || !d.close() {
		return false
	}
	if _, err := d.dec.ReadToken(); err != io.EOF {
		return false
	}
	*out = r
	return true
}

// bulkDecoder reads one answer; ok turns false at the first token that is
// not of the form, and every method then does nothing.
type bulkDecoder struct {
	dec *jsontext.Decoder
	ok  bool
}

// once marks member bit of an object being read in *seen, refusing a
// member given twice (encoding/json would take the last).
func (d *bulkDecoder) once(seen *uint8, bit uint) bool {
	if *seen&(1<<bit) != 0 {
		d.ok = false
	}
	*seen |= 1 << bit
	return d.ok
}

// open reads the '{' or '[' that begins an object or a list.
func (d *bulkDecoder) open(kind jsontext.Kind) bool {
	if !d.ok || d.dec.PeekKind() != kind {
		d.ok = false
		return false
	}
	_, err := d.dec.ReadToken()
	d.ok = err == nil
	return d.ok
}

// more reports whether the object or list being read has another member
// or element (false at its end, which is left to close).
func (d *bulkDecoder) more(end jsontext.Kind) bool {
	if !d.ok {
		return false
	}
	k := d.dec.PeekKind()
	if k == 0 { // a syntax or read error
		d.ok = false
	}
	return d.ok && k != end
}

// close reads the '}' or ']' that ends an object or a list.
func (d *bulkDecoder) close() bool {
	if !d.ok {
		return false
	}
	_, err := d.dec.ReadToken()
	d.ok = err == nil
	return d.ok
}

// name reads a member's name as it is written, quotes included (nil
// when it has escapes: no name of the form has); valid until the next
// read.
func (d *bulkDecoder) name() []byte {
	raw, err := d.dec.ReadValue()
	if err != nil || bytes.IndexByte(raw, '\\') >= 0 {
		d.ok = false
		return nil
	}
	return raw
}

// str reads a string value into s.
func (d *bulkDecoder) str(s *string) bool {
	if !d.ok || d.dec.PeekKind() != '"' {
		d.ok = false
		return false
	}
	tok, err := d.dec.ReadToken()
	if err != nil {
		d.ok = false
		return false
	}
	*s = tok.String()
	return true
}

func (d *bulkDecoder) status(s *Status) bool {
	if !d.open('{') {
		return false
	}
	var seen uint8
	for d.more('}') {
		switch string(d.name()) {
		case `"code"`:
			_ = d.once(&seen, 0) && d.str(&s.Code)
		case `"description"`:
			_ = d.once(&seen, 1) && d.str(&s.Description)
		case `"message"`:
			_ = d.once(&seen, 2) && d.str(&s.Message)
		default:
			d.ok = false
		}
	}
	return d.close()
}

func (d *bulkDecoder) result(r *BulkResult) bool {
	if !d.open('{') {
		return false
	}
	var seen uint8
	for d.more('}') {
		switch string(d.name()) {
		case `"processed_customer_events_set"`:
			if d.once(&seen, 0) {
				r.Processed = readList(d, processedMember)
			}
		case `"unprocessed_customer_events_set"`:
			if d.once(&seen, 1) {
				r.Unprocessed = readList(d, unprocessedMember)
			}
		default:
			d.ok = false
		}
	}
	return d.close()
}

// readList reads a list of objects of string members into a slice of T
// (an empty list is an empty, not a nil, slice: as encoding/json reads
// it); member returns where the value of a member name goes (nil for a
// name T does not have) and its bit among T's members.
func readList[T any](d *bulkDecoder, member func(*T, string) (*string, uint)) []T {
	if !d.open('[') {
		return nil
	}
	set := []T{}
	for d.more(']') {
		set = append(set, *new(T))
		if !d.open('{') {
			return nil
		}
		var seen uint8
		for d.more('}') {
			if dst, bit := member(&set[len(set)-1], string(d.name())); dst != nil {
				_ = d.once(&seen, bit) && d.str(dst)
			} else {
				d.ok = false
			}
		}
		d.close()
	}
	d.close()
	return set
}

// processedMember and unprocessedMember place the members of the two
// sets' entries.
func processedMember(p *Processed, name string) (*string, uint) {
	switch name {
	case `"number"`:
		return &p.Number, 0
	case `"id"`:
		return &p.ID, 1
	case `"request_unique_identifier"`:
		return &p.RequestUniqueIdentifier, 2
	}
	return nil, 0
}

func unprocessedMember(u *Unprocessed, name string) (*string, uint) {
	switch name {
	case `"error_description"`:
		return &u.ErrorDescription, 0
	case `"error_code"`:
		return &u.ErrorCode, 1
	case `"request_unique_identifier"`:
		return &u.RequestUniqueIdentifier, 2
	}
	return nil, 0
}
