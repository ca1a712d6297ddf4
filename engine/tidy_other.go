//go:build !unix

package engine

// canTidy is false where SQLite's locks are not POSIX record locks: a
// reader of a store no writer has open reads it as immutable.
func canTidy(string) bool { return false }

// tidyReaderFiles has nothing to remove: canTidy is false.
func tidyReaderFiles(readerFiles) {}
