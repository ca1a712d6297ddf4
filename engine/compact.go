package engine

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/crmload/crmload/crm"
)

// The SQLite store keeps an event compact (schema migration 6): the
// columns of the events table hold what lists filter on, and data, a blob,
// holds the rest as a sequence of fields, each a tag byte and a value:
//
//   - a reference: the referenced record's rid (uvarint);
//   - a string: its length (uvarint) and bytes;
//   - a number: numNone, numDecimal with the zigzag varint mantissa and
//     the scale byte (24.48 is 2448 and 2), or numText with the literal as
//     a string (an exponent, or more digits than an int64 holds). Numbers
//     are kept as the pages print them (PageNumber: 24.40 is 24.4);
//   - a list of lines: their count (uvarint), then each line's values.
//
// Empty fields are left out. Tags are stored: never renumber one.
const (
	tagAccessToken = iota + 1
	tagUnit
	tagBusinessUnit
	tagTAP
	tagPaymentType
	tagPaymentBrand
	tagInvoice
	tagProduct
	tagReferredBy
	_ // 10: free
	tagDescription
	tagReferenceNumber
	tagPaymentMediumIdentifier
	tagSocialMedia
	tagProfile
	tagAction
	tagWebsite
	tagPromoCode
	tagExternalSystem
	tagExternalSystemReference
	tagAmount
	tagSpendRequest // two numbers: spend amount, spend alternative amount
	tagProductsSet  // lines: product rid, quantity, net, VAT and total amounts
	tagKPIs         // lines: KPI rid, value, product rid (0: none)
	tagUDFString    // the UDF's number (1-16), then the string
	tagUDFFloat     // the UDF's number (1-4), then the number
	tagUDFDate      // the UDF's number (1-4), then the string
)

// Number encodings.
const (
	numNone = iota
	numDecimal
	numText
)

// refTags are the references kept in data, with the entity of each and
// where an EventObject keeps it. Account, participant and classification
// have columns of their own.
var refTags = []struct {
	tag byte
	e   *Entity
	obj func(o *EventObject) **RefObject
}{
	{tagAccessToken, entAccessToken, func(o *EventObject) **RefObject { return &o.AuthorizedByAccessToken }},
	{tagUnit, entUnit, func(o *EventObject) **RefObject { return &o.PerformedByUnit }},
	{tagBusinessUnit, entBusinessUnit, func(o *EventObject) **RefObject { return &o.PerformedByBusinessUnit }},
	{tagTAP, entTAP, func(o *EventObject) **RefObject { return &o.PerformedByTAP }},
	{tagPaymentType, entPaymentType, func(o *EventObject) **RefObject { return &o.PaymentMediumType }},
	{tagPaymentBrand, entPaymentBrand, func(o *EventObject) **RefObject { return &o.PaymentMediumBrand }},
	{tagInvoice, entInvoice, func(o *EventObject) **RefObject { return &o.Invoice }},
	{tagProduct, entProduct, func(o *EventObject) **RefObject { return &o.Product }},
	{tagReferredBy, entParticipant, func(o *EventObject) **RefObject { return &o.ReferredByRewardsParticipant }},
}

// stringTags are the strings kept in data.
var stringTags = []struct {
	tag byte
	obj func(o *EventObject) *string
}{
	{tagDescription, func(o *EventObject) *string { return &o.Description }},
	{tagReferenceNumber, func(o *EventObject) *string { return &o.ReferenceNumber }},
	{tagPaymentMediumIdentifier, func(o *EventObject) *string { return &o.PaymentMediumIdentifier }},
	{tagSocialMedia, func(o *EventObject) *string { return &o.SocialMedia }},
	{tagProfile, func(o *EventObject) *string { return &o.Profile }},
	{tagAction, func(o *EventObject) *string { return &o.Action }},
	{tagWebsite, func(o *EventObject) *string { return &o.Website }},
	{tagPromoCode, func(o *EventObject) *string { return &o.PromoCode }},
	{tagExternalSystem, func(o *EventObject) *string { return &o.ExternalSystem }},
	{tagExternalSystemReference, func(o *EventObject) *string { return &o.ExternalSystemReferenceNumber }},
}

func udfStrings(u *crm.UDFs) []*string {
	return []*string{&u.UDFString1, &u.UDFString2, &u.UDFString3, &u.UDFString4, &u.UDFString5, &u.UDFString6, &u.UDFString7, &u.UDFString8,
		&u.UDFString9, &u.UDFString10, &u.UDFString11, &u.UDFString12, &u.UDFString13, &u.UDFString14, &u.UDFString15, &u.UDFString16}
}

