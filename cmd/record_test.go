package cmd

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"testing"
)

// TestRecord: CRMLOAD_CPUPROFILE, CRMLOAD_TRACE and CRMLOAD_MEMPROFILE
// record into the file they name; a file that cannot be made is said, and
// the run goes on; unset, nothing is recorded.
func TestRecord(t *testing.T) {
	dir := t.TempDir()
	startHeap, stopHeap := heapProfile(os.Stderr)
	for _, tc := range []struct {
		env   string
		start func(w io.Writer) error
		stop  func()
	}{
		{"CRMLOAD_CPUPROFILE", pprof.StartCPUProfile, pprof.StopCPUProfile},
		{"CRMLOAD_TRACE", trace.Start, trace.Stop},
		{"CRMLOAD_MEMPROFILE", startHeap, stopHeap},
	} {
		path := filepath.Join(dir, tc.env)
		t.Setenv(tc.env, path)
		var errOut bytes.Buffer
		stop := record(tc.env, &errOut, tc.start, tc.stop)
		stop()
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 || errOut.Len() > 0 {
			t.Errorf("%s: file %v (%v), said %q: want a recording and nothing said", tc.env, fi, err, errOut.String())
		}

		t.Setenv(tc.env, filepath.Join(dir, "no-such-dir", "x"))
		errOut.Reset()
		record(tc.env, &errOut, tc.start, tc.stop)()
		if !strings.Contains(errOut.String(), "crmload: "+tc.env+": open ") {
			t.Errorf("%s into a missing directory: said %q, want why", tc.env, errOut.String())
		}

		t.Setenv(tc.env, "")
		errOut.Reset()
		record(tc.env, &errOut, func(io.Writer) error { t.Errorf("%s unset: recording started", tc.env); return nil }, func() {})()
	}
}
