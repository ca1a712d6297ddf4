package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgMigrations is the PostgreSQL store's migration list, the same tables
// as the SQLite store's. Never edit a released migration: append a new
// one. crmload_schema_version holds how many have run.
var pgMigrations = []string{
	pgReferenceTables() + `
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value BIGINT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('reference_version', 0);

-- Event numbers come from a sequence: unique and increasing across every
-- process that writes to the database.
CREATE SEQUENCE event_number;

-- One row per created customer event. object is the API's event object as
-- JSON; the other columns are what list filters on. As in the SQLite
-- store, only the number, the id and the receipts are indexed.
CREATE TABLE events (
	number             BIGINT PRIMARY KEY,
	id                 TEXT NOT NULL UNIQUE,
	kind               TEXT NOT NULL,
	life_cycle_state   TEXT NOT NULL,
	performed_on       TEXT NOT NULL,
	account_number     TEXT NOT NULL DEFAULT '',
	participant_number TEXT NOT NULL DEFAULT '',
	classification     TEXT NOT NULL DEFAULT '',
	request_id         TEXT NOT NULL,
	created_date       TEXT NOT NULL,
	object             TEXT NOT NULL,
	load_run           TEXT NOT NULL DEFAULT '',
	load_key           TEXT NOT NULL DEFAULT '',
	load_digest        TEXT NOT NULL DEFAULT '',
	-- stored by an idempotent (keyed, engine serve) call: its receipt is
	-- unique
	load_once          BOOLEAN NOT NULL DEFAULT FALSE
);

-- Receipts, for resumes and replays.
CREATE INDEX events_load ON events (load_run, load_key) WHERE load_run <> '';

-- The receipts of idempotent calls are unique: of two copies of a keyed
-- call committed by two replicas at once, the second one's insert finds
-- the first's row (INSERT ... ON CONFLICT) instead of storing the events
-- twice. (A call that is not idempotent stores its keys again, as in the
-- SQLite store: a new load's choice.)
CREATE UNIQUE INDEX events_receipt ON events (load_run, load_key) WHERE load_once;

-- The ledger of loaded inputs.
CREATE TABLE loads (
	input_hash  TEXT NOT NULL,
	input_size  BIGINT NOT NULL,
	input_name  TEXT NOT NULL,
	kind        TEXT NOT NULL,
	run         TEXT NOT NULL,
	run_dir     TEXT NOT NULL,
	started_at  TEXT NOT NULL,
	finished_at TEXT NOT NULL DEFAULT '',
	state       TEXT NOT NULL,
	again       BOOLEAN NOT NULL DEFAULT FALSE,
	PRIMARY KEY (input_hash, run)
);
`,
	// 2: receipt digests are XXH3-128, as the SQLite store's migration 8
	// says: no table changes; an earlier release refuses the database.
	// Readers read version 1 as well (pgStore.prepare).
	`INSERT INTO meta (key, value) VALUES ('receipt_digest', 2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;`,
}

// pgReferenceTables renders one table per entity, as the SQLite store's
// referenceTables does. It is its own function on purpose: a released
// migration must not change, and the SQLite schema's may (its SQL is
// SQLite's to tune).
func pgReferenceTables() string {
	var b strings.Builder
	for _, e := range entities {
		fmt.Fprintf(&b, "CREATE TABLE %s (\n\tid TEXT NOT NULL UNIQUE", e.name)
		for _, c := range e.cols {
			fmt.Fprintf(&b, ",\n\t%s TEXT NOT NULL DEFAULT ''", c)
		}
		fmt.Fprintf(&b, ",\n\tUNIQUE (%s)\n);\n", e.key)
		for _, c := range e.lookup {
			if c != e.key {
				fmt.Fprintf(&b, "CREATE INDEX %s_%s ON %s (%s);\n", e.name, c, e.name, c)
			}
		}
	}
	return b.String()
}

// pgMigrationLock is the advisory lock key under which migrations run, so
// that two processes starting at once do not both migrate.
const pgMigrationLock = 0x63726d6c00000001

// pgSchemaVersion returns how many migrations ran (0: not a crmload store
// yet; -1: the database has tables but no crmload version table).
func pgSchemaVersion(ctx context.Context, c *pgxpool.Conn) (int, error) {
	var v int
	err := c.QueryRow(ctx, "SELECT version FROM crmload_schema_version").Scan(&v)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42P01": // undefined_table
		return 0, nil
	case errors.Is(err, pgx.ErrNoRows):
		return 0, nil
	}
	return v, err
}

// pgMigrate brings the schema up to date under the migration lock: each
// migration and its version bump in one transaction.
func pgMigrate(ctx context.Context, pool *pgxpool.Pool) error {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	if _, err := c.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(pgMigrationLock)); err != nil {
		return err
	}
	defer c.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(pgMigrationLock))
	if _, err := c.Exec(ctx, "CREATE TABLE IF NOT EXISTS crmload_schema_version (version INTEGER NOT NULL)"); err != nil {
		return err
	}
	v, err := pgSchemaVersion(ctx, c)
	if err != nil {
		return err
	}
	if v > len(pgMigrations) {
		return fmt.Errorf("the database's crmload schema is version %d, newer than this crmload's %d: use a newer crmload", v, len(pgMigrations))
	}
	for i := v; i < len(pgMigrations); i++ {
		err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, pgMigrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
			if _, err := tx.Exec(ctx, "DELETE FROM crmload_schema_version"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO crmload_schema_version (version) VALUES ($1)", i+1)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
