package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// IsDSN reports whether a --db value names a PostgreSQL database
// (crm.IsDSN).
func IsDSN(db string) bool { return crm.IsDSN(db) }

// RedactDSN is db without a DSN's password (crm.RedactDSN).
func RedactDSN(db string) string { return crm.RedactDSN(db) }

// redactError keeps a DSN's password out of an error's text, in every
// spelling (crm.DSNSecrets).
func redactError(err error, dsn string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, pw := range crm.DSNSecrets(dsn) {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// ErrBadDSN is a DSN that cannot be read (safely): nothing was opened.
var ErrBadDSN = errors.New("--db")

// authFailed reports whether err is the server refusing the password (or
// asking for one that was not given).
func authFailed(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000") {
		return true
	}
	m := err.Error()
	return strings.Contains(m, "password authentication failed") || strings.Contains(m, "no password supplied") || strings.Contains(m, "SASL auth")
}

// pgStore keeps everything in one PostgreSQL database, shared by any
// number of processes (engine serve replicas, loads). What SQLite gets
// from its single writer, it gets from the database: event numbers from a
// sequence, receipts under a unique index, the one referral of a
// participant from a conditional update of its row, the ledger under an
// advisory lock.
type pgStore struct {
	dsn  string // redacted
	pool *pgxpool.Pool
}

// pgOpenMode says what opening a PostgreSQL store may do.
type pgOpenMode int

const (
	pgCreate   pgOpenMode = iota // migrate, creating the tables if needed
	pgExisting                   // migrate a crmload store; refuse an empty database
	pgReadOnly                   // write nothing: the schema must be current
)

// OpenPostgres opens (creating its tables if needed) the engine store in
// the PostgreSQL database dsn and brings its schema up to date.
func OpenPostgres(ctx context.Context, dsn string) (*Engine, error) {
	return openPostgresEngine(ctx, dsn, pgCreate)
}

func openPostgresEngine(ctx context.Context, dsn string, mode pgOpenMode) (*Engine, error) {
	s, err := openPostgres(ctx, dsn, mode)
	if err != nil {
		return nil, err
	}
	return New(s), nil
}

func openPostgres(ctx context.Context, dsn string, mode pgOpenMode) (*pgStore, error) {
	name := RedactDSN(dsn)
	if err := crm.CheckDSN(dsn); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDSN, err) // never the parser's text: it quotes parts of the password
	}
	s, err := openPG(ctx, dsn, mode)
	if err != nil {
		if errors.Is(err, ErrBadDSN) {
			return nil, err
		}
		err = redactError(err, dsn)
		if authFailed(err) {
			return nil, fmt.Errorf("open %s: %w (give the database's password: in CRMLOAD_DB or --db, or with PGPASSWORD or ~/.pgpass)", name, err)
		}
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return s, nil
}

func openPG(ctx context.Context, dsn string, mode pgOpenMode) (*pgStore, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil { // its text quotes the DSN, as the parser read it: never shown
		return nil, fmt.Errorf("%w: %s cannot be read as a PostgreSQL DSN (postgres://user:password@host:port/database?sslmode=... or host=... port=... user=... dbname=...); is the password percent-encoded?", ErrBadDSN, RedactDSN(dsn))
	}
	if !strings.Contains(dsn, "pool_max_conns") && cfg.MaxConns < 8 {
		cfg.MaxConns = 8 // a load's calls in flight, and list and show beside them
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "crmload"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &pgStore{dsn: RedactDSN(dsn), pool: pool}
	if err := s.prepare(ctx, mode); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *pgStore) prepare(ctx context.Context, mode pgOpenMode) error {
	if mode != pgCreate {
		c, err := s.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		v, err := pgSchemaVersion(ctx, c)
		c.Release()
		if err != nil {
			return err
		}
		if v == 0 {
			return fmt.Errorf("%w: the database has no crmload store (crmload engine seed --db %s creates one)", ErrNoStore, s.dsn)
		}
		if mode == pgReadOnly {
			// Every version so far holds what a reader reads as this
			// release keeps it (migration 2 changed no table): a
			// migration that changes that must refuse the older ones here.
			if v > len(pgMigrations) {
				return fmt.Errorf("the database's crmload schema is version %d, newer than this crmload's %d: use a newer crmload", v, len(pgMigrations))
			}
			return nil
		}
	}
	return pgMigrate(ctx, s.pool)
}

func (s *pgStore) Close() error {
	s.pool.Close()
	return nil
}

// storeErr makes a full disk a *StoreFullError, as the SQLite store does.
func (s *pgStore) storeErr(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "53100" || pgErr.Code == "53200") { // disk_full, out_of_memory
		return &StoreFullError{Path: s.dsn, Err: err}
	}
	return err
}

