package mapping

import (
	"reflect"
	"slices"
	"testing"

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
	spec, err := ParseSpec("m.yaml", []byte(`kind: purchases
request_id: id
fields:
  accounts_receivable_identifier: { number: account }
  performed_by_unit_identifier: { name: { const: Admin Unit } }
  performed_on: performed_on
  reference_number: reference
  udf_float_2: net
products_set:
  product_identifier: { code: product }
  quantity: quantity
  net_amount: net
  vat_amount: vat
  total_amount: total
`))
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
