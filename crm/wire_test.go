package crm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/zeebo/xxh3"
)

// marshalDigest is the digest of ev's wire form as json.Marshal writes
// it: the releases before appendEvent digested that. With legacy, it is
// the digest those releases kept (SHA-256); without, today's (XXH3-128).
func marshalDigest(k Kind, ev *Event, legacy bool) string {
	b, err := json.Marshal(ev)
	if err != nil {
		b = fmt.Appendf(nil, "unencodable: %v", err)
	}
	in := append(append([]byte(k), 0), b...)
	if legacy {
		sum := sha256.Sum256(in)
		return hex.EncodeToString(sum[:16])
	}
	sum := xxh3.Hash128(in).Bytes()
	return "02" + hex.EncodeToString(sum[:])
}

// checkWire fails unless appendEvent writes what json.Marshal writes of ev
// (or fails where it fails), Digest digests that wire form, and the
// digest an earlier release kept of ev matches ev (DigestMatches), and
// matches no other event.
func checkWire(t *testing.T, ev *Event) {
	t.Helper()
	want, err := json.Marshal(ev)
	got, ok := appendEvent([]byte("prefix"), ev)
	switch {
	case err != nil && ok:
		t.Fatalf("appendEvent wrote %s; json.Marshal fails: %v", got, err)
	case err == nil && !ok:
		t.Fatalf("appendEvent failed; json.Marshal writes %s", want)
	case err == nil && !bytes.Equal(got[len("prefix"):], want):
		t.Fatalf("appendEvent =\n%s\njson.Marshal =\n%s", got[len("prefix"):], want)
	}
	other := &Event{RequestUniqueIdentifier: ev.RequestUniqueIdentifier + "x"}
	for _, k := range []Kind{Purchases, Web, ""} {
		d := marshalDigest(k, ev, false)
		if got := Digest(k, ev); got != d {
			t.Fatalf("Digest(%q) = %s, want %s", k, got, d)
		}
		if got := Digests(k, []Event{{}, *ev, {}}); got[1] != d || got[0] != marshalDigest(k, &Event{}, false) || got[2] != got[0] {
			t.Fatalf("Digests(%q) = %q, want %s in the middle", k, got, d)
		}
		old, od := marshalDigest(k, ev, true), Digest(k, other)
		if !DigestMatches(old, d, k, ev) || !DigestMatches(d, d, k, ev) || !DigestMatches("", d, k, ev) {
			t.Fatalf("DigestMatches(%q): the event's own digests (%s, %s) do not match it", k, old, d)
		}
		if DigestMatches(old, od, k, other) || DigestMatches(d, od, k, other) || DigestMatches(old, d, k, nil) {
			t.Fatalf("DigestMatches(%q): another event matches the digests (%s, %s)", k, old, d)
		}
	}
}

// TestDigestFormat pins Digest's output: receipts keep it, so a change of
// hash or of wire form makes every receipt stored earlier a conflict (a
// change must keep matching the old digests, as DigestMatches does
// SHA-256's).
func TestDigestFormat(t *testing.T) {
	tests := []struct {
		k    Kind
		ev   Event
		want string
	}{
		{Purchases, Event{}, "0227e74238d5463a74fae0ebb663337c0b"},
		{Purchases, Event{RequestUniqueIdentifier: "R1", PerformedOn: "2024-03-04T05:06:00",
			AccountsReceivable: &AccountIdentifier{Number: "ACR0000001"},
			ProductsSet:        []PurchaseProduct{{Product: &ProductIdentifier{Code: "SKU001"}, Quantity: "2", TotalAmount: "12.00"}}}, "02dbd39841240d58fa06b852d014e0899c"},
		{Web, Event{RequestUniqueIdentifier: "R1"}, "02c10bc6dda17abe3fb169f393bcd4fd1c"},
	}
	for _, tt := range tests {
		if got := Digest(tt.k, &tt.ev); got != tt.want {
			t.Errorf("Digest(%s, %+v) = %s, want %s", tt.k, tt.ev, got, tt.want)
		}
	}
}

