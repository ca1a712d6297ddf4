package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime/metrics"
	"strings"
	"testing"
	"unsafe"
)

// hugePageAdvised returns the bytes of this process's mappings advised
// MADV_HUGEPAGE (VmFlags hg in /proc/self/smaps), and whether addr lies in
// one of them.
func hugePageAdvised(t *testing.T, addr uintptr) (total int, in bool) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lo, hi uintptr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if _, err := fmt.Sscanf(line, "%x-%x ", &lo, &hi); err == nil {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			for _, fl := range strings.Fields(rest) {
				if fl == "hg" {
					total += int(hi - lo)
					in = in || (lo <= addr && addr < hi)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total, in
}

// TestAdviseHugePages: the heap the call makes room for is advised for
// huge pages, and the heap grows into it; GODEBUG=disablethp=1 advises
// nothing.
func TestAdviseHugePages(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		t.Skip("this kernel has no transparent huge pages:", err)
	}
	before, _ := hugePageAdvised(t, 0)
	if n := adviseHugePages(64<<20, "madvdontneed=1,disablethp=1"); n != 0 {
		t.Errorf("with disablethp=1: advised %d bytes, want none", n)
	}
	if after, _ := hugePageAdvised(t, 0); after != before {
		t.Errorf("with disablethp=1: advised mappings went from %d to %d bytes", before, after)
	}

	n := adviseHugePages(64<<20, "madvdontneed=1")
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
	_, in := hugePageAdvised(t, uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	if !in {
		t.Errorf("a 16 MiB allocation after the call is not in a mapping advised for huge pages")
	}
}
