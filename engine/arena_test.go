package engine

import (
	"encoding/json"
	"reflect"
	"testing"
)

// An arena kept for another call hands out zero values from the blocks
// the first call used, and makes larger blocks for a larger call.
func TestArenaReuse(t *testing.T) {
	a := &arena{}
	a.reset(3)
	o, p, l := a.object(), a.pending(), a.productLines(2)
	o.Description, o.AccountsReceivable = "first call", &RefObject{ID: "acc"}
	p.RequestID, p.Obj = "r1", o
	l[0].Quantity, l[1].Product = json.Number("2"), &RefObject{ID: "prod"}
	a.refs = append(a.refs, &Ref{ID: "line record"})
	a.scrub()

	a.reset(2)
	o2, p2, l2 := a.object(), a.pending(), a.productLines(2)
	if o2 != o || p2 != p || &l2[0] != &l[0] {
		t.Fatal("a second call of fewer events did not reuse the kept blocks")
	}
	if !reflect.DeepEqual(*o2, EventObject{}) || !reflect.DeepEqual(*p2, PendingEvent{}) || l2[0] != (ProductLine{}) || l2[1] != (ProductLine{}) {
		t.Errorf("reused values not zero: %+v %+v %+v", *o2, *p2, l2)
	}
	if a.refs[:1][0] != nil {
		t.Error("the line records of the first call are still held")
	}
	a.scrub()

	a.reset(5)
	if o3 := a.object(); o3 == o || cap(a.objs0) != 5 {
		t.Errorf("a call of 5 events got a kept block of %d", cap(a.objs0))
	}
	for range 4 {
		a.object()
	}
	if cap(a.objs0) != 5 {
		t.Errorf("five objects from a block of %d", cap(a.objs0))
	}
}
