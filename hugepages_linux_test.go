package main

import (
	"os"
	"runtime/metrics"
	"testing"
	"unsafe"

	"github.com/crmload/crmload/internal/hugepages"
)

// TestAdviseHugePages: the heap the call makes room for is advised for
// huge pages, given back to the kernel, and the heap grows into it.
// (Advising the allocation's own range alone left 18-38 MiB of these 48
// in base pages: the heap filled the rest of its first arena first.)
func TestAdviseHugePages(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || !hugepages.On() {
		t.Skip("no transparent huge pages here")
	}
	const size = 64 << 20
	if n := adviseHugePages(size); n < size {
		t.Fatalf("advised %d bytes, want at least the %d allocated", n, size)
	}
	// It holds no memory: the range is given back to the kernel, so the
	// memory limit does not count it and the collector need not work to
	// stay under it.
	m := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(m)
	if released := m[0].Value.Uint64(); released < size {
		t.Errorf("heap released to the kernel after the call: %d bytes, want at least the %d allocated", released, size)
	}
	// The heap grows in the advised mapping: what was free below the
	// allocation (the rest of the arena the heap began in), and the
	// allocation's range given back, where 48 MiB allocated after the
	// call must all lie.
	var in int
	keep := make([][]byte, 48)
	for i := range keep {
		keep[i] = make([]byte, 1<<20)
		ok, err := hugepages.Advised(uintptr(unsafe.Pointer(unsafe.SliceData(keep[i]))))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			in++
		}
	}
	if in < len(keep) {
		t.Errorf("%d of %d 1 MiB allocations after the call lie in a mapping advised for huge pages, want all", in, len(keep))
	}
}
