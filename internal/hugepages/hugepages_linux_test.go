package hugepages

import (
	"os"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestDisabled(t *testing.T) {
	for _, tc := range []struct {
		godebug string
		want    bool
	}{
		{"", false},
		{"disablethp=1", true},
		{"madvdontneed=1,disablethp=1", true},
		{"disablethp=1, gctrace=1", true},
		{"disablethp=0", false},
		{"disablethp=2", true},
		{"disablethp=1,disablethp=0", false},
		{"disablethp=0,disablethp=1", true},
		{"xdisablethp=1", false},
		{"gctrace=1", false},
	} {
		if got := disabled(tc.godebug); got != tc.want {
			t.Errorf("disabled(%q) = %v, want %v", tc.godebug, got, tc.want)
		}
	}
}

// TestMap: the memory begins on a huge page, is advised for huge pages,
// can be written, and is given back.
func TestMap(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || !On() {
		t.Skip("no transparent huge pages here")
	}
	const n = 5<<20 + 123
	b, unmap, err := Map(n)
	if err != nil {
		t.Fatal(err)
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p%hugePage != 0 || len(b) != n {
		t.Errorf("Map(%d) = %d bytes at %#x, want %d bytes on a %d-byte boundary", n, len(b), p, n, hugePage)
	}
	for _, off := range []int{0, hugePage, n - 1} {
		if ok, err := Advised(p + uintptr(off)); err != nil || !ok {
			t.Errorf("byte %d of the mapping: advised for huge pages %v (%v), want true", off, ok, err)
		}
	}
	for i := 0; i < n; i += 4096 {
		b[i] = 1
	}
	if err := unmap(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := Advised(p); ok {
		t.Error("the mapping is still there after unmap")
	}
}

// TestAdviseInside: only the whole huge pages inside the slice are advised.
func TestAdviseInside(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || !On() {
		t.Skip("no transparent huge pages here")
	}
	m, err := unix.Mmap(-1, 0, 5*hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	p := uintptr(unsafe.Pointer(unsafe.SliceData(m)))
	start := int((p+hugePage-1)&^(hugePage-1)-p) + 1 // one byte past a boundary
	if got := advise(m[start : start+hugePage]); got != 0 {
		t.Errorf("advise of 2 MiB not on a boundary = %d, want 0 (no whole huge page inside)", got)
	}
	if got := advise(m[start : start+3*hugePage]); got != 2*hugePage {
		t.Errorf("advise(3 huge pages from a byte past a boundary) = %d, want %d", got, 2*hugePage)
	}
	for _, tc := range []struct {
		off  int
		want bool
	}{{start, false}, {start + hugePage - 2, false}, {start + hugePage - 1, true}, {start + 3*hugePage - 2, true}, {start + 3*hugePage - 1, false}} {
		if ok, err := Advised(p + uintptr(tc.off)); err != nil || ok != tc.want {
			t.Errorf("byte %d past the boundary: advised %v (%v), want %v", tc.off-start+1, ok, err, tc.want)
		}
	}
}

// TestAdviseHeap: the heap the call makes room for is advised for huge
// pages, given back to the kernel, and the heap grows into it; a second
// call does nothing.
func TestAdviseHeap(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || !On() {
		t.Skip("no transparent huge pages here")
	}
	const size = 64 << 20
	n := AdviseHeap(size)
	if n < size {
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
		ok, err := Advised(uintptr(unsafe.Pointer(unsafe.SliceData(keep[i]))))
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
	// Once a process: a second call allocates nothing.
	allocs := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(allocs)
	before := allocs[0].Value.Uint64()
	again := AdviseHeap(size)
	metrics.Read(allocs)
	if again != n || allocs[0].Value.Uint64()-before >= size {
		t.Errorf("a second call returned %d and allocated %d bytes, want the first's %d and nothing (once a process)", again, allocs[0].Value.Uint64()-before, n)
	}
}

// TestOff runs this test binary again with GODEBUG=disablethp=1, and with
// an address-space limit (ulimit -v), where nothing may be advised: the
// child (childChecks) says what it found.
func TestOff(t *testing.T) {
	if os.Getenv("HUGEPAGES_CHILD") != "" {
		childChecks(t)
		return
	}
	for _, tc := range []struct{ name, env string }{
		{"GODEBUG", "GODEBUG=disablethp=1"},
		{"ulimit -v", "HUGEPAGES_RLIMIT_AS=" + strconv.Itoa(8<<30)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestOff$", "-test.v")
			cmd.Env = append(os.Environ(), "HUGEPAGES_CHILD=1", tc.env)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestOff") {
				t.Errorf("child with %s: %v\n%s", tc.env, err, out)
			}
		})
	}
}

// childChecks is TestOff in the child: huge pages are off, or the heap's
// advice refuses to map under the address-space limit.
func childChecks(t *testing.T) {
	if v := os.Getenv("HUGEPAGES_RLIMIT_AS"); v != "" {
		limit, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: limit, Max: unix.RLIM_INFINITY}); err != nil {
			t.Fatal(err)
		}
		if n := AdviseHeap(64 << 20); n != 0 {
			t.Errorf("under an address-space limit AdviseHeap advised %d bytes, want none", n)
		}
		return
	}
	if On() {
		t.Fatalf("On() with GODEBUG=%q", os.Getenv("GODEBUG"))
	}
	if n := AdviseHeap(64 << 20); n != 0 {
		t.Errorf("AdviseHeap advised %d bytes, want none", n)
	}
	if _, _, err := Map(hugePage); err == nil {
		t.Error("Map with huge pages off: no error, want one (the caller allocates as without)")
	}
	b := make([]byte, 3*hugePage)
	if n := advise(b); n != 0 {
		t.Errorf("advise advised %d bytes, want none", n)
	}
}
