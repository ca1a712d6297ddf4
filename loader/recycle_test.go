package loader

import "testing"

// TestRecycled: a slice given back comes back cleared, at the length
// asked; a slice of another capacity is not kept; nil makes every slice.
func TestRecycled(t *testing.T) {
	p := newRecycled[int](4, 2)
	s := p.take(4, 0)
	for i := range s {
		s[i] = i + 1
	}
	p.give(s[:2])
	got := p.take(3, 0)
	if len(got) != 3 || cap(got) != 4 || &got[0] != &s[0] {
		t.Fatalf("take(3) after give = len %d cap %d (same array: %v), want the given array at len 3", len(got), cap(got), &got[0] == &s[0])
	}
	if full := got[:4]; full[0] != 0 || full[3] != 0 {
		t.Errorf("a given slice comes back as %v, want it cleared", full)
	}
	p.give(make([]int, 3)) // not a batch's: dropped
	if got := p.take(1, 0); cap(got) != 1 {
		t.Errorf("take(1) = cap %d after giving a slice of cap 3, want a new slice of cap 1", cap(got))
	}
	if got := p.take(5, 0); len(got) != 5 {
		t.Errorf("take(5) = len %d, want 5 (longer than a batch: made)", len(got))
	}
	var none *recycled[int]
	none.give(s)
	if got := none.take(2, 8); len(got) != 2 || cap(got) != 8 {
		t.Errorf("nil take(2, 8) = len %d cap %d, want 2 and 8", len(got), cap(got))
	}
}
