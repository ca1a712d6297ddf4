package engine

import (
	"context"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCheckpointerCloseKeepsTheLocks: closing the checkpointer, which the
// store does first, leaves the store's writer and readers their shared
// lock on the database file until they close (on POSIX systems closing
// any descriptor of a file drops all the process's locks on it): its
// presync descriptor, closed with it, dropped them, and another process
// could then take itself for the last user and delete the WAL under them.
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
// writer, then a reader) on a file a store of this process has open leaves
// the first store's shared lock: reading the file's header from a
// descriptor of its own and closing it dropped it (heldFile).
func TestSecondStoreKeepsTheLocks(t *testing.T) {
	e := newTestEngine(t, "testdata/rules.yaml")
	s := e.store.(*sqliteStore)
	sharedHeld := sharedLockProbe(t, s)
	if !sharedHeld() {
		t.Fatal("no shared lock on an open store")
	}
	ctx := context.Background()
	for name, open := range map[string]func() (*sqliteStore, error){
		"a writer": func() (*sqliteStore, error) { return openSQLite(ctx, s.path) },
		"a reader": func() (*sqliteStore, error) { return openSQLiteReadOnly(ctx, s.path) },
	} {
		second, err := open()
		if err != nil {
			t.Fatal(err)
		}
		if second.file != s.file {
			t.Errorf("%s on the same file holds a descriptor of its own", name)
		}
		if !sharedHeld() {
			t.Errorf("opening %s on the same file dropped the first store's shared lock", name)
		}
		if err := second.Close(); err != nil {
			t.Fatal(err)
		}
		if !sharedHeld() {
			t.Errorf("closing %s on the same file dropped the first store's shared lock", name)
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
