package cmd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/crmload/crmload/loader"
)

// stdinName is how an input on standard input is given: "-".
const stdinName = "-"

// spoolStdin replaces "-" among files by a copy of standard input in a
// temporary directory, named stdin.csv or stdin.jsonl after format (which
// standard input has no extension to tell). A load hashes its inputs
// before it sends anything (the ledger) and checks them when it ends, so
// it needs a file it can read twice; a pipe can be read once. cleanup
// removes the copy; stdin says whether there was one.
func spoolStdin(g *globals, files []string, format string) (out []string, cleanup func(), stdin bool, err error) {
	cleanup = func() {}
	n := 0
	for _, f := range files {
		if f == stdinName {
			n++
		}
	}
	switch {
	case n == 0:
		return files, cleanup, false, nil
	case n > 1:
		return nil, cleanup, false, usageErrorf("standard input (-) is given %d times: it can be read once", n)
	case format != "csv" && format != "jsonl":
		return nil, cleanup, false, usageErrorf("standard input (-) has no extension to tell its format: give --format csv or jsonl (or input.format in the mapping)")
	}
	dir, err := os.MkdirTemp("", loader.StdinCopyDir)
	if err != nil {
		return nil, cleanup, false, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	path := filepath.Join(dir, "stdin."+format)
	f, err := os.Create(path)
	if err != nil {
		cleanup()
		return nil, func() {}, false, err
	}
	_, err = io.Copy(f, g.io.In)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return nil, func() {}, false, fmt.Errorf("read standard input: %w", err)
	}
	out = slices.Clone(files)
	out[slices.Index(out, stdinName)] = path
	return out, cleanup, true, nil
}

// withoutStdin is files without "-" (for checks that stat each file).
func withoutStdin(files []string) []string {
	return slices.DeleteFunc(slices.Clone(files), func(f string) bool { return f == stdinName })
}
