package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/crmload/crmload/crm"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// A heldFile is this process's descriptor of a store file, shared by every
// store open on it and closed when the last of them has closed its
// connections. On POSIX systems closing any descriptor of a file drops
// all the locks the process holds on it, SQLite's included: a second store
// opened on a file that one already had open (tests, a program embedding
// the engine) read the file's header from a descriptor of its own and
// closed it, and the first store's shared lock went with it; another
// process could then take itself for the last user and delete the WAL
// under it. A store holds its file before SQLite opens it (creating it
// when it is new) until after SQLite has closed it; the header is read and
// presync (checkpoint.go) runs from the held descriptor, and every
// descriptor of a held file stays open until its last store lets go.
type heldFile struct {
	f     *os.File
	fi    os.FileInfo // to tell whether another descriptor is of the same file
	extra []*os.File  // other descriptors of the file, opened by later holds
	refs  int         // holds; guarded by heldFiles.mu
}

var heldFiles struct {
	mu    sync.Mutex
	files []*heldFile // a handful: one per store file open in this process
}

// holdFile returns the held descriptor of the file at path, opening it if
// no store of this process holds it yet; each call is answered by one
// release. With create, a file that does not exist is created (empty, as
// SQLite creates a database); without, its absence is an error wrapping
// fs.ErrNotExist. The descriptor is read-only (fsync needs no more) but on
// Windows for a writer (create), where only a file open for writing is
// flushed.
func holdFile(path string, create bool) (*heldFile, error) {
	// A pipe would block the open until a writer came, a device is no
	// store (SQLite's journal beside /dev/null would be made): refused
	// before they are opened. A file already held is shared without a
	// descriptor more (each one would stay open until the last release):
	// should path name another file by the time SQLite opens it, holds
	// finds out.
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() && !fi.IsDir() {
			return nil, errNotRegular
		}
		heldFiles.mu.Lock()
		h := findHeld(fi)
		if h != nil {
			h.refs++
		}
		heldFiles.mu.Unlock()
		if h != nil {
			return h, nil
		}
	}
	flag := os.O_RDONLY
	if create && runtime.GOOS == "windows" {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if create && errors.Is(err, fs.ErrNotExist) {
		// Not O_EXCL: a symlink to a file yet to be made makes it, as
		// SQLite would.
		f, err = os.OpenFile(path, flag|os.O_CREATE, 0o644)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		// Not closed: it may be a descriptor of a file another store
		// holds, and closing it would drop that store's locks. (An fstat
		// of a descriptor just opened does not fail in practice.)
		return nil, err
	}
	heldFiles.mu.Lock()
	defer heldFiles.mu.Unlock()
	// Found by the file opened, not by path: path may name another file
	// by now, or the same file by another name.
	if h := findHeld(fi); h != nil {
		h.refs++
		h.extra = append(h.extra, f)
		return h, nil
	}
	h := &heldFile{f: f, fi: fi, refs: 1}
	heldFiles.files = append(heldFiles.files, h)
	return h, nil
}

// findHeld returns the held file fi describes, or nil; heldFiles.mu is
// held.
func findHeld(fi os.FileInfo) *heldFile {
	for _, h := range heldFiles.files {
		if os.SameFile(h.fi, fi) {
			return h
		}
	}
	return nil
}

var errNotRegular = errors.New("not a regular file (a device, a pipe or a socket): a store is a file")

// holdError is the error of holding the file of the store at path: the
// file system's reason, said once (not "open path: open path: ...").
func holdError(path string, err error, create bool) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if create && errors.Is(err, fs.ErrNotExist) {
		// The directory is not named apart from path: the caller
		// redacts path (a mistyped DSN's password), not parts of it.
		return fmt.Errorf("open %s: its directory does not exist (create it, or give --db a path in a directory that exists)", path)
	}
	return fmt.Errorf("open %s: %w", path, err)
}

// release gives up one hold; the last closes the file's descriptors. The
// store calls it after closing its connections. A nil h is no hold.
func (h *heldFile) release() { h.releaseTidying(readerFiles{}) }

