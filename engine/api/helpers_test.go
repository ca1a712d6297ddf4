package api

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/crmload/crmload/engine"
	"github.com/crmload/crmload/internal/pgtest"
)

// newTestEngine opens an engine on a fresh SQLite file, seeded with files.
func newTestEngine(t testing.TB, seeds ...string) *engine.Engine {
	t.Helper()
	return newStoreEngine(t, "sqlite", seeds...)
}

// stores are the stores the tests that are about what the engine stores
// and renders run against (see engine/stores_test.go).
var stores = []string{"sqlite", "postgres"}

// forStores runs fn once per store, as a subtest named after it.
func forStores(t *testing.T, fn func(t *testing.T, store string)) {
	for _, s := range stores {
		t.Run(s, func(t *testing.T) { fn(t, s) })
	}
}

// newStoreEngine opens an engine on a fresh store of the given kind (a
// PostgreSQL database from internal/pgtest), seeded with files.
func newStoreEngine(t testing.TB, store string, seeds ...string) *engine.Engine {
	t.Helper()
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "engine.db")
	if store == "postgres" {
		db = pgtest.DSN(t)
	}
	e, err := engine.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if len(seeds) > 0 {
		if _, err := e.Seed(ctx, seeds...); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
