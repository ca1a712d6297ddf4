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
func TestAdviseHugePages(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || !hugepages.On() {
		t.Skip("no transparent huge pages here")
	}
	n := adviseHugePages(64 << 20)
	if n < 60<<20 {
		t.Fatalf("advised %d bytes of 64 MiB, want all but the ends' alignment", n)
	}
	// It holds no memory: the range is given back to the kernel, so the
	// memory limit does not count it and the collector need not work to
	// stay under it.
	m := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(m)
	if released := m[0].Value.Uint64(); released < uint64(n) {
		t.Errorf("heap released to the kernel after the call: %d bytes, want at least the %d advised", released, n)
	}
	// What the heap allocates next lies in the advised range: the runtime
	// takes the lowest free pages first, and the range was its free space.
	b := make([]byte, 16<<20)
	if ok, err := hugepages.Advised(uintptr(unsafe.Pointer(unsafe.SliceData(b)))); err != nil || !ok {
		t.Errorf("a 16 MiB allocation after the call is in a mapping advised for huge pages: %v (%v), want true", ok, err)
	}
}
