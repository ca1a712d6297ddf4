package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// TestCheckpointerCloseKeepsTheLocks: closing the checkpointer, which the
// store does first, leaves the store's writer and readers their shared
// lock on the database file until they close (on POSIX systems closing
// any descriptor of a file drops all the process's locks on it): its
// presync descriptor, once its own and closed with it, dropped them, and
// another process could then take itself for the last user and delete
// the WAL under them. Presync now uses the store's held descriptor
// (heldFile); this keeps the checkpointer from closing one again.
func TestCheckpointerCloseKeepsTheLocks(t *testing.T) {
	e := newTestEngine(t, "testdata/rules.yaml")
	s := e.store.(*sqliteStore)
	sharedHeld := sharedLockProbe(t, s)
	if !sharedHeld() {
		t.Fatal("no shared lock on an open store")
	}
	if err := s.ckpt.close(); err != nil {
		t.Fatal(err)
	}
	if !sharedHeld() {
		t.Error("closing the checkpointer dropped the shared lock of the store's connections")
	}
}

// TestSecondStoreKeepsTheLocks: opening and closing a second store (a
// writer, a reader; by the same path, a symlink, a relative path, a file:
// URI) on a file a store of this process has open leaves the first store's
// shared lock: reading the file's header from a descriptor of its own and
// closing it dropped it (heldFile).
func TestSecondStoreKeepsTheLocks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	if err := os.Symlink(path, filepath.Join(dir, "link.db")); err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil {
		t.Fatal(err)
	}
	writer := func(name string) func() (*sqliteStore, error) {
		return func() (*sqliteStore, error) { return openSQLite(ctx, name) }
	}
	reader := func(name string) func() (*sqliteStore, error) {
		return func() (*sqliteStore, error) { return openSQLiteReadOnly(ctx, name) }
	}
	for _, c := range []struct {
		name string
		open func() (*sqliteStore, error)
	}{
		{"a writer", writer(path)},
		{"a reader", reader(path)},
		{"a writer by a symlink", writer(filepath.Join(dir, "link.db"))},
		{"a reader by a relative path", reader(rel)},
		{"a writer by a file: URI", writer("file:" + path + "?cache=private")},
	} {
		first, err := openSQLite(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		sharedHeld := sharedLockProbe(t, first)
		if !sharedHeld() {
			t.Fatal("no shared lock on an open store")
		}
		second, err := c.open()
		if err != nil {
			t.Fatal(c.name, err)
		}
		if second.file != first.file {
			t.Errorf("%s on the same file holds a descriptor of its own", c.name)
		}
		if !sharedHeld() {
			t.Errorf("opening %s on the same file dropped the first store's shared lock", c.name)
		}
		if err := second.Close(); err != nil {
			t.Fatal(err)
		}
		if !sharedHeld() {
			t.Errorf("closing %s on the same file dropped the first store's shared lock", c.name)
		}
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStoreHeldBeforeSQLiteOpens: a store holds its file before SQLite
// opens it, a file: URI's too. Held only once SQLite had opened and
// migrated it, a store opened by URI lost its shared lock to a second store
// opened and closed meanwhile (here from the upgrade notice, which runs in
// that window; in a program, another goroutine).
func TestStoreHeldBeforeSQLiteOpens(t *testing.T) {
	ctx := context.Background()
	path := newEmptyStore(t)
	c, err := sqlite.OpenConn(path, sqlite.OpenReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	err = sqlitex.ExecuteTransient(c, fmt.Sprintf("PRAGMA user_version = %d", readerOldest), nil)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}

	var sharedHeld func() bool
	noticed := false
	ctx = WithUpgradeNotice(ctx, func(string, int64, int64) {
		noticed = true
		heldFiles.mu.Lock()
		held := slices.Clone(heldFiles.files)
		heldFiles.mu.Unlock()
		if len(held) != 1 {
			t.Fatalf("%d files held while SQLite opens the store, want 1", len(held))
		}
		probe := &sqliteStore{file: held[0]}
		sharedHeld = sharedLockProbe(t, probe)
		if !sharedHeld() {
			t.Fatal("no shared lock while the store opens")
		}
		r, err := openSQLiteReadOnly(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
	})
	s, err := openSQLite(ctx, "file:"+path+"?cache=private")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !noticed {
		t.Fatal("no upgrade notice: the test did not open the store through its window")
	}
	if !sharedHeld() {
		t.Error("a second store opened and closed while the first opened dropped the first's shared lock")
	}
}

// TestHeldFilesReleased: every open, failed open and close gives back its
// hold: no file stays held, no descriptor stays open.
func TestHeldFilesReleased(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fds := func() int {
		es, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip(err)
		}
		return len(es)
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	store := filepath.Join(dir, "s.db")
	notes := write("notes.txt", "not a store")
	empty := write("empty.db", "")
	before := fds()
	for _, c := range []struct {
		name   string
		open   func(context.Context, string) (*sqliteStore, error)
		path   string
		failed bool
	}{
		{"a new store", openSQLite, store, false},
		{"the store again", openSQLite, store, false},
		{"a reader", openSQLiteReadOnly, store, false},
		{"a text file", openSQLite, notes, true},
		{"a text file, read", openSQLiteReadOnly, notes, true},
		{"a directory", openSQLite, dir, true},
		{"an empty file, read", openSQLiteReadOnly, empty, true},
		{"no such file, read", openSQLiteReadOnly, filepath.Join(dir, "none.db"), true},
		{"in memory", openSQLite, "file:mem?mode=memory&cache=shared", false},
	} {
		s, err := c.open(ctx, c.path)
		if (err != nil) != c.failed {
			t.Fatalf("%s: %v", c.name, err)
		}
		if err == nil {
			s.Close()
			s.Close() // twice: released once
		}
		heldFiles.mu.Lock()
		held := len(heldFiles.files)
		heldFiles.mu.Unlock()
		if held != 0 {
			t.Errorf("after %s: %d files held", c.name, held)
		}
		if n := fds(); n != before {
			t.Errorf("after %s: %d descriptors open, %d before", c.name, n, before)
		}
	}
}

// sharedLockProbe returns a function that says whether this process holds
// a shared lock on s's database file, as SQLite's connections do while
// the store is open. It asks through the store's held descriptor: an open
// file description lock conflicts with the process's own record locks, so
// it sees them (a write lock over SQLite's shared range is refused while a
// connection holds a shared lock there).
func sharedLockProbe(t *testing.T, s *sqliteStore) func() bool {
	t.Helper()
	if s.file == nil {
		t.Fatal("the store holds no descriptor of its file")
	}
	probe := s.file.f
	return func() bool {
		t.Helper()
		lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0x40000000 + 2, Len: 510}
		if err := unix.FcntlFlock(probe.Fd(), unix.F_OFD_GETLK, &lk); errors.Is(err, unix.EINVAL) {
			t.Skipf("no open file description locks here: %v", err)
		} else if err != nil {
			t.Fatal(err) // the descriptor was closed (and the locks with it)
		}
		return lk.Type != unix.F_UNLCK
	}
}
