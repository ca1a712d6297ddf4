package engine

import (
	"unsafe"

	"github.com/crmload/crmload/internal/hugepages"
	"modernc.org/libc"
	"modernc.org/libc/sys/types"
	sqlite3 "modernc.org/sqlite/lib"
)

// The page caches' memory. SQLite (modernc's build: one page-cache group
// for all connections) allocates each cached page with its malloc, and
// frees it when a connection drops its cache. A connection drops its
// whole cache each time it starts a transaction on a database another
// connection has changed: the pooled readers after the writer's commits,
// and each writer when two processes load into one store (each then finds
// the other's commit, every few milliseconds). modernc's allocator gives
// a slab back to the kernel as soon as it is empty, so a dropped cache is
// a run of munmaps (each flushing the other CPUs' TLBs) and the next
// reads are page faults: with two loads into one store, munmap alone was
// 14% of each process's CPU.
//
// So SQLite is given one pool of page slots before its first connection
// (SQLITE_CONFIG_PAGECACHE with a buffer): a cached page is taken from the
// pool and given back to it, and the pool is never freed. A page that
// finds the pool empty, or does not fit a slot, is allocated as before.
//
// SQLite threads its free list through every slot when it starts, so the
// whole pool is resident from the first open: it is sized to the caches a
// load fills (the writer's, the checkpointer's and the reference
// reader's, which drops its cache at every commit; a load of 1M rows
// peaked at about 1030 pages in use before the reference reader), not to
// every cache that could be open. installPageCache sets it.
var pageCacheSlots int

// pageCachePool is the pool's address (for the tests).
var pageCachePool uintptr

// pageCachePage is the page size the slots are made for: SQLite's default,
// which the stores keep.
const pageCachePage = 4096

// pageCacheHeader is SQLite's answer to SQLITE_CONFIG_PCACHE_HDRSZ: the
// bytes a cached page needs besides the page (SQLite's page header and the
// b-tree's state). A package variable, since SQLite writes it through a
// pointer, and Go neither moves nor frees a package variable.
var pageCacheHeader int32

// pageCacheInstalled reports whether SQLite took the pool (false when it
// was initialised before this package, or SQLite could not say how big a
// slot is).
var pageCacheInstalled bool

func init() {
	pageCacheInstalled = installPageCache()
	sqliteMallocInstalled = installMalloc() // malloc.go
}

// pageCacheSlotSize is the bytes of one slot (0 when SQLite does not say
// what a page needs besides its bytes).
func pageCacheSlotSize() int {
	if pageCacheHeader <= 0 {
		return 0
	}
	return (pageCachePage + int(pageCacheHeader) + 7) &^ 7
}

// installPageCache gives SQLite its pool of page slots. It must run before
// SQLite is initialised (by the first connection); after that SQLite
// refuses the pool and nothing changes.
func installPageCache() bool {
	tls := libc.NewTLS()
	defer tls.Close()
	args := libc.Xmalloc(tls, 3*8) // C memory for (at most three) arguments
	if args == 0 {
		return false
	}
	defer libc.Xfree(tls, args)
	if sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_PCACHE_HDRSZ, libc.VaList(args, uintptr(unsafe.Pointer(&pageCacheHeader)))) != sqlite3.SQLITE_OK {
		return false
	}
	size := pageCacheSlotSize()
	if size == 0 {
		return false
	}
	n := (writerCacheKiB + checkpointerCacheKiB + refsCacheKiB) << 10 / size
	// The pool in huge pages: SQLite writes to every slot when it takes
	// it (it threads its free list through them), which in base pages
	// is a fault a page, ~1.3k for the whole pool, 18 ms of each
	// command's start on this project's machine (hugepages).
	var pool uintptr
	var free func()
	if b, unmap, err := hugepages.Map(size * n); err == nil {
		pool, free = uintptr(unsafe.Pointer(unsafe.SliceData(b))), func() { unmap() }
	} else if pool = libc.Xmalloc(tls, types.Size_t(size*n)); pool != 0 {
		free = func() { libc.Xfree(tls, pool) }
	} else {
		return false
	}
	if sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_PAGECACHE, libc.VaList(args, pool, int32(size), int32(n))) != sqlite3.SQLITE_OK {
		free()
		return false
	}
	pageCacheSlots, pageCachePool = n, pool
	return true
}
