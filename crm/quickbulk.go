package crm

import (
	"bytes"
	"encoding/binary"
	"io"
	"reflect"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/go-json-experiment/json/jsontext"
)

// The quick reader of a bulk create body: the strict reader's rules
// (decode.go) for the bodies they accept as they are, read by hand.
//
// The token-by-token reader spent a third of engine serve's CPU in a
// remote load: a few decoder calls, a reflected field and a string
// allocation per value. For a body of the common form (the token, the
// call's parameters and its events set, each given once; values of their
// parameters' types; within the limits) readQuick reads the body into a
// buffer of its own as it parses it, checking its syntax as jsontext does
// (strings: UTF-8, no control characters, escapes unquoted by jsontext
// itself; numbers: JSON's grammar; nothing after the object), writes each
// value in its struct field in place and copies strings into blocks of
// their own. It calls Authorize the moment it has read the token, as the
// strict reader does, and charges the memory budget the same amounts in
// the same order. A member that is not a parameter where it stands, after
// the token, is skipped as the strict reader skips it (no name twice in
// its objects, at most maxSkipDepth levels; charged at least what the
// strict reader charges), and its path is handed to Ignored once the body
// was read: the strict reader's paths, in its order (no Authorize call
// comes after the token's).
//
// Anything else (such a member before the token, a name given twice, a
// value of another type, null for the token, a syntax error, a limit
// reached, a read error, a body past quickMaxBody) makes it give up, and
// the strict reader reads the whole body from its first byte: the bytes
// read so far, then the rest of the stream (or the read error where it
// came). One reading of the rules: the quick reader is only a faster way
// to the same result, and FuzzQuickBulkSame checks that the two read every
// body alike. The token the quick reader had accepted is not checked twice
// (authMemo).
//
// Memory: the quick reader holds the body read so far besides its values:
// about quickMaxBody at most (a call of 1000 events is well under it), and
// before the token was accepted about quickPreAuthBody (a crmload client
// sends the token first); a longer body goes to the strict reader, which
// reads it in constant memory. A body it gives up on late is read, and its
// values made, twice: at worst twice the memory budget of values, one set
// of them garbage. Before the token is accepted it reads 4 KiB at a time
// (the strict reader's decoder reads less): past a server's limit of bytes
// before the token, a read that brings bytes with the error is taken as
// the decoder takes it (fill). Buffers are kept for the next call only from
// callers whose token was accepted (TestServeBombs).

const (
	// quickMaxBody is about the longest body the quick reader holds (it
	// stops reading past it: one chunk more at most, in a buffer of up
	// to twice its capacity); quickPreAuthBody the same before the token
	// was accepted (a body whose token comes later is left to the strict
	// reader).
	quickMaxBody     = 4 << 20
	quickPreAuthBody = 64 << 10
	// quickKeep is the largest buffer kept for the next call.
	quickKeep = 2 << 20
	// quickChunk is what it reads at a time; quickChunkPreAuth before the
	// token was accepted.
	quickChunk        = 64 << 10
	quickChunkPreAuth = 4 << 10
	// quickBlock is the size of the blocks string values are copied into.
	quickBlock = 32 << 10
)

// quickBuffers keeps the quick reader's buffers for the next call.
var quickBuffers = sync.Pool{New: func() any { b := make([]byte, 0, quickChunk); return &b }}

// authMemo passes Authorize's answer for a token on to a second reading
// of the same body without calling it again.
type authMemo struct {
	f      func(string) error
	called bool
	token  string
	err    error
}

func (m *authMemo) authorize(token string) error {
	if m.called && token == m.token {
		return m.err
	}
	m.called, m.token = true, token
	m.err = m.f(token)
	return m.err
}

