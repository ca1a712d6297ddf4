//go:build unix

package cmd

import (
	"io/fs"
	"syscall"
)

// links is the number of hard links of the file fi describes (0 when
// unknown).
func links(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 0
}
