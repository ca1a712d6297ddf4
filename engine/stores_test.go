package engine

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/crmload/crmload/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// stores are the stores the engine's tests run against: each test that
// is about the engine's behaviour (not one store's file) runs once per
// store. The PostgreSQL runs skip when there is no PostgreSQL (see
// internal/pgtest), and fail then under CRMLOAD_REQUIRE_POSTGRES=1.
var stores = []string{"sqlite", "postgres"}

// storeDB returns the --db of a fresh, empty store of the given kind.
func storeDB(t testing.TB, store string) string {
	t.Helper()
	if store == "postgres" {
		return pgtest.DSN(t)
	}
	return filepath.Join(t.TempDir(), "engine.db")
}

// newStoreEngine opens an engine on a fresh store of the given kind,
// seeded with files.
func newStoreEngine(t testing.TB, store string, seeds ...string) *Engine {
	t.Helper()
	ctx := context.Background()
	e, err := Open(ctx, storeDB(t, store))
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

// openers opens a store for writing and for reading, by name.
var openers = map[string]func(context.Context, string) (*Engine, error){"Open": Open, "OpenReadOnly": OpenReadOnly}

// forStores runs fn once per store, as a subtest named after it.
func forStores(t *testing.T, fn func(t *testing.T, store string)) {
	for _, s := range stores {
		t.Run(s, func(t *testing.T) { fn(t, s) })
	}
}
