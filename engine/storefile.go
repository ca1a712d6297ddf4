package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/crmload/crmload/crm"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// ErrNotAStore is wrapped by the error of opening a file that is not a
// crmload store (another program's SQLite file, or not SQLite at all): it
// is never migrated nor written to. The command line answers it with
// exit 2.
var ErrNotAStore = errors.New("not a crmload store")

// StoreError is a store file that cannot be opened as a crmload store.
type StoreError struct {
	Path   string
	Reason string
	Hint   string // what to do, in parentheses after Reason ("" for none)
	Err    error  // ErrNotAStore or ErrNoStore, or nil
}

func (e *StoreError) Error() string {
	if e.Err == ErrNotAStore {
		return fmt.Sprintf("%s is not a crmload store (%s)", e.Path, e.Reason)
	}
	if e.Hint != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Path, e.Reason, e.Hint)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Reason)
}

func (e *StoreError) Unwrap() error { return e.Err }

// storeHeader is what a store file's SQLite header says.
type storeHeader struct {
	exists bool
	empty  bool // no bytes, or no table yet: a new store
	// inWAL: the main file's header may predate the database's pages in
	// its -wal, so its application id was not checked here (a writer
	// checks it from a read-only connection first, checkStoreReadOnly; a
	// reader, from its own).
	inWAL bool
}

// readStoreHeader checks, before SQLite opens the file, that path is a
// crmload store (or a new, empty file): SQLite's magic string and the
// application id crmload gives its stores. With a -wal file beside it,
// the main file's header may predate the store's creation (its pages
// are still in the WAL): then only the magic string is checked here, and
// checkStore checks the rest once SQLite has opened it. file is the held
// descriptor of path's file (heldFile), nil when there is no such file.
func readStoreHeader(path string, file *heldFile) (storeHeader, error) {
	if file == nil {
		return storeHeader{}, nil
	}
	if file.fi.IsDir() {
		return storeHeader{}, &StoreError{Path: path, Reason: "a directory", Err: ErrNotAStore}
	}
	f := io.NewSectionReader(file.f, 0, 100)
	var h [100]byte
	n, err := io.ReadFull(f, h[:])
	if n == 0 {
		return storeHeader{exists: true, empty: true}, nil
	}
	if err != nil || string(h[:16]) != "SQLite format 3\x00" {
		return storeHeader{}, &StoreError{Path: path, Reason: "not an SQLite database", Err: ErrNotAStore}
	}
	if _, err := os.Stat(walOf(path)); err == nil {
		return storeHeader{exists: true, inWAL: true}, nil
	}
	id, pages := binary.BigEndian.Uint32(h[68:72]), binary.BigEndian.Uint32(h[28:32])
	if version := binary.BigEndian.Uint32(h[60:64]); id == 0 && pages <= 1 && version != 0 {
		return storeHeader{}, emptyOfAnother(path, int64(version))
	}
	if id == 0 && pages <= 1 {
		// One page is the schema table alone: no table yet, nobody's
		// data (a store another process is creating right now).
		return storeHeader{exists: true, empty: true}, nil
	}
	if id != appID {
		return storeHeader{}, notAStore(path, int64(id))
	}
	return storeHeader{exists: true}, nil
}

// realFile is the file the store name path names, symlinks followed, as
// SQLite opens it.
func realFile(path string) string {
	name := crm.StoreFile(path)
	if real, err := filepath.EvalSymlinks(name); err == nil {
		return real
	}
	return name
}

// walOf is the -wal file of the store path names: beside the file itself,
// not beside a symlink to it.
func walOf(path string) string { return realFile(path) + "-wal" }

// emptyOfAnother is the error for a database with no table but a schema
// version (user_version) set: another program's, which set it before its
// tables (a crmload store sets its version with its tables, in one
// transaction). Migrating it from that version failed on tables it lacks.
func emptyOfAnother(path string, version int64) error {
	return &StoreError{Path: path, Reason: fmt.Sprintf("an SQLite database of another program: no tables, but schema version (user_version) %d, where a new crmload store has none", version), Err: ErrNotAStore}
}

func notAStore(path string, id int64) error {
	return &StoreError{Path: path, Reason: fmt.Sprintf("an SQLite database of another program: application id %#x, a crmload store has %#x", id, appID), Err: ErrNotAStore}
}

// storeUse is what a command opens a store for, which checkStore checks
// it against.
type storeUse int

const (
	useCreate   storeUse = iota // write to it, making it a store if it is new (seed, load --seed)
	useExisting                 // write to a store that is one already (load, resume, retry, serve)
	useRead                     // read it, migrating nothing (events list and show)
)

// noStoreYet is the error for an empty file or database where a command
// wants a store already (a resume or retry in a store replaced by an
// empty file made it a new one, and sent the run's rows again).
func noStoreYet(path string, what string) error {
	return &StoreError{Path: path, Reason: what + ", not a store yet", Hint: "load --seed or engine seed make it one", Err: ErrNoStore}
}

// emptyNoStore is noStoreYet for a file whose header says it is empty
// (storeHeader.empty): no bytes, or a database with no table.
func emptyNoStore(path string, file *heldFile) error {
	if file.fi.Size() == 0 {
		return noStoreYet(path, "an empty file")
	}
	return noStoreYet(path, "an empty database")
}

