package engine

import (
	"sync"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite's large allocations. modernc's allocator serves a request over
// 16 KiB with a mapping of its own and unmaps it as soon as it is freed.
// SQLite makes such a request each time it rebalances a b-tree page with
// its siblings (balance_nonroot's scratch: 24.6 KiB for 4 KiB pages),
// frees it at once, and asks again at the next: a 1M-row load rebalances
// ~840 times, each time an mmap, the fresh pages' faults and an munmap
// (which flushes the other CPUs' TLBs), on the writer's path.
//
// So SQLite's malloc is wrapped (SQLITE_CONFIG_MALLOC, set before the
// first connection like the page-cache pool): a freed block of spareMin
// to spareMax bytes is kept (at most len(spares.blocks) of them), and a
// request of that range that one of them fits takes it back. Every block
// is one of SQLite's own allocator's, so its size, its reallocation and
// its final free are that allocator's business, as before.
const (
	spareMin = 16 << 10 // modernc's allocator maps blocks over this alone
	spareMax = 128 << 10
)

var spares struct {
	mu     sync.Mutex
	blocks [4]uintptr
	def    sqlite3.Tsqlite3_mem_methods // SQLite's own malloc
	// The methods SQLite is given (it copies them). Both are in a
	// package variable, not on the heap: SQLite reads and writes them
	// through pointers it was passed as integers, which the race
	// detector's pointer checks allow only outside Go's heap.
	wrapped sqlite3.Tsqlite3_mem_methods
}

// sqliteMallocInstalled reports whether SQLite took the wrapped malloc.
var sqliteMallocInstalled bool

// installMalloc wraps SQLite's malloc and free (see above). It must run
// before SQLite is initialised; after that SQLite refuses, and nothing
// changes.
func installMalloc() bool {
	tls := libc.NewTLS()
	defer tls.Close()
	args := libc.Xmalloc(tls, 8)
	if args == 0 {
		return false
	}
	defer libc.Xfree(tls, args)
	if sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_GETMALLOC, libc.VaList(args, uintptr(unsafe.Pointer(&spares.def)))) != sqlite3.SQLITE_OK ||
		spares.def.FxMalloc == 0 || spares.def.FxFree == 0 || spares.def.FxSize == 0 {
		return false
	}
	spares.wrapped = spares.def
	spares.wrapped.FxMalloc = funcPointer(spareMalloc)
	spares.wrapped.FxFree = funcPointer(spareFree)
	return sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_MALLOC, libc.VaList(args, uintptr(unsafe.Pointer(&spares.wrapped)))) == sqlite3.SQLITE_OK
}

// spareMalloc is SQLite's xMalloc: a kept block when one fits a large
// request, else SQLite's own malloc.
func spareMalloc(tls *libc.TLS, n int32) uintptr {
	if n > spareMin && n <= spareMax {
		spares.mu.Lock()
		for i, p := range spares.blocks {
			if p != 0 && blockSize(tls, p) >= n {
				spares.blocks[i] = 0
				spares.mu.Unlock()
				return p
			}
		}
		spares.mu.Unlock()
	}
	return cFunc[func(*libc.TLS, int32) uintptr](spares.def.FxMalloc)(tls, n)
}

// spareFree is SQLite's xFree: a large block is kept while there is room,
// else it goes to SQLite's own free.
func spareFree(tls *libc.TLS, p uintptr) {
	if p != 0 {
		if n := blockSize(tls, p); n > spareMin && n <= spareMax {
			spares.mu.Lock()
			for i, q := range spares.blocks {
				if q == 0 {
					spares.blocks[i] = p
					spares.mu.Unlock()
					return
				}
			}
			spares.mu.Unlock()
		}
	}
	cFunc[func(*libc.TLS, uintptr)](spares.def.FxFree)(tls, p)
}

// blockSize is SQLite's own xSize of a block its malloc made.
func blockSize(tls *libc.TLS, p uintptr) int32 {
	return cFunc[func(*libc.TLS, uintptr) int32](spares.def.FxSize)(tls, p)
}

// cFunc is the Go func of type F that modernc's SQLite holds as the C
// function pointer fp (funcPointer's inverse: modernc calls through its
// pointers the same way).
func cFunc[F any](fp uintptr) F { return *(*F)(unsafe.Pointer(&fp)) }

// funcPointer is f as modernc's SQLite holds a C function pointer: the
// word of the func value (modernc's __ccgo_fp does the same).
func funcPointer(f any) uintptr {
	return (*[2]uintptr)(unsafe.Pointer(&f))[1]
}
