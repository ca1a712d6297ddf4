package engine

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// cBytes is the n bytes of C memory at p.
func cBytes(p uintptr, n int) []byte {
	return unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&p))), n)
}

// TestSQLiteMallocKeepsLargeBlocks: SQLite's malloc is the wrapped one; a
// freed block of the kept range is what the next request it fits gets,
// and a small block is left to SQLite's own allocator.
func TestSQLiteMallocKeepsLargeBlocks(t *testing.T) {
	if !sqliteMallocInstalled {
		t.Fatal("SQLite did not take the wrapped malloc: was it initialised before package engine's init?")
	}
	tls := libc.NewTLS()
	defer tls.Close()
	// Whatever blocks other tests left kept are taken first: a request
	// just over spareMin fits any.
	var held []uintptr
	for range len(spares.blocks) {
		held = append(held, sqlite3.Xsqlite3_malloc(tls, spareMin+1))
	}
	p := sqlite3.Xsqlite3_malloc(tls, 24600) // balance_nonroot's, for 4 KiB pages
	if p == 0 {
		t.Fatal("sqlite3_malloc: nil")
	}
	sqlite3.Xsqlite3_free(tls, p)
	// The freed block itself, its size unchanged (a new block at the
	// same address, which the kernel may well map, would be of 20000).
	if q := sqlite3.Xsqlite3_malloc(tls, 20000); q != p || sqlite3.Xsqlite3_msize(tls, q) < 24600 {
		t.Errorf("a request of 20000 bytes after a free of 24600: block %#x of %d bytes, want the freed %#x of 24600",
			q, sqlite3.Xsqlite3_msize(tls, q), p)
	}
	sqlite3.Xsqlite3_free(tls, p)
	if q := sqlite3.Xsqlite3_malloc(tls, 30000); q == p {
		t.Errorf("a request of 30000 bytes got the kept block of %d", sqlite3.Xsqlite3_msize(tls, p))
	} else {
		sqlite3.Xsqlite3_free(tls, q)
	}
	for _, h := range held {
		sqlite3.Xsqlite3_free(tls, h)
	}
}

// TestSQLiteMallocConcurrent: goroutines allocating, writing, checking
// and freeing blocks of every size (kept ones included) never get a block
// another holds.
func TestSQLiteMallocConcurrent(t *testing.T) {
	const goroutines, rounds = 8, 400
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			tls := libc.NewTLS()
			defer tls.Close()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for r := range rounds {
				n := 1 + rng.IntN(spareMax+spareMax/4)
				p := sqlite3.Xsqlite3_malloc(tls, int32(n))
				if p == 0 {
					t.Errorf("sqlite3_malloc(%d): nil", n)
					return
				}
				b := cBytes(p, n)
				mark := byte(g*rounds + r)
				for i := 0; i < n; i += 512 {
					b[i] = mark
				}
				b[n-1] = mark
				runtime.Gosched()
				for i := 0; i < n; i += 512 {
					if b[i] != mark || b[n-1] != mark {
						t.Errorf("goroutine %d: a block of %d bytes was written by another holder", g, n)
						return
					}
				}
				sqlite3.Xsqlite3_free(tls, p)
			}
		})
	}
	wg.Wait()
}
