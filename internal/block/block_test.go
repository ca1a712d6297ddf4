package block

import "testing"

// TestCut: cuts are zero, of the length asked, never overlap (an append
// to one copies rather than writing into the next), and a block too small
// for a cut is replaced.
func TestCut(t *testing.T) {
	var free []int
	a := Cut(&free, 3, 8)
	b := Cut(&free, 4, 8)
	if len(a) != 3 || cap(a) != 3 || len(b) != 4 || cap(b) != 4 || len(free) != 1 {
		t.Fatalf("cuts of 3 and 4 from a block of 8: %d/%d, %d/%d, %d left", len(a), cap(a), len(b), cap(b), len(free))
	}
	for i := range b {
		b[i] = 7
	}
	a = append(a, 1)
	if b[0] != 7 {
		t.Error("an append to the first cut wrote into the second")
	}
	c := Cut(&free, 5, 8) // one left: a new block
	if len(c) != 5 || len(free) != 3 || c[0] != 0 {
		t.Errorf("a cut larger than what is left: %v, %d left", c, len(free))
	}
	if d := Cut(&free, 20, 8); len(d) != 20 || len(free) != 0 {
		t.Errorf("a cut larger than a block: len %d, %d left", len(d), len(free))
	}
	if e := Cut(&free, 1, 0); len(e) != 1 {
		t.Errorf("a block of size 0 gives %d", len(e))
	}
}
