package engine

import (
	"os"
	"sync"
)

// A heldFile is this process's one descriptor of a store file, shared by
// every store open on it and closed when the last of them has closed its
// connections. On POSIX systems closing any descriptor of a file drops
// all the locks the process holds on it, SQLite's included: a second store
// opened on a file that one already has open (tests, a program embedding
// the engine) read the file's header from a descriptor of its own and
// closed it, and the first store's shared lock went with it; another
// process could then take itself for the last user and delete the WAL
// under it. Reading the header and presync (checkpoint.go) use the held
// descriptor, so no descriptor of an open store file is ever closed
// before the last of its stores.
type heldFile struct {
	f    *os.File
	fi   os.FileInfo // to tell whether another path names the same file
	refs int         // stores holding it; guarded by heldFiles.mu
}

var heldFiles struct {
	mu    sync.Mutex
	files []*heldFile // a handful: one per store file open in this process
}

// holdFile returns the held descriptor of the file at path, opening it if
// no store of this process holds it yet; each call is answered by one
// release. It opens the file for writing where it can (Windows flushes
// only a file open for writing) and for reading where it cannot (a
// read-only store). An error is the file's: it does not exist, or cannot
// be opened.
func holdFile(path string) (*heldFile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	heldFiles.mu.Lock()
	defer heldFiles.mu.Unlock()
	for _, h := range heldFiles.files {
		if os.SameFile(h.fi, fi) {
			h.refs++
			return h, nil
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
	}
	// The file as opened: path may have been replaced since the Stat.
	if fi, err = f.Stat(); err != nil {
		f.Close()
		return nil, err
	}
	h := &heldFile{f: f, fi: fi, refs: 1}
	heldFiles.files = append(heldFiles.files, h)
	return h, nil
}

// release gives up one hold; the last closes the descriptor. The store
// calls it after closing its connections. A nil h is no hold.
func (h *heldFile) release() {
	if h == nil {
		return
	}
	heldFiles.mu.Lock()
	defer heldFiles.mu.Unlock()
	if h.refs--; h.refs > 0 {
		return
	}
	for i, g := range heldFiles.files {
		if g == h {
			heldFiles.files = append(heldFiles.files[:i], heldFiles.files[i+1:]...)
			break
		}
	}
	h.f.Close()
}
