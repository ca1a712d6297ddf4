package engine

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// TestRefIndex: values short enough to be held in the slot and longer
// ones (compared with the record's own) are found, replaced and missed as
// a map would, through growth and reserve.
func TestRefIndex(t *testing.T) {
	for _, tt := range []struct {
		name    string
		val     func(i int) string
		reserve int
	}{
		{"inline", func(i int) string { return fmt.Sprintf("ACR%07d", i) }, 0},
		{"longest inline", func(i int) string { return fmt.Sprintf("%015d", i) }, 0},
		{"shortest compared", func(i int) string { return fmt.Sprintf("%016d", i) }, 0},
		{"ids", func(i int) string { return fmt.Sprintf("%032X", i) }, 5000},
		{"empty and one byte", func(i int) string { return strings.Repeat("x", i%2) }, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x := newRefIndex(func(r *Ref) string { return r.Vals[0] })
			x.reserve(tt.reserve)
			want := map[string]*Ref{}
			for i := range 5000 {
				v := tt.val(i)
				r := &Ref{ID: fmt.Sprint(i), Vals: []string{v}}
				_, had := want[v]
				if isNew := x.set(v, r); isNew == had {
					t.Fatalf("set(%q) reported new = %v; the value was set before: %v", v, isNew, had)
				}
				want[v] = r
			}
			if x.len() != len(want) {
				t.Errorf("len = %d, want %d", x.len(), len(want))
			}
			for v, r := range want {
				if got, ok := x.get(v); !ok || got != r {
					t.Fatalf("get(%q) = %v, %v; want record %s", v, got, ok, r.ID)
				}
			}
			for _, v := range []string{"ACR9999999", "0000000000000009999", "nope", "xx"} {
				if _, inWant := want[v]; !inWant {
					if got, ok := x.get(v); ok {
						t.Errorf("get(%q) = record %s, want none", v, got.ID)
					}
				}
			}
		})
	}
	var empty refIndex
	if _, ok := empty.get("a"); ok {
		t.Error("an empty index found a value")
	}
	if size := unsafe.Sizeof(refSlot{}); size != 24 {
		t.Errorf("a slot takes %d bytes, want 24 (a map takes about that a value)", size)
	}
}

// TestRefIndexLongValueOfChangedRecord: a value longer than a slot holds
// is compared with its record's, so a record whose value changed is no
// longer found by the old one (a short one, held in the slot, still
// finds it, as a map would; the cache's lookup values do not change
// within a reference version, which a seed starts over): the cache
// then asks the store again.
func TestRefIndexLongValueOfChangedRecord(t *testing.T) {
	x := newRefIndex(func(r *Ref) string { return r.Vals[0] })
	old := strings.Repeat("a", 20)
	r := &Ref{Vals: []string{old}}
	x.set(old, r)
	r.Vals[0] = strings.Repeat("b", 20)
	if _, ok := x.get(old); ok {
		t.Error("found a record by the value it no longer has")
	}
	if !x.set(r.Vals[0], r) {
		t.Error("the record's new value was not new to the index")
	}
	if got, ok := x.get(r.Vals[0]); !ok || got != r {
		t.Error("the record is not found by its new value")
	}
}