func udfFloats(u *crm.UDFs) []*json.Number {
	return []*json.Number{&u.UDFFloat1, &u.UDFFloat2, &u.UDFFloat3, &u.UDFFloat4}
}

func udfDates(u *crm.UDFs) []*string {
	return []*string{&u.UDFDate1, &u.UDFDate2, &u.UDFDate3, &u.UDFDate4}
}

// rowOf returns the rid of a referenced record (0 for none).
type rowOf func(e *Entity, r *RefObject) (int64, error)

// encodeData appends o's data blob to b.
func encodeData(b []byte, o *EventObject, row rowOf) ([]byte, error) {
	ref := func(tag byte, e *Entity, r *RefObject) error {
		if r == nil {
			return nil
		}
		n, err := row(e, r)
		if err != nil {
			return err
		}
		b = append(b, tag)
		b = binary.AppendUvarint(b, uint64(n))
		return nil
	}
	for _, t := range refTags {
		if err := ref(t.tag, t.e, *t.obj(o)); err != nil {
			return nil, err
		}
	}
	for _, t := range stringTags {
		if v := *t.obj(o); v != "" {
			b = append(b, t.tag)
			b = appendString(b, v)
		}
	}
	if o.Amount != "" {
		b = append(b, tagAmount)
		b = appendNumber(b, o.Amount)
	}
	if sr := o.SpendRequest; sr != nil {
		b = append(b, tagSpendRequest)
		b = appendNumber(b, sr.SpendAmount)
		b = appendNumber(b, sr.SpendAlternativeAmount)
	}
	if len(o.ProductsSet) > 0 {
		b = append(b, tagProductsSet)
		b = binary.AppendUvarint(b, uint64(len(o.ProductsSet)))
		for _, l := range o.ProductsSet {
			n, err := row(entProduct, l.Product)
			if err != nil {
				return nil, err
			}
			b = binary.AppendUvarint(b, uint64(n))
			b = appendNumber(b, l.Quantity)
			b = appendNumber(b, l.NetAmount)
			b = appendNumber(b, l.VATAmount)
			b = appendNumber(b, l.TotalAmount)
		}
	}
	if len(o.MeasuredKPIs) > 0 {
		b = append(b, tagKPIs)
		b = binary.AppendUvarint(b, uint64(len(o.MeasuredKPIs)))
		for _, l := range o.MeasuredKPIs {
			n, err := row(entKPI, l.KPI)
			if err != nil {
				return nil, err
			}
			b = binary.AppendUvarint(b, uint64(n))
			b = appendNumber(b, l.Value)
			var p int64
			if l.Product != nil {
				if p, err = row(entProduct, l.Product); err != nil {
					return nil, err
				}
			}
			b = binary.AppendUvarint(b, uint64(p))
		}
	}
	if o.UDFs == nil {
		return b, nil
	}
	for i, v := range udfStrings(o.UDFs) {
		if *v != "" {
			b = append(b, tagUDFString, byte(i+1))
			b = appendString(b, *v)
		}
	}
	for i, v := range udfFloats(o.UDFs) {
		if *v != "" {
			b = append(b, tagUDFFloat, byte(i+1))
			b = appendNumber(b, *v)
		}
	}
	for i, v := range udfDates(o.UDFs) {
		if *v != "" {
			b = append(b, tagUDFDate, byte(i+1))
			b = appendString(b, *v)
		}
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendNumber appends a number as the pages print it.
func appendNumber(b []byte, n json.Number) []byte {
	if n == "" {
		return append(b, numNone)
	}
	s := PageNumber(string(n))
	if m, scale, ok := decimal(s); ok {
		b = append(b, numDecimal)
		b = binary.AppendVarint(b, m)
		return append(b, scale)
	}
	b = append(b, numText)
	return appendString(b, s)
}

// decimal splits a plain decimal literal (no exponent) into a mantissa and
// a scale, if formatDecimal gives the literal back: an optional minus (not
// of zero), an integer part without leading zeros, a dot and 1 to 30
// digits if any, a mantissa that fits an int64. It reads the bytes once
// and allocates nothing (it runs for every amount an event stores);
// FuzzDecimal holds it to that definition.
func decimal(s string) (m int64, scale byte, ok bool) {
	i, neg := 0, false
	if i < len(s) && s[i] == '-' {
		neg, i = true, 1
	}
	start, dot := i, -1
	var u uint64
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' && dot < 0 {
			dot = i
			continue
		}
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		if u > (math.MaxUint64-9)/10 {
			return 0, 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	intLen := len(s) - start
	if dot >= 0 {
		intLen = dot - start
		frac := len(s) - dot - 1
		if frac == 0 || frac > 30 {
			return 0, 0, false
		}
		scale = byte(frac)
	}
	if intLen == 0 || intLen > 1 && s[start] == '0' {
		return 0, 0, false
	}
	switch {
	case neg && u == 0, !neg && u > math.MaxInt64, neg && u > math.MaxInt64+1:
		return 0, 0, false
	case neg:
		return int64(-u), scale, true
	}
	return int64(u), scale, true
}

func formatDecimal(m int64, scale byte) string {
	s := strconv.FormatInt(m, 10)
	if scale == 0 {
		return s
	}
	neg := m < 0
	if neg {
		s = s[1:]
	}
	for len(s) <= int(scale) {
		s = "0" + s
	}
	s = s[:len(s)-int(scale)] + "." + s[len(s)-int(scale):]
	if neg {
		s = "-" + s
	}
	return s
}

// dataReader reads a data blob.
type dataReader struct {
	b   []byte
	err error
}

var errBadData = errors.New("damaged event data")

func (r *dataReader) byte() byte {
	if len(r.b) == 0 {
		r.err = errBadData
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *dataReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errBadData
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *dataReader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err = errBadData
		r.b = nil
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *dataReader) number() json.Number {
	switch r.byte() {
	case numNone:
		return ""
	case numDecimal:
		m, n := binary.Varint(r.b)
		if n <= 0 {
			r.err = errBadData
			r.b = nil
			return ""
		}
		r.b = r.b[n:]
		return json.Number(formatDecimal(m, r.byte()))
	case numText:
		return json.Number(r.string())
	}
	r.err = errBadData
	return ""
}

// refOf returns the record of e with the given rid, rendered as it is
// nested in an event object.
type refOf func(e *Entity, rid int64) (*RefObject, error)

// decodeData fills o from a data blob.
func decodeData(o *EventObject, data []byte, ref refOf) error {
	r := &dataReader{b: data}
	var err error
	for len(r.b) > 0 && r.err == nil && err == nil {
		tag := r.byte()
		switch {
		case tag >= tagAccessToken && tag <= tagReferredBy:
			for _, t := range refTags {
				if t.tag == tag {
					*t.obj(o), err = ref(t.e, int64(r.uvarint()))
				}
			}
		case tag >= tagDescription && tag <= tagExternalSystemReference:
			for _, t := range stringTags {
				if t.tag == tag {
					*t.obj(o) = r.string()
				}
			}
		case tag == tagAmount:
			o.Amount = r.number()
		case tag == tagSpendRequest:
			o.SpendRequest = &crm.SpendRequest{SpendAmount: r.number(), SpendAlternativeAmount: r.number()}
		case tag == tagProductsSet:
			n := r.uvarint()
			if n > uint64(len(r.b)/5) { // a line takes 5 bytes at least
				return errBadData
			}
			o.ProductsSet = make([]ProductLine, n)
			for i := range o.ProductsSet {
				l := &o.ProductsSet[i]
				if l.Product, err = ref(entProduct, int64(r.uvarint())); err != nil {
					return err
				}
				l.Quantity, l.NetAmount, l.VATAmount, l.TotalAmount = r.number(), r.number(), r.number(), r.number()
			}
		case tag == tagKPIs:
			n := r.uvarint()
			if n > uint64(len(r.b)/3) { // a line takes 3 bytes at least
				return errBadData
			}
			o.MeasuredKPIs = make([]KPILine, n)
			for i := range o.MeasuredKPIs {
				l := &o.MeasuredKPIs[i]
				if l.KPI, err = ref(entKPI, int64(r.uvarint())); err != nil {
					return err
				}
				l.Value = r.number()
				if p := int64(r.uvarint()); p != 0 {
					if l.Product, err = ref(entProduct, p); err != nil {
						return err
					}
				}
			}
		case tag == tagUDFString || tag == tagUDFFloat || tag == tagUDFDate:
			i := int(r.byte()) - 1
			if o.UDFs == nil {
				o.UDFs = new(crm.UDFs)
			}
			switch {
			case tag == tagUDFString && i >= 0 && i < 16:
				*udfStrings(o.UDFs)[i] = r.string()
			case tag == tagUDFFloat && i >= 0 && i < 4:
				*udfFloats(o.UDFs)[i] = r.number()
			case tag == tagUDFDate && i >= 0 && i < 4:
				*udfDates(o.UDFs)[i] = r.string()
			default:
				return errBadData
			}
		default:
			return fmt.Errorf("%w: unknown field %d", errBadData, tag)
		}
	}
	if r.err != nil {
		return r.err
	}
	return err
}

// eventID derives an event's id from its creation time (Unix
// milliseconds) and its number: 32 upper-case hex digits, the first twelve
// the time (as the random ids of earlier releases), the other twenty the
// number. Ids are unique (numbers are) and sort by creation time.
func eventID(created, number int64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(created)<<16)
	binary.BigEndian.PutUint64(b[8:], uint64(number))
	const hexd = "0123456789ABCDEF"
	var out [32]byte
	for i, c := range b {
		out[2*i], out[2*i+1] = hexd[c>>4], hexd[c&15]
	}
	return string(out[:])
}

// parseEventID undoes eventID: ok is false for a string eventID does not
// make. created is the low 48 bits of the creation time (all eventID
// keeps): a lookup compares it with the stored time's.
func parseEventID(id string) (created, number int64, ok bool) {
	if len(id) != 32 {
		return 0, 0, false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return 0, 0, false
		}
	}
	t, err1 := strconv.ParseUint(id[:12], 16, 64)
	n, err2 := strconv.ParseUint(id[12:], 16, 64)
	if err1 != nil || err2 != nil || n > 1<<63-1 {
		return 0, 0, false
	}
	return int64(t), int64(n), eventID(int64(t), int64(n)) == id
}

// createdMillis is the creation time of a pending event in Unix
// milliseconds: Created, or its log information's created date.
func createdMillis(p *PendingEvent) int64 {
	if !p.Created.IsZero() {
		return p.Created.UnixMilli()
	}
	if t, err := time.Parse(dateLayout, p.Obj.LogInformation.CreatedDate); err == nil {
		return t.UnixMilli()
	}
	return time.Now().UnixMilli()
}

// dateOf prints Unix milliseconds as an API date.
func dateOf(ms int64) string { return time.UnixMilli(ms).UTC().Format(dateLayout) }

func codeOf(codes []string, s string) int64 {
	for i, c := range codes {
		if c == s {
			return int64(i)
		}
	}
	return -1
}

func nameOf(codes []string, code int64) string {
	if code >= 0 && code < int64(len(codes)) {
		return codes[code]
	}
	return ""
}

// encoded is what encodeRows made of a call's rows: each row's data blob
// and digest bytes, as parts of one buffer.
type encoded struct {
	buf   []byte
	parts []span // row i's data is parts[2i], its digest parts[2i+1]
}

// span is buf[start:end]; start < 0 when the part was not made.
type span struct{ start, end int }

// errNoRow stops encodeRows at a reference that does not carry its rid
// (only the store can find it).
var errNoRow = errors.New("reference without its row")

// encodeRows encodes the data blob (encodeData) and the digest bytes of
// each row, before the writer is taken: a row whose references do not all
// carry their rid, or whose digest is not hex, is left to commit.
func encodeRows(rows []*PendingEvent) encoded {
	// 64 bytes a row hold a purchase of a line or two and its digest.
	e := encoded{buf: make([]byte, 0, 64*len(rows)), parts: make([]span, 0, 2*len(rows))}
	known := func(_ *Entity, r *RefObject) (int64, error) {
		switch {
		case r == nil:
			return 0, nil
		case r.row != 0:
			return r.row, nil
		}
		return 0, errNoRow
	}
	none := span{-1, -1}
	for _, p := range rows {
		start := len(e.buf)
		b, err := encodeData(e.buf, p.Obj, known)
		if err != nil {
			e.buf = e.buf[:start]
			e.parts = append(e.parts, none, none)
			continue
		}
		e.buf = b
		e.parts = append(e.parts, span{start, len(b)})
		start = len(e.buf)
		if b, err = hex.AppendDecode(e.buf, []byte(p.Digest)); err != nil || len(b) == start {
			e.buf = e.buf[:start]
			e.parts = append(e.parts, none)
			continue
		}
		e.buf = b
		e.parts = append(e.parts, span{start, len(b)})
	}
	return e
}

// data is row i's data blob; nil when encodeRows left it to commit.
func (e encoded) data(i int) []byte { return e.part(2 * i) }

// digest is row i's digest bytes; nil when encodeRows left it to commit
// (no digest, or one commit reads as none).
func (e encoded) digest(i int) []byte { return e.part(2*i + 1) }

func (e encoded) part(j int) []byte {
	if j >= len(e.parts) || e.parts[j].start < 0 {
		return nil
	}
	p := e.parts[j]
	return e.buf[p.start:p.end:p.end]
}
