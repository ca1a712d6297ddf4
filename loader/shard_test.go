package loader

import (
	"fmt"
	"testing"
)

// TestShardOfIsStable: shards are assigned by a hash that must not change
// between machines or releases (a resume, or the other shard's machine,
// must agree), so its values are pinned here.
func TestShardOfIsStable(t *testing.T) {
	got := ""
	for _, k := range []string{"r:1", "r:2", "g:536365", "g:536366", "l:7"} {
		got += fmt.Sprint(ShardOf(k, 2), ShardOf(k, 3), " ")
	}
	if want := "1 2 2 3 2 2 2 1 2 1 "; got != want {
		t.Errorf("shards = %q, want %q", got, want)
	}
	counts := make([]int, 4)
	for i := range 10000 {
		counts[ShardOf(fmt.Sprint("r:", i), 4)-1]++
	}
	for k, n := range counts {
		if n < 2300 || n > 2700 {
			t.Errorf("shard %d/4 of 10000 keys holds %d", k+1, n)
		}
	}
	// Keys that differ in the case of their letters only (FNV-1a modulo a
	// power of two put all of these in one shard of 8).
	seen := map[int]bool{}
	for i := range 16 {
		k := []byte("r:abcd")
		for b := range 4 {
			if i&(1<<b) != 0 {
				k[2+b] -= 'a' - 'A'
			}
		}
		seen[ShardOf(string(k), 8)] = true
	}
	if len(seen) < 4 {
		t.Errorf("16 spellings of one key in case land in %d shards of 8, want them spread", len(seen))
	}
}

func TestParseShard(t *testing.T) {
	for in, want := range map[string]string{"": "", "1/2": "1/2", " 2 / 3 ": "2/3", "1/1": "", "0/2": "error", "3/2": "error", "x": "error", "1/0": "error"} {
		s, err := ParseShard(in)
		got := s.String()
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("ParseShard(%q) = %q (%v), want %q", in, got, err, want)
		}
	}
}
