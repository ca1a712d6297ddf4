package api

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/crmload/crmload/engine"
)

// newTestEngine opens an engine on a fresh SQLite file, seeded with files.
func newTestEngine(t testing.TB, seeds ...string) *engine.Engine {
	t.Helper()
	ctx := context.Background()
	e, err := engine.Open(ctx, filepath.Join(t.TempDir(), "engine.db"))
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