// readQuick reads the body of r by the quick reader. done: req and err are
// the answer (err is Authorize's refusal). Not done: the strict reader is
// to read rest, the whole body again, with opts (its Authorize then
// remembers the quick reader's answer).
func readQuick(k Kind, s *Schema, r io.Reader, opts *ReadOptions) (req *BulkRequest, done bool, rest io.Reader, release func(), err error) {
	if opts.Authorize != nil {
		m := &authMemo{f: opts.Authorize}
		opts.Authorize = m.authorize
	}
	b := &bodyReader{opts: withDefaults(*opts), authorized: opts.Authorize == nil}
	bufp := quickBuffers.Get().(*[]byte)
	q := &quickBulk{r: r, buf: (*bufp)[:0], b: b}
	req = &BulkRequest{Kind: k, Version: opts.Version}
	ok, err := q.read(req, s)
	release = func() {
		// Only an accepted caller's buffer is kept: an unauthenticated
		// caller's bytes are not kept alive for the next.
		if q.b.authorized && cap(q.buf) <= quickKeep {
			*bufp = q.buf[:0]
			quickBuffers.Put(bufp)
		}
	}
	if err != nil {
		release()
		return nil, true, nil, nil, err
	}
	if ok {
		release()
		return req, true, nil, nil, nil
	}
	var tail io.Reader = r
	switch {
	case q.rerr != nil:
		// The error where the stream gave it, then what the stream
		// gives next (the same error, or more of the body).
		tail = io.MultiReader(&errOnce{err: q.rerr}, r)
	case q.eof:
		tail = bytes.NewReader(nil)
	}
	return nil, false, io.MultiReader(bytes.NewReader(q.buf), tail), release, nil
}

// errOnce returns its error once, as the stream did after the bytes
// before, and then ends.
type errOnce struct {
	err  error
	done bool
}

func (r *errOnce) Read([]byte) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	r.done = true
	return 0, r.err
}

// quickBulk is the state of one quick reading.
type quickBulk struct {
	r     io.Reader
	buf   []byte // the body read so far, from its first byte
	i     int    // the next byte to parse
	eof   bool
	rerr  error       // the read error that ended the stream (not io.EOF)
	b     *bodyReader // its budget, name sets, field orders and object blocks (no decoder)
	block []byte      // string values are copied into it
	esc   []byte      // an unquoted string with escapes
	// path is where the parser is: member names and list indices (-1:
	// a name), for the paths of ignored members; ignored holds those
	// paths, handed to Ignored once the body was read.
	path    []pathStep
	ignored []string
}

// pathStep is a step of quickBulk.path: a member's name, or an index.
type pathStep struct {
	name  string
	index int // -1 for a name
}

// fill reads more of the body; false when there is no more (its end, a
// read error, quickMaxBody).
func (q *quickBulk) fill() bool {
	if q.eof || q.rerr != nil || len(q.buf) >= quickMaxBody || !q.b.authorized && len(q.buf) >= quickPreAuthBody {
		return false
	}
	chunk := quickChunk
	if !q.b.authorized {
		chunk = quickChunkPreAuth
	}
	if cap(q.buf)-len(q.buf) < chunk {
		grown := make([]byte, len(q.buf), max(2*cap(q.buf), len(q.buf)+chunk))
		copy(grown, q.buf)
		q.buf = grown
	}
	n, err := q.r.Read(q.buf[len(q.buf) : len(q.buf)+chunk])
	q.buf = q.buf[:len(q.buf)+n]
	switch {
	case err == io.EOF:
		q.eof = true
	case err != nil && (n == 0 || len(q.buf) < len(utf8BOM)):
		// An error that comes with bytes is not the stream's end: the
		// next read says whether it lasts, as jsontext takes it (engine
		// serve's body says "no token yet" with the bytes that pass its
		// limit, and reads on once the token is accepted). Only the
		// strict reader's check of the first three bytes for a byte
		// order mark (io.ReadFull) stops at one.
		q.rerr = err
	}
	return n > 0 || !q.eof && q.rerr == nil
}

// utf8BOM is the UTF-8 byte order mark.
const utf8BOM = "\xef\xbb\xbf"

// at returns the byte at j, reading more of the body as needed; false
// past its end.
func (q *quickBulk) at(j int) (byte, bool) {
	for j >= len(q.buf) {
		if !q.fill() {
			return 0, false
		}
	}
	return q.buf[j], true
}

// ws passes over white space and returns the byte after it: at once when
// there is none (a compact body, as crmload sends), else wsSlow.
func (q *quickBulk) ws() (byte, bool) {
	if q.i < len(q.buf) {
		if c := q.buf[q.i]; c > ' ' {
			return c, true
		}
	}
	return q.wsSlow()
}

