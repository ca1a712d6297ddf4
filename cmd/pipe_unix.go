//go:build unix

package cmd

import (
	"os/signal"
	"syscall"
)

// ignoreBrokenPipe makes a write to a closed standard output an EPIPE
// error, where it killed the process (Go's default for SIGPIPE on
// standard output): events list | head then closes the store, which
// removes the -wal and -shm its reading created.
func ignoreBrokenPipe() { signal.Ignore(syscall.SIGPIPE) }
