package engine

import (
	"context"
	"os"
	"testing"
	"unsafe"

	"github.com/crmload/crmload/internal/hugepages"
	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// TestPageCachePool: SQLite takes the pages of the stores' caches from the
// pool set up at start, a page fits a slot, and two stores on one file
// (two load processes) committing in turn, each dropping its cache at the
// other's commit, store every event once.
func TestPageCachePool(t *testing.T) {
	if !pageCacheInstalled {
		t.Fatal("SQLite did not take the page-cache pool: was it initialised before package engine's init?")
	}
	// In huge pages where there are any: SQLite writes to every slot
	// when it takes the pool (internal/hugepages).
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err == nil && hugepages.On() {
		if ok, err := hugepages.Advised(pageCachePool); err != nil || !ok {
			t.Errorf("the page-cache pool at %#x is advised for huge pages: %v (%v), want true", pageCachePool, ok, err)
		}
	}
	ctx := context.Background()
	e := newTestEngine(t, "testdata/rules.yaml")
	other, err := Open(ctx, e.store.(*sqliteStore).path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	const calls, perCall = 20, 50
	for c := range calls {
		eng := e
		if c%2 == 1 {
			eng = other
		}
		if err := eng.store.Commit(ctx, resolvedPurchases(t, eng, c, perCall), CommitOptions{}); err != nil {
			t.Fatalf("call %d: %v", c, err)
		}
	}
	n := 0
	if err := e.store.Events(ctx, Filter{}, func(*EventObject) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != calls*perCall {
		t.Errorf("%d events stored, want %d", n, calls*perCall)
	}

	used, _ := sqliteStatus(t, sqlite3.SQLITE_STATUS_PAGECACHE_USED)
	_, largest := sqliteStatus(t, sqlite3.SQLITE_STATUS_PAGECACHE_SIZE)
	slot := int32(pageCacheSlotSize())
	if used == 0 {
		t.Errorf("no page of the open stores' caches is in the pool")
	}
	if pageCacheSlots < 1000 {
		t.Errorf("a pool of %d slots: a load's writer alone fills about 1000", pageCacheSlots)
	}
	if largest > slot {
		t.Errorf("SQLite asked for a %d-byte page, over the pool's %d-byte slots", largest, slot)
	}
}

// statusCurrent and statusHighwater receive sqlite3_status's answers
// (package variables: SQLite writes through pointers to them).
var statusCurrent, statusHighwater int32

// sqliteStatus returns SQLite's current and highest value of the status
// counter op.
func sqliteStatus(t *testing.T, op int32) (current, highwater int32) {
	t.Helper()
	tls := libc.NewTLS()
	defer tls.Close()
	if rc := sqlite3.Xsqlite3_status(tls, op, uintptr(unsafe.Pointer(&statusCurrent)), uintptr(unsafe.Pointer(&statusHighwater)), 0); rc != sqlite3.SQLITE_OK {
		t.Fatalf("sqlite3_status(%d): %d", op, rc)
	}
	return statusCurrent, statusHighwater
}