// checkStore checks an open store's application id and schema version
// against use.
func checkStore(c *sqlite.Conn, path string, use storeUse) error {
	var id, version, tables int64
	err := sqlitex.ExecuteTransient(c, "SELECT (SELECT application_id FROM pragma_application_id), (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_schema)", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			id, version, tables = stmt.ColumnInt64(0), stmt.ColumnInt64(1), stmt.ColumnInt64(2)
			return nil
		},
	})
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	switch {
	case id == appID:
	case id == 0 && tables == 0 && version != 0:
		return emptyOfAnother(path, version)
	case id == 0 && tables == 0 && use != useCreate:
		return noStoreYet(path, "an empty database")
	case id == 0 && tables == 0: // a new store: the migration makes it one
	default:
		return notAStore(path, id)
	}
	switch want := int64(len(schema.Migrations)); {
	case use == useRead && version < readerOldest:
		return &StoreError{Path: path, Reason: fmt.Sprintf("the store has schema version %d and this crmload reads version %d or later: it needs an upgrade, which a reader does not do; run crmload engine seed or load on it (with write access) first", version, readerOldest)}
	case version > want:
		return &StoreError{Path: path, Reason: fmt.Sprintf("the store has schema version %d, newer than this crmload knows (%d): use a newer crmload", version, want)}
	}
	return nil
}

// openSQLiteReadOnly opens an existing store for reading only (events
// list and show; OpenReadOnly): nothing is created, migrated or written,
// and the -wal and -shm files its reading creates are removed on close
// when unused (tidyReaderFiles), so a read-only file, directory or
// filesystem is enough. A store that is not a crmload store, or needs
// a migration, says so.
func openSQLiteReadOnly(ctx context.Context, path string) (*sqliteStore, error) {
	var file *heldFile // nil: no such file (or path names none)
	if name := crm.StoreFile(path); name != "" {
		var err error
		file, err = holdFile(name, false)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, holdError(path, err, false)
		}
	}
	s, err := openSQLiteReadOnlyHeld(path, file)
	if err != nil {
		file.release() // after SQLite's connections (closed on every error)
		return nil, err
	}
	s.file = file
	return s, nil
}

func openSQLiteReadOnlyHeld(path string, file *heldFile) (*sqliteStore, error) {
	h, err := readStoreHeader(path, file)
	if err != nil {
		return nil, err
	}
	switch {
	case !h.exists:
		return nil, &StoreError{Path: path, Reason: "no such store (give --db the store's path; load --seed or engine seed create one)", Err: ErrNoStore}
	case h.empty:
		return nil, emptyNoStore(path, file)
	}
	// Read with mode=ro, which sees a writer's commits and keeps a
	// snapshot however a writer that starts meanwhile checkpoints: read
	// as immutable when no writer was live (no -wal), a listing that a
	// load's start overtook printed rows the load had just committed and
	// died of "database disk image is malformed" (the main file was
	// checkpointed under it). The -wal and -shm files SQLite creates for
	// it are removed on close when no connection uses them any more
	// (tidyReaderFiles), as a writer's last close removes its own.
	// Immutable is the fallback where they cannot be created (a read-only
	// directory or filesystem: there, no load can start either) or
	// removed (below).
	// The file itself, symlinks followed (SQLite keeps the -wal beside
	// the file a symlink names); a file: URI's own parameters give way.
	fname := realFile(path)
	uri := func(param string) string {
		return (&url.URL{Scheme: "file", OmitHost: true, Path: fname, RawQuery: param}).String()
	}
	name := uri("mode=ro")
	var created readerFiles
	switch {
	case canTidy(fname):
		created = readerFiles{path: fname}
	case !exists(fname + "-wal"):
		// A user who may not write the store (or a system whose locks
		// tidyReaderFiles does not know) reads it as immutable, as
		// before: the files mode=ro would create could not be removed,
		// and being this user's they could bar the loader's user from
		// them (its next load failed: a readonly database).
		name = uri("mode=ro&immutable=1")
	}
	flags := sqlite.OpenReadOnly | sqlite.OpenURI
	c, err := sqlite.OpenConn(name, flags)
	if err == nil {
		// The first read opens the -shm file.
		if err = sqlitex.ExecuteTransient(c, "SELECT count(*) FROM sqlite_schema", nil); err != nil {
			c.Close()
		}
	}
	if err != nil {
		// mode=ro needs the -shm file, or a directory it can create it
		// in. On a read-only copy with a -wal left by a crash, the main
		// file alone may lack the commits the -wal holds: reading it, list
		// printed 75,924 of 97,902 events, exit 0. An empty -wal holds
		// none: the main file is the store.
		if fi, serr := os.Stat(fname + "-wal"); serr == nil && fi.Size() > 0 {
			return nil, &StoreError{Path: path, Reason: fmt.Sprintf("its -wal file may hold commits not yet in the main file, and reading them needs a -shm file this user cannot create or open (%v): read it with write access to its directory, or copy the store with its -wal to a directory you can write", err)}
		}
		name = uri("mode=ro&immutable=1")
		if c, err = sqlite.OpenConn(name, flags); err != nil {
			return nil, fmt.Errorf("open %s read-only: %w", path, err)
		}
		created = readerFiles{}
	}
	if err := sqlitex.ExecuteTransient(c, "PRAGMA busy_timeout = 10000", nil); err != nil {
		c.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := file.holds(c, path); err != nil {
		c.Close()
		return nil, err
	}
	if err := checkStore(c, path, useRead); err != nil {
		c.Close()
		return nil, err
	}
	readers, err := sqlitex.NewPool(name, sqlitex.PoolOptions{
		Flags:       flags,
		PoolSize:    2,
		PrepareConn: func(c *sqlite.Conn) error { return sqlitex.ExecuteTransient(c, "PRAGMA busy_timeout = 10000;", nil) },
	})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &sqliteStore{path: path, writer: c, readers: readers, created: created}, nil
}

// readerFiles names the database file whose -wal and -shm a reader
// removes once it is closed, if no connection uses them and the -wal
// holds nothing: those its opening created, and those a reader killed
// before its close left (events list | head: SIGPIPE). "" for none.
type readerFiles struct {
	path string // the database file
}

func exists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}