func (q *quickBulk) wsSlow() (byte, bool) {
	for {
		if q.i >= len(q.buf) && !q.fill() {
			return 0, false
		}
		for q.i < len(q.buf) {
			switch c := q.buf[q.i]; c {
			case ' ', '\t', '\n', '\r':
				q.i++
			default:
				return c, true
			}
		}
	}
}

// str reads the string at q.i (its opening quote) and returns its text,
// unquoted: valid until the next read (it is in buf or esc).
func (q *quickBulk) str() ([]byte, bool) {
	start := q.i + 1
	escaped, high := false, false
	for j := start; ; {
		for j+8 <= len(q.buf) && plainWord(binary.LittleEndian.Uint64(q.buf[j:])) {
			j += 8
		}
		for j < len(q.buf) && plainByte[q.buf[j]] {
			j++
		}
		if j >= len(q.buf) {
			if !q.fill() {
				return nil, false
			}
			continue
		}
		switch c := q.buf[j]; {
		case c == '"':
			raw := q.buf[start:j]
			q.i = j + 1
			if high && !utf8.Valid(raw) {
				return nil, false
			}
			if !escaped {
				return raw, true
			}
			var err error
			if q.esc, err = jsontext.AppendUnquote(q.esc[:0], q.buf[start-1:j+1]); err != nil {
				return nil, false
			}
			return q.esc, true
		case c == '\\':
			escaped = true
			j += 2 // the escaped byte is not the string's end
			continue
		case c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			high = true
		}
		j++
	}
}

// plainByte marks the bytes a string holds as they are: not its closing
// quote, not an escape, not a control character, ASCII.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainWord reports whether the eight bytes of w are all plainByte:
// none is a quote, a backslash, a control character or past ASCII, tested
// on the word at once (a byte b is below n when b-n borrows and b had no
// high bit; equal to c when b^c is below 1).
func plainWord(w uint64) bool {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	below := func(x uint64, n uint64) uint64 { return (x - n*ones) &^ x }
	return (w|below(w, 0x20)|below(w^('"'*ones), 1)|below(w^('\\'*ones), 1))&high == 0
}

// digits passes over the digits from j on and returns the index after
// them and how many there were.
func (q *quickBulk) digits(j int) (int, int) {
	n := 0
	for {
		c, ok := q.at(j)
		if !ok || c < '0' || c > '9' {
			return j, n
		}
		j++
		n++
	}
}

// number reads the number at q.i as its literal, checked against JSON's
// grammar; the byte after it must end a value.
func (q *quickBulk) number() ([]byte, bool) {
	start, j := q.i, q.i
	c, _ := q.at(j)
	if c == '-' {
		j++
	}
	switch c, ok := q.at(j); {
	case !ok:
		return nil, false
	case c == '0':
		j++
	case c >= '1' && c <= '9':
		j, _ = q.digits(j + 1)
	default:
		return nil, false
	}
	if c, _ := q.at(j); c == '.' {
		var n int
		if j, n = q.digits(j + 1); n == 0 {
			return nil, false
		}
	}
	if c, _ := q.at(j); c == 'e' || c == 'E' {
		j++
		if c, _ := q.at(j); c == '+' || c == '-' {
			j++
		}
		var n int
		if j, n = q.digits(j); n == 0 {
			return nil, false
		}
	}
	if !q.ends(j) {
		return nil, false
	}
	q.i = j
	return q.buf[start:j], true
}

// ends reports whether the byte at j may follow a value inside an object
// or a list.
func (q *quickBulk) ends(j int) bool {
	switch c, ok := q.at(j); {
	case !ok:
		return false
	default:
		return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
	}
}

// literal reads the literal lit (true, false, null) at q.i.
func (q *quickBulk) literal(lit string) bool {
	for k := range len(lit) {
		if c, ok := q.at(q.i + k); !ok || c != lit[k] {
			return false
		}
	}
	if !q.ends(q.i + len(lit)) {
		return false
	}
	q.i += len(lit)
	return true
}