func (s *pgStore) Lookup(ctx context.Context, e *Entity, col string, keys []string) ([]*Ref, error) {
	if col != "id" && !slices.Contains(e.lookup, col) {
		return nil, fmt.Errorf("lookup %s by %s: not an identifier column", e.name, col)
	}
	q := fmt.Sprintf("SELECT id, %s FROM %s WHERE %s = ANY($1)", strings.Join(e.cols, ", "), e.name, col)
	rows, err := s.pool.Query(ctx, q, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Ref
	for rows.Next() {
		raw := rows.RawValues()
		r := &Ref{ID: string(raw[0]), Vals: make([]string, len(e.cols))}
		for i := range e.cols {
			r.Vals[i] = string(raw[i+1])
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *pgStore) ReferenceVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, "SELECT value FROM meta WHERE key = 'reference_version'").Scan(&v)
	return v, err
}

// errPGDryRun rolls a dry-run commit back.
var errPGDryRun = errors.New("dry run")

// retryable reports whether a transaction failed only because another
// one got in its way (a deadlock, a serialization failure): run it again.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

func (s *pgStore) Commit(ctx context.Context, rows []*PendingEvent, opts CommitOptions) error {
	ids := make([]string, len(rows))
	for i, p := range rows {
		ids[i] = p.Obj.ID
	}
	for attempt := 0; ; attempt++ {
		for i, p := range rows {
			p.Err, p.Obj.ID, p.Obj.Number = nil, ids[i], ""
		}
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return pgCommit(ctx, tx, rows, opts) })
		switch {
		case errors.Is(err, errPGDryRun):
			return nil
		case retryable(err) && attempt < 8:
			select {
			case <-ctx.Done():
				return s.storeErr(err)
			case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
				continue
			}
		}
		return s.storeErr(err)
	}
}

// pgQuerier is a pool or a transaction.
type pgQuerier interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}

// pgReceipts returns, of keys, the receipts of those run stored events for.
func pgReceipts(ctx context.Context, q pgQuerier, run string, keys []string) (map[string]Receipt, error) {
	out := map[string]Receipt{}
	if run == "" || len(keys) == 0 {
		return out, nil
	}
	err := scanReceipts(ctx, q, func(k string, r Receipt) error { out[k] = r; return nil },
		`SELECT load_key, id, number, load_digest FROM events WHERE load_run = $1 AND load_run <> '' AND load_key = ANY($2)`, run, keys)
	return out, err
}

