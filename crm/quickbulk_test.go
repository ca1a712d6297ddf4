package crm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// chunkedReader gives body at most chunk bytes a read and, when failAt is
// within it, fails with a read error after failAt bytes: with the read
// that brings the bytes before it (withData) or after them, and for good
// or once, the stream going on after it (transient: engine serve's body
// says "no token yet" past its limit until the token is accepted).
type chunkedReader struct {
	body                string
	chunk, failAt, off  int
	withData, transient bool
	failed              bool
}

var errCut = errors.New("connection reset")

func (r *chunkedReader) Read(p []byte) (int, error) {
	end := len(r.body)
	if r.failAt >= 0 && r.failAt < end && !(r.transient && r.failed) {
		end = r.failAt
	}
	if r.off >= end {
		if end < len(r.body) {
			r.failed = true
			return 0, errCut
		}
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.chunk)], r.body[r.off:end])
	r.off += n
	if r.withData && r.off == end && end < len(r.body) {
		r.failed = true
		return n, errCut
	}
	return n, nil
}

// readingOpts are the options of a reading in sameReading: an Authorize
// that accepts the token T (and, with limits&4, no token; with limits&8
// there is none), logging its calls and the ignored paths, limits set by
// limits%4, and with limits&64 the R10 pages' parameters. (limits&16 and
// &32 are chunkedReader's withData and transient.)
func readingOpts(log *[]string, limits byte) ReadOptions {
	o := ReadOptions{
		Authorize: func(token string) error {
			*log = append(*log, "authorize "+token)
			if token == "T" || token == "" && limits&4 != 0 {
				return nil
			}
			return &Error{Code: CodeInvalidToken, Message: "Invalid Token", Reason: "test"}
		},
		Ignored: func(path string) { *log = append(*log, "ignored "+path) },
	}
	switch limits % 4 {
	case 1:
		o.MaxString = 8
	case 2:
		o.PreAuthMemory, o.MaxMemory = 3000, 6000
	case 3:
		o.Events = 3
	}
	if limits&8 != 0 {
		o.Authorize = nil
	}
	if limits&64 != 0 {
		o.Version = R10
	}
	return o
}

// sameReading reads body as kind k through ReadBulkRequest (the quick
// reader, then the strict one when it gives up) and through the strict
// reader alone, from a stream of chunks failing at failAt, and fails
// unless both give the same request, the same error and the same calls of
// Authorize and Ignored, in the same order.
func sameReading(t *testing.T, k Kind, body string, chunk, failAt int, limits byte) {
	t.Helper()
	chunk = max(chunk, 1)
	var quickLog, strictLog []string
	stream := func() io.Reader {
		return &chunkedReader{body: body, chunk: chunk, failAt: failAt, withData: limits&16 != 0, transient: limits&32 != 0}
	}
	qr, qerr := ReadBulkRequest(k, stream(), readingOpts(&quickLog, limits))
	so := readingOpts(&strictLog, limits)
	sr, serr := readBulkStrict(k, SchemaFor(k, so.Version), stream(), so)
	var ql, sl *LimitError
	if errText(qerr) != errText(serr) || errors.As(qerr, &ql) != errors.As(serr, &sl) || errors.Is(qerr, errCut) != errors.Is(serr, errCut) {
		t.Fatalf("%s body %q (chunks of %d, cut at %d, limits %d):\nquick reader: %v\nstrict reader: %v", k, body, chunk, failAt, limits, qerr, serr)
	}
	if !reflect.DeepEqual(qr, sr) {
		t.Fatalf("%s body %q (limits %d):\nquick reader: %+v\nstrict reader: %+v", k, body, limits, qr, sr)
	}
	if !reflect.DeepEqual(quickLog, strictLog) {
		t.Fatalf("%s body %q (limits %d): calls\nquick reader: %q\nstrict reader: %q", k, body, limits, quickLog, strictLog)
	}
}

// errText is err's text, but for the input jsontext quotes in a syntax
// error before "within": what it had buffered (a sequence, a character
// or the bytes of one), which depends on how the body came in chunks (the strict reader alone does not quote the same
// for the same body sent in other chunks).
func errText(err error) string {
	s := fmt.Sprint(err)
	if !strings.Contains(s, "Not Valid JSON: ") {
		return s
	}
	head, tail, _ := strings.Cut(s, " within ")
	if i, j := strings.IndexAny(head, "`\"'"), strings.LastIndexAny(head, "`\"'"); i >= 0 && j > i {
		head = head[:i] + "..." + head[j+1:]
	}
	return head + " within " + tail
}