// cut returns a string of s's bytes, copied into a block of values.
func (q *quickBulk) cut(s []byte) string {
	if len(s) == 0 {
		return ""
	}
	if len(s) > cap(q.block)-len(q.block) {
		if len(s) > quickBlock/4 {
			return string(s)
		}
		q.block = make([]byte, 0, quickBlock)
	}
	n := len(q.block)
	q.block = append(q.block, s...)
	return unsafe.String(&q.block[n], len(s))
}

var bulkRequestCodec = codecOf(reflect.TypeFor[BulkRequest]())

// read reads the body into req. It returns false when it gives up (the
// strict reader is to read the body), and Authorize's refusal as err.
func (q *quickBulk) read(req *BulkRequest, s *Schema) (bool, error) {
	b := q.b
	if c0, _ := q.at(0); c0 == 0xEF {
		if c1, _ := q.at(1); c1 == 0xBB {
			if c2, _ := q.at(2); c2 == 0xBF {
				q.i = 3
			}
		}
	}
	c, ok := q.ws()
	if !ok || c != '{' {
		return false, nil
	}
	q.i++
	set, alt := req.Kind.SetName(), req.Kind.AltSetName()
	codec := bulkRequestCodec
	names := b.enter(codec)
	lv := level{byName: s.callByName}
	given := false      // the events set was read
	var others []string // names not of the codec
	if c, ok = q.ws(); !ok {
		return false, nil
	}
	for c != '}' {
		if c != '"' {
			return false, nil
		}
		raw, ok := q.str()
		if !ok {
			return false, nil
		}
		name := string(raw)
		cf := codec.fields[name]
		if cf != nil {
			w, bit := cf.slot/64, uint64(1)<<(cf.slot%64)
			if names.bits[w]&bit != 0 {
				return false, nil
			}
			names.bits[w] |= bit
		} else {
			if !addName(&others, name) {
				return false, nil
			}
		}
		if c, ok = q.ws(); !ok || c != ':' {
			return false, nil
		}
		q.i++
		if c, ok = q.ws(); !ok {
			return false, nil
		}
		switch {
		case name == set || alt != "" && name == alt:
			q.path = append(q.path[:0], pathStep{name: name, index: -1})
			if given || !q.events(req, s, c) {
				return false, nil
			}
			given = true
		default:
			var f *fieldCodec
			var sf *Field
			if cf != nil {
				f, sf = cf.at(lv)
			}
			if f == nil {
				// Not a parameter here (a name given twice was found
				// above).
				q.path = q.path[:0]
				if !b.authorized || !q.skip(name, c) {
					return false, nil
				}
				break
			}
			if name == "token" && c != '"' {
				return false, nil // a token that is not a string
			}
			q.path = append(q.path[:0], pathStep{name: name, index: -1})
			if !q.value(unsafe.Add(unsafe.Pointer(req), f.off), f, sub(sf), c) {
				return false, nil
			}
			if name == "token" && !b.authorized {
				if err := b.authorize(req.Token); err != nil {
					return false, err
				}
			}
		}
		if c, ok = q.ws(); !ok {
			return false, nil
		}
		if c == ',' {
			q.i++
			if c, ok = q.ws(); !ok || c == '}' {
				return false, nil
			}
		} else if c != '}' {
			return false, nil
		}
	}
	q.i++
	b.leave()
	if _, more := q.ws(); more || !q.eof || q.rerr != nil {
		return false, nil // data after the object, a read error, a body too long
	}
	if len(req.Events) == 0 {
		return false, nil // the strict reader says what is missing
	}
	if !b.authorized {
		if err := b.authorize(""); err != nil {
			return false, err
		}
	}
	if b.opts.Ignored != nil {
		for _, p := range q.ignored {
			b.opts.Ignored(p)
		}
	}
	return true, nil
}

// events reads the events set, its first byte c, into req.Events.
func (q *quickBulk) events(req *BulkRequest, s *Schema, c byte) bool {
	b := q.b
	if c != '[' {
		return false
	}
	q.i++
	if n := min(b.opts.Events, MaxBulkEvents); n > 0 && b.authorized {
		req.Events = b.opts.eventSet(n)
	} else {
		req.Events = []Event{}
	}
	lv := level{byName: s.byName, bySlot: s.bySlot}
	c, ok := q.ws()
	if !ok {
		return false
	}
	for c != ']' {
		if len(req.Events) == MaxBulkEvents || c != '{' || b.charge(eventCodec.size) != nil {
			return false
		}
		req.Events = append(req.Events, Event{})
		n := len(req.Events) - 1
		if !q.element(unsafe.Pointer(&req.Events[n]), eventCodec, lv, n) {
			return false
		}
		if c, ok = q.next(']'); !ok {
			return false
		}
	}
	q.i++
	return true
}

