package engine

import (
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
	probe := s.ckpt.db
	if probe == nil {
		t.Fatal("the checkpointer holds no descriptor of the store")
	}
	// An open file description lock conflicts with the process's own
	// record locks, so it sees them: a write lock over SQLite's shared
	// range is refused while a connection holds a shared lock there.
	sharedHeld := func() bool {
		t.Helper()
		lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0x40000000 + 2, Len: 510}
		if err := unix.FcntlFlock(probe.Fd(), unix.F_OFD_GETLK, &lk); errors.Is(err, unix.EINVAL) {
			t.Skipf("no open file description locks here: %v", err)
		} else if err != nil {
			t.Fatal(err) // the descriptor was closed (and the locks with it)
		}
		return lk.Type != unix.F_UNLCK
	}
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
