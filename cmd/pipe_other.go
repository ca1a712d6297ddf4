//go:build !unix

package cmd

// ignoreBrokenPipe: no SIGPIPE here; a write to a closed pipe is an error.
func ignoreBrokenPipe() {}