// next passes over the white space and comma after a member or an
// element and returns the byte that starts the next one, or close.
func (q *quickBulk) next(close byte) (byte, bool) {
	c, ok := q.ws()
	switch {
	case !ok:
		return 0, false
	case c == close:
		return c, true
	case c != ',':
		return 0, false
	}
	q.i++
	c, ok = q.ws()
	if !ok || c == close {
		return 0, false // a comma before the close
	}
	return c, true
}

// element reads the index-th element of a list of objects, at q.i (its
// '{'), into the struct at v, of codec c, at level lv.
func (q *quickBulk) element(v unsafe.Pointer, c *codec, lv level, index int) bool {
	q.path = append(q.path, pathStep{index: index})
	ok := q.members(v, c, lv)
	q.path = q.path[:len(q.path)-1]
	return ok
}

// members reads the object at q.i (its '{') into the struct at v, of
// codec c, at level lv, as bodyReader.members does.
func (q *quickBulk) members(v unsafe.Pointer, c *codec, lv level) bool {
	b := q.b
	names := b.enter(c)
	var others []string // names c does not have
	q.i++
	ch, ok := q.ws()
	if !ok {
		return false
	}
	for k := 0; ch != '}'; k++ {
		if ch != '"' {
			return false
		}
		name, ok := q.str()
		if !ok {
			return false
		}
		cf := b.field(c, k, name)
		var f *fieldCodec
		var sf *Field
		if cf != nil {
			w, bit := cf.slot/64, uint64(1)<<(cf.slot%64)
			if names.bits[w]&bit != 0 {
				return false
			}
			names.bits[w] |= bit
			f, sf = cf.at(lv)
		}
		var unknown string
		if f == nil {
			if unknown, ok = q.unknownName(name, cf == nil, &others); !ok {
				return false
			}
		}
		if ch, ok = q.ws(); !ok || ch != ':' {
			return false
		}
		q.i++
		if ch, ok = q.ws(); !ok {
			return false
		}
		if f == nil {
			ok = q.skip(unknown, ch)
		} else {
			q.path = append(q.path, pathStep{name: f.name, index: -1})
			ok = q.value(unsafe.Add(v, f.off), f, sub(sf), ch)
			q.path = q.path[:len(q.path)-1]
		}
		if !ok {
			return false
		}
		if ch, ok = q.next('}'); !ok {
			return false
		}
	}
	q.i++
	b.leave()
	return true
}

// unknownName takes the name just read, which is not a parameter where
// it stands, as the strict reader does: a name its codec does not have
// (other) must not be given twice in the object (others holds those
// read so far). The quick reader skips such members only after the token
// was accepted (Ignored is then called in the strict reader's order).
func (q *quickBulk) unknownName(name []byte, other bool, others *[]string) (string, bool) {
	if !q.b.authorized {
		return "", false
	}
	n := string(name)
	if other && !addName(others, n) {
		return "", false
	}
	return n, true
}

// maxQuickNames bounds the names of one object the quick reader compares
// to find one given twice (one by one): past it, it gives up.
const maxQuickNames = 64

// addName adds n to the names read so far of an object (not of its
// codec); false when n is among them, or they are maxQuickNames already.
func addName(names *[]string, n string) bool {
	if len(*names) == maxQuickNames {
		return false
	}
	for _, o := range *names {
		if o == n {
			return false
		}
	}
	*names = append(*names, n)
	return true
}