// releaseTidying is release, which with the last hold also removes the
// -wal and -shm files a reader's opening created (tidyReaderFiles): only
// then has this process no connection left on the file, whose locks a
// descriptor opened and closed to remove them would drop.
func (h *heldFile) releaseTidying(created readerFiles) {
	if h == nil {
		return
	}
	heldFiles.mu.Lock()
	defer heldFiles.mu.Unlock()
	if h.refs--; h.refs > 0 {
		return
	}
	tidyReaderFiles(created)
	for i, g := range heldFiles.files {
		if g == h {
			heldFiles.files = append(heldFiles.files[:i], heldFiles.files[i+1:]...)
			break
		}
	}
	for _, f := range h.extra {
		f.Close()
	}
	h.f.Close()
}

// holds says whether SQLite's connection c opened the file h holds: the
// file may have been replaced between the hold and SQLite's open, and
// SQLite's locks would then be on a file no descriptor protects.
func (h *heldFile) holds(c *sqlite.Conn, path string) error {
	return h.isAt(mainFileName(c), path)
}

// isAt says whether name is still the file h holds; path is the store's
// name as given, the only one an error names (the caller redacts it).
func (h *heldFile) isAt(name, path string) error {
	fi, err := os.Stat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist) || err == nil && !os.SameFile(h.fi, fi):
		return fmt.Errorf("open %s: the file was removed or replaced while the store was being opened (a seed that fails in another process removes the store it created); nothing was stored; try again", path)
	case err != nil:
		return holdError(path, err, false)
	}
	return nil
}

// mainFileName is the file name of c's main database, "" in memory.
func mainFileName(c *sqlite.Conn) string {
	var path string
	sqlitex.ExecuteTransient(c, "PRAGMA database_list", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			if stmt.ColumnText(1) == "main" {
				path = stmt.ColumnText(2)
			}
			return nil
		},
	})
	return path
}

// RemoveNewStore removes the SQLite store at path (its file, -wal, -shm
// and -journal), which this process created and stored nothing in (a seed
// that failed), unless another connection, of any process, holds a lock on
// it or it holds events, loads or reference records by now; it says
// whether it removed it. Removing it while another process used it lost
// that process's events (a load --seed that created the store beside one
// that failed): the removal is made holding an exclusive lock on the
// file, which SQLite grants only while no other connection holds a lock
// on it (a WAL-mode connection holds a shared one from its first read;
// one that has opened the file and not read it yet, or an immutable
// reader, holds none, and finds an empty store either way). A store that
// opened the file before the removal finds, once it holds its own lock,
// that the file it holds is gone (heldFile.holds) and fails its open.
func RemoveNewStore(path string) bool {
	name := crm.StoreFile(path)
	if name == "" {
		return false
	}
	c, err := sqlite.OpenConn(name, sqlite.OpenReadWrite)
	if err != nil {
		return false
	}
	open := true
	defer func() {
		if open {
			sqlitex.ExecuteTransient(c, "ROLLBACK", nil) // an error when none began
			c.Close()
		}
	}()
	c.SetBusyTimeout(0)
	if sqlitex.ExecuteTransient(c, "PRAGMA locking_mode = EXCLUSIVE", nil) != nil ||
		sqlitex.ExecuteTransient(c, "BEGIN EXCLUSIVE", nil) != nil {
		return false
	}
	tables := []string{"events", "loads"}
	for _, e := range entities {
		tables = append(tables, e.name)
	}
	for _, t := range tables {
		var rows bool
		err := sqlitex.ExecuteTransient(c, fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM %q)", t), &sqlitex.ExecOptions{
			ResultFunc: func(stmt *sqlite.Stmt) error { rows = stmt.ColumnBool(0); return nil },
		})
		if err != nil && !strings.Contains(err.Error(), "no such table") {
			return false
		}
		if rows {
			return false
		}
	}
	file := realFile(path)
	if runtime.GOOS == "windows" {
		// SQLite's own handle forbids deleting the file: remove it once
		// closed; Windows refuses to delete a file another process has
		// open meanwhile.
		sqlitex.ExecuteTransient(c, "ROLLBACK", nil)
		c.Close()
		open = false
	}
	// The main file first: SQLite's close, after it, deletes no -wal of
	// a store made at path meanwhile (it sees its file unlinked).
	if err := os.Remove(file); err != nil {
		return false
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		os.Remove(file + suffix)
	}
	return true
}
