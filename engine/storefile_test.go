package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/crmload/crmload/crm"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// TestReaderLeavesNoTrace is issue 17.7: reading a store creates no
// -wal or -shm file and changes no byte of it; a reader sees what a live
// writer has committed.
func TestReaderLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	e, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Seed(ctx, "../testdata/seed/reference.yaml"); err != nil {
		t.Fatal(err)
	}
	// A live writer: its -wal exists; the reader reads through it.
	r, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatalf("read-only open beside a live writer: %v", err)
	}
	if err := r.Events(ctx, Filter{}, func([]byte) error { return nil }); err != nil {
		t.Fatalf("list beside a live writer: %v", err)
	}
	r.Close()
	e.Close()
	for _, s := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + s); err == nil {
			t.Fatalf("the writer left %s behind on close", s)
		}
	}
	before, _ := os.ReadFile(path)
	r, err = OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Event(ctx, "1"); err == nil || !strings.Contains(err.Error(), "Not Found") {
		t.Errorf("show 1 on an empty store: %v", err)
	}
	r.Close()
	for _, s := range []string{"-wal", "-shm", "-journal"} {
		if _, err := os.Stat(path + s); err == nil {
			t.Errorf("a reader left %s behind", s)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a reader changed the store file")
	}
	// A store of schema readerOldest (7, before the digests' migration 8
	// changed nothing a reader reads) is read as it is; an older one says
	// to a reader that it needs a migration, which a reader does not do;
	// a newer one says to use a newer crmload, to a reader and a writer.
	setVersion := func(v int) {
		t.Helper()
		c, err := sqlite.OpenConn(path, sqlite.OpenReadWrite)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := sqlitex.ExecuteTransient(c, fmt.Sprintf("PRAGMA user_version = %d", v), nil); err != nil {
			t.Fatal(err)
		}
	}
	setVersion(readerOldest)
	if e, err := OpenReadOnly(ctx, path); err != nil {
		t.Errorf("a reader of a store of schema %d: %v", readerOldest, err)
	} else {
		e.Close()
	}
	setVersion(readerOldest - 1)
	if _, err := OpenReadOnly(ctx, path); err == nil || !strings.Contains(err.Error(), "needs an upgrade, which a reader does not do") {
		t.Errorf("a reader of an old store: %v", err)
	}
	setVersion(len(schema.Migrations) + 1)
	for name, open := range openers {
		if _, err := open(ctx, path); err == nil || !strings.Contains(err.Error(), "newer than this crmload knows") {
			t.Errorf("%s of a store of a newer release: %v", name, err)
		}
	}
	setVersion(0)
	if _, err := OpenReadOnly(ctx, filepath.Join(t.TempDir(), "none.db")); !errors.Is(err, ErrNoStore) {
		t.Errorf("a reader of no store: %v", err)
	}
}

