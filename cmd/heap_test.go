package cmd

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestHeapToAdvise: twice the memory limit, at most 1 GiB, with no
// overflow when there is no limit.
func TestHeapToAdvise(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	for _, tc := range []struct{ limit, want int64 }{
		{108 << 20, 216 << 20},
		{512 << 20, 1 << 30},
		{1 << 30, 1 << 30},
		{math.MaxInt64, 1 << 30},
		{0, 0},
	} {
		debug.SetMemoryLimit(tc.limit)
		if got := heapToAdvise(); int64(got) != tc.want {
			t.Errorf("memory limit %d: heapToAdvise() = %d, want %d", tc.limit, got, tc.want)
		}
	}
}