// pageRequests are the request examples of the bulk page, by kind.
func pageRequests(t testing.TB) map[Kind]string {
	out := map[Kind]string{}
	for _, k := range Kinds {
		b, err := os.ReadFile(filepath.Join("..", "engine", "testdata", "pages", string(k)+".request.json"))
		if err != nil {
			t.Fatal(err)
		}
		out[k] = string(b)
	}
	return out
}

// TestQuickBulkSame: bodies the quick reader reads itself and bodies it
// leaves to the strict reader give the same answers either way.
func TestQuickBulkSame(t *testing.T) {
	ev := `{"request_unique_identifier":"1","accounts_receivable_identifier":{"number":"A1"},"performed_by_unit_identifier":{"name":"U"},"performed_on":"2016-06-22T15:00:00","website":"w"}`
	bodies := []string{
		`{"token":"T","web_customer_events_set":[` + ev + `]}`,
		`{"web_customer_events_set":[` + ev + `],"token":"T"}`,                  // the token last
		`{"token":"X","web_customer_events_set":[` + ev + `]}`,                  // refused
		`{"web_customer_events_set":[` + ev + `]}`,                              // no token
		"\xef\xbb\xbf" + `{"token":"T","web_customer_events_set":[` + ev + `]}`, // a byte order mark
		`{"token":"T","web_customer_events_set":[{"request_unique_identifier":"caf\u00e9 \"q\" \\ \/"}]}`,
		`{"token":"T","web_customer_events_set":[{"request_unique_identifier":"\ud800"}]}`,
		`{"token":"T","web_customer_events_set":[{"request_unique_identifier":"` + "caf\xe9" + `"}]}`,
		`{"token":"T","web_customer_events_set":[{"request_unique_identifier":"a` + "\t" + `b"}]}`,
		`{"token":"T","web_customer_events_set":[{"udf_float_1":01}]}`,
		`{"token":"T","web_customer_events_set":[{"udf_float_1":-1.5e+3,"udf_float_2":"2"}]}`,
		`{"token":"T","web_customer_events_set":[{"udf_float_1":1.}]}`,
		`{"token":"T","web_customer_events_set":[{"udf_float_1":1e}]}`,
		`{"token":"T","web_customer_events_set":[{"udf_float_1":true}]}`,          // a wrong type fails the event
		`{"token":"T","web_customer_events_set":[{"Website":"x","website":"w"}]}`, // an ignored name
		`{"token":"T","web_customer_events_set":[{"website":"x","website":"w"}]}`, // a name twice
		`{"token":"T","web_customer_events_set":[{},]}`,
		`{"token":"T","web_customer_events_set":[{"website":"w",}]}`,
		`{"token":"T","web_customer_events_set":[{"website":"w"}],}`,
		`{"token":"T","web_customer_events_set":[{"website":"w"}]} x`,
		`{"token":"T","web_customer_events_set":[{"website":"w"}]}  ` + "\n",
		`{"token":"T","web_customer_events_set":[]}`,
		`{"token":"T","web_customer_events_set":null}`,
		`{"token":null,"web_customer_events_set":[{}]}`,
		`{"token":7,"web_customer_events_set":[{}]}`,
		`{"token":"T","fields_set":"id","web_customer_events_set":[{}]}`,
		`{"token":"T","web_customer_events_set":[{"description":nul}]}`,
		`{"token":"T","web_customer_events_set":[{"description":null}]}`,
		`{"token":"T","web_customer_events_set":[{"accounts_receivable_identifier":{"number":"A","number":"B"}}]}`,
		`{"token":"T","web_customer_events_set":[{}],"web_customer_events_set":[{}]}`,
		`{"token":"T","web_customer_events_set":[{"request_unique_identifier":"123456789"}]}`, // past MaxString 8
		`{"token":"T","web_customer_events_set":[{"udf_string_1":"` + strings.Repeat("x", 3000) + `"}]}`,
		`{"token":"T","web_customer_events_set":[` + strings.Repeat(`{},`, 1000) + `{}]}`,
		`{"token":"T","web_customer_events_set":[` + strings.Repeat(ev+",", 40) + ev + `]}`,
		`{"token":"T","web_customer_events_set":[{"website":"w"}]`,
		`{"token":"T","web`,
		``,
		`[]`,
		"\xfe\xff{}",
	}
	for _, body := range bodies {
		for _, limits := range []byte{0, 1, 2, 3, 4, 8, 64} {
			for _, chunk := range []int{1, 7, 1 << 20} {
				sameReading(t, Web, body, chunk, -1, limits)
			}
			for _, cut := range []int{0, 1, 2, 3, 4, len(body) / 2, len(body) - 1} {
				for _, mode := range []byte{0, 16, 32, 48} {
					sameReading(t, Web, body, 5, cut, limits|mode)
				}
			}
		}
	}
	for k, body := range pageRequests(t) {
		for _, limits := range []byte{0, 2, 3, 4, 8} {
			sameReading(t, k, body, 1<<20, -1, limits)
			sameReading(t, k, body, 3, len(body)/3, limits)
		}
	}
}

