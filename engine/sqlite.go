package engine

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crmload/crmload/crm"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitemigration"
	"zombiezen.com/go/sqlite/sqlitex"
)

// sqliteStore keeps everything in one SQLite file in WAL mode. Writes go
// through a single connection (SQLite has one writer anyway, and a direct
// connection skips database/sql's overhead); commits that wait for it are
// made together, in one transaction (groupcommit.go); a background
// connection checkpoints the WAL (checkpoint.go); reads use a small pool so
// that listing does not wait for a load. Events are stored compact
// (compact.go) and rendered on read.
type sqliteStore struct {
	path    string
	mu      sync.Mutex   // guards writer
	writer  *sqlite.Conn // nil once the store is closed
	readers *sqlitex.Pool

	// refs reads what the engine resolves a call with (read); nil when
	// the store has no file of its own (in memory: another connection
	// would open another database), is not in WAL mode (a nolock=1 URI)
	// or is open read-only, where the writer connection, under mu, reads
	// instead.
	rmu  sync.Mutex // guards refs
	refs *sqlite.Conn

	qmu   sync.Mutex    // guards queue
	queue []*commitCall // commits waiting for the writer

	ckpt *checkpointer // nil when opened read-only
	file *heldFile     // the database file's held descriptor (heldfile.go); nil in memory
	// created are the -wal and -shm files a read-only store's opening
	// created, which its Close removes if no connection uses them.
	created readerFiles
}

// storesCompact: the SQLite store keeps events compact and gives them
// their ids.
func (s *sqliteStore) storesCompact() {}

// ErrNotFound is returned for an event id or number that does not exist.
var ErrNotFound = errors.New("not found")

func openSQLite(ctx context.Context, path string) (*sqliteStore, error) {
	if err := checkStoreParams(path); err != nil {
		return nil, err
	}
	if err := CheckWritable(path); err != nil {
		return nil, err
	}
	// The store's file is held (heldfile.go), created if it is new, before
	// SQLite opens it, and another program's SQLite file is refused before
	// SQLite touches it. A name that is no file (in memory) holds nothing.
	var file *heldFile
	if name := crm.StoreFile(path); name != "" {
		var err error
		create := mayCreate(path)
		if file, err = holdFile(name, create); err != nil {
			return nil, holdError(path, err, create)
		}
	}
	use := useCreate
	if mustExist, _ := ctx.Value(mustExistKey{}).(bool); mustExist {
		use = useExisting
	}
	h, err := readStoreHeader(path, file)
	switch {
	case err == nil && h.empty && use == useExisting:
		err = emptyNoStore(path, file)
	case err == nil && h.inWAL:
		err = checkStoreReadOnly(path, use)
	}
	if err != nil {
		file.release()
		return nil, err
	}
	if beforeSQLiteOpens != nil {
		beforeSQLiteOpens()
	}
	s, err := openSQLiteConns(ctx, path, file, use)
	if err != nil {
		file.release() // after SQLite's connections (openSQLiteConns closed them)
		return nil, err
	}
	return s, nil
}

// checkStoreReadOnly checks, from a read-only connection, a store whose
// header could not be checked before SQLite opened it (its pages may be in
// its -wal): the read-write connection that checked it before, on
// refusing another program's WAL-mode database, closed as its last
// connection and so checkpointed that program's -wal into its main file
// and deleted it; a read-only connection writes nothing to it (it may
// make a -shm beside it).
func checkStoreReadOnly(path string, use storeUse) error {
	c, err := sqlite.OpenConn(crm.StoreNameAtMost(path, "ro"), sqlite.OpenReadOnly|sqlite.OpenURI)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer c.Close()
	return checkStore(c, path, use)
}

// mayCreate says whether SQLite may create the store path names: not for
// a file: URI of mode=ro or mode=rw, which SQLite opens only if it exists.
func mayCreate(path string) bool {
	mode := crm.StoreMode(path)
	return mode != "ro" && mode != "rw"
}

// beforeSQLiteOpens, when set (by tests), runs between the hold of a
// store's file and SQLite's open of it.
var beforeSQLiteOpens func()

