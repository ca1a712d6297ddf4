package engine

import (
	"encoding/json"
	"fmt"
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
	if o3 := a.object(); o3 == o || cap(a.objs.kept) != 5 {
		t.Errorf("a call of 5 events got a kept block of %d", cap(a.objs.kept))
	}
	for range 4 {
		a.object()
	}
	if cap(a.objs.kept) != 5 {
		t.Errorf("five objects from a block of %d", cap(a.objs.kept))
	}
}

// scrub clears what a call was handed out of the kept blocks, however
// far it got: part of a block, all of it, or past it into another.
func TestArenaScrubsWhatWasUsed(t *testing.T) {
	for _, took := range []int{0, 1, 2, 3, 5, 8} {
		a := &arena{}
		a.reset(3)
		a.object() // make the kept blocks
		a.pending()
		a.productLines(1)
		a.scrub()
		a.reset(3)
		for i := range took {
			a.object().Description = fmt.Sprint("event ", i)
			a.pending().RequestID = fmt.Sprint("r", i)
			a.productLines(1)[0].Quantity = "1"
		}
		a.refs = append(a.refs[:0], &Ref{ID: "a"}, &Ref{ID: "b"})[:1]
		a.scrub()
		for i := range a.objs.kept {
			if a.objs.kept[i].Description != "" || a.pends.kept[i].RequestID != "" {
				t.Errorf("after %d events: kept slot %d still holds %q, %q", took, i, a.objs.kept[i].Description, a.pends.kept[i].RequestID)
			}
		}
		for i := range a.lines.kept {
			if a.lines.kept[i].Quantity != "" {
				t.Errorf("after %d events: kept line %d still holds %q", took, i, a.lines.kept[i].Quantity)
			}
		}
		for i, r := range a.refs[:cap(a.refs)] {
			if r != nil {
				t.Errorf("after %d events: line record %d still held", took, i)
			}
		}
	}
}
