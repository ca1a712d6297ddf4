package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// newEmptyStore returns the path of a new store, migrated and closed.
func newEmptyStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	e, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRemoveNewStore: a store a failed seed created is removed only while
// no other connection has it open and it holds nothing: removed under
// another process's load, it lost that load's events.
func TestRemoveNewStore(t *testing.T) {
	ctx := context.Background()
	newStore := newEmptyStore
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

// TestStoreRemovedWhileOpening: a store whose file a failed seed removes
// (RemoveNewStore) between the hold and SQLite's open fails its open,
// saying nothing was stored, and leaves no file: SQLite made a new empty
// one, which a later load would take for a seeded store.
func TestStoreRemovedWhileOpening(t *testing.T) {
	ctx := context.Background()
	path := newEmptyStore(t)
	removed := false
	beforeSQLiteOpens = func() { removed = RemoveNewStore(path) }
	defer func() { beforeSQLiteOpens = nil }()
	e, err := Open(ctx, path)
	if err == nil {
		e.Close()
	}
	if !removed {
		t.Fatal("the empty store was not removed")
	}
	if err == nil || !strings.Contains(err.Error(), "removed or replaced while the store was being opened") {
		t.Errorf("open of a store removed under it: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a file was left where the store was removed")
	}
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

// TestReaderBySymlinkSeesTheWAL: a reader opened through a symlink beside
// a live writer sees what the writer has committed and not checkpointed
// yet (in the -wal beside the file the symlink names).
func TestReaderBySymlinkSeesTheWAL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "data", "s.db")
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	e, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// A commit the store's checkpointer is not told of: it stays in the
	// -wal only.
	w, err := sqlite.OpenConn(path, sqlite.OpenReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := sqlitex.ExecuteScript(w, "PRAGMA wal_autocheckpoint = 0; CREATE TABLE in_wal (a); INSERT INTO in_wal VALUES (1);", nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, link} {
		r, err := OpenReadOnly(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		err = sqlitex.ExecuteTransient(r.store.(*sqliteStore).writer, "SELECT count(*) FROM sqlite_schema WHERE name = 'in_wal'", &sqlitex.ExecOptions{
			ResultFunc: func(stmt *sqlite.Stmt) error { n = stmt.ColumnInt64(0); return nil },
		})
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("a reader by %s misses the writer's commit still in the -wal", filepath.Base(name))
		}
	}
}
