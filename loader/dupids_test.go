package loader

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestDupWatchTable: the flat table behind dupWatch finds every repeated
// id with its first line, across its growths, and nothing else.
func TestDupWatchTable(t *testing.T) {
	d := newDupWatch("f.csv", true)
	const n = 100_000
	for i := range n {
		if first, _ := d.see("id"+strconv.Itoa(i), i+2); first != 0 {
			t.Fatalf("id%d on line %d: taken for a repeat of line %d", i, i+2, first)
		}
	}
	for i := 0; i < n; i += 997 {
		if first, _ := d.see("id"+strconv.Itoa(i), n+10+i); first != i+2 {
			t.Fatalf("id%d again: first line %d, want %d", i, first, i+2)
		}
	}
	if d.count != (n+996)/997 || len(d.dups) != maxDupsNamed {
		t.Errorf("count %d, %d named; want %d and %d", d.count, len(d.dups), (n+996)/997, maxDupsNamed)
	}
}

// TestIDShardsAgree: the sharded table answers as one table does, and
// both as a map does, hashes 0 and 1 (stored alike) and repeats included.
func TestIDShardsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	one, shards := newIDTable(1<<12), newIDShards()
	ref := map[uint64]int{} // hash -> first line
	var seen []uint64
	for i := range 300_000 {
		var h uint64
		switch {
		case i%1000 == 0:
			h = uint64(i/1000) % 3 // 0, 1, 2 again and again
		case i%7 == 0 && len(seen) > 0:
			h = seen[r.IntN(len(seen))]
		default:
			h = r.Uint64()
			seen = append(seen, h)
		}
		l1, ok1 := one.add(h, i+2)
		l2, ok2 := shards.add(h, i+2)
		if l1 != l2 || ok1 != ok2 {
			t.Fatalf("add(%#x, %d): one table %d, %v; shards %d, %v", h, i+2, l1, ok1, l2, ok2)
		}
		key := max(h, 1) // 0 and 1 are stored alike
		if l, ok := ref[key]; ok1 != ok || ok && l1 != l {
			t.Fatalf("add(%#x, %d) = %d, %v; a map says %d, %v", h, i+2, l1, ok1, l, ok)
		} else if !ok {
			ref[key] = i + 2
		}
	}
}

// BenchmarkDupWatch: a 1M-row file's request ids, all distinct (the
// common case), through the watch: what it costs a row of a big load.
func BenchmarkDupWatch(b *testing.B) {
	ids := make([]string, 1<<20)
	for i := range ids {
		ids[i] = "INV-" + strconv.Itoa(1e8+i*7919%len(ids)) + "-" + strconv.Itoa(i%3)
	}
	b.ResetTimer()
	for b.Loop() {
		d := newDupWatch("x.csv", true)
		for i, id := range ids {
			if first, _ := d.see(id, i+2); first != 0 {
				b.Fatal("a duplicate")
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ids)), "ns/id")
}

// TestDupWatchRemembersFailedRows: a row that failed before it was sent
// holds its request id: a later row with it is a duplicate of that row,
// and the failed row itself is not counted as one.
func TestDupWatchRemembersFailedRows(t *testing.T) {
	d := newDupWatch("x.csv", true)
	d.remember("INV-1", 2)
	d.remember("INV-1", 3) // failed too: not a duplicate counted
	if first, _ := d.see("INV-1", 9); first != 2 {
		t.Errorf("see after a failed row with the id: first line %d, want 2", first)
	}
	if d.count != 1 {
		t.Errorf("%d rows counted as duplicates, want 1 (the later row only)", d.count)
	}
}
