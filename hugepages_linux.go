package main

import (
	"runtime/debug"
	"unsafe"

	"github.com/crmload/crmload/internal/hugepages"
)

// adviseHugePages lets the kernel back the Go heap the memory limit allows
// with transparent huge pages where the system leaves them to madvise (the
// default on Debian and most distributions; Go's runtime does not ask for
// them). A load's heap is fresh memory the kernel faults in page by page:
// ~26k first-touch faults for a 100k-row load, a quarter of its CPU time
// on a virtual machine where each costs ~14 µs (the guest's memory is
// backed by the host on first touch), against ~4k with huge pages.
//
// It makes the heap n bytes larger at once with one allocation, which the
// runtime maps and does not touch, advises the heap's mapping that holds
// it (MADV_HUGEPAGE), and
// gives it back (debug.FreeOSMemory: it stays mapped and advised, holding
// no memory); the heap then grows into it. Nothing is touched, so RSS does
// not change; only a heap past the range (a limit raised with GOMEMLIMIT)
// grows in base pages as before. GODEBUG=disablethp=1, Go's own switch
// against huge pages for the heap, turns it off (hugepages.On). It returns
// the bytes advised (0 when off or refused: THP compiled out).
func adviseHugePages(n int) int {
	if !hugepages.On() {
		return 0
	}
	// The allocation is not to start a collection of its own: the one
	// FreeOSMemory runs is enough.
	gc := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(gc)
	b := make([]byte, n)
	// The whole mapping around it: the runtime maps the heap in 4 MiB
	// steps, and what was left of the arena the heap began in (mapped
	// when the allocation did not fit there) lies below the allocation,
	// where the heap grows first.
	advised, _ := hugepages.AdviseMapping(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	b = nil
	debug.FreeOSMemory()
	return advised
}
