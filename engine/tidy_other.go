//go:build !unix

package engine

// tidyReaderFiles leaves the -wal and -shm files a reader created where
// SQLite's locks are not POSIX record locks.
func tidyReaderFiles(readerFiles) {}