// openSQLiteConns opens the store's connections on path, whose file is
// held by file (nil: path names no file, by crm.StoreFile's reading).
// SQLite creates no file the hold made: one removed in between (a failed
// seed's, RemoveNewStore) fails the open rather than leave an empty store
// that a later load would take for a seeded one.
func openSQLiteConns(ctx context.Context, path string, file *heldFile, use storeUse) (*sqliteStore, error) {
	flags := sqlite.OpenReadWrite | sqlite.OpenWAL | sqlite.OpenURI
	name := crm.StoreNameAtMost(path, "rw") // mode=rwc without OpenCreate is refused
	if file == nil {
		flags |= sqlite.OpenCreate
		name = path
	}
	w, err := sqlite.OpenConn(name, flags)
	if err != nil {
		if file != nil {
			if gone := file.isAt(crm.StoreFile(path), path); gone != nil {
				return nil, gone
			}
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if file != nil {
		err = file.holds(w, path)
	} else if mainFileName(w) != "" {
		err = fmt.Errorf("open %s: SQLite opened a file where this name reads as an in-memory database: give the file's path", path)
	}
	if err != nil {
		w.Close()
		return nil, err
	}
	if err := sqlitex.ExecuteTransient(w, "PRAGMA busy_timeout = 10000", nil); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// Before a migration writes to it.
	if err := checkStore(w, path, use); err != nil {
		w.Close()
		return nil, err
	}
	if err := pragmas(w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if version := storeVersion(w); version > 0 && version < int64(len(schema.Migrations)) {
		if notice, ok := ctx.Value(upgradeNoticeKey{}).(func(string, int64, int64)); ok {
			notice(path, version, int64(len(schema.Migrations)))
		}
	}
	if err := w.CreateFunction("crmload_key_order", keyOrderFunc); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := sqlitemigration.Migrate(ctx, w, schema); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	readers, err := sqlitex.NewPool(crm.StoreNameAtMost(path, "ro"), sqlitex.PoolOptions{
		Flags:       sqlite.OpenReadOnly | sqlite.OpenWAL | sqlite.OpenURI,
		PoolSize:    4,
		PrepareConn: func(c *sqlite.Conn) error { return sqlitex.ExecuteTransient(c, "PRAGMA busy_timeout = 10000;", nil) },
	})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &sqliteStore{path: path, writer: w, readers: readers, file: file}
	// Not without WAL (a --db URI of nolock=1 leaves the store in
	// rollback-journal mode): there a reader sees a commit in progress
	// (without locks, its half-written pages), and fails on its journal.
	if file != nil && journalMode(w) == "wal" {
		if s.refs, err = openReader(path); err != nil {
			readers.Close()
			w.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		// What it reads becomes the rids events store: it must read the
		// file the writer writes, not one that replaced it meanwhile
		// (a migration takes a while).
		if err := file.holds(s.refs, path); err != nil {
			s.refs.Close()
			readers.Close()
			w.Close()
			return nil, err
		}
	}
	var db *os.File
	if file != nil {
		db = file.f
	}
	if s.ckpt, err = startCheckpointer(path, db, &s.mu); err != nil {
		if s.refs != nil {
			s.refs.Close()
		}
		readers.Close()
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

// WithUpgradeNotice returns ctx with fn, which opening a store of an
// earlier schema calls before it migrates it (a migration of a big store
// takes a while, and says nothing else).
func WithUpgradeNotice(ctx context.Context, fn func(path string, from, to int64)) context.Context {
	return context.WithValue(ctx, upgradeNoticeKey{}, fn)
}

type upgradeNoticeKey struct{}

// storeVersion is the store's schema version (user_version; 0 when it
// cannot be read).
func storeVersion(c *sqlite.Conn) int64 {
	var v int64
	sqlitex.ExecuteTransient(c, "PRAGMA user_version", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { v = stmt.ColumnInt64(0); return nil },
	})
	return v
}

func pragmas(c *sqlite.Conn) error {
	// synchronous=NORMAL in WAL mode loses nothing on a process crash
	// (kill -9); only a power cut can drop the last transactions.
	for _, p := range []string{
		"PRAGMA journal_mode = WAL",
		"PRAGMA synchronous = NORMAL",
		"PRAGMA busy_timeout = 10000",
		"PRAGMA foreign_keys = OFF",
		// The writer's page cache: a fixed bound, not one that grows with
		// the input. Compact events append to the end of the events table
		// (and a call's row to load_calls), so the pages a commit touches
		// are few; the reference tables' pages a resolution reads are what
		// the rest holds (engine's refCache keeps the records themselves,
		// so each is read once a load). 16 MiB cost a load 12 MiB of RSS
		// that the Go heap makes better use of (main.go's memory limit).
		fmt.Sprintf("PRAGMA cache_size = %d", -writerCacheKiB),
		// Checkpoints run off the commit path, in the background
		// (checkpoint.go): the writer never checkpoints on its own.
		"PRAGMA wal_autocheckpoint = 0",
	} {
		if err := sqlitex.ExecuteTransient(c, p, nil); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

// writerCacheKiB is the writer connection's page cache (KiB).
const writerCacheKiB = 4 << 10

func (s *sqliteStore) Close() error {
	var ckErr error
	if s.ckpt != nil { // before taking the writer: the checkpointer may wait for it
		ckErr = s.ckpt.close()
	}
	// The reference reader's lock first, then the writer's, as read
	// takes them.
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writer == nil { // closed before
		return ckErr
	}
	if s.refs != nil {
		ckErr = errors.Join(ckErr, s.refs.Close())
		s.refs = nil
	}
	// The last connection to close checkpoints the WAL and removes it.
	err := errors.Join(ckErr, s.readers.Close(), s.writer.Close())
	s.file.releaseTidying(s.created) // after every connection (heldFile); a reader's files are removed with the last hold
	s.writer = nil                   // a write after Close is an error, not a closed connection's panic
	return err
}

func (s *sqliteStore) Lookup(ctx context.Context, e *Entity, col string, keys []string) ([]*Ref, error) {
	if col != "id" && !slices.Contains(e.lookup, col) {
		return nil, fmt.Errorf("lookup %s by %s: not an identifier column", e.name, col)
	}
	arg, err := json.Marshal(keys)
	if err != nil {
		return nil, err
	}
	// The keys drive the loop, each looked up in col's index: "col IN
	// (SELECT value FROM json_each(?))" first copied them into a
	// temporary b-tree, which cost more than the lookups (its inserts,
	// and the pages mapped for it and unmapped each query). CROSS JOIN
	// keeps json_each the outer loop; the keys are distinct.
	cols := make([]string, len(e.cols))
	for i, c := range e.cols {
		cols[i] = "t." + c
	}
	q := fmt.Sprintf("SELECT t.rid, t.id, %s FROM json_each(?) AS k CROSS JOIN %s AS t ON t.%s = k.value",
		strings.Join(cols, ", "), e.name, col)
	// On the reference reader, records that events change too (a
	// referral's participant): read on the writer, whose cache holds what
	// it wrote, they took less CPU (the reader drops its cache at every
	// commit: 1.11-1.14x) but waited for the commits, and the commits for
	// them (a 100k-row referral load 0.83-0.87x the time on the reader).
	// What the reader misses of a commit just made is the writer's to
	// find: a referral of a participant referred meanwhile loses its
	// claim at commit, with the error resolution would have given.
	var out []*Ref
	err = s.read(ctx, true, func(c *sqlite.Conn) error {
		return sqlitex.Execute(c, q, &sqlitex.ExecOptions{
			Args: []any{string(arg)},
			ResultFunc: func(stmt *sqlite.Stmt) error {
				r := &Ref{row: stmt.ColumnInt64(0), ID: stmt.ColumnText(1), Vals: make([]string, len(e.cols))}
				for i := range e.cols {
					r.Vals[i] = stmt.ColumnText(i + 2)
				}
				out = append(out, r)
				return nil
			},
		})
	})
	return out, err
}

// TableBound returns e's greatest rid: at least how many records it
// holds, found at the end of its b-tree.
func (s *sqliteStore) TableBound(ctx context.Context, e *Entity) (int64, error) {
	var top int64
	err := s.read(ctx, true, func(c *sqlite.Conn) error {
		return sqlitex.Execute(c, "SELECT ifnull(max(rid), 0) FROM "+e.name, &sqlitex.ExecOptions{
			ResultFunc: func(stmt *sqlite.Stmt) error { top = stmt.ColumnInt64(0); return nil },
		})
	})
	return top, err
}

// ScanTable reads e's table whole, by rid.
func (s *sqliteStore) ScanTable(ctx context.Context, e *Entity) ([]*Ref, error) {
	var out []*Ref
	var vals []string // the records' values, cut from blocks
	var block []Ref   // the records, cut from blocks
	err := s.read(ctx, true, func(c *sqlite.Conn) error {
		return sqlitex.Execute(c, fmt.Sprintf("SELECT rid, id, %s FROM %s ORDER BY rid", strings.Join(e.cols, ", "), e.name), &sqlitex.ExecOptions{
			ResultFunc: func(stmt *sqlite.Stmt) error {
				if len(vals)+len(e.cols) > cap(vals) {
					vals = make([]string, 0, 256*len(e.cols))
				}
				if len(block) == cap(block) {
					block = make([]Ref, 0, 256)
				}
				block = append(block, Ref{row: stmt.ColumnInt64(0), ID: stmt.ColumnText(1)})
				r := &block[len(block)-1]
				for i := range e.cols {
					vals = append(vals, stmt.ColumnText(i+2))
				}
				r.Vals = vals[len(vals)-len(e.cols) : len(vals) : len(vals)]
				out = append(out, r)
				return nil
			},
		})
	})
	return out, err
}

func (s *sqliteStore) ReferenceVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.read(ctx, false, func(c *sqlite.Conn) error {
		return sqlitex.Execute(c, "SELECT value FROM meta WHERE key = 'reference_version'", &sqlitex.ExecOptions{
			ResultFunc: func(stmt *sqlite.Stmt) error { v = stmt.ColumnInt64(0); return nil },
		})
	})
	return v, err
}

// read runs fn on the store's reference reader, interrupted when ctx is
// done if long (a query that may read a whole table). It reads what is
// committed, as the writer does between commits, without the writer: the
// engine resolves a call (Lookup of records events do not change,
// TableBound, ScanTable, ReferenceVersion, under its own lock) while
// another call commits. On the writer they
// waited for every commit in progress, so resolving and committing, which
// the two locks are there to overlap, took turns (a 100k-row load's
// senders waited 35 ms for it, and the calls queued behind them on the
// engine's lock 160 ms more). ReferenceVersion, read for every call,
// sets no interrupt: watching a context is a goroutine, and lifting the
// watch waits for it to run (through a pooled reader, whose Take watches
// its context each time, the senders waited 20 ms a 100k-row load for
// that, on the engine's lock). With a --db URI of cache=shared the
// reader shares the writer's cache, and waits for its transactions again.
func (s *sqliteStore) read(ctx context.Context, long bool, fn func(c *sqlite.Conn) error) error {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	c := s.refs
	if c == nil {
		return s.readOnWriter(ctx, long, fn)
	}
	if long {
		defer c.SetInterrupt(c.SetInterrupt(ctx.Done()))
	}
	return fn(c)
}

// readOnWriter runs fn on the writer connection between commits, holding
// the writer lock, interrupted when ctx is done if long.
func (s *sqliteStore) readOnWriter(ctx context.Context, long bool, fn func(c *sqlite.Conn) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.writer
	if c == nil {
		return errors.New(s.path + " is closed")
	}
	if long {
		defer c.SetInterrupt(c.SetInterrupt(ctx.Done()))
	}
	return fn(c)
}

// journalMode is the journal mode of c's main database ("" when it
// cannot be read).
func journalMode(c *sqlite.Conn) string {
	var mode string
	sqlitex.ExecuteTransient(c, "PRAGMA journal_mode", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { mode = stmt.ColumnText(0); return nil },
	})
	return strings.ToLower(mode)
}

// openReader opens a read-only connection to the store at path.
func openReader(path string) (*sqlite.Conn, error) {
	c, err := sqlite.OpenConn(crm.StoreNameAtMost(path, "ro"), sqlite.OpenReadOnly|sqlite.OpenWAL|sqlite.OpenURI)
	if err != nil {
		return nil, err
	}
	for _, p := range []string{"PRAGMA busy_timeout = 10000", fmt.Sprintf("PRAGMA cache_size = %d", -refsCacheKiB)} {
		if err := sqlitex.ExecuteTransient(c, p, nil); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// refsCacheKiB is the reference reader's page cache (KiB): it drops it
// at every commit (another connection's), and what it reads is kept in
// the engine's cache.
const refsCacheKiB = 1 << 10

// insertEvent leaves the number to SQLite: a rowid it allocates is the
// greatest plus one, found at the table's end, where a given one is first
// sought from the root (8-9% less CPU in the commit benchmark, user time
// of eight interleaved pairs); within a statement of several rows (see
// insertRows) the cursor stays at the end. commit checks that the last
// is the number the last event's id was made from. OR FAIL: a statement
// of several rows that may abort keeps a statement journal (SQLite's
// undo of its own rows: a copy of the pages it changes, in memory mapped
// and unmapped each statement); a failed one need not be undone alone,
// since commit's caller rolls the whole call back.
const insertEvent = `INSERT OR FAIL INTO events
	(created, kind, performed_on, account, participant, classification, request_id, data, receipt_run, receipt_key, receipt_digest)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insertRows is the most rows one statement inserts (eleven parameters
// each): a call's rows go in statements of insertRows, then of the powers
// of two that make up the rest, so seven statements serve every count.
const insertRows = 64

// insertParams is the parameters a row of insertEvent binds.
const insertParams = 11

// insertEvents is insertEvent for n rows.
func insertEvents(n int) string {
	if n == 1 {
		return insertEvent
	}
	one := insertEvent[strings.Index(insertEvent, "(?"):]
	var b strings.Builder
	b.WriteString(insertEvent)
	for range n - 1 {
		b.WriteString(", ")
		b.WriteString(one)
	}
	return b.String()
}

// insertSQL holds insertEvents(n) for the sizes insertRows and its powers
// of two below, by n.
var insertSQL = func() map[int]string {
	m := map[int]string{}
	for n := insertRows; n > 0; n /= 2 {
		m[n] = insertEvents(n)
	}
	return m
}()

// eventWriter inserts a call's events, given one by one, in statements of
// several rows (see insertRows); each event gets the next number.
type eventWriter struct {
	c     *sqlite.Conn
	rids  ridFinder
	pre   encoded
	run   string // the call's load run, and its number
	runID int64
	next  int64 // the last number given
	left  int   // events still to add

	stmt    *sqlite.Stmt       // the statement being bound, of size rows
	size, n int                // its rows, and those bound
	ids     [insertRows]string // their request ids
	keyed   callRange
	buf     []byte
	digest  []byte
}

// add binds event p (row i of the call) into the statement being bound,
// and runs it when it is full.
func (w *eventWriter) add(i int, p *PendingEvent) (err error) {
	if w.n == 0 {
		w.size = insertRows
		for w.size > w.left {
			w.size /= 2
		}
		w.stmt = w.c.Prep(insertSQL[w.size])
	}
	w.ids[w.n] = p.RequestID
	ins, at := w.stmt, w.n*insertParams
	w.next++
	o := p.Obj
	created := createdMillis(p)
	o.Number = strconv.FormatInt(w.next, 10)
	o.ID = eventID(created, w.next)
	data := w.pre.data(i)
	if data == nil {
		if w.buf, err = encodeData(w.buf[:0], o, w.rids.rid); err != nil {
			return fmt.Errorf("insert event %s: %w", p.RequestID, err)
		}
		data = w.buf
	}
	account, participant, classification := p.filterRefs()
	ins.BindInt64(at+1, created)
	ins.BindInt64(at+2, codeOf(kindCodes, p.Kind))
	ins.BindText(at+3, o.PerformedOn)
	for j, r := range []struct {
		e *Entity
		o *RefObject
	}{{entAccount, account}, {entParticipant, participant}, {entClassification, classification}} {
		if r.o == nil {
			ins.BindNull(at + 4 + j)
			continue
		}
		n, err := w.rids.rid(r.e, r.o)
		if err != nil {
			return err
		}
		ins.BindInt64(at+4+j, n)
	}
	ins.BindText(at+7, p.RequestID)
	ins.BindBytes(at+8, data)
	if p.LoadKey != "" && p.LoadRun == w.run {
		ins.BindInt64(at+9, w.runID)
		ins.BindText(at+10, p.LoadKey)
		if d := w.pre.digest(i); d != nil {
			ins.BindBytes(at+11, d)
		} else if w.digest, err = hex.AppendDecode(w.digest[:0], []byte(p.Digest)); err != nil || len(w.digest) == 0 {
			ins.BindNull(at + 11)
		} else {
			ins.BindBytes(at+11, w.digest)
		}
		if f, l, ok := loadKey(p.LoadKey); ok {
			w.keyed.add(w.next, f, l)
		} else if err := otherKey(w.c, w.runID, p.LoadKey, w.next); err != nil {
			return err
		}
	} else {
		ins.BindNull(at + 9)
		ins.BindNull(at + 10)
		ins.BindNull(at + 11)
	}
	w.left--
	if w.n++; w.n < w.size {
		return nil
	}
	w.n = 0
	before := w.c.LastInsertRowID()
	if _, err := ins.Step(); err != nil {
		ins.Reset()
		return fmt.Errorf("insert %s: %w", w.failed(before), err)
	}
	if err := ins.Reset(); err != nil {
		return err
	}
	if n := w.c.LastInsertRowID(); n != w.next {
		return fmt.Errorf("insert events %s to %s: stored up to number %d, not %d", w.ids[0], w.ids[w.size-1], n, w.next)
	}
	return nil
}

// failed names the event at which the statement just run failed, given
// the connection's last rowid inserted before it: OR FAIL keeps the rows
// before the failing one, so the last rowid is now the number before its
// own, or unchanged when it was the first (the last rowid before may be
// another table's: a new run's load_runs row); the statement's events
// when the rowid is none of theirs.
func (w *eventWriter) failed(before int64) string {
	k := int64(0)
	if last := w.c.LastInsertRowID(); last != before {
		k = last - (w.next - int64(w.size))
	}
	if k >= 0 && k < int64(w.size) {
		return "event " + w.ids[k]
	}
	return "events " + w.ids[0] + " to " + w.ids[w.size-1]
}

// errDryRun rolls a dry-run commit back.
var errDryRun = errors.New("dry run")

// write runs fn in one immediate (write-locking) transaction on the
// writer connection, interrupted when ctx is done; an error rolls it back.
func (s *sqliteStore) write(ctx context.Context, fn func(c *sqlite.Conn) error) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() {
		if sqlite.ErrCode(err).ToPrimary() == sqlite.ResultFull {
			err = &StoreFullError{Path: s.path, Err: err}
		}
	}()
	c := s.writer
	if c == nil {
		return fmt.Errorf("%s is closed", s.path)
	}
	defer c.SetInterrupt(c.SetInterrupt(ctx.Done()))
	end, err := sqlitex.ImmediateTransaction(c)
	if err != nil {
		return err
	}
	defer s.ckpt.poke() // after the commit (deferred calls run last first)
	defer end(&err)
	return fn(c)
}

// commit stores one call's events, inside the transaction the writer has
// open (see Commit).
func commit(c *sqlite.Conn, rows []*PendingEvent, pre encoded, opts CommitOptions) (err error) {
	var next int64
	if err := sqlitex.Execute(c, "SELECT COALESCE(MAX(number), 0) FROM events", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { next = stmt.ColumnInt64(0); return nil },
	}); err != nil {
		return err
	}
	claim := c.Prep("UPDATE rewards_participants SET referred_by = ? WHERE id = ? AND referred_by = ''")
	// Idempotent calls: events whose receipts are stored already (by
	// another copy of the call, committed first) are answered with the
	// stored ids and numbers, not stored again. One query per call, inside
	// the write transaction, so that of two copies the second sees the first.
	var already map[string]Receipt
	var run string
	for _, p := range rows {
		if p.LoadKey != "" {
			run = p.LoadRun
			break
		}
	}
	if opts.Idempotent && run != "" {
		keys := make([]string, 0, len(rows))
		for _, p := range rows {
			if p.LoadKey != "" {
				keys = append(keys, p.LoadKey)
			}
		}
		if already, err = storedKeys(c, run, keys); err != nil {
			return err
		}
	}
	var runID int64
	if run != "" {
		if runID, err = loadRun(c, run); err != nil {
			return err
		}
	}
	// First the rows' own checks (a receipt stored already, a referral's
	// claim), then the inserts, in statements of several rows each: a
	// statement's cost besides its rows (its cursor opened and closed,
	// the table's end sought, the statement begun and halted) is then
	// paid once for many rows.
	insert, count := make([]bool, len(rows)), 0
	for i, p := range rows {
		if st, ok := already[p.LoadKey]; ok && p.LoadKey != "" {
			if !p.storedAs(st) {
				p.Err = crm.ReceiptConflict(p.LoadRun, p.LoadKey)
				continue
			}
			p.Obj.ID, p.Obj.Number, p.Found = st.ID, st.Number, true
			continue // its referral, if any, was made with it
		}
		if p.Claim != nil {
			claim.BindText(1, p.Claim.By)
			claim.BindText(2, p.Claim.Referred)
			if _, err := claim.Step(); err != nil {
				return err
			}
			if err := claim.Reset(); err != nil {
				return err
			}
			if c.Changes() == 0 {
				p.Err = p.Claim.Lost
				continue
			}
		}
		insert[i] = true
		count++
	}
	w := eventWriter{c: c, rids: ridFinder{c: c}, pre: pre, run: run, runID: runID, next: next, left: count}
	for i, p := range rows {
		if insert[i] {
			if err := w.add(i, p); err != nil {
				return err
			}
		}
	}
	if w.n != 0 { // the statements' sizes add up to the rows: never
		return fmt.Errorf("insert events: %d of the call's events were not inserted", w.n)
	}
	keyed := w.keyed
	if keyed.first != 0 {
		rec := c.Prep("INSERT INTO load_calls (run, first, last, lo, hi) VALUES (?, ?, ?, ?, ?)")
		rec.BindInt64(1, runID)
		rec.BindInt64(2, keyed.first)
		rec.BindInt64(3, keyed.last)
		rec.BindText(4, keyOrder(keyed.lo[0], keyed.lo[1]))
		rec.BindText(5, keyOrder(keyed.hi[0], keyed.hi[1]))
		if _, err := rec.Step(); err != nil {
			return fmt.Errorf("record the call's receipts: %w", err)
		}
		if err := rec.Reset(); err != nil {
			return err
		}
	}
	if opts.DryRun {
		return errDryRun
	}
	return nil
}

// callRange is what load_calls keeps of a call (migration 7): the numbers
// of its first and last events with a load's receipt key, and the least
// and the greatest of those keys, as (file, line).
type callRange struct {
	first, last int64
	lo, hi      [2]uint64
}

func (r *callRange) add(number int64, file, line uint64) {
	k := [2]uint64{file, line}
	if r.first == 0 {
		r.first, r.lo, r.hi = number, k, k
	}
	r.last = number
	if keyLess(k, r.lo) {
		r.lo = k
	}
	if keyLess(r.hi, k) {
		r.hi = k
	}
}

// keyLess orders (file, line) keys as keyOrder does.
func keyLess(a, b [2]uint64) bool { return a[0] < b[0] || a[0] == b[0] && a[1] < b[1] }

// otherKey keeps the receipt key of another form than a load's of event
// number in receipt_keys (migration 7).
func otherKey(c *sqlite.Conn, run int64, key string, number int64) error {
	ins := c.Prep("INSERT INTO receipt_keys (run, key, number) VALUES (?, ?, ?)")
	ins.BindInt64(1, run)
	ins.BindText(2, key)
	ins.BindInt64(3, number)
	if _, err := ins.Step(); err != nil {
		return fmt.Errorf("record the receipt %s: %w", key, err)
	}
	return ins.Reset()
}

// loadRun returns the number of a load run in load_runs, adding it.
func loadRun(c *sqlite.Conn, run string) (int64, error) {
	ins := c.Prep("INSERT INTO load_runs (run) VALUES (?) ON CONFLICT (run) DO NOTHING")
	ins.BindText(1, run)
	if _, err := ins.Step(); err != nil {
		return 0, err
	}
	if err := ins.Reset(); err != nil {
		return 0, err
	}
	return runNumber(c, run)
}

// runNumber returns the number of a load run (0: none).
func runNumber(c *sqlite.Conn, run string) (int64, error) {
	q := c.Prep("SELECT rid FROM load_runs WHERE run = ?")
	defer q.Reset()
	q.BindText(1, run)
	row, err := q.Step()
	if err != nil || !row {
		return 0, err
	}
	return q.ColumnInt64(0), nil
}

// ridFinder finds the rid of a referenced record that does not carry it
// (resolved by a store that did not say), by its id.
type ridFinder struct {
	c    *sqlite.Conn
	seen map[string]int64
}

func (f *ridFinder) rid(e *Entity, r *RefObject) (int64, error) {
	if r == nil {
		return 0, nil
	}
	if r.row != 0 {
		return r.row, nil
	}
	key := e.name + "\x00" + r.ID
	if n, ok := f.seen[key]; ok {
		return n, nil
	}
	q := f.c.Prep("SELECT rid FROM " + e.name + " WHERE id = ?")
	defer q.Reset()
	q.BindText(1, r.ID)
	row, err := q.Step()
	if err != nil {
		return 0, err
	}
	if !row {
		return 0, fmt.Errorf("%s %s is not in the store", e.label, r.ID)
	}
	if f.seen == nil {
		f.seen = map[string]int64{}
	}
	f.seen[key] = q.ColumnInt64(0)
	return f.seen[key], nil
}
func (s *sqliteStore) Upsert(ctx context.Context, e *Entity, recs []SeedRecord) error {
	return s.write(ctx, func(c *sqlite.Conn) error { return upsert(c, e, recs) })
}

func upsert(c *sqlite.Conn, e *Entity, recs []SeedRecord) error { // Parameters: ?1 id, ?2.. the columns, then one presence flag per
	// column, then whether the id was given. An upsert changes only the
	// columns the seed file gave, and keeps the id unless it gave one.
	n := len(e.cols)
	sets := make([]string, 0, n+1)
	for i, col := range e.cols {
		if col != e.key {
			sets = append(sets, fmt.Sprintf("%s = CASE WHEN ?%d THEN excluded.%s ELSE %s.%s END", col, n+2+i, col, e.name, col))
		}
	}
	sets = append(sets, fmt.Sprintf("id = CASE WHEN ?%d THEN excluded.id ELSE %s.id END", 2*n+2, e.name))
	vals := make([]string, n+1)
	for i := range vals {
		vals[i] = fmt.Sprintf("?%d", i+1)
	}
	q := fmt.Sprintf("INSERT INTO %s (id, %s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s",
		e.name, strings.Join(e.cols, ", "), strings.Join(vals, ", "), e.key, strings.Join(sets, ", "))
	stmt := c.Prep(q)
	for _, r := range recs {
		stmt.BindText(1, r.ID)
		for i, v := range r.Vals {
			stmt.BindText(i+2, v)
			stmt.BindBool(n+2+i, r.Present[i])
		}
		stmt.BindBool(2*n+2, r.IDGiven)
		if _, err := stmt.Step(); err != nil {
			return &SeedError{File: r.File, Line: r.Line, Entity: e.name, Err: err}
		}
		if err := stmt.Reset(); err != nil {
			return err
		}
	}
	return sqlitex.Execute(c, "UPDATE meta SET value = value + 1 WHERE key = 'reference_version'", nil)
}

// eventColumns are what decodeEvent reads, in its order.
const eventColumns = "number, created, kind, state, updated, performed_on, account, participant, classification, data, legacy_object"

// refReader reads the referenced records of compact events, keeping those
// it read (a list of a million events names a few thousand records).
type refReader struct {
	c     *sqlite.Conn
	cache map[refKey]*RefObject
	buf   []byte
}

type refKey struct {
	e   *Entity
	rid int64
}

// maxRefsRead bounds a refReader's cache.
const maxRefsRead = 100_000

func (r *refReader) ref(e *Entity, rid int64) (*RefObject, error) {
	if rid == 0 {
		return nil, nil
	}
	k := refKey{e, rid}
	if o, ok := r.cache[k]; ok {
		return o, nil
	}
	q := r.c.Prep(fmt.Sprintf("SELECT id, %s FROM %s WHERE rid = ?", strings.Join(e.cols, ", "), e.name))
	defer q.Reset()
	q.BindInt64(1, rid)
	row, err := q.Step()
	if err != nil {
		return nil, err
	}
	if !row {
		return nil, fmt.Errorf("%w: %s record %d is not in the store", errBadData, e.name, rid)
	}
	ref := &Ref{ID: q.ColumnText(0), Vals: make([]string, len(e.cols)), row: rid}
	for i := range e.cols {
		ref.Vals[i] = q.ColumnText(i + 1)
	}
	if r.cache == nil || len(r.cache) >= maxRefsRead {
		r.cache = map[refKey]*RefObject{}
	}
	o := object(e, ref)
	r.cache[k] = o
	return o, nil
}

// decodeEvent builds the event object of the row stmt is on (its columns
// are eventColumns).
func (r *refReader) decodeEvent(stmt *sqlite.Stmt) (*EventObject, error) {
	if stmt.ColumnType(10) != sqlite.TypeNull { // stored before migration 6
		return decodeObject([]byte(stmt.ColumnText(10)))
	}
	number, created := stmt.ColumnInt64(0), stmt.ColumnInt64(1)
	kind := crm.Kind(nameOf(kindCodes, stmt.ColumnInt64(2)))
	o := &EventObject{
		ID:             eventID(created, number),
		Number:         strconv.FormatInt(number, 10),
		Type:           kind.EventType(),
		LifeCycleState: nameOf(stateCodes, stmt.ColumnInt64(3)),
		PerformedOn:    stmt.ColumnText(5),
	}
	updated := created
	if stmt.ColumnType(4) != sqlite.TypeNull {
		updated = stmt.ColumnInt64(4)
	}
	o.LogInformation = LogInformation{CreatedDate: dateOf(created), UpdatedDate: dateOf(updated)}
	var err error
	if o.AccountsReceivable, err = r.ref(entAccount, stmt.ColumnInt64(6)); err != nil {
		return nil, err
	}
	participant := &o.RewardsParticipant
	if kind == crm.Referrals {
		participant = &o.ReferredRewardsParticipant
	}
	if *participant, err = r.ref(entParticipant, stmt.ColumnInt64(7)); err != nil {
		return nil, err
	}
	if o.Classification, err = r.ref(entClassification, stmt.ColumnInt64(8)); err != nil {
		return nil, err
	}
	n := stmt.ColumnLen(9)
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	stmt.ColumnBytes(9, r.buf)
	if err := decodeData(o, r.buf, r.ref); err != nil {
		return nil, fmt.Errorf("event %s: %w", o.Number, err)
	}
	return o, nil
}

func (s *sqliteStore) Events(ctx context.Context, f Filter, fn func(o *EventObject) error) error {
	if f.Limit < 0 { // nothing matches (Engine.FilterBy)
		return nil
	}
	c, err := s.readers.Take(ctx)
	if err != nil {
		return err
	}
	defer s.readers.Put(c)
	var where []string
	var args []any
	add := func(cond string, v any, given bool) {
		if given {
			where = append(where, cond)
			args = append(args, v)
		}
	}
	add("kind = ?", codeOf(kindCodes, f.Kind), f.Kind != "")
	add("account IN (SELECT rid FROM accounts_receivable WHERE number = ?)", f.Account, f.Account != "")
	add("participant IN (SELECT rid FROM rewards_participants WHERE number = ?)", f.Participant, f.Participant != "")
	add("classification IN (SELECT rid FROM classifications WHERE name = ?)", f.Classification, f.Classification != "")
	add("state = ?", codeOf(stateCodes, f.State), f.State != "")
	add("performed_on >= ?", f.Since, f.Since != "")
	add("performed_on <= ?", f.Until, f.Until != "")
	for _, b := range []struct {
		cond  string
		date  string
		extra int64
	}{{"created >= ?", f.CreatedAfter, 0}, {"created <= ?", f.CreatedBefore, 999}} {
		if b.date == "" {
			continue
		}
		t, err := time.Parse(dateLayout, b.date)
		if err != nil {
			return fmt.Errorf("%q is not a date of the form YYYY-MM-DDTHH:MM:SS", b.date)
		}
		add(b.cond, t.UnixMilli()+b.extra, true)
	}
	q := "SELECT " + eventColumns + " FROM events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY number"
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	r := &refReader{c: c}
	return sqlitex.Execute(c, q, &sqlitex.ExecOptions{
		Args: args,
		ResultFunc: func(stmt *sqlite.Stmt) error {
			o, err := r.decodeEvent(stmt)
			if err != nil {
				return err
			}
			return fn(o)
		},
	})
}

// findEvent returns the number of the event a key names: a number is a
// number, and anything else an id (of an event stored before migration 6,
// or one eventID made).
func findEvent(c *sqlite.Conn, key string) (number int64, found bool, err error) {
	q := "SELECT number FROM events WHERE number = ?"
	args := []any{nil}
	if n, err := strconv.ParseInt(key, 10, 64); err == nil && len(key) < 32 {
		args[0] = n
	} else if created, n, ok := parseEventID(key); ok {
		q = "SELECT number FROM events WHERE legacy_id = ?1 UNION ALL SELECT number FROM events WHERE number = ?2 AND (created & 281474976710655) = ?3 AND legacy_id IS NULL"
		args = []any{key, n, created}
	} else {
		q = "SELECT number FROM events WHERE legacy_id = ?"
		args[0] = key
	}
	err = sqlitex.Execute(c, q, &sqlitex.ExecOptions{
		Args: args,
		ResultFunc: func(stmt *sqlite.Stmt) error {
			if !found {
				number, found = stmt.ColumnInt64(0), true
			}
			return nil
		},
	})
	return number, found, err
}

// readEvent returns the object of the event with the given number.
func readEvent(c *sqlite.Conn, number int64) (*EventObject, error) {
	var o *EventObject
	r := &refReader{c: c}
	err := sqlitex.Execute(c, "SELECT "+eventColumns+" FROM events WHERE number = ?", &sqlitex.ExecOptions{
		Args: []any{number},
		ResultFunc: func(stmt *sqlite.Stmt) (err error) {
			o, err = r.decodeEvent(stmt)
			return err
		},
	})
	if err == nil && o == nil {
		err = ErrNotFound
	}
	return o, err
}

func (s *sqliteStore) Event(ctx context.Context, key string) (*EventObject, error) {
	c, err := s.readers.Take(ctx)
	if err != nil {
		return nil, err
	}
	defer s.readers.Put(c)
	n, found, err := findEvent(c, key)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrNotFound
	}
	return readEvent(c, n)
}

// StateError is returned when an event is not in the state a transition
// needs.
type StateError struct {
	Key, State, Want string
}

func (e *StateError) Error() string {
	return fmt.Sprintf("event %s is %s; only %s events can be changed", e.Key, e.State, e.Want)
}

func (s *sqliteStore) SetState(ctx context.Context, key, from, to string, at time.Time) (*EventObject, error) {
	var o *EventObject
	err := s.write(ctx, func(c *sqlite.Conn) (err error) {
		o, err = setState(c, key, from, to, at)
		return err
	})
	return o, err
}

func setState(c *sqlite.Conn, key, from, to string, at time.Time) (*EventObject, error) {
	toCode := codeOf(stateCodes, to)
	if toCode < 0 {
		return nil, fmt.Errorf("no life cycle state %s", to)
	}
	number, found, err := findEvent(c, key)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrNotFound
	}
	var state string
	if err := sqlitex.Execute(c, "SELECT state FROM events WHERE number = ?", &sqlitex.ExecOptions{
		Args:       []any{number},
		ResultFunc: func(stmt *sqlite.Stmt) error { state = nameOf(stateCodes, stmt.ColumnInt64(0)); return nil },
	}); err != nil {
		return nil, err
	}
	if state != from {
		return nil, &StateError{Key: key, State: state, Want: from}
	}
	// An event stored before migration 6 keeps its object: it changes too.
	err = sqlitex.Execute(c, `UPDATE events SET state = ?1, updated = ?2,
		legacy_object = CASE WHEN legacy_object IS NULL THEN NULL
			ELSE json_set(legacy_object, '$.life_cycle_state', ?3, '$.log_information.updated_date', ?4) END
		WHERE number = ?5`, &sqlitex.ExecOptions{
		Args: []any{toCode, at.UnixMilli(), to, at.UTC().Format(dateLayout), number},
	})
	if err != nil {
		return nil, err
	}
	return readEvent(c, number)
}

// receiptColumns are what receipt reads, in its order.
const receiptColumns = "e.receipt_key, e.number, e.created, e.legacy_id, e.receipt_digest"

func receipt(stmt *sqlite.Stmt) (string, Receipt) {
	number := stmt.ColumnInt64(1)
	r := Receipt{Number: strconv.FormatInt(number, 10), ID: stmt.ColumnText(3)}
	if r.ID == "" {
		r.ID = eventID(stmt.ColumnInt64(2), number)
	}
	if n := stmt.ColumnLen(4); n > 0 {
		d := make([]byte, n)
		stmt.ColumnBytes(4, d)
		r.Digest = hex.EncodeToString(d)
	}
	return stmt.ColumnText(0), r
}

func (s *sqliteStore) Receipts(ctx context.Context, run string, fn func(key string, r Receipt) error) error {
	c, err := s.readers.Take(ctx)
	if err != nil {
		return err
	}
	defer s.readers.Put(c)
	n, err := runNumber(c, run)
	if err != nil || n == 0 {
		return err
	}
	// The calls' events with a load's key (another key in a call's range
	// is in receipt_keys: read there), then those of receipt_keys.
	err = sqlitex.Execute(c, "SELECT "+receiptColumns+` FROM load_calls c JOIN events e ON e.number BETWEEN c.first AND c.last
		WHERE c.run = ?1 AND e.receipt_run = ?1 AND e.receipt_key IS NOT NULL`, &sqlitex.ExecOptions{
		Args: []any{n},
		ResultFunc: func(stmt *sqlite.Stmt) error {
			k, r := receipt(stmt)
			if _, _, ok := loadKey(k); !ok {
				return nil
			}
			return fn(k, r)
		},
	})
	if err != nil {
		return err
	}
	return sqlitex.Execute(c, "SELECT "+receiptColumns+` FROM receipt_keys k JOIN events e ON e.number = k.number
		WHERE k.run = ?1 AND e.receipt_run = ?1`, &sqlitex.ExecOptions{
		Args: []any{n},
		ResultFunc: func(stmt *sqlite.Stmt) error {
			return fn(receipt(stmt))
		},
	})
}

func (s *sqliteStore) Stored(ctx context.Context, run string, keys []string) (map[string]Receipt, error) {
	c, err := s.readers.Take(ctx)
	if err != nil {
		return nil, err
	}
	defer s.readers.Put(c)
	return storedKeys(c, run, keys)
}

// storedKeys returns, of keys, those run stored events for. A load's keys
// ("F:L") are found through the run's calls whose key range meets theirs
// (load_calls), scanning those calls' events: a load's calls take ranges
// of lines that do not overlap, so a new call's keys meet none and a
// replayed call's meet its own. Keys of another form are in receipt_keys.
func storedKeys(c *sqlite.Conn, run string, keys []string) (map[string]Receipt, error) {
	out := map[string]Receipt{}
	if len(keys) == 0 {
		return out, nil
	}
	n, err := runNumber(c, run)
	if err != nil || n == 0 {
		return out, err
	}
	var calls callRange
	var others []string
	loads := 0 // keys of the load form
	for _, k := range keys {
		if f, l, ok := loadKey(k); ok {
			calls.add(1, f, l)
			loads++
		} else {
			others = append(others, k)
		}
	}
	// want is made when the query finds a call that meets the range: a
	// new call (most are) meets none.
	var want map[string]struct{}
	found := func(stmt *sqlite.Stmt) error {
		k, r := receipt(stmt)
		out[k] = r
		return nil
	}
	if calls.first != 0 {
		err = sqlitex.Execute(c, "SELECT "+receiptColumns+` FROM load_calls c JOIN events e ON e.number BETWEEN c.first AND c.last
			WHERE c.run = ?1 AND c.hi >= ?2 AND c.lo <= ?3 AND e.receipt_run = ?1 AND e.receipt_key IS NOT NULL`, &sqlitex.ExecOptions{
			Args: []any{n, keyOrder(calls.lo[0], calls.lo[1]), keyOrder(calls.hi[0], calls.hi[1])},
			ResultFunc: func(stmt *sqlite.Stmt) error {
				if want == nil {
					want = make(map[string]struct{}, loads)
					for _, k := range keys {
						if _, _, ok := loadKey(k); ok {
							want[k] = struct{}{}
						}
					}
				}
				if _, ok := want[stmt.ColumnText(0)]; !ok {
					return nil
				}
				return found(stmt)
			},
		})
		if err != nil {
			return nil, err
		}
	}
	if len(others) > 0 {
		arg, err := json.Marshal(others)
		if err != nil {
			return nil, err
		}
		err = sqlitex.Execute(c, "SELECT "+receiptColumns+` FROM receipt_keys k JOIN events e ON e.number = k.number
			WHERE k.run = ?1 AND k.key IN (SELECT value FROM json_each(?2)) AND e.receipt_run = ?1`, &sqlitex.ExecOptions{
			Args:       []any{n, string(arg)},
			ResultFunc: found,
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