// scanReceipts runs a query of (key, id, number, digest) rows.
func scanReceipts(ctx context.Context, q pgQuerier, fn func(key string, r Receipt) error, query string, args ...any) error {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var r Receipt
		var n int64
		if err := rows.Scan(&k, &r.ID, &n, &r.Digest); err != nil {
			return err
		}
		r.Number = strconv.FormatInt(n, 10)
		if err := fn(k, r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// answer gives p the stored event of its receipt, or a receipt conflict.
func answer(p *PendingEvent, st Receipt) {
	if !p.storedAs(st) {
		p.Err = crm.ReceiptConflict(p.LoadRun, p.LoadKey)
		return
	}
	p.Obj.ID, p.Obj.Number, p.Found = st.ID, st.Number, true
}

// pgCommit is one commit's transaction: receipts already stored, then the
// referrals' claims, then the events in one multi-row insert.
func pgCommit(ctx context.Context, tx pgx.Tx, rows []*PendingEvent, opts CommitOptions) error {
	run, keys := "", []string(nil)
	for _, p := range rows {
		if p.LoadKey != "" {
			run = p.LoadRun
			keys = append(keys, p.LoadKey)
		}
	}
	// Idempotent calls: events whose receipts are stored already are
	// answered with the stored events.
	todo := make([]*PendingEvent, 0, len(rows))
	if opts.Idempotent && len(keys) > 0 {
		already, err := pgReceipts(ctx, tx, run, keys)
		if err != nil {
			return err
		}
		for _, p := range rows {
			if st, ok := already[p.LoadKey]; ok && p.LoadKey != "" {
				answer(p, st)
				continue
			}
			todo = append(todo, p)
		}
	} else {
		todo = append(todo, rows...)
	}

	// Referrals: a participant is referred once. The rows are locked in id
	// order (no deadlock between two calls claiming several), then a
	// conditional update claims those nobody referred; it holds across
	// transactions of every process, as a second update of a row waits for
	// the first transaction and then sees its referred_by.
	var referred, by []string
	first := map[string]*PendingEvent{}
	for _, p := range todo {
		if p.Claim == nil {
			continue
		}
		if _, ok := first[p.Claim.Referred]; ok {
			p.Err = p.Claim.Lost // the call's first referral of it came first
			continue
		}
		first[p.Claim.Referred] = p
		referred, by = append(referred, p.Claim.Referred), append(by, p.Claim.By)
	}
	if len(referred) > 0 {
		if _, err := tx.Exec(ctx, "SELECT id FROM rewards_participants WHERE id = ANY($1) ORDER BY id FOR UPDATE", referred); err != nil {
			return err
		}
		won := map[string]bool{}
		r, err := tx.Query(ctx, `UPDATE rewards_participants AS r SET referred_by = v.by
			FROM unnest($1::text[], $2::text[]) AS v(referred, by)
			WHERE r.id = v.referred AND r.referred_by = '' RETURNING r.id`, referred, by)
		if err != nil {
			return err
		}
		for r.Next() {
			var id string
			if err := r.Scan(&id); err != nil {
				r.Close()
				return err
			}
			won[id] = true
		}
		r.Close()
		if err := r.Err(); err != nil {
			return err
		}
		var lostKeys []string
		for ref, p := range first {
			if !won[ref] {
				p.Err = p.Claim.Lost
				if opts.Idempotent && p.LoadKey != "" {
					lostKeys = append(lostKeys, p.LoadKey)
				}
			}
		}
		// A referral lost to another copy of the same keyed call (on
		// another replica) is answered with that copy's event.
		if len(lostKeys) > 0 {
			stored, err := pgReceipts(ctx, tx, run, lostKeys)
			if err != nil {
				return err
			}
			for _, p := range first {
				if st, ok := stored[p.LoadKey]; ok && p.Err == p.Claim.Lost && p.LoadKey != "" {
					p.Err = nil
					answer(p, st) // numbered now: not this commit's to insert
				}
			}
		}
	}
	ins := todo[:0:0]
	for _, p := range todo {
		if p.Err == nil && p.Obj.Number == "" {
			ins = append(ins, p)
		}
	}
	if len(ins) == 0 {
		if opts.DryRun {
			return errPGDryRun
		}
		return nil
	}

	// Numbers: one round trip for the whole batch.
	numbers := make([]int64, 0, len(ins))
	nr, err := tx.Query(ctx, "SELECT nextval('event_number') FROM generate_series(1, $1)", len(ins))
	if err != nil {
		return err
	}
	for nr.Next() {
		var n int64
		if err := nr.Scan(&n); err != nil {
			nr.Close()
			return err
		}
		numbers = append(numbers, n)
	}
	nr.Close()
	if err := nr.Err(); err != nil {
		return err
	}
	slices.Sort(numbers)

	n := len(ins)
	cols := make([][]string, 12)
	for i := range cols {
		cols[i] = make([]string, n)
	}
	var buf []byte
	for i, p := range ins {
		p.Obj.Number = strconv.FormatInt(numbers[i], 10)
		buf = numbered(buf[:0], p.Encoded, p.Obj.Number)
		account, participant, classification := p.filterRefs()
		for j, v := range []string{p.Obj.ID, p.Kind, p.Obj.PerformedOn, account.number(), participant.number(), classification.name(),
			p.RequestID, p.Obj.LogInformation.CreatedDate, string(buf), p.LoadRun, p.LoadKey, p.Digest} {
			cols[j][i] = v
		}
	}
	args := []any{numbers}
	for _, c := range cols {
		args = append(args, c)
	}
	args = append(args, opts.Idempotent)
	r, err := tx.Query(ctx, `INSERT INTO events
		(number, id, kind, life_cycle_state, performed_on, account_number, participant_number, classification, request_id, created_date, object, load_run, load_key, load_digest, load_once)
		SELECT v.number, v.id, v.kind, 'POSTED', v.performed_on, v.account_number, v.participant_number, v.classification, v.request_id, v.created_date, v.object, v.load_run, v.load_key, v.load_digest,
			$14::boolean AND v.load_run <> ''
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])
			AS v(number, id, kind, performed_on, account_number, participant_number, classification, request_id, created_date, object, load_run, load_key, load_digest)
		ON CONFLICT (load_run, load_key) WHERE load_once DO NOTHING
		RETURNING number`, args...)
	if err != nil {
		return err
	}
	inserted := make(map[int64]bool, n)
	for r.Next() {
		var num int64
		if err := r.Scan(&num); err != nil {
			r.Close()
			return err
		}
		inserted[num] = true
	}
	r.Close()
	if err := r.Err(); err != nil {
		return err
	}
	if len(inserted) < n {
		// Receipts another transaction stored meanwhile (a copy of this
		// call on another replica): answer with its events, and give back
		// the referrals this commit claimed for them.
		var conflicted []*PendingEvent
		var ckeys, unref, unby []string
		for _, p := range ins {
			num, _ := strconv.ParseInt(p.Obj.Number, 10, 64)
			if !inserted[num] {
				conflicted = append(conflicted, p)
				ckeys = append(ckeys, p.LoadKey)
				if p.Claim != nil {
					unref, unby = append(unref, p.Claim.Referred), append(unby, p.Claim.By)
				}
			}
		}
		stored, err := pgReceipts(ctx, tx, run, ckeys)
		if err != nil {
			return err
		}
		for _, p := range conflicted {
			st, ok := stored[p.LoadKey]
			if !ok {
				return fmt.Errorf("insert event %s: its receipt %s/%s conflicts, and no stored event has it", p.RequestID, p.LoadRun, p.LoadKey)
			}
			p.Obj.Number = ""
			answer(p, st)
		}
		if len(unref) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE rewards_participants AS r SET referred_by = ''
				FROM unnest($1::text[], $2::text[]) AS v(referred, by)
				WHERE r.id = v.referred AND r.referred_by = v.by`, unref, unby); err != nil {
				return err
			}
		}
	}
	if opts.DryRun {
		return errPGDryRun
	}
	return nil
}

func (s *pgStore) Upsert(ctx context.Context, e *Entity, recs []SeedRecord) error {
	// Parameters: $1 id, $2.. the columns, then one presence flag per
	// column but the key, then whether the id was given. An upsert changes only the
	// columns the seed file gave, and keeps the id unless it gave one.
	// The records go in one pipelined batch (one round trip), each its own
	// statement so that a failure names its record.
	n := len(e.cols)
	vals := make([]string, n+1)
	for i := range vals {
		vals[i] = fmt.Sprintf("$%d::text", i+1)
	}
	var sets []string
	flag := n + 1 // the last parameter so far
	for _, col := range e.cols {
		if col != e.key {
			flag++
			sets = append(sets, fmt.Sprintf("%s = CASE WHEN $%d::boolean THEN excluded.%s ELSE %s.%s END", col, flag, col, e.name, col))
		}
	}
	sets = append(sets, fmt.Sprintf("id = CASE WHEN $%d::boolean THEN excluded.id ELSE %s.id END", flag+1, e.name))
	q := fmt.Sprintf("INSERT INTO %s (id, %s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s",
		e.name, strings.Join(e.cols, ", "), strings.Join(vals, ", "), e.key, strings.Join(sets, ", "))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, r := range recs {
			args := make([]any, 0, 2*n+2)
			args = append(args, r.ID)
			for _, v := range r.Vals {
				args = append(args, v)
			}
			for i, p := range r.Present {
				if e.cols[i] != e.key {
					args = append(args, p)
				}
			}
			args = append(args, r.IDGiven)
			b.Queue(q, args...)
		}
		b.Queue("UPDATE meta SET value = value + 1 WHERE key = 'reference_version'")
		res := tx.SendBatch(ctx, b)
		for _, r := range recs {
			if _, err := res.Exec(); err != nil {
				res.Close()
				return &SeedError{File: r.File, Line: r.Line, Entity: e.name, Err: err}
			}
		}
		if _, err := res.Exec(); err != nil {
			res.Close()
			return err
		}
		return res.Close()
	})
	return s.storeErr(err)
}

// pgEventKey picks the column an event key names: a number is a number,
// and anything else an id.
func pgEventKey(key string) (string, any) {
	if n, err := strconv.ParseInt(key, 10, 64); err == nil && len(key) < 32 {
		return "number", n
	}
	return "id", key
}

func (s *pgStore) Events(ctx context.Context, f Filter, fn func(o *EventObject) error) error {
	var where []string
	var args []any
	add := func(col, op, v string) {
		if v != "" {
			args = append(args, v)
			where = append(where, fmt.Sprintf("%s %s $%d", col, op, len(args)))
		}
	}
	add("kind", "=", f.Kind)
	add("account_number", "=", f.Account)
	add("participant_number", "=", f.Participant)
	add("classification", "=", f.Classification)
	add("life_cycle_state", "=", f.State)
	add("performed_on", ">=", f.Since)
	add("performed_on", "<=", f.Until)
	add("created_date", ">=", f.CreatedAfter)
	add("created_date", "<=", f.CreatedBefore)
	q := "SELECT object FROM events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY number"
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		o, err := decodeObject(rows.RawValues()[0])
		if err != nil {
			return err
		}
		if err := fn(o); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *pgStore) Event(ctx context.Context, key string) (*EventObject, error) {
	col, arg := pgEventKey(key)
	var obj []byte
	err := s.pool.QueryRow(ctx, "SELECT object FROM events WHERE "+col+" = $1", arg).Scan(&obj)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decodeObject(obj)
}

// SetState locks the event's row (SELECT ... FOR UPDATE), so that of two
// cancels racing in two processes the second one waits for the first and
// then sees its state.
func (s *pgStore) SetState(ctx context.Context, key, from, to string, at time.Time) (*EventObject, error) {
	col, arg := pgEventKey(key)
	var o *EventObject
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var state string
		var number int64
		var obj []byte
		err := tx.QueryRow(ctx, "SELECT number, life_cycle_state, object FROM events WHERE "+col+" = $1 FOR UPDATE", arg).Scan(&number, &state, &obj)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if state != from {
			return &StateError{Key: key, State: state, Want: from}
		}
		if o, err = decodeObject(obj); err != nil {
			return err
		}
		o.LifeCycleState = to
		o.LogInformation.UpdatedDate = at.UTC().Format(dateLayout)
		b, err := json.Marshal(o)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE events SET life_cycle_state = $1, object = $2 WHERE number = $3", to, string(b), number)
		return err
	})
	if err != nil {
		return nil, s.storeErr(err)
	}
	return o, nil
}

func (s *pgStore) Stored(ctx context.Context, run string, keys []string) (map[string]Receipt, error) {
	return pgReceipts(ctx, s.pool, run, keys)
}

func (s *pgStore) Receipts(ctx context.Context, run string, fn func(key string, r Receipt) error) error {
	return scanReceipts(ctx, s.pool, fn, "SELECT load_key, id, number, load_digest FROM events WHERE load_run = $1 AND load_run <> ''", run)
}

// pgLedgerLock is the advisory lock key under which inputs are claimed:
// of two loads of one input started together, in any processes, one wins.
const pgLedgerLock = 0x63726d6c00000002

func (s *pgStore) ClaimInputs(ctx context.Context, claims []InputClaim, again bool) (earlier []InputClaim, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		earlier = nil
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(pgLedgerLock)); err != nil {
			return err
		}
		for _, cl := range claims {
			rows, err := tx.Query(ctx, `SELECT input_size, input_name, run, run_dir, started_at, state, kind FROM loads
				WHERE input_hash = $1 AND run <> $2 ORDER BY started_at`, cl.Hash, cl.Run)
			if err != nil {
				return err
			}
			for rows.Next() {
				c := InputClaim{Hash: cl.Hash}
				var at string
				if err := rows.Scan(&c.Size, &c.Name, &c.Run, &c.RunDir, &at, &c.State, &c.Kind); err != nil {
					rows.Close()
					return err
				}
				if !crm.ClaimKindsOverlap(c.Kind, cl.Kind) {
					continue
				}
				c.StartedAt, _ = time.Parse(time.RFC3339Nano, at)
				earlier = append(earlier, c)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		if len(earlier) > 0 && !again {
			return nil
		}
		b := &pgx.Batch{}
		for _, cl := range claims {
			b.Queue(`INSERT INTO loads (input_hash, input_size, input_name, run, run_dir, started_at, state, again, kind)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (input_hash, run) DO UPDATE SET state = excluded.state, finished_at = ''`,
				cl.Hash, cl.Size, cl.Name, cl.Run, cl.RunDir, cl.StartedAt.UTC().Format(time.RFC3339Nano), ClaimLoading, again && len(earlier) > 0, cl.Kind)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil || again {
		return nil, s.storeErr(err)
	}
	return earlier, nil
}

func (s *pgStore) FinishInputs(ctx context.Context, run, state string) error {
	_, err := s.pool.Exec(ctx, "UPDATE loads SET state = $1, finished_at = $2 WHERE run = $3", state, time.Now().UTC().Format(time.RFC3339Nano), run)
	return s.storeErr(err)
}

// DatabaseDiff says how two DSNs name different databases ("" when they
// name the same one, passwords aside): the user, the database name and
// the port must be the same, and the host the same or both this machine
// (localhost, 127.0.0.1, ::1, a socket directory), whatever the spelling
// (URL or keyword/value, sslmode given or not).
func DatabaseDiff(a, b string) string {
	if RedactDSN(a) == RedactDSN(b) {
		return ""
	}
	ca, erra := pgconn.ParseConfig(RedactDSN(a))
	cb, errb := pgconn.ParseConfig(RedactDSN(b))
	if erra != nil || errb != nil {
		return "one of them cannot be read as a DSN"
	}
	var diffs []string
	if ca.User != cb.User {
		diffs = append(diffs, fmt.Sprintf("user %s, not %s", ca.User, cb.User))
	}
	if ca.Database != cb.Database {
		diffs = append(diffs, fmt.Sprintf("database %s, not %s", ca.Database, cb.Database))
	}
	if ca.Port != cb.Port {
		diffs = append(diffs, fmt.Sprintf("port %d, not %d", ca.Port, cb.Port))
	}
	if ca.Host != cb.Host && !(localHost(ca.Host) && localHost(cb.Host)) {
		diffs = append(diffs, fmt.Sprintf("host %s, not %s", ca.Host, cb.Host))
	}
	return strings.Join(diffs, ", ")
}

// localHost reports whether a DSN's host is this machine.
func localHost(h string) bool {
	switch strings.ToLower(strings.Trim(h, "[]")) {
	case "localhost", "127.0.0.1", "::1", "":
		return true
	}
	return strings.HasPrefix(h, "/") || strings.HasPrefix(h, "127.")
}