// leafPaths lists the index path of every string and json.Number field
// under struct type t, descending into pointers to structs, slices of
// structs and embedded structs. Any other field type fails: appendEvent
// would not know it.
func leafPaths(t *testing.T, typ reflect.Type, prefix []int) [][]int {
	var out [][]int
	for i := range typ.NumField() {
		f := typ.Field(i)
		path := append(append([]int(nil), prefix...), i)
		ft := f.Type
		switch {
		case ft.Kind() == reflect.String:
			out = append(out, path)
		case ft.Kind() == reflect.Struct:
			out = append(out, leafPaths(t, ft, path)...)
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct:
			out = append(out, leafPaths(t, ft.Elem(), path)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, leafPaths(t, ft.Elem(), path)...)
		default:
			t.Fatalf("%s.%s: appendEvent writes no %s", typ, f.Name, ft)
		}
	}
	return out
}

// setLeaf sets the field at path under v (a struct), making the pointers
// and slice elements (two of them) on the way.
func setLeaf(v reflect.Value, path []int, s string) {
	f := v.Field(path[0])
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Struct:
		setLeaf(f, path[1:], s)
	case reflect.Pointer:
		if f.IsNil() {
			f.Set(reflect.New(f.Type().Elem()))
		}
		setLeaf(f.Elem(), path[1:], s)
	case reflect.Slice:
		if f.Len() == 0 {
			f.Set(reflect.MakeSlice(f.Type(), 2, 2))
		}
		for j := range f.Len() {
			setLeaf(f.Index(j), path[1:], s)
		}
	}
}

// leafType is the type of the field at path under struct type typ.
func leafType(typ reflect.Type, path []int) reflect.Type {
	ft := typ.Field(path[0]).Type
	if len(path) == 1 {
		return ft
	}
	if ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
		ft = ft.Elem()
	}
	return leafType(ft, path[1:])
}

// TestAppendEventCoversEveryField sets each field of Event, alone and all
// together, nested ones included: a field added to Event (or to a type it
// holds) that appendEvent does not write fails here.
func TestAppendEventCoversEveryField(t *testing.T) {
	typ := reflect.TypeFor[Event]()
	paths := leafPaths(t, typ, nil)
	if len(paths) < 80 {
		t.Fatalf("found only %d fields", len(paths))
	}
	value := func(path []int) string {
		if leafType(typ, path) == numberType {
			return "-12.5e+3"
		}
		return "v<&>\u2028\"\\\x01\xff"
	}
	empty, _ := appendEvent(nil, &Event{})
	all := &Event{}
	for _, path := range paths {
		ev := &Event{}
		setLeaf(reflect.ValueOf(ev).Elem(), path, value(path))
		setLeaf(reflect.ValueOf(all).Elem(), path, value(path))
		checkWire(t, ev)
		if got, _ := appendEvent(nil, ev); bytes.Equal(got, empty) {
			t.Errorf("field %v: not written", path)
		}
	}
	checkWire(t, all)
	// Empty nested objects are written as {}.
	checkWire(t, &Event{AccountsReceivable: &AccountIdentifier{AccessToken: &AccessTokenIdentifier{}}, SpendRequest: &SpendRequest{},
		ProductsSet: []PurchaseProduct{{}, {}}, MeasuredKPIs: []MeasuredKPI{{KPI: &NamedIdentifier{}}}, Invoice: &InvoiceIdentifier{}})
	// A number that is no number: json.Marshal's error is digested.
	for _, path := range paths {
		if leafType(typ, path) == numberType {
			for _, n := range []string{"x", "1.", "01", "-", "1e", "+1", " 1", "NaN"} {
				ev := &Event{}
				setLeaf(reflect.ValueOf(ev).Elem(), path, n)
				checkWire(t, ev)
			}
		}
	}
}

