package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestRemoveNewStore: a store a failed seed created is removed only while
// no other connection has it open and it holds nothing: removed under
// another process's load, it lost that load's events.
func TestRemoveNewStore(t *testing.T) {
	ctx := context.Background()
	newStore := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "s.db")
		e, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	gone := func(path string) bool {
		for _, s := range []string{"", "-wal", "-shm"} {
			if _, err := os.Stat(path + s); err == nil {
				return false
			}
		}
		return true
	}

	t.Run("alone and empty", func(t *testing.T) {
		path := newStore(t)
		if !RemoveNewStore(path) || !gone(path) {
			t.Error("an empty store nobody has open was not removed")
		}
	})
	t.Run("open elsewhere", func(t *testing.T) {
		path := newStore(t)
		other, err := Open(ctx, path) // another process's load, as far as SQLite's locks go
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if RemoveNewStore(path) {
			t.Error("a store another connection has open was removed")
		}
		if _, err := os.Stat(path); err != nil {
			t.Error(err)
		}
	})
	t.Run("stored in since", func(t *testing.T) {
		path := newStore(t)
		e, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Seed(ctx, "../testdata/seed/reference.yaml"); err != nil {
			t.Fatal(err)
		}
		e.Close()
		if RemoveNewStore(path) {
			t.Error("a store with reference data in it was removed")
		}
		r, err := OpenReadOnly(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
	})
}

// TestWALBesideTheFile: the -wal a reader looks for to know whether a
// writer is live is beside the file a symlink names, where SQLite keeps
// it: beside the symlink, a reader never found it and read the main file
// alone (immutable), missing what the writer had not checkpointed yet.
func TestWALBesideTheFile(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "data", "s.db")
	if err := os.MkdirAll(filepath.Dir(store), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(store, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(store, link); err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(store)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{store, link, "file:" + link + "?cache=private"} {
		if got := walOf(name); got != real+"-wal" {
			t.Errorf("walOf(%q) = %q, want %q", name, got, real+"-wal")
		}
	}
}
