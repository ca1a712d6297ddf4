package cmd

import (
	"context"
	"log/slog"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
)

// A --db value is an SQLite file's path, or a PostgreSQL DSN
// (postgres://user:password@host:port/database?sslmode=..., or the
// keyword/value form host=... port=... user=... password=... dbname=...),
// which is
// never made absolute or checked as a file, and whose password is never
// written anywhere: runs record it without (engine.RedactDSN), and a
// resume or retry takes the password from --db or CRMLOAD_DB given again,
// or from PGPASSWORD or ~/.pgpass, as any PostgreSQL client does.

// sameStore reports whether two --db values name the same store: the
// same file, or the same database (passwords aside, however spelled:
// engine.DatabaseDiff).
func sameStore(a, b string) bool { return storeDiff(a, b) == "" }

// storeDiff says how two --db values name different stores, "" when
// they name the same one.
func storeDiff(a, b string) string {
	switch {
	case engine.IsDSN(a) && engine.IsDSN(b):
		return engine.DatabaseDiff(a, b)
	case engine.IsDSN(a) || engine.IsDSN(b):
		return "one is a database, the other a file"
	case !samePath(a, b):
		return "another file"
	}
	return ""
}

// storeMissing reports whether the --db names a store file that does not
// exist. A database is never missing here: opening it says so.
func storeMissing(db string) bool {
	return !engine.IsDSN(db) && !fileExists(crm.StoreFile(db)) // a file: URI's file
}

// openStore opens the embedded engine's store. A database that has no
// crmload store yet is refused when mustExist (a mistyped DSN serves or
// loads into no empty store); seeding creates one.
func openStore(ctx context.Context, db string, mustExist bool) (*engine.Engine, error) {
	if mustExist {
		return engine.OpenExisting(ctx, db)
	}
	return engine.Open(ctx, db)
}

// upgradeTakes is what the upgrade notice says of its time.
const upgradeTakes = "(once; a big store takes a while)"

// noticeUpgrade makes ctx log, through logger, that a store of an earlier
// schema is being upgraded (once; a big store takes a while and the
// migration says nothing else).
func noticeUpgrade(ctx context.Context, logger *slog.Logger) context.Context {
	return engine.WithUpgradeNotice(ctx, func(path string, from, to int64) {
		logger.Info("upgrading the store to this release's schema "+upgradeTakes, "store", shownDB(path), "from", from, "to", to)
	})
}

// shownDB is a --db value as logs and messages show it.
func shownDB(db string) string { return engine.RedactDSN(db) }