// TestQuickBulkReads: the common bodies are read by the quick reader
// itself (it does not give up on them), so that the comparison above
// compares something.
func TestQuickBulkReads(t *testing.T) {
	for k, body := range pageRequests(t) {
		s := SchemaFor(k, "")
		opts := ReadOptions{Authorize: func(string) error { return nil }}
		req, done, _, release, err := readQuick(k, s, strings.NewReader(body), &opts)
		if !done || err != nil {
			if release != nil {
				release()
			}
			t.Fatalf("%s: the quick reader gave up on the page's example (err %v)", k, err)
		}
		want, err := readBulkStrict(k, s, strings.NewReader(body), ReadOptions{Authorize: func(string) error { return nil }})
		if err != nil || !reflect.DeepEqual(req, want) {
			t.Fatalf("%s: quick reader %+v, strict reader %+v (%v)", k, req, want, err)
		}
	}
}

// TestQuickBulkIgnores: after the token, members that are not parameters
// where they stand are skipped by the quick reader itself (it does not
// give up), with the strict reader's paths and calls of Ignored.
func TestQuickBulkIgnores(t *testing.T) {
	body := `{"token":"T","colour":{"a":[1,{"b":null}],"c":"\u00e9"},"web_customer_events_set":[` +
		`{"request_unique_identifier":"1","Website":"x","accounts_receivable_identifier":{"number":"A","NUMBER":"B","12":[]},"udf_string_9":"u","website":"w"},` +
		`{"request_unique_identifier":"2","` + strings.Repeat("n", 80) + `":true,"website":"w"}],"fields_set":"id","tail":-1.5e3}`
	var log []string
	opts := ReadOptions{Authorize: func(string) error { return nil }, Ignored: func(p string) { log = append(log, p) }}
	req, done, _, release, err := readQuick(Web, SchemaFor(Web, ""), strings.NewReader(body), &opts)
	if !done || err != nil {
		if release != nil {
			release()
		}
		t.Fatalf("the quick reader gave up (err %v)", err)
	}
	var want []string
	sr, err := readBulkStrict(Web, SchemaFor(Web, ""), strings.NewReader(body), ReadOptions{Ignored: func(p string) { want = append(want, p) }})
	if err != nil || !reflect.DeepEqual(req, sr) || !reflect.DeepEqual(log, want) {
		t.Fatalf("quick reader %+v %q\nstrict reader %+v %q (%v)", req, log, sr, want, err)
	}
	if len(log) != 7 {
		t.Errorf("ignored %q, want 7 paths", log)
	}
	for _, limits := range []byte{0, 1, 2, 3, 4, 8, 16, 32, 64} {
		sameReading(t, Web, body, 11, -1, limits)
		sameReading(t, Web, body, 11, len(body)-20, limits)
	}
	// A skipped value nested 16 levels deep is read (by the quick reader
	// itself), 17 are refused (by both).
	for _, levels := range []int{16, 17} {
		deep := `{"token":"T","web_customer_events_set":[{"colour":` + strings.Repeat(`[`, levels) + strings.Repeat(`]`, levels) + `,"website":"w"}]}`
		sameReading(t, Web, deep, 1<<20, -1, 0)
		opts := ReadOptions{}
		_, done, _, release, _ := readQuick(Web, SchemaFor(Web, ""), strings.NewReader(deep), &opts)
		if release != nil {
			release()
		}
		if done != (levels == 16) {
			t.Errorf("%d levels: the quick reader read it itself: %v", levels, done)
		}
	}
}

