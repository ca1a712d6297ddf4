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
	for _, k := range []string{"r:1", "r:2", "g:536365", "g:536366", "l:0:7"} {
		got += fmt.Sprint(ShardOf(k, 2), ShardOf(k, 3), " ")
	}
	if want := "1 1 2 1 1 2 2 1 1 3 "; got != want {
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
