package engine

import "golang.org/x/sys/unix"

// setLock takes tidyReaderFiles' lock as an open file description's lock,
// which conflicts with this process's own SQLite connections' locks too
// (a record lock would not).
const setLock = unix.F_OFD_SETLK
