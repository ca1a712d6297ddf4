package engine

import (
	"fmt"
	"strconv"
	"strings"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitemigration"
)

// appID marks a database file as a crmload engine store, so that opening
// some other SQLite file fails instead of migrating it.
const appID = 0x63726d6c // "crml"

// schema is the store's migration list. Never edit a released migration:
// append a new one. sqlitemigration records the version in user_version.
var schema = sqlitemigration.Schema{
	AppID: appID,
	Migrations: []string{
		referenceTables() + `
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);
INSERT INTO meta (key, value) VALUES ('reference_version', 0);

-- One row per created customer event. object is the API's event object as
-- JSON, ready to stream; the other columns are what list filters on.
-- number is the rowid, so inserts append. Ids are time-ordered, so their
-- unique index appends too. Other columns are deliberately not indexed:
-- a random-key index costs most of the insert rate (DESIGN.md).
CREATE TABLE events (
	number             INTEGER PRIMARY KEY,
	id                 TEXT NOT NULL UNIQUE,
	kind               TEXT NOT NULL,
	life_cycle_state   TEXT NOT NULL,
	performed_on       TEXT NOT NULL,
	account_number     TEXT NOT NULL DEFAULT '',
	participant_number TEXT NOT NULL DEFAULT '',
	classification     TEXT NOT NULL DEFAULT '',
	request_id         TEXT NOT NULL,
	created_date       TEXT NOT NULL,
	object             TEXT NOT NULL
);
`,
		// 2: load receipts. A load records, in the same transaction as each
		// event, which run stored it and which rows it came from, so that
		// a resumed run after a crash sends nothing twice.
		`
ALTER TABLE events ADD COLUMN load_run TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN load_key TEXT NOT NULL DEFAULT '';
`,
		// 3: replays. A call sent again after an ambiguous failure asks for
		// the events its keys already stored; within a run, keys grow with
		// the input's lines, so this index mostly appends.
		`
CREATE INDEX events_load ON events (load_run, load_key) WHERE load_run != '';
`,
		// 4: receipt digests. A receipt also keeps a digest of the content
		// its event was stored from (crm.Digest), so that a call presenting
		// the same run and key with other content is a conflict, never the
		// stored event's success. Receipts stored before have none and are
		// trusted as before.
		`
ALTER TABLE events ADD COLUMN load_digest TEXT NOT NULL DEFAULT '';
`,
		// 5: the ledger of loaded inputs. A load claims each input by its
		// content hash and the kind of events it makes before it sends
		// anything, so that the same export loaded twice into this store
		// (a cron job run twice, two operators) is refused unless asked
		// for (--again).
		`
CREATE TABLE loads (
	input_hash  TEXT NOT NULL,
	input_size  INTEGER NOT NULL,
	input_name  TEXT NOT NULL,
	kind        TEXT NOT NULL,
	run         TEXT NOT NULL,
	run_dir     TEXT NOT NULL,
	started_at  TEXT NOT NULL,
	finished_at TEXT NOT NULL DEFAULT '',
	state       TEXT NOT NULL,
	again       INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (input_hash, run)
);
`,
		// 6: compact events (issue 11). An event row keeps what the event
		// is made of, not its rendered object: references as the integer
		// keys of the reference tables (which get an explicit INTEGER
		// PRIMARY KEY, rid, so that no VACUUM renumbers them), kind and
		// state as small codes, the creation time in milliseconds, the
		// rest in a compact blob (compact.go); the API object is rendered
		// on read. The id is derived from the creation time and the
		// number, so it needs no column and no unique index. Events
		// stored before keep their JSON object and random id (legacy_*
		// columns, a partial index on the id) and render as before; their
		// load receipts move along, so a run started before resumes after.
		// Load runs are numbered in load_runs: a row keeps the number.
		compactEvents(),
		// 7: receipts found by call, not by event (issue 11). The index on
		// (load_run, load_key) cost the writer more than the event's own
		// row. A committed call records instead, in load_calls, its run,
		// the numbers of its first and last events with receipts and the
		// least and greatest of their row keys in key order (keyOrder: by
		// file, then line), so that a load's calls take ranges that do
		// not overlap. A lookup reads the calls whose range meets its
		// keys' and scans their events by number. Keys of another form
		// than a load's "F:L" (which another client of engine serve may
		// send) would spread a call's range over everything: each is kept
		// in receipt_keys, indexed, instead. Receipts stored before are
		// grouped into ranges of at most 1000 consecutive events of a run.
		//
		// The receipt columns are renamed (load_* to receipt_*) so that a
		// process of an earlier release that opened the store before this
		// migration, and still writes to it, fails its next write instead
		// of storing receipts without a load_calls row, which no lookup
		// would find (a resume would then store those rows twice). Its
		// statements are prepared again against the new schema, and no
		// longer find their columns.
		`
CREATE TABLE load_calls (
	run   INTEGER NOT NULL,
	first INTEGER NOT NULL,
	last  INTEGER NOT NULL,
	lo    TEXT NOT NULL,
	hi    TEXT NOT NULL,
	PRIMARY KEY (run, first)
) WITHOUT ROWID;
CREATE INDEX load_calls_hi ON load_calls (run, hi, lo);
CREATE TABLE receipt_keys (
	run    INTEGER NOT NULL,
	key    TEXT NOT NULL,
	number INTEGER NOT NULL,
	PRIMARY KEY (run, key, number)
) WITHOUT ROWID;
WITH keyed AS (
	SELECT load_run AS run, number, crmload_key_order(load_key) AS o
	FROM events WHERE load_run IS NOT NULL AND load_key IS NOT NULL
), ordered AS (
	SELECT run, number, o, number - ROW_NUMBER() OVER (PARTITION BY run ORDER BY number) AS island
	FROM keyed WHERE o IS NOT NULL
), chunked AS (
	SELECT run, number, o, island, (ROW_NUMBER() OVER (PARTITION BY run, island ORDER BY number) - 1) / 1000 AS chunk
	FROM ordered
)
INSERT INTO load_calls (run, first, last, lo, hi)
SELECT run, MIN(number), MAX(number), MIN(o), MAX(o) FROM chunked GROUP BY run, island, chunk;
INSERT INTO receipt_keys (run, key, number)
SELECT load_run, load_key, number FROM events
WHERE load_run IS NOT NULL AND load_key IS NOT NULL AND crmload_key_order(load_key) IS NULL;
DROP INDEX events_load;
ALTER TABLE events RENAME COLUMN load_run TO receipt_run;
ALTER TABLE events RENAME COLUMN load_key TO receipt_key;
ALTER TABLE events RENAME COLUMN load_digest TO receipt_digest;
`,
		// 8: receipt digests are XXH3-128 (crm.Digest), no longer
		// SHA-256. No table changes: receipts kept before keep their
		// SHA-256 digests, which crm.DigestMatches still matches. The
		// version is there so that an earlier release, which compares
		// digests as they are, refuses the store instead of failing every
		// row stored since as a receipt conflict (and a retry of those
		// rows storing them twice). meta records the digests' form.
		// Readers read version 7 as well (readerOldest).
		`INSERT OR REPLACE INTO meta (key, value) VALUES ('receipt_digest', 2);`,
	},
}

