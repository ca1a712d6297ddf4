package loader

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// A run directory is worked on by one process at a time: two resumes of
// one run at once would send its rows twice. The lock is an OS file lock
// on .lock, so it goes with the process however the process ends (kill -9
// too); .owner says who holds it.

// RunBusyError refuses a run directory another process is working on.
type RunBusyError struct {
	Dir, Owner string
}

func (e *RunBusyError) Error() string {
	return fmt.Sprintf("%s is being worked on by another crmload process (%s): wait for it to end, or stop it first", e.Dir, e.Owner)
}

// lockRun takes dir's lock, or returns a *RunBusyError.
func lockRun(dir string) (unlock func(), err error) {
	lk := flock.New(filepath.Join(dir, lockName))
	ok, err := lk.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if !ok {
		owner, _ := os.ReadFile(filepath.Join(dir, ownerName))
		return nil, &RunBusyError{Dir: dir, Owner: strings.TrimSpace(string(owner))}
	}
	host, _ := os.Hostname()
	os.WriteFile(filepath.Join(dir, ownerName), fmt.Appendf(nil, "pid %d on %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339)), 0o644)
	return func() { lk.Unlock() }, nil
}

// running reports whether a process holds dir's lock now.
func running(dir string) bool {
	unlock, err := lockRun(dir)
	if err != nil {
		_, busy := err.(*RunBusyError)
		return busy
	}
	unlock()
	return false
}

// resumeTarget is the directory to resume for a run directory: a job
// source's is its job's.
func resumeTarget(dir string) string {
	if RunDir(filepath.Dir(dir)).IsJob() {
		return filepath.Dir(dir)
	}
	return dir
}
