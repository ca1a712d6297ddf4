//go:build unix

package engine

import (
	"os"

	"golang.org/x/sys/unix"
)

// canTidy says whether tidyReaderFiles may remove what a reader of the
// store at path creates: it needs the file open for writing, for its lock.
func canTidy(path string) bool { return unix.Access(path, unix.W_OK) == nil }

// tidyReaderFiles removes the -wal and -shm files of the store a closed
// reader read, as SQLite's last connection to close removes its own:
// those its opening created, and those a reader killed before its close
// left (events list | head). It works under a write lock over the
// database file's shared-lock bytes, which every open connection of any
// process holds a shared lock on (so the lock is refused while one is
// open, and a connection that opens meanwhile waits for it before it
// looks for the -wal). Nothing is removed if the lock is refused, the
// -wal holds frames (commits not yet checkpointed), or the file cannot be
// opened for writing (a lock to write needs it), nor what this user may
// not remove. It runs when this process has no connection left on the
// file (releaseTidying): the descriptor it closes drops the process's
// record locks on the file.
func tidyReaderFiles(c readerFiles) {
	if c.path == "" || (!exists(c.path+"-wal") && !exists(c.path+"-shm")) {
		return
	}
	f, err := os.OpenFile(c.path, os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer f.Close() // after the unlock: closing drops the process's locks on the file
	// SQLite's shared-lock bytes: past its pending and reserved bytes at
	// 1 GiB, a page no data is ever written to.
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 1<<30 + 2, Len: 510}
	if unix.FcntlFlock(f.Fd(), setLock, &lk) != nil {
		return
	}
	defer func() {
		lk.Type = unix.F_UNLCK
		unix.FcntlFlock(f.Fd(), setLock, &lk)
	}()
	if fi, err := os.Lstat(c.path + "-wal"); err == nil {
		if fi.Size() > 0 || os.Remove(c.path+"-wal") != nil {
			return
		}
	}
	os.Remove(c.path + "-shm")
}
