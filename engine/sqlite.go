package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
// connection skips database/sql's overhead); reads use a small pool so that
// listing does not wait for a load.
type sqliteStore struct {
	path    string
	mu      sync.Mutex // guards writer
	writer  *sqlite.Conn
	readers *sqlitex.Pool
}

// ErrNotFound is returned for an event id or number that does not exist.
var ErrNotFound = errors.New("not found")

func openSQLite(ctx context.Context, path string) (*sqliteStore, error) {
	// Another program's SQLite file is refused before SQLite opens it (and
	// sets WAL mode on it, or migrates it).
	if _, err := readStoreHeader(path); err != nil {
		return nil, err
	}
	w, err := sqlite.OpenConn(path, sqlite.OpenReadWrite|sqlite.OpenCreate|sqlite.OpenWAL|sqlite.OpenURI)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := sqlitex.ExecuteTransient(w, "PRAGMA busy_timeout = 10000", nil); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// Before anything is written to it (WAL mode, a migration).
	if err := checkStore(w, path, false); err != nil {
		w.Close()
		return nil, err
	}
	if err := pragmas(w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := sqlitemigration.Migrate(ctx, w, schema); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	readers, err := sqlitex.NewPool(path, sqlitex.PoolOptions{
		Flags:       sqlite.OpenReadOnly | sqlite.OpenWAL | sqlite.OpenURI,
		PoolSize:    4,
		PrepareConn: func(c *sqlite.Conn) error { return sqlitex.ExecuteTransient(c, "PRAGMA busy_timeout = 10000;", nil) },
	})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &sqliteStore{path: path, writer: w, readers: readers}, nil
}

func pragmas(c *sqlite.Conn) error {
	// synchronous=NORMAL in WAL mode loses nothing on a process crash
	// (kill -9); only a power cut can drop the last transactions.
	for _, p := range []string{
		"PRAGMA journal_mode = WAL",
		"PRAGMA synchronous = NORMAL",
		"PRAGMA busy_timeout = 10000",
		"PRAGMA foreign_keys = OFF",
		// 128 MiB of page cache for the writer: with 1M accounts and 1M
		// events, CreateEvents of 1000 purchases took ~50 ms with 64 MiB
		// and ~24 ms with 128 MiB (256 MiB, or mmap, gained nothing more).
		// It is a fixed bound, not one that grows with the input.
		"PRAGMA cache_size = -131072",
	} {
		if err := sqlitex.ExecuteTransient(c, p, nil); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

func (s *sqliteStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writer == nil { // opened read-only
		return s.readers.Close()
	}
	return errors.Join(s.readers.Close(), s.writer.Close())
}

func (s *sqliteStore) Lookup(ctx context.Context, e *Entity, col string, keys []string) ([]*Ref, error) {
	if col != "id" && !slices.Contains(e.lookup, col) {
		return nil, fmt.Errorf("lookup %s by %s: not an identifier column", e.name, col)
	}
	arg, err := json.Marshal(keys)
	if err != nil {
		return nil, err
	}
	q := fmt.Sprintf("SELECT id, %s FROM %s WHERE %s IN (SELECT value FROM json_each(?))",
		strings.Join(e.cols, ", "), e.name, col)
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.writer.SetInterrupt(s.writer.SetInterrupt(ctx.Done()))
	var out []*Ref
	err = sqlitex.Execute(s.writer, q, &sqlitex.ExecOptions{
		Args: []any{string(arg)},
		ResultFunc: func(stmt *sqlite.Stmt) error {
			r := &Ref{ID: stmt.ColumnText(0), Vals: make([]string, len(e.cols))}
			for i := range e.cols {
				r.Vals[i] = stmt.ColumnText(i + 1)
			}
			out = append(out, r)
			return nil
		},
	})
	return out, err
}

func (s *sqliteStore) ReferenceVersion(ctx context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var v int64
	err := sqlitex.Execute(s.writer, "SELECT value FROM meta WHERE key = 'reference_version'", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { v = stmt.ColumnInt64(0); return nil },
	})
	return v, err
}

const insertEvent = `INSERT INTO events
	(number, id, kind, life_cycle_state, performed_on, account_number, participant_number, classification, request_id, created_date, object, load_run, load_key, load_digest)
	VALUES (?, ?, ?, 'POSTED', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

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
		return fmt.Errorf("%s is open read-only", s.path)
	}
	defer c.SetInterrupt(c.SetInterrupt(ctx.Done()))
	end, err := sqlitex.ImmediateTransaction(c)
	if err != nil {
		return err
	}
	defer end(&err)
	return fn(c)
}

func (s *sqliteStore) Commit(ctx context.Context, rows []*PendingEvent, opts CommitOptions) error {
	err := s.write(ctx, func(c *sqlite.Conn) error { return commit(c, rows, opts) })
	if errors.Is(err, errDryRun) {
		return nil
	}
	return err
}

func commit(c *sqlite.Conn, rows []*PendingEvent, opts CommitOptions) (err error) {
	var next int64
	if err := sqlitex.Execute(c, "SELECT COALESCE(MAX(number), 0) FROM events", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error { next = stmt.ColumnInt64(0); return nil },
	}); err != nil {
		return err
	}
	claim := c.Prep("UPDATE rewards_participants SET referred_by = ? WHERE id = ? AND referred_by = ''")
	ins := c.Prep(insertEvent)
	// Idempotent calls: events whose receipts are stored already (by
	// another copy of the call, committed first) are answered with the
	// stored ids and numbers, not stored again. One query per call, inside
	// the write transaction, so that of two copies the second sees the first.
	var already map[string]Receipt
	if opts.Idempotent {
		var run string
		keys := make([]string, 0, len(rows))
		for _, p := range rows {
			if p.LoadKey != "" {
				run = p.LoadRun
				keys = append(keys, p.LoadKey)
			}
		}
		if len(keys) > 0 {
			if already, err = storedKeys(c, run, keys); err != nil {
				return err
			}
		}
	}
	var buf []byte
	for _, p := range rows {
		if st, ok := already[p.LoadKey]; ok && p.LoadKey != "" {
			if !st.matches(p.Digest) {
				p.Err = crm.ReceiptConflict(p.LoadRun, p.LoadKey)
				continue
			}
			p.Obj.ID, p.Obj.Number = st.ID, st.Number
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
		next++
		p.Obj.Number = strconv.FormatInt(next, 10)
		buf = numbered(buf[:0], p.Encoded, p.Obj.Number)
		ins.BindInt64(1, next)
		ins.BindText(2, p.Obj.ID)
		ins.BindText(3, p.Kind)
		ins.BindText(4, p.Obj.PerformedOn)
		ins.BindText(5, p.AccountNumber)
		ins.BindText(6, p.ParticipantNumber)
		ins.BindText(7, p.Classification)
		ins.BindText(8, p.RequestID)
		ins.BindText(9, p.Obj.LogInformation.CreatedDate)
		ins.BindBytes(10, buf)
		ins.BindText(11, p.LoadRun)
		ins.BindText(12, p.LoadKey)
		ins.BindText(13, p.Digest)
		if _, err := ins.Step(); err != nil {
			return fmt.Errorf("insert event %s: %w", p.RequestID, err)
		}
		if err := ins.Reset(); err != nil {
			return err
		}
	}
	if opts.DryRun {
		return errDryRun
	}
	return nil
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

func (s *sqliteStore) Events(ctx context.Context, f Filter, fn func(o *EventObject) error) error {
	c, err := s.readers.Take(ctx)
	if err != nil {
		return err
	}
	defer s.readers.Put(c)
	var where []string
	var args []any
	add := func(cond, v string) {
		if v != "" {
			where = append(where, cond)
			args = append(args, v)
		}
	}
	add("kind = ?", f.Kind)
	add("account_number = ?", f.Account)
	add("participant_number = ?", f.Participant)
	add("classification = ?", f.Classification)
	add("life_cycle_state = ?", f.State)
	add("performed_on >= ?", f.Since)
	add("performed_on <= ?", f.Until)
	add("created_date >= ?", f.CreatedAfter)
	add("created_date <= ?", f.CreatedBefore)
	q := "SELECT object FROM events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY number"
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	var buf []byte
	return sqlitex.Execute(c, q, &sqlitex.ExecOptions{
		Args: args,
		ResultFunc: func(stmt *sqlite.Stmt) error {
			n := stmt.ColumnLen(0)
			if cap(buf) < n {
				buf = make([]byte, n)
			}
			buf = buf[:n]
			stmt.ColumnBytes(0, buf)
			o, err := decodeObject(buf)
			if err != nil {
				return err
			}
			return fn(o)
		},
	})
}

// eventKey picks the column an event key names: a number is a number, and
// anything else an id.
func eventKey(key string) (string, any) {
	if n, err := strconv.ParseInt(key, 10, 64); err == nil && len(key) < 32 {
		return "number", n
	}
	return "id", key
}

func (s *sqliteStore) Event(ctx context.Context, key string) (*EventObject, error) {
	c, err := s.readers.Take(ctx)
	if err != nil {
		return nil, err
	}
	defer s.readers.Put(c)
	col, arg := eventKey(key)
	var obj []byte
	err = sqlitex.Execute(c, "SELECT object FROM events WHERE "+col+" = ?", &sqlitex.ExecOptions{
		Args:       []any{arg},
		ResultFunc: func(stmt *sqlite.Stmt) error { obj = []byte(stmt.ColumnText(0)); return nil },
	})
	if err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, ErrNotFound
	}
	return decodeObject(obj)
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
	var obj []byte
	err := s.write(ctx, func(c *sqlite.Conn) (err error) {
		obj, err = setState(c, key, from, to, at)
		return err
	})
	if err != nil {
		return nil, err
	}
	return decodeObject(obj)
}

func setState(c *sqlite.Conn, key, from, to string, at time.Time) (obj []byte, err error) {
	col, arg := eventKey(key)
	var state string
	found := false
	if err := sqlitex.Execute(c, "SELECT life_cycle_state FROM events WHERE "+col+" = ?", &sqlitex.ExecOptions{
		Args:       []any{arg},
		ResultFunc: func(stmt *sqlite.Stmt) error { state, found = stmt.ColumnText(0), true; return nil },
	}); err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrNotFound
	}
	if state != from {
		return nil, &StateError{Key: key, State: state, Want: from}
	}
	stamp := at.UTC().Format(dateLayout)
	err = sqlitex.Execute(c, `UPDATE events SET life_cycle_state = ?,
		object = json_set(object, '$.life_cycle_state', ?, '$.log_information.updated_date', ?)
		WHERE `+col+` = ? RETURNING object`, &sqlitex.ExecOptions{
		Args:       []any{to, to, stamp, arg},
		ResultFunc: func(stmt *sqlite.Stmt) error { obj = []byte(stmt.ColumnText(0)); return nil },
	})
	return obj, err
}

func (s *sqliteStore) Receipts(ctx context.Context, run string, fn func(key string, r Receipt) error) error {
	c, err := s.readers.Take(ctx)
	if err != nil {
		return err
	}
	defer s.readers.Put(c)
	// No index: a resume reads the receipts once, and an index on a
	// random-ish key would cost every insert.
	return sqlitex.Execute(c, "SELECT load_key, id, number, load_digest FROM events WHERE load_run = ?", &sqlitex.ExecOptions{
		Args: []any{run},
		ResultFunc: func(stmt *sqlite.Stmt) error {
			return fn(stmt.ColumnText(0), Receipt{ID: stmt.ColumnText(1), Number: strconv.FormatInt(stmt.ColumnInt64(2), 10), Digest: stmt.ColumnText(3)})
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

// storedKeys returns, of keys, those run stored events for.
func storedKeys(c *sqlite.Conn, run string, keys []string) (map[string]Receipt, error) {
	arg, err := json.Marshal(keys)
	if err != nil {
		return nil, err
	}
	out := map[string]Receipt{}
	err = sqlitex.Execute(c, `SELECT load_key, id, number, load_digest FROM events
		WHERE load_run = ? AND load_run != '' AND load_key IN (SELECT value FROM json_each(?))`, &sqlitex.ExecOptions{
		Args: []any{run, string(arg)},
		ResultFunc: func(stmt *sqlite.Stmt) error {
			out[stmt.ColumnText(0)] = Receipt{ID: stmt.ColumnText(1), Number: strconv.FormatInt(stmt.ColumnInt64(2), 10), Digest: stmt.ColumnText(3)}
			return nil
		},
	})
	return out, err
}
