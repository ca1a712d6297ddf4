package cmd

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEventsListReadOnlyStore: events list and show work on a store that
// cannot be written (a copy on a read-only filesystem, handed over for
// inspection); they used to fail opening it for writing. cancel is
// refused. Needs root for the read-only mount.
func TestEventsListReadOnlyStore(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	db := filepath.Join(mnt, "crm.db")
	reports := t.TempDir()
	run := func(args ...string) (int, string, string) {
		streams, out, errOut := Test()
		code := Run(context.Background(), streams, append([]string{"--db", db}, args...))
		return code, out.String(), errOut.String()
	}
	if code, _, errOut := run("engine", "seed", "../testdata/seed/reference.yaml"); code != ExitOK {
		t.Fatalf("seed: exit %d: %s", code, errOut)
	}
	if code, _, errOut := run("load", "--progress", "never", "--report-dir", reports, "-m", "../testdata/web/mapping.yaml", "../testdata/web/web.csv"); code != ExitFailed {
		t.Fatalf("load: exit %d, want 1 (one unknown participant): %s", code, errOut)
	}
	if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount read-only: %v %s", err, out)
	}
	code, out, errOut := run("events", "list", "--format", "jsonl")
	if n := strings.Count(out, "\n"); code != ExitOK || n != 2 {
		t.Errorf("events list on a read-only store: exit %d, %d events (%s); want 0 and 2", code, n, errOut)
	}
	if code, out, errOut := run("events", "show", "1"); code != ExitOK || !strings.Contains(out, `"number": "1"`) {
		t.Errorf("events show on a read-only store: exit %d, %q (%s); want event 1", code, out, errOut)
	}
	if code, _, _ := run("events", "cancel", "1"); code == ExitOK {
		t.Errorf("events cancel on a read-only store succeeded")
	}
}
