package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/crmload/crmload/loader"
)

// stdinName is how an input on standard input is given: "-".
const stdinName = "-"

// spoolStdin replaces "-" among files by a copy of standard input in a
// temporary directory, named stdin.csv or stdin.jsonl after format (which
// standard input has no extension to tell); so it does with an input
// that is a pipe given by name (<(zcat x.gz), a FIFO), whose format its
// name's extension may tell. A load hashes its inputs before it sends
// anything (the ledger) and checks them when it ends, so it needs a file
// it can read twice; a pipe can be read once (read more than once, a
// FIFO's second open waited for a writer for ever, and a pipe was
// claimed in the ledger as empty, refusing the next pipe as the same
// content). One such input a run: the run records it as standard input.
// cleanup removes the copy; stdin says whether there was one.
func spoolStdin(ctx context.Context, g *globals, files []string, format string) (out []string, cleanup func(), stdin bool, err error) {
	cleanup = func() {}
	n, at := 0, -1
	var pipes []string
	for i, f := range files {
		switch {
		case f == stdinName:
			n, at = n+1, i
		case loader.IsPipe(f):
			pipes, at = append(pipes, f), i
		}
	}
	switch {
	case n+len(pipes) == 0:
		return files, cleanup, false, nil
	case n > 1:
		return nil, cleanup, false, usageErrorf("standard input (-) is given %d times: it can be read once", n)
	case n+len(pipes) > 1:
		return nil, cleanup, false, usageErrorf("standard input and pipes (%s) are each copied whole before a run starts, one a run: load the others in runs of their own, or give files", strings.Join(append(slices.Repeat([]string{stdinName}, n), pipes...), ", "))
	}
	from, name := g.io.In, "standard input"
	if len(pipes) == 1 {
		name = pipes[0]
		switch ext := strings.ToLower(filepath.Ext(name)); {
		case ext == ".gz":
			return nil, cleanup, false, usageErrorf("input %s is a compressed pipe: decompress into it (<(zcat FILE.gz)), or give the .gz file itself", name)
		case ext == ".tsv":
			return nil, cleanup, false, usageErrorf("input %s is a .tsv pipe, read as standard input is (CSV or JSONL): give the .tsv file itself, or --format csv with input.delimiter: \"\\t\" in the mapping and a pipe of another name", name)
		case format == "" && (ext == ".csv" || ext == ".jsonl"):
			format = ext[1:]
		}
		if format != "csv" && format != "jsonl" {
			return nil, cleanup, false, usageErrorf("input %s is a pipe with no .csv or .jsonl extension to tell its format: give --format csv or jsonl (or input.format in the mapping)", name)
		}
		f, err := interruptible(ctx, func() (*os.File, error) { return os.Open(name) }) // a FIFO waits for its writer
		if err != nil {
			return nil, cleanup, false, usageErrorf("input %s: %v", name, err)
		}
		defer f.Close()
		from = f
	} else if format != "csv" && format != "jsonl" {
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
	_, err = interruptible(ctx, func() (int64, error) { return io.Copy(f, from) })
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return nil, func() {}, false, usage(fmt.Errorf("read %s: %w", name, err)) // nothing was sent
	}
	out = slices.Clone(files)
	out[at] = path
	return out, cleanup, true, nil
}

// interruptible runs fn, which may block on a pipe for ever (a FIFO's
// open waits for a writer, a read for its data), and returns its result,
// or the context's cause once ctx is done: a signal ends the command
// (the process exits, and fn with it). Ctrl-C did nothing while a pipe
// was copied.
func interruptible[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("interrupted (%w)", context.Cause(ctx))
	}
}

// withoutStdin is files without "-" (for checks that stat each file).
func withoutStdin(files []string) []string {
	return slices.DeleteFunc(slices.Clone(files), func(f string) bool { return f == stdinName })
}