// readerOldest is the oldest schema version a reader (events list and
// show) reads without the upgrade it cannot make: the migrations after it
// changed nothing a reader reads.
const readerOldest = 7

// keyOrder is the order of a load's row keys in load_calls' ranges: by
// file, then line, as numbers. Stored: never change it without a
// migration (migration 7 computes it through keyOrderFunc, the same
// function).
func keyOrder(file, line uint64) string {
	return fmt.Sprintf("%019d%019d", file, line)
}

// loadKey reads a key a load makes (loader's key: "F:L"): two decimal
// numbers of at most 19 digits, without leading zeros, and a colon.
func loadKey(key string) (file, line uint64, ok bool) {
	colon := strings.IndexByte(key, ':')
	if colon < 0 {
		return 0, 0, false
	}
	if file, ok = decimalUint(key[:colon]); !ok {
		return 0, 0, false
	}
	line, ok = decimalUint(key[colon+1:])
	return file, line, ok
}

// decimalUint is strconv.ParseUint's decimal of at most 19 digits (so
// that keyOrder's width holds it) without a leading zero (so that one
// number has one key).
func decimalUint(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 19 || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// keyOrderFunc is the SQL function crmload_key_order, which migration 7
// calls: keyOrder of a load's key, NULL for a key of another form. The
// writer connection registers it before it migrates (openSQLite).
var keyOrderFunc = &sqlite.FunctionImpl{
	NArgs:         1,
	Deterministic: true,
	Scalar: func(_ sqlite.Context, args []sqlite.Value) (sqlite.Value, error) {
		if f, l, ok := loadKey(args[0].Text()); ok {
			return sqlite.TextValue(keyOrder(f, l)), nil
		}
		return sqlite.Value{}, nil
	},
}

// kindCodes number the kinds in the events table's kind column. Stored:
// never reorder, only append.
var kindCodes = []string{"purchases", "achievements", "financial_achievements", "financial_statements", "referrals", "social_media", "web"}

// stateCodes number the life cycle states in the state column. Stored:
// never reorder, only append.
var stateCodes = []string{"POSTED", "CANCELLED"}

// compactEvents renders migration 6 (see schema).
func compactEvents() string {
	var b strings.Builder
	for _, e := range entities {
		referenceTable(&b, e, e.name+"_v6", "\n\trid INTEGER PRIMARY KEY,")
		cols := "id, " + strings.Join(e.cols, ", ")
		fmt.Fprintf(&b, "INSERT INTO %s_v6 (rid, %s) SELECT rowid, %s FROM %s ORDER BY rowid;\n", e.name, cols, cols, e.name)
		fmt.Fprintf(&b, "DROP TABLE %s;\nALTER TABLE %s_v6 RENAME TO %s;\n", e.name, e.name, e.name)
		referenceIndexes(&b, e)
	}
	code := func(col string, codes []string) string {
		var c strings.Builder
		c.WriteString("CASE " + col)
		for i, k := range codes {
			fmt.Fprintf(&c, " WHEN '%s' THEN %d", k, i)
		}
		c.WriteString(" END")
		return c.String()
	}
	fmt.Fprintf(&b, `
CREATE TABLE load_runs (
	rid INTEGER PRIMARY KEY,
	run TEXT NOT NULL UNIQUE
);
INSERT INTO load_runs (run) SELECT DISTINCT load_run FROM events WHERE load_run != '' ORDER BY load_run;

-- One row per customer event. number is the rowid (inserts append);
-- created is the creation time in Unix milliseconds; with the number it
-- makes the id (compact.go). account, participant and classification are
-- the rids list filters on; data holds the rest (compact.go). The load
-- receipt: load_runs.rid, the row key, the digest's bytes.
CREATE TABLE events_v6 (
	number         INTEGER PRIMARY KEY,
	created        INTEGER NOT NULL,
	kind           INTEGER NOT NULL,
	state          INTEGER NOT NULL DEFAULT 0,
	updated        INTEGER,
	performed_on   TEXT NOT NULL,
	account        INTEGER,
	participant    INTEGER,
	classification INTEGER,
	request_id     TEXT NOT NULL,
	data           BLOB,
	load_run       INTEGER,
	load_key       TEXT,
	load_digest    BLOB,
	legacy_id      TEXT,
	legacy_object  TEXT
);
INSERT INTO events_v6 (number, created, kind, state, performed_on, account, participant, classification,
	request_id, load_run, load_key, load_digest, legacy_id, legacy_object)
SELECT number, CAST(strftime('%%s', created_date) AS INTEGER) * 1000, %s, %s, performed_on,
	(SELECT rid FROM accounts_receivable a WHERE a.number = events.account_number AND events.account_number != ''),
	(SELECT rid FROM rewards_participants p WHERE p.number = events.participant_number AND events.participant_number != ''),
	(SELECT rid FROM classifications c WHERE c.name = events.classification AND events.classification != ''),
	request_id,
	(SELECT rid FROM load_runs r WHERE r.run = events.load_run),
	NULLIF(load_key, ''), NULLIF(unhex(load_digest), x''), id, object
FROM events ORDER BY number;
DROP TABLE events;
ALTER TABLE events_v6 RENAME TO events;
CREATE UNIQUE INDEX events_legacy_id ON events (legacy_id) WHERE legacy_id IS NOT NULL;
CREATE INDEX events_load ON events (load_run, load_key) WHERE load_run IS NOT NULL;
`, code("kind", kindCodes), code("life_cycle_state", stateCodes))
	return b.String()
}

// referenceTables renders one table per entity: an id, the entity's
// columns, a unique natural key, and an index per identifier column so
// that resolving a batch costs one indexed query per column.
func referenceTables() string {
	var b strings.Builder
	for _, e := range entities {
		referenceTable(&b, e, e.name, "")
		referenceIndexes(&b, e)
	}
	return b.String()
}

// referenceTable writes the table of e, named table, with the columns
// first puts before id.
func referenceTable(b *strings.Builder, e *Entity, table, first string) {
	fmt.Fprintf(b, "CREATE TABLE %s (%s\n\tid TEXT NOT NULL UNIQUE", table, first)
	for _, c := range e.cols {
		fmt.Fprintf(b, ",\n\t%s TEXT NOT NULL DEFAULT ''", c)
	}
	fmt.Fprintf(b, ",\n\tUNIQUE (%s)\n);\n", e.key)
}

// referenceIndexes writes an index of e's table per identifier column but
// the natural key (which is unique, so indexed).
func referenceIndexes(b *strings.Builder, e *Entity) {
	for _, c := range e.lookup {
		if c != e.key {
			fmt.Fprintf(b, "CREATE INDEX %s_%s ON %s (%s);\n", e.name, c, e.name, c)
		}
	}
}
