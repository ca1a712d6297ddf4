package engine

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// benchInserts inserts calls of about 1000 rows, each call one
// transaction, into a store made by schema (after WAL, synchronous NORMAL
// and a 16 MiB cache), with statement sql of rows rows a statement; bind
// binds row n (from 1) at parameter offset at. It reports ns/row.
func benchInserts(b *testing.B, schema []string, sql string, rows int, bind func(ins *sqlite.Stmt, at, n int)) {
	c, err := sqlite.OpenConn(filepath.Join(b.TempDir(), "inserts.db"), 0)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for _, q := range append([]string{"PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA cache_size = -16384"}, schema...) {
		if err := sqlitex.ExecuteTransient(c, q, nil); err != nil {
			b.Fatal(err)
		}
	}
	n := 0
	for b.Loop() {
		if err := sqlitex.ExecuteTransient(c, "BEGIN IMMEDIATE", nil); err != nil {
			b.Fatal(err)
		}
		ins := c.Prep(sql)
		for range 1024 / rows {
			for r := range rows {
				n++
				bind(ins, r*insertParams, n)
			}
			if _, err := ins.Step(); err != nil {
				b.Fatal(err)
			}
			if err := ins.Reset(); err != nil {
				b.Fatal(err)
			}
		}
		if err := sqlitex.ExecuteTransient(c, "COMMIT", nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/row")
}

// BenchmarkInsertReceiptsIndex: what a per-event receipts index costs the
// writer (why migration 7 dropped it for load_calls).
// Calls of 1024 rows shaped like compact events (the columns of the
// events table, a 30-byte data blob, a 16-byte digest) inserted into a
// table alone ("none"), and with an index on (load_run, load_key) as the
// store keeps it: keys "0:<line>" as a load makes them ("text"), the same
// keys in insertion order ("text-sorted"), integer keys ("int"). The rows
// are the same; what differs is the second b-tree every insert updates.
func BenchmarkInsertReceiptsIndex(b *testing.B) {
	for _, v := range []string{"none", "text", "text-sorted", "int"} {
		b.Run(v, func(b *testing.B) {
			schema := []string{`CREATE TABLE events (number INTEGER PRIMARY KEY, created INTEGER, kind INTEGER, performed_on TEXT,
				account INTEGER, request_id TEXT, data BLOB, load_run INTEGER, load_key ANY, load_digest BLOB)`}
			if v != "none" {
				schema = append(schema, "CREATE INDEX events_load ON events (load_run, load_key) WHERE load_run IS NOT NULL")
			}
			data, digest := make([]byte, 30), make([]byte, 16)
			benchInserts(b, schema, `INSERT INTO events (number, created, kind, performed_on, account, request_id, data, load_run, load_key, load_digest)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, 1, func(ins *sqlite.Stmt, _, n int) {
				ins.BindInt64(1, int64(n))
				ins.BindInt64(2, 1796394889869)
				ins.BindInt64(3, 0)
				ins.BindText(4, "2024-01-01T00:00:00")
				ins.BindInt64(5, int64(n%20000))
				ins.BindText(6, "R"+strconv.Itoa(n))
				ins.BindBytes(7, data)
				ins.BindInt64(8, 1)
				switch v {
				case "int":
					ins.BindInt64(9, int64(n))
				case "text-sorted":
					ins.BindText(9, "0:"+strconv.Itoa(100_000_000+n))
				default:
					ins.BindText(9, "0:"+strconv.Itoa(n))
				}
				ins.BindBytes(10, digest)
			})
		})
	}
}

// BenchmarkInsertRowsAStatement: the events table's insert (insertEvent)
// as commit makes it, rows a statement: one, or 64 (insertRows) with and
// without OR FAIL. A statement of several rows that may abort keeps a
// statement journal (its own undo, in memory mapped and unmapped each
// statement), which made 16 rows a statement slower than one; OR FAIL
// keeps none.
func BenchmarkInsertRowsAStatement(b *testing.B) {
	for _, v := range []struct {
		name string
		rows int
		sql  string
	}{
		{"one", 1, insertEvent},
		{"64-abort", insertRows, strings.Replace(insertEvents(insertRows), "INSERT OR FAIL", "INSERT", 1)},
		{"64-fail", insertRows, insertEvents(insertRows)},
	} {
		b.Run(v.name, func(b *testing.B) {
			schema := []string{`CREATE TABLE events (number INTEGER PRIMARY KEY, created INTEGER NOT NULL, kind INTEGER NOT NULL, performed_on TEXT NOT NULL,
					account INTEGER, participant INTEGER, classification INTEGER, request_id TEXT NOT NULL, data BLOB,
					receipt_run INTEGER, receipt_key TEXT, receipt_digest BLOB, legacy_id TEXT)`,
				"CREATE UNIQUE INDEX events_legacy_id ON events (legacy_id) WHERE legacy_id IS NOT NULL"}
			data, digest := make([]byte, 30), make([]byte, 16)
			benchInserts(b, schema, v.sql, v.rows, func(ins *sqlite.Stmt, at, n int) {
				ins.BindInt64(at+1, 1796394889869)
				ins.BindInt64(at+2, 0)
				ins.BindText(at+3, "2024-01-01T00:00:00")
				ins.BindInt64(at+4, int64(n%20000))
				ins.BindNull(at + 5)
				ins.BindNull(at + 6)
				ins.BindText(at+7, "R"+strconv.Itoa(n))
				ins.BindBytes(at+8, data)
				ins.BindInt64(at+9, 1)
				ins.BindText(at+10, "0:"+strconv.Itoa(n))
				ins.BindBytes(at+11, digest)
			})
		})
	}
}
