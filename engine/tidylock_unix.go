//go:build unix && !linux

package engine

import "golang.org/x/sys/unix"

// setLock takes tidyReaderFiles' lock as a record lock: it conflicts with
// other processes' connections; this process has none open on the store
// when a reader closes (no crmload command reads and writes one store).
const setLock = unix.F_SETLK
