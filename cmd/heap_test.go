package cmd

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"

	"github.com/crmload/crmload/internal/hugepages"
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

// TestLoadAdvisesHeap: a load asks huge pages for its heap (runLoad);
// AdviseHeap, once a process, then answers what the load's call advised.
func TestLoadAdvisesHeap(t *testing.T) {
	// AdviseHeap does nothing (by design) without transparent huge pages,
	// under an address-space limit or under strict overcommit.
	var rl syscall.Rlimit
	overcommit, err := os.ReadFile("/proc/sys/vm/overcommit_memory")
	if _, errTHP := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); errTHP != nil || !hugepages.On() ||
		syscall.Getrlimit(syscall.RLIMIT_AS, &rl) != nil || rl.Cur != math.MaxUint64 ||
		err != nil || strings.TrimSpace(string(overcommit)) == "2" {
		t.Skip("no transparent huge pages here, an address-space limit, or strict overcommit")
	}
	dir := t.TempDir()
	streams, _, stderr := Test()
	code := Run(context.Background(), streams, []string{"--db", filepath.Join(dir, "crmload.db"), "load",
		"--seed", "../testdata/seed/reference.yaml", "-m", "../testdata/purchases/mapping.yaml",
		"--report-dir", filepath.Join(dir, "reports"), "../testdata/purchases/online_retail.csv"})
	if code != ExitOK && code != ExitFailed {
		t.Fatalf("load: exit %d\n%s", code, stderr)
	}
	if n := hugepages.AdviseHeap(0); n < heapToAdvise() {
		t.Errorf("after a load the heap advised for huge pages is %d bytes, want at least %d", n, heapToAdvise())
	}
}