// TestAnotherProgramsFile is issue 17.8: another program's SQLite file,
// or a file that is not SQLite, is "not a crmload store", and is left as
// it was (no WAL mode, no tables, no application id written). A WAL-mode
// database left with its -wal (the program crashed) keeps it: the
// read-write connection that refused it used to checkpoint it into the
// main file and delete it.
func TestAnotherProgramsFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	foreign := filepath.Join(dir, "other.db")
	c, err := sqlite.OpenConn(foreign, sqlite.OpenReadWrite|sqlite.OpenCreate)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitex.ExecuteScript(c, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');", nil); err != nil {
		t.Fatal(err)
	}
	c.Close()
	crashed := crashLeft(t, dir, "crashed.db", "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")

	versioned := filepath.Join(dir, "versioned.db") // no tables yet, a schema version set
	v, err := sqlite.OpenConn(versioned, sqlite.OpenReadWrite|sqlite.OpenCreate)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitex.ExecuteTransient(v, "PRAGMA user_version = 3", nil); err != nil {
		t.Fatal(err)
	}
	v.Close()
	// The same, in WAL mode, as a crash leaves it: the version is in the
	// -wal, the main file's header does not show it, and checkStore
	// (from a read-only connection) is what refuses it.
	crashedVersioned := crashLeft(t, dir, "crashed-versioned.db", "PRAGMA user_version = 3;")
	walsBefore := map[string][]byte{}
	for _, path := range []string{crashed, crashedVersioned} {
		if walsBefore[path], _ = os.ReadFile(path + "-wal"); len(walsBefore[path]) == 0 {
			t.Fatalf("no %s-wal to keep", filepath.Base(path))
		}
	}
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("not a database at all, but long enough to have a header of 100 bytes........................................"), 0o644)
	for _, path := range []string{foreign, text, crashed, versioned, crashedVersioned} {
		before, _ := os.ReadFile(path)
		for name, open := range openers {
			_, err := open(ctx, path)
			if !errors.Is(err, ErrNotAStore) || !strings.HasPrefix(err.Error(), path+" is not a crmload store") {
				t.Errorf("%s(%s): %v; want %q", name, filepath.Base(path), err, path+" is not a crmload store")
			}
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Errorf("%s was changed", filepath.Base(path))
		}
		if path == crashed || path == crashedVersioned {
			if after, _ := os.ReadFile(path + "-wal"); !bytes.Equal(walsBefore[path], after) {
				t.Errorf("%s-wal was changed or removed", filepath.Base(path))
			}
			continue
		}
		for _, s := range []string{"-wal", "-shm"} {
			if _, err := os.Stat(path + s); err == nil {
				t.Errorf("%s%s was created", filepath.Base(path), s)
			}
		}
	}
}

