package engine

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/crmload/crmload/crm"
)

// newTestEngine opens an engine on a fresh SQLite file, seeded with files.
func newTestEngine(t testing.TB, seeds ...string) *Engine {
	t.Helper()
	return newStoreEngine(t, "sqlite", seeds...)
}

var idPattern = regexp.MustCompile(`^[0-9A-F]{32}$`)

// TestPageExamples replays every request example of the bulk create page
// against an engine seeded with the reference data the examples imply, and
// checks the response: the same processed and unprocessed split in the same
// order, the same error codes and descriptions. Ids and numbers are the
// engine's own; they are checked for form (32 upper-case hex, sequential).
func TestPageExamples(t *testing.T) { forStores(t, testPageExamples) }

func testPageExamples(t *testing.T, store string) {
	for _, k := range crm.Kinds {
		t.Run(string(k), func(t *testing.T) {
			e := newStoreEngine(t, store, "testdata/pages/seed.yaml")
			body, err := os.ReadFile(filepath.Join("testdata/pages", string(k)+".request.json"))
			if err != nil {
				t.Fatal(err)
			}
			req, err := crm.DecodeBulkRequest(k, body)
			if err != nil {
				t.Fatalf("DecodeBulkRequest: %v", err)
			}
			got, err := e.CreateEvents(context.Background(), *req)
			if err != nil {
				t.Fatalf("CreateEvents: %v", err)
			}
			var want crm.Response[crm.BulkResult]
			wantBody, err := os.ReadFile(filepath.Join("testdata/pages", string(k)+".response.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(wantBody, &want); err != nil {
				t.Fatal(err)
			}
			if g, w := mustJSON(t, got.Unprocessed), mustJSON(t, want.Data.Unprocessed); g != w {
				t.Errorf("unprocessed = %s\nwant %s", g, w)
			}
			if len(got.Processed) != len(want.Data.Processed) {
				t.Fatalf("processed = %+v, want %d events", got.Processed, len(want.Data.Processed))
			}
			for i, p := range got.Processed {
				if p.RequestUniqueIdentifier != want.Data.Processed[i].RequestUniqueIdentifier {
					t.Errorf("processed[%d] = %s, want %s", i, p.RequestUniqueIdentifier, want.Data.Processed[i].RequestUniqueIdentifier)
				}
				if !idPattern.MatchString(p.ID) {
					t.Errorf("processed[%d].id = %q, want 32 upper-case hex digits", i, p.ID)
				}
				if p.Number != strconv.Itoa(i+1) {
					t.Errorf("processed[%d].number = %q, want %d", i, p.Number, i+1)
				}
			}
		})
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
