//go:build unix

package pgtest

import "syscall"

// processGone says whether no process has pid (a signal 0 finds none).
func processGone(pid int) bool { return syscall.Kill(pid, 0) == syscall.ESRCH }
