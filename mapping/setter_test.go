package mapping

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/crmload/crmload/crm"
)

// leafSteps lists the steps (as assign.steps: one index a struct, pointers
// followed) of every string field reachable from struct t through
// pointers and embedded structs.
func leafSteps(t reflect.Type, prefix [][]int, depth int) [][][]int {
	var out [][][]int
	for _, sf := range reflect.VisibleFields(t) {
		if sf.Anonymous {
			continue
		}
		steps := append(slices.Clone(prefix), sf.Index)
		switch ft := sf.Type; {
		case ft.Kind() == reflect.String:
			out = append(out, steps)
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct && depth < 3:
			out = append(out, leafSteps(ft.Elem(), steps, depth+1)...)
		}
	}
	return out
}

// TestSetHopsAgrees: writing through the planned offsets makes the very
// struct the reflective walk makes, for every string field of an event,
// of its set elements and of a bulk request, one by one and all together.
func TestSetHopsAgrees(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[crm.Event](), reflect.TypeFor[crm.PurchaseProduct](),
		reflect.TypeFor[crm.MeasuredKPI](), reflect.TypeFor[crm.BulkRequest]()} {
		leaves := leafSteps(typ, nil, 0)
		if len(leaves) < 3 {
			t.Fatalf("%s: %d leaves", typ, len(leaves))
		}
		allFast, allSlow := reflect.New(typ), reflect.New(typ)
		for i, steps := range leaves {
			hops := planHops(typ, steps)
			if hops == nil {
				t.Fatalf("%s: no plan for %v", typ, steps)
			}
			s := "v" + string(rune('a'+i%26))
			fast, slow := reflect.New(typ), reflect.New(typ)
			setHops(fast.UnsafePointer(), hops, s)
			setReflect(slow.Elem(), steps, s)
			if !reflect.DeepEqual(fast.Interface(), slow.Interface()) {
				t.Fatalf("%s %v: planned %+v, reflective %+v", typ, steps, fast.Elem(), slow.Elem())
			}
			setHops(allFast.UnsafePointer(), hops, s)
			setReflect(allSlow.Elem(), steps, s)
		}
		if !reflect.DeepEqual(allFast.Interface(), allSlow.Interface()) {
			t.Fatalf("%s: planned %+v, reflective %+v", typ, allFast.Elem(), allSlow.Elem())
		}
	}
}

// TestCompiledAssignsPlanned: the bench mapping's assigns all write
// through offsets (none falls back to reflection).
func TestCompiledAssignsPlanned(t *testing.T) {
	bench, err := os.ReadFile("../testdata/bench/mapping.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The workload's mapping, and a UDF (its own kind of field).
	yaml := strings.Replace(string(bench), "fields:\n", "fields:\n  udf_float_2: net\n", 1)
	spec, err := ParseSpec("m.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Compile(spec, Options{File: "in.csv", Header: []string{"id", "account", "performed_on", "reference", "product", "quantity", "net", "vat", "total"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range append(slices.Clone(m.fields), m.items.assigns...) {
		if a.hops == nil {
			t.Errorf("%s: not planned", a.wire)
		}
	}
}

// TestSlabs: slabs hand out distinct zero values, and slices whose
// appends never reach a neighbour's values.
func TestSlabs(t *testing.T) {
	var s slabOf[crm.PurchaseProduct]
	rs := newSlab(reflect.TypeFor[crm.PurchaseProduct]())
	seen := map[*crm.PurchaseProduct]bool{}
	for i := range 3 * slabSize {
		p := s.take()
		q := (*crm.PurchaseProduct)(rs.take())
		if seen[p] || seen[q] || p == q || *p != (crm.PurchaseProduct{}) || *q != (crm.PurchaseProduct{}) {
			t.Fatalf("take %d: not a new zero value", i)
		}
		seen[p], seen[q] = true, true
		p.Quantity, q.Quantity = "1", "2"
	}
	for n := 1; n < slabSize; n += 7 {
		a, b := s.slice(n), s.slice(n)
		sliceOf := func() reflect.Value {
			p, c := rs.sliceOf(n)
			return reflect.ValueOf(unsafe.Slice((*crm.PurchaseProduct)(p), c)[:0])
		}
		ra, rb := sliceOf(), sliceOf()
		if len(a) != n || cap(a) != n || ra.Len() != 0 || ra.Cap() != n {
			t.Fatalf("slice(%d): len %d cap %d; sliceOf: len %d cap %d", n, len(a), cap(a), ra.Len(), ra.Cap())
		}
		b[0].Quantity = "b"
		rb = reflect.Append(rb, reflect.ValueOf(crm.PurchaseProduct{Quantity: "rb"}))
		a = append(a, crm.PurchaseProduct{Quantity: "a"})
		ra = reflect.Append(ra, reflect.ValueOf(crm.PurchaseProduct{Quantity: "ra"}))
		for i := 1; i < n; i++ {
			ra = reflect.Append(ra, reflect.ValueOf(crm.PurchaseProduct{Quantity: "ra"}))
		}
		ra = reflect.Append(ra, reflect.ValueOf(crm.PurchaseProduct{Quantity: "ra"}))
		if b[0].Quantity != "b" || rb.Index(0).Interface().(crm.PurchaseProduct).Quantity != "rb" || a[n].Quantity != "a" {
			t.Fatalf("slice(%d): an append wrote over a neighbour", n)
		}
	}
}
