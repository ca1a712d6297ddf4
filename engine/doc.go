// Package engine is a local implementation of CRM.COM's customer events,
// the last stage of an embedded load and the core of `engine serve`.
//
// Engine.CreateEvents is the bulk create method of every kind: it checks
// the call and each event against the schema of the API version
// (package crm), resolves every identifier against the reference data
// (resolve.go: one query per entity and column for the whole call, through
// a cache that a seed invalidates), applies the rules the API pages state
// (rules.go), and hands the events that passed to the Store, which numbers
// and stores them with their load receipts in one transaction. Each event
// ends processed or unprocessed with the pages' error code.
//
// The Store interface (store.go) is the seam to persistence; its types
// (PendingEvent, CommitOptions, Entity, SeedRecord, Receipt, Filter,
// EventObject) are exported so that another store can implement it. The
// SQLite store (sqlite.go, schema.go, storefile.go) is the default.
// Reference data is seeded from YAML or CSV (seed.go, seedcsv.go); stored
// events are listed, shown and cancelled (query.go) and rendered in the
// pages' shape on the way out (render.go). The ledger of loaded inputs
// (ledger.go) lives in the same store.
//
// The HTTP API over an Engine is package engine/api.
package engine
