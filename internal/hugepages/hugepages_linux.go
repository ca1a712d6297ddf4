// Package hugepages asks the kernel for transparent huge pages (2 MiB)
// for memory the process is about to fill, where the system leaves them
// to madvise (Debian's default): one page fault for 2 MiB instead of 512.
// On a virtual machine whose first touch of a page is slow (the host backs
// the guest's memory then: ~14 µs a 4 KiB page on this project's machine)
// the faults of a load's fresh memory were a quarter of a 100k-row load's
// CPU. Elsewhere, and where the kernel refuses, memory keeps base pages.
// GODEBUG=disablethp=1, Go's own switch against huge pages for its heap,
// turns it off.
package hugepages

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Size is a transparent huge page on the platforms Go builds for on Linux
// (x86-64, and arm64 with 4 KiB base pages).
const Size = 2 << 20

// Advise asks huge pages for the whole huge pages inside b (its ends, to
// the nearest 2 MiB boundary, keep base pages) and returns their bytes: 0
// when none fits or the kernel refuses (no THP compiled in).
func Advise(b []byte) int {
	if off {
		return 0
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (p+Size-1)&^(Size-1) - p
	hi := (p+uintptr(len(b)))&^(Size-1) - p
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
	size := (n + Size - 1) &^ (Size - 1)
	m, err := unix.Mmap(-1, 0, size+Size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, err
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(m)))
	off := (p+Size-1)&^(Size-1) - p
	b = m[off : off+uintptr(n) : off+uintptr(size)]
	Advise(m[off : off+uintptr(size)])
	return b, func() error { return unix.Munmap(m) }, nil
}

// On reports whether this process asks for huge pages: on Linux, unless
// GODEBUG has disablethp=1.
func On() bool { return !off }

var off = disabled(os.Getenv("GODEBUG"))

// disabled reports whether godebug (GODEBUG's value) has disablethp=1.
func disabled(godebug string) bool {
	for _, kv := range strings.Split(godebug, ",") {
		if strings.TrimSpace(kv) == "disablethp=1" {
			return true
		}
	}
	return false
}

// Advised reports whether addr lies in a mapping of this process advised
// for huge pages (VmFlags hg in /proc/self/smaps), for the tests of what
// asks for them.
func Advised(addr uintptr) (bool, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return false, err
	}
	defer f.Close()
	var lo, hi uintptr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if _, err := fmt.Sscanf(line, "%x-%x ", &lo, &hi); err == nil {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "VmFlags:"); ok && lo <= addr && addr < hi {
			return slices.Contains(strings.Fields(rest), "hg"), nil
		}
	}
	return false, sc.Err()
}
