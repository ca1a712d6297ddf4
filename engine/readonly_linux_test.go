package engine

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadOnlyCopyWithWAL: a read-only copy of a store with a -wal (taken
// while a writer ran, or left by a crash) cannot be read whole without a
// -shm file: the reader refuses it, saying why, where it used to read the
// main file alone and list part of the events, exit 0. With an empty -wal
// the main file is the store, and it is read. Needs root for the
// read-only mount.
func TestReadOnlyCopyWithWAL(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "s.db")
	e, err := Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Seed(ctx, "../testdata/seed/reference.yaml"); err != nil {
		t.Fatal(err)
	}
	// The seed in the main file too, for the copy whose -wal is empty
	// (the background checkpointer may not have run yet: the main file
	// then held no table, and CI read that copy as no store).
	if _, err := e.store.(*sqliteStore).ckpt.checkpoint("PASSIVE"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(src + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the live writer's -wal: %v", err)
	}

	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	copyFile := func(from, to string) {
		t.Helper()
		in, err := os.Open(from)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	withWAL, emptyWAL := filepath.Join(mnt, "with.db"), filepath.Join(mnt, "empty.db")
	copyFile(src, withWAL)
	copyFile(src+"-wal", withWAL+"-wal")
	copyFile(src, emptyWAL)
	if err := os.WriteFile(emptyWAL+"-wal", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount read-only: %v %s", err, out)
	}

	if r, err := OpenReadOnly(ctx, withWAL); err == nil {
		r.Close()
		t.Error("a read-only copy with a -wal was read from its main file alone")
	} else if !strings.Contains(err.Error(), "its -wal file may hold commits not yet in the main file") {
		t.Errorf("a read-only copy with a -wal: %v", err)
	}
	r, err := OpenReadOnly(ctx, emptyWAL)
	if err != nil {
		t.Fatalf("a read-only copy with an empty -wal: %v", err)
	}
	r.Close()
}