// TestOpenExistingRefusesEmpty: where a store must exist already (load
// without --seed, a resume, a retry, engine serve), an empty file or an
// empty database is no store, and is left as it was; Open (seed) makes
// it one. A retry into a store replaced by an empty file used to make it
// a new store and fail every row there.
func TestOpenExistingRefusesEmpty(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	zero := filepath.Join(dir, "zero.db")
	if err := os.WriteFile(zero, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	blank := filepath.Join(dir, "blank.db") // a database with no table
	c, err := sqlite.OpenConn(blank, sqlite.OpenReadWrite|sqlite.OpenCreate)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitex.ExecuteTransient(c, "VACUUM", nil); err != nil { // writes its header
		t.Fatal(err)
	}
	c.Close()
	// One in WAL mode as a crash leaves it: the main file's header says
	// nothing yet, its pages are in the -wal (a table made and dropped).
	crashed := crashLeft(t, dir, "crashed.db", "CREATE TABLE t (x); DROP TABLE t;")
	for _, path := range []string{zero, blank, crashed} {
		before, _ := os.ReadFile(path)
		_, err := OpenExisting(ctx, path)
		if !errors.Is(err, ErrNoStore) || !strings.Contains(err.Error(), "not a store yet") {
			t.Errorf("OpenExisting(%s): %v, want ErrNoStore, not a store yet", filepath.Base(path), err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Errorf("%s was changed", filepath.Base(path))
		}
		e, err := Open(ctx, path)
		if err != nil {
			t.Errorf("Open(%s): %v", filepath.Base(path), err)
			continue
		}
		e.Close()
		e, err = OpenExisting(ctx, path)
		if err != nil {
			t.Errorf("OpenExisting(%s) once Open made it a store: %v", filepath.Base(path), err)
			continue
		}
		e.Close()
	}
}

// TestStoreURIChecks: a file: URI's values SQLite would refuse with no
// more than "SQL logic error" are refused saying what SQLite takes, and a
// writing command refuses a URI that opens the store read-only, reading
// its booleans as SQLite does.
func TestStoreURIChecks(t *testing.T) {
	for path, want := range map[string]string{
		"crm.db":                             "",
		"file:crm.db?mode=rwc&cache=private": "",
		"file:crm.db?mode=RO":                "mode=RO: SQLite takes mode=ro, rw or rwc",
		"file:crm.db?mode=bogus":             "mode=bogus: SQLite takes",
		"file:crm.db?cache=Shared":           "cache=Shared: SQLite takes cache=shared or private",
		"file:crm.db?vfs=unix-excl":          "",
		"file:crm.db?vfs=unix-dotfile":       "vfs=unix-dotfile: a crmload store (SQLite in WAL mode) opens with vfs=unix or unix-excl",
		"file:crm.db?vfs=bogus":              "vfs=bogus",
	} {
		if strings.Contains(path, "vfs=") && runtime.GOOS == "windows" {
			continue // the unix VFS names
		}
		err := checkStoreParams(path)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("checkStoreParams(%q) = %v, want %q", path, err, want)
		}
	}
	for path, writable := range map[string]bool{
		"crm.db":                              true,
		"file:crm.db?mode=rw":                 true,
		"file:crm.db?immutable=0":             true,
		"file:crm.db?immutable=off":           true,
		"file:crm.db?immutable=x":             true, // SQLite reads false
		"file:crm.db?immutable=-1":            true, // not a digit first: not a number, not a word
		"file:crm.db?immutable=+1":            true,
		"file:crm.db?immutable=256":           true, // cut to a byte
		"file:crm.db?immutable=2147483648":    true, // out of range: 0
		"file:crm.db?immutable=00":            true,
		"file:crm.db?immutable=0x100":         true,
		"file:crm.db?immutable=0&immutable=1": true, // the first counts
		"file:crm.db?mode=ro":                 false,
		"file:crm.db?mode=ro&mode=rw":         false,
		"file:crm.db?immutable=1":             false,
		"file:crm.db?immutable=TRUE":          false,
		"file:crm.db?immutable=yes":           false,
		"file:crm.db?immutable=2":             false,
		"file:crm.db?immutable=0x1":           false,
		"file:crm.db?immutable=0X10":          false,
		"file:crm.db?immutable=1abc":          false,
		"file:crm.db?immutable=2147483647":    false,
	} {
		if err := CheckWritable(path); (err == nil) != writable {
			t.Errorf("CheckWritable(%q) = %v, want writable %v", path, err, writable)
		}
	}
}

// crashLeft makes, in dir, the files a WAL-mode database that ran script
// is left as by a crash: name, whose pages are still in name-wal (its
// connection never checkpointed nor closed). It returns name's path.
func crashLeft(t *testing.T, dir, name, script string) string {
	t.Helper()
	live := filepath.Join(dir, "live-"+name)
	w, err := sqlite.OpenConn(live, sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := sqlitex.ExecuteScript(w, "PRAGMA journal_mode = wal; PRAGMA wal_autocheckpoint = 0; "+script, nil); err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(dir, name)
	for _, s := range []string{"", "-wal"} {
		b, err := os.ReadFile(live + s)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crashed+s, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return crashed
}

// TestReaderBesideAWriterThatStarts: a listing opened on a store no
// writer has open keeps its snapshot when a writer starts meanwhile,
// commits and checkpoints: read as immutable, it read pages the
// checkpoint had rewritten, and died of "database disk image is
// malformed" after printing events it should not have seen. Once closed,
// it leaves no -wal or -shm file of its own behind a writer still open.
func TestReaderBesideAWriterThatStarts(t *testing.T) {
	ctx := context.Background()
	path := storeOfPurchases(t, 3000)
	r, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var w *Engine
	listed := 0
	err = r.Events(ctx, Filter{}, func([]byte) error {
		if listed++; listed == 1 {
			// A load starts: it stores more events, and its checkpoint
			// writes them to the main file.
			if w, err = Open(ctx, path); err != nil {
				return err
			}
			createPurchases(t, w, 3000, 6000)
			if _, err := w.store.(*sqliteStore).ckpt.checkpoint("PASSIVE"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || listed != 3000 {
		t.Errorf("a listing beside a writer that started under it: %d events, %v; want the 3000 it started with", listed, err)
	}
	r.Close()
	if w == nil {
		t.Fatal("the writer never started")
	}
	defer w.Close()
	for _, s := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + s); err != nil {
			t.Errorf("the open writer's %s was removed by the reader's close: %v", s, err)
		}
	}
	r, err = OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	listed = 0
	if err := r.Events(ctx, Filter{}, func([]byte) error { listed++; return nil }); err != nil || listed != 9000 {
		t.Errorf("a listing after the writer's commits: %d events, %v; want 9000", listed, err)
	}
}

// TestReaderCloseKeepsWritersLocks: a reader closed while a writer of the
// same process has the store open leaves the writer's files and locks
// alone. Its tidying opened and closed a descriptor of the file, which
// dropped the writer's SQLite locks; another process then took itself
// for the last connection and deleted the -wal under the writer, whose
// later commits another process no longer saw (20 events of 30).
func TestReaderCloseKeepsWritersLocks(t *testing.T) {
	sqlite3, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("needs the sqlite3 command: another process")
	}
	ctx := context.Background()
	path := storeOfPurchases(t, 10)
	r, err := OpenReadOnly(ctx, path) // creates the -wal and -shm
	if err != nil {
		t.Fatal(err)
	}
	w, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	createPurchases(t, w, 10, 10)
	r.Close()
	if out, err := exec.Command(sqlite3, path, "select count(*) from sqlite_schema").CombinedOutput(); err != nil {
		t.Fatalf("another process: %v %s", err, out)
	}
	for _, s := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + s); err != nil {
			t.Errorf("the open writer's %s is gone: %v", s, err)
		}
	}
	createPurchases(t, w, 20, 10)
	out, err := exec.Command(sqlite3, path, "select count(*) from events").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "30" {
		t.Errorf("another process counts %s events (%v), want 30", strings.TrimSpace(string(out)), err)
	}
}

// storeOfPurchases is a seeded store holding n purchases, closed.
func storeOfPurchases(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	e, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Seed(context.Background(), "../testdata/seed/reference.yaml"); err != nil {
		t.Fatal(err)
	}
	createPurchases(t, e, 0, n)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// createPurchases stores n purchases, request ids from..from+n-1.
func createPurchases(t *testing.T, e *Engine, from, n int) {
	t.Helper()
	for at := from; at < from+n; at += 1000 {
		req := crm.BulkRequest{Kind: crm.Purchases}
		for j := at; j < min(at+1000, from+n); j++ {
			req.Events = append(req.Events, crm.Event{RequestUniqueIdentifier: strconv.Itoa(j),
				AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"}, PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"},
				PerformedOn: "2016-06-22T15:00:00", ReferenceNumber: "RF" + strconv.Itoa(j),
				ProductsSet: []crm.PurchaseProduct{{Product: &crm.ProductIdentifier{Code: "Bronze"}, NetAmount: "10", VATAmount: "2.50", TotalAmount: "12.50"}}})
		}
		res, err := e.CreateEvents(context.Background(), req)
		if err != nil || len(res.Unprocessed) > 0 {
			t.Fatalf("create: %v, %d unprocessed", err, len(res.Unprocessed))
		}
	}
}

// TestReaderRemovesStrayFiles: the empty -wal and the -shm a reader killed
// before its close left (events list | head) are removed by the next
// reader's close, where they stayed until a load's.
func TestReaderRemovesStrayFiles(t *testing.T) {
	ctx := context.Background()
	path := storeOfPurchases(t, 10)
	killed, err := OpenReadOnly(ctx, path) // never closed: as if killed
	if err != nil {
		t.Fatal(err)
	}
	if err := killed.Events(ctx, Filter{}, func([]byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + s); err != nil {
			t.Fatalf("the unclosed reader's %s: %v", s, err)
		}
	}
	// Its connections die with its process: closed here without the
	// store's Close, so that nothing of it removes the files.
	killed.store.(*sqliteStore).readers.Close()
	killed.store.(*sqliteStore).writer.Close()
	killed.store.(*sqliteStore).file.release()
	r, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := r.Events(ctx, Filter{}, func([]byte) error { n++; return nil }); err != nil || n != 10 {
		t.Fatalf("list beside stray files: %d events, %v", n, err)
	}
	r.Close()
	for _, s := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + s); err == nil {
			t.Errorf("the stray %s is still there after a reader's close", s)
		}
	}
}