// TestAppendJSONString: strings are quoted as encoding/json quotes them.
func TestAppendJSONString(t *testing.T) {
	var all strings.Builder
	for c := range 0x80 {
		all.WriteByte(byte(c))
	}
	for _, s := range []string{"", "plain", all.String(), "\u2028\u2029\u2027\u202a", "\xff\xfe", "a\xc3", "\xc3\x28", "é€𝄞",
		"\xed\xa0\x80", "\xf4\x90\x80\x80", "<script>&amp;</script>", "\x7f", "\ufffd", "\xe2\x80"} {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendJSONString(%q) = %s, json.Marshal = %s", s, got, want)
		}
	}
}

// eventFiller fills values from fuzz input, field by field.
type eventFiller struct{ data []byte }

func (f *eventFiller) byte() byte {
	if len(f.data) == 0 {
		return 0
	}
	c := f.data[0]
	f.data = f.data[1:]
	return c
}

func (f *eventFiller) str() string {
	n := min(int(f.byte()%16), len(f.data))
	s := string(f.data[:n])
	f.data = f.data[n:]
	return s
}

func (f *eventFiller) number() string {
	switch f.byte() % 5 {
	case 0:
		return ""
	case 1:
		return f.str()
	case 2:
		return strconv.Itoa(int(int8(f.byte())))
	case 3:
		return fmt.Sprintf("%d.%02d", f.byte(), f.byte()%100)
	default:
		return fmt.Sprintf("%de%d", int8(f.byte()), int8(f.byte()))
	}
}

func (f *eventFiller) fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if v.Type() == numberType {
			v.SetString(f.number())
		} else if f.byte()%4 != 0 {
			v.SetString(f.str())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f.fill(v.Field(i))
		}
	case reflect.Pointer:
		if f.byte()%3 != 0 {
			v.Set(reflect.New(v.Type().Elem()))
			f.fill(v.Elem())
		}
	case reflect.Slice:
		n := int(f.byte() % 4)
		if n == 3 {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0)) // empty, not nil
			return
		}
		if n > 0 {
			v.Set(reflect.MakeSlice(v.Type(), n, n))
			for j := range n {
				f.fill(v.Index(j))
			}
		}
	default:
		panic("eventFiller: no filling for " + v.Type().String())
	}
}

// FuzzAppendEvent fills every field of an Event, nested ones included,
// from the input and compares appendEvent with json.Marshal, and Digest
// with the digest the earlier releases stored.
func FuzzAppendEvent(f *testing.F) {
	f.Add([]byte("\x05hello\x01\x01\x01\x02"))
	f.Add([]byte(strings.Repeat("\x01\x07<a&b>\xff\x02\x03", 40)))
	f.Add([]byte(strings.Repeat("\x06\x0a\u2028x\u2029\"\\\n\x01", 30)))
	f.Add([]byte(strings.Repeat("\x01\x04\x051.5e3\x02\x03\x04", 50)))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev := &Event{}
		(&eventFiller{data: data}).fill(reflect.ValueOf(ev).Elem())
		checkWire(t, ev)
	})
}

func BenchmarkDigest(b *testing.B) {
	ev := &Event{
		RequestUniqueIdentifier: "R00000001",
		AccountsReceivable:      &AccountIdentifier{Number: "ACR0000001"},
		PerformedByUnit:         &NamedIdentifier{Name: "Admin Unit"},
		PerformedOn:             "2024-03-04T05:06:00",
		ReferenceNumber:         "INV00000001",
		ProductsSet: []PurchaseProduct{{Product: &ProductIdentifier{Code: "SKU001"},
			Quantity: "2", NetAmount: "10.00", VATAmount: "2.00", TotalAmount: "12.00"}},
	}
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			marshalDigest(Purchases, ev, true)
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Digest(Purchases, ev)
		}
	})
}
