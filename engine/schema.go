package engine

import (
	"fmt"
	"strings"

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
	},
}

// referenceTables renders one table per entity: an id, the entity's
// columns, a unique natural key, and an index per identifier column so
// that resolving a batch costs one indexed query per column.
func referenceTables() string {
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