// skip passes over the value at q.i, its first byte c, of the member
// called name that is not a parameter where it stands, checking it as the
// strict reader does, and records the member's path for Ignored. It
// charges the budget at least what the strict reader charges (the path,
// and each name inside with the bytes before it), all at once.
func (q *quickBulk) skip(name string, c byte) bool {
	toks := make([]string, 0, len(q.path)+1)
	for _, st := range q.path {
		if st.index >= 0 {
			toks = append(toks, strconv.Itoa(st.index))
		} else {
			toks = append(toks, st.name)
		}
	}
	p := formatPath(append(toks, name))
	start := q.i
	names, ok := q.skipValue(c, 1)
	if !ok || q.b.charge(int64(len(p))+nameCost) != nil || q.b.charge(int64(q.i-start)+nameCost*int64(names)) != nil {
		return false
	}
	q.ignored = append(q.ignored, p)
	return true
}

// skipValue passes over the value at q.i, its first byte c, depth levels
// into a skipped member, and returns how many names its objects hold.
func (q *quickBulk) skipValue(c byte, depth int) (int, bool) {
	switch {
	case c == '"':
		_, ok := q.str()
		return 0, ok
	case c == '-' || c >= '0' && c <= '9':
		_, ok := q.number()
		return 0, ok
	case c == 't':
		return 0, q.literal("true")
	case c == 'f':
		return 0, q.literal("false")
	case c == 'n':
		return 0, q.literal("null")
	case c != '{' && c != '[':
		return 0, false
	}
	if depth > maxSkipDepth {
		return 0, false // the strict reader refuses it too
	}
	close := byte(']')
	if c == '{' {
		close = '}'
	}
	q.i++
	ch, ok := q.ws()
	if !ok {
		return 0, false
	}
	names := 0
	var seen []string
	for ch != close {
		if c == '{' {
			if ch != '"' {
				return 0, false
			}
			raw, ok := q.str()
			if !ok || !addName(&seen, string(raw)) {
				return 0, false
			}
			names++
			if ch, ok = q.ws(); !ok || ch != ':' {
				return 0, false
			}
			q.i++
			if ch, ok = q.ws(); !ok {
				return 0, false
			}
		}
		n, ok := q.skipValue(ch, depth+1)
		if !ok {
			return 0, false
		}
		names += n
		if ch, ok = q.next(close); !ok {
			return 0, false
		}
	}
	q.i++
	return names, true
}

// value reads the value at q.i, its first byte c, into v, the place of
// parameter f, as bodyReader.value does.
func (q *quickBulk) value(v unsafe.Pointer, f *fieldCodec, lv level, c byte) bool {
	b := q.b
	if c == 'n' { // null: not given
		return q.literal("null")
	}
	switch f.shape {
	case shapeBool:
		switch {
		case c == 't' && q.literal("true"):
			*(*bool)(v) = true
		case c == 'f' && q.literal("false"):
			*(*bool)(v) = false
		default:
			return false
		}
	case shapeString, shapeNumber:
		var s []byte
		var ok bool
		switch {
		case c == '"':
			s, ok = q.str()
		case c == '-' || c >= '0' && c <= '9':
			s, ok = q.number()
		}
		if !ok || len(s) > b.opts.MaxString || b.charge(int64(len(s))) != nil {
			return false
		}
		*(*string)(v) = q.cut(s) // a string or a json.Number
	case shapeObject:
		if c != '{' {
			return false
		}
		p := b.alloc(f.elem).UnsafePointer()
		if b.charge(f.elem.size) != nil || !q.members(p, f.elem, lv) {
			return false
		}
		*(*unsafe.Pointer)(v) = p
	case shapeList:
		if c != '[' {
			return false
		}
		q.i++
		list := reflect.NewAt(f.typ, v).Elem()
		list.Set(reflect.MakeSlice(f.typ, 0, listRoom))
		ch, ok := q.ws()
		if !ok {
			return false
		}
		for ch != ']' {
			if ch != '{' || b.charge(f.elem.size) != nil {
				return false
			}
			n := list.Len()
			if n == list.Cap() {
				grown := reflect.MakeSlice(f.typ, n, 2*n)
				reflect.Copy(grown, list)
				list.Set(grown)
			}
			list.SetLen(n + 1)
			if !q.element(list.Index(n).Addr().UnsafePointer(), f.elem, lv, n) {
				return false
			}
			if ch, ok = q.next(']'); !ok {
				return false
			}
		}
		q.i++
	}
	return true
}
