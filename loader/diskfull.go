package loader

import (
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
)

// diskLeft is a failpoint for tests (nil otherwise): when set, it is how
// many more bytes the files of run directories (reports, journal,
// summary) may take before writes fail as on a full disk: the part that
// fits is written, then ENOSPC. Tests arm it to stop a run at an exact
// byte of its reports and resume it, without needing a small filesystem.
// only, when not empty, limits the failpoint to files of that name.
var diskLeft atomic.Pointer[diskBudget]

type diskBudget struct {
	left atomic.Int64
	only string
}

// runDirWriter is how a run directory's file f is written: f itself, or
// through the diskLeft failpoint when it is armed.
func runDirWriter(f *os.File) io.Writer {
	b := diskLeft.Load()
	if b == nil || b.only != "" && filepath.Base(f.Name()) != b.only {
		return f
	}
	return &fullDiskWriter{f: f, left: &b.left}
}

type fullDiskWriter struct {
	f    *os.File
	left *atomic.Int64
}

func (w *fullDiskWriter) Write(p []byte) (int, error) {
	n := len(p)
	for {
		left := w.left.Load()
		n = min(n, int(max(left, 0)))
		if w.left.CompareAndSwap(left, left-int64(n)) {
			break
		}
	}
	m, err := w.f.Write(p[:n])
	if err == nil && m < len(p) {
		err = &os.PathError{Op: "write", Path: w.f.Name(), Err: syscall.ENOSPC}
	}
	return m, err
}
