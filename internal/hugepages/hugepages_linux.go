// Package hugepages asks the kernel for transparent huge pages (2 MiB)
// for memory the process is about to fill, where the system leaves them
// to madvise (Debian's default): one page fault for 2 MiB instead of 512.
// On a virtual machine whose first touch of a page is slow (the host backs
// the guest's memory then: ~14 µs a 4 KiB page on this project's machine)
// the faults of a load's fresh memory were a quarter of a 100k-row load's
// CPU. Elsewhere, and where the kernel refuses, memory keeps base pages.
// GODEBUG=disablethp=1 in the environment, Go's own switch against huge
// pages for its heap, turns it off (read as the runtime reads it: the last
// setting wins, any value but 0 is on).
package hugepages

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is a transparent huge page on the platforms Go builds for on
// Linux (x86-64, and arm64 with 4 KiB base pages).
const hugePage = 2 << 20

// advise asks huge pages for the whole huge pages inside b (its ends, to
// the nearest 2 MiB boundary, keep base pages) and returns their bytes: 0
// when none fits or the kernel refuses (no THP compiled in).
func advise(b []byte) int {
	if off {
		return 0
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (p+hugePage-1)&^(hugePage-1) - p
	hi := (p+uintptr(len(b)))&^(hugePage-1) - p
	if hi <= lo || unix.Madvise(b[lo:hi], unix.MADV_HUGEPAGE) != nil {
		return 0
	}
	return int(hi - lo)
}

// Map maps n bytes of anonymous memory, outside the Go heap, that begin
// on a huge page and are advised for huge pages; unmap gives them back.
func Map(n int) (b []byte, unmap func() error, err error) {
	if off {
		return nil, nil, errors.New("huge pages turned off by GODEBUG=disablethp=1")
	}
	size := (n + hugePage - 1) &^ (hugePage - 1)
	m, err := unix.Mmap(-1, 0, size+hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, err
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(m)))
	start := (p+hugePage-1)&^(hugePage-1) - p
	b = m[start : start+uintptr(n) : start+uintptr(size)]
	advise(m[start : start+uintptr(size)])
	return b, func() error { return unix.Munmap(m) }, nil
}

// On reports whether this process asks for huge pages: on Linux, unless
// GODEBUG has disablethp=1.
func On() bool { return !off }

var off = disabled(os.Getenv("GODEBUG"))

// disabled reports whether godebug (GODEBUG's value) turns huge pages
// off, as the runtime reads its disablethp: the last setting wins, any
// value but 0 is on.
func disabled(godebug string) bool {
	off := false
	for _, kv := range strings.Split(godebug, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k == "disablethp" {
			off = v != "0"
		}
	}
	return off
}

// adviseMapping asks huge pages for the whole mapping of this process
// that holds addr (one mapping of /proc/self/smaps: the kernel merges
// adjacent mappings made alike, so for the Go heap it is the heap's
// mapped memory around addr) and returns its bytes.
func adviseMapping(addr uintptr) (int, error) {
	if off {
		return 0, nil
	}
	lo, hi, _, err := mapping(addr)
	if err != nil || hi == 0 {
		return 0, err
	}
	// The raw call: the mapping is not memory this package may make a
	// slice of (a Go pointer from an address it did not get from Go).
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, lo, hi-lo, unix.MADV_HUGEPAGE); e != 0 {
		return 0, e
	}
	return int(hi - lo), nil
}

// Advised reports whether addr lies in a mapping of this process advised
// for huge pages (VmFlags hg in /proc/self/smaps), for the tests of what
// asks for them.
func Advised(addr uintptr) (bool, error) {
	_, _, flags, err := mapping(addr)
	return slices.Contains(flags, "hg"), err
}

// mapping finds the mapping of this process that holds addr in
// /proc/self/smaps: its bounds and VmFlags (hi 0 when none holds it).
func mapping(addr uintptr) (lo, hi uintptr, flags []string, err error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, 0, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// A mapping's first line is "lo-hi perms offset dev inode path";
		// the lines of its figures that follow begin with "Name:".
		first, rest, _ := strings.Cut(sc.Text(), " ")
		if name, ok := strings.CutSuffix(first, ":"); ok {
			if name == "VmFlags" && lo <= addr && addr < hi {
				return lo, hi, strings.Fields(rest), nil
			}
			continue
		}
		l, h, ok := strings.Cut(first, "-")
		a, errA := strconv.ParseUint(l, 16, 64)
		b, errB := strconv.ParseUint(h, 16, 64)
		if !ok || errA != nil || errB != nil {
			return 0, 0, nil, fmt.Errorf("/proc/self/smaps: unexpected line %q", sc.Text())
		}
		lo, hi = uintptr(a), uintptr(b)
	}
	return 0, 0, nil, sc.Err()
}

// AdviseHeap lets the kernel back the Go heap with huge pages, up to n
// bytes more than it has: a batch command's heap (a load's) is fresh
// memory the kernel faults in page by page, ~26k first-touch faults for a
// 100k-row load, a quarter of its CPU on this project's machine, ~3k
// with huge pages. Go's runtime does not ask for them.
//
// It makes the heap n bytes larger at once with one allocation, which the
// runtime maps and does not touch, advises the heap's mapping that holds
// it (MADV_HUGEPAGE), and gives it back (debug.FreeOSMemory: it stays
// mapped and advised, holding no memory); the heap then grows into it.
// Nothing is touched then; as the heap fills it, a huge page is resident
// whole, so peak RSS grows a few MiB (126-129 against 124-126 MiB for a
// 1M-row load). A heap past the mapping grows in base pages as before.
// Only the first call in a process does anything; it returns the bytes
// advised (0 when off or refused).
//
// It does nothing under an address-space limit (ulimit -v) or strict
// overcommit accounting (vm.overcommit_memory 2): there the runtime's
// mapping of the allocation can fail, which is fatal to the process, not
// an error (a 100k-row load under ulimit -v 1000000 died so), and the
// mapping would count against the limit for the life of the process.
//
// Not for a server that runs for days: memory the runtime gives back
// within an advised mapping can be gathered into huge pages again by
// khugepaged, so RSS would not come down after a peak.
func AdviseHeap(n int) int {
	heapOnce.Do(func() {
		if off || n < hugePage || !roomFor() {
			return
		}
		// The allocation is not to start a collection of its own (by
		// GOGC or by the memory limit): the one FreeOSMemory runs is
		// enough.
		defer debug.SetGCPercent(debug.SetGCPercent(-1))
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
		b := make([]byte, n)
		// The whole mapping around it: the runtime maps the heap in 4 MiB
		// steps, and what was left of the arena the heap began in (mapped
		// when the allocation did not fit there) lies below the
		// allocation, where the heap grows first. Advising the
		// allocation's range alone left 18-38 MiB of 48 allocated after
		// it in base pages (TestAdviseHeap's count).
		heapAdvised, _ = adviseMapping(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
		b = nil
		debug.FreeOSMemory()
	})
	return heapAdvised
}

var (
	heapOnce    sync.Once
	heapAdvised int
)

// roomFor reports whether the address space may grow by a large mapping
// without risk: no address-space limit and no strict overcommit.
func roomFor() bool {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_AS, &rl); err != nil || rl.Cur != unix.RLIM_INFINITY {
		return false
	}
	mode, err := os.ReadFile("/proc/sys/vm/overcommit_memory")
	return err == nil && strings.TrimSpace(string(mode)) != "2"
}
