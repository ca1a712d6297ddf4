package loader

import (
	"strconv"
	"testing"
)

// TestDupWatchTable: the flat table behind dupWatch finds every repeated
// id with its first line, across its growths, and nothing else.
func TestDupWatchTable(t *testing.T) {
	d := newDupWatch("f.csv", true)
	const n = 100_000
	for i := range n {
		if first := d.see("id"+strconv.Itoa(i), i+2); first != 0 {
			t.Fatalf("id%d on line %d: taken for a repeat of line %d", i, i+2, first)
		}
	}
	for i := 0; i < n; i += 997 {
		if first := d.see("id"+strconv.Itoa(i), n+10+i); first != i+2 {
			t.Fatalf("id%d again: first line %d, want %d", i, first, i+2)
		}
	}
	if d.count != (n+996)/997 || len(d.dups) != maxDupsNamed {
		t.Errorf("count %d, %d named; want %d and %d", d.count, len(d.dups), (n+996)/997, maxDupsNamed)
	}
}