// FuzzQuickBulkSame: any body, read in chunks and perhaps cut short,
// gets the same answer from ReadBulkRequest (quick reader first) as from
// the strict reader alone.
func FuzzQuickBulkSame(f *testing.F) {
	for k, body := range pageRequests(f) {
		f.Add(byte(slices.Index(Kinds, k)), body, uint16(1<<15), int32(-1), byte(0))
	}
	f.Add(byte(0), `{"token":"T","web_customer_events_set":[{"request_unique_identifier":"\u00e9\ud83d\ude00"}]}`, uint16(3), int32(-1), byte(2))
	f.Add(byte(0), `{"web_customer_events_set":[{"udf_float_1":-0.0e-0}],"token":"T"}`, uint16(1), int32(30), byte(4))
	f.Fuzz(func(t *testing.T, kind byte, body string, chunk uint16, failAt int32, limits byte) {
		sameReading(t, Kinds[int(kind)%len(Kinds)], body, int(chunk), int(failAt), limits)
	})
}

// FuzzQuickBulkSameBuilt is FuzzQuickBulkSame over the bodies the
// builder of FuzzReadBulkRequestBuilt writes: mostly well formed, with
// names and types mixed up.
func FuzzQuickBulkSameBuilt(f *testing.F) {
	f.Add([]byte{}, byte(0))
	f.Add([]byte{3, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, byte(2))
	f.Add([]byte{5, 2, 1, 0, 0, 9, 200, 13, 1, 7, 0, 42, 3, 3, 3}, byte(4))
	f.Fuzz(func(t *testing.T, program []byte, limits byte) {
		g := &builder{prog: program, vocab: fuzzVocab()}
		var b bytes.Buffer
		g.request(&b)
		sameReading(t, Web, b.String(), 1+int(limits)*37, -1, limits)
	})
}

// ReadOptions.eventSet uses the set EventSet gives when it is large
// enough, and makes one otherwise.
func TestReadOptionsEventSet(t *testing.T) {
	kept := make([]Event, 0, 8)
	for _, tc := range []struct {
		name   string
		give   func(int) []Event
		n      int
		reused bool
	}{
		{"no EventSet", nil, 5, false},
		{"none kept", func(int) []Event { return nil }, 5, false},
		{"too small", func(int) []Event { return kept }, 9, false},
		{"large enough", func(int) []Event { return kept }, 5, true},
	} {
		o := ReadOptions{EventSet: tc.give}
		got := o.eventSet(tc.n)
		if len(got) != 0 || cap(got) < tc.n {
			t.Errorf("%s: len %d cap %d, want 0 and at least %d", tc.name, len(got), cap(got), tc.n)
		}
		if reused := cap(got) > 0 && &got[:1][0] == &kept[:1][0]; reused != tc.reused {
			t.Errorf("%s: the kept set used: %v, want %v", tc.name, reused, tc.reused)
		}
	}
}

// TestPlainWord: the word test of eight bytes says what plainByte says
// of each: every byte value at every place among plain bytes, and pairs
// of odd bytes (a borrow from one must not hide or fake another).
func TestPlainWord(t *testing.T) {
	want := func(b []byte) bool {
		for _, c := range b {
			if !plainByte[c] {
				return false
			}
		}
		return true
	}
	check := func(b []byte) {
		t.Helper()
		if got := plainWord(binary.LittleEndian.Uint64(b)); got != want(b) {
			t.Fatalf("plainWord(%q) = %v, want %v", b, got, !got)
		}
	}
	odd := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, '"', 0x23, 0x5b, '\\', 0x5d, 0x7f, 0x80, 0xc3, 0xff}
	for at := range 8 {
		for v := range 256 {
			b := []byte("abcdefgh")
			b[at] = byte(v)
			check(b)
			for at2 := range 8 {
				for _, v2 := range odd {
					if at2 != at {
						c := bytes.Clone(b)
						c[at2] = v2
						check(c)
					}
				}
			}
		}
	}
}
