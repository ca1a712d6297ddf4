//go:build !unix

package cmd

import "io/fs"

// links is the number of hard links of the file fi describes: unknown
// (0) here. (On Windows filepath.EvalSymlinks gives a name's case as the
// file has it, so samePath needs it not.)
func links(fs.FileInfo) uint64 { return 0 }
