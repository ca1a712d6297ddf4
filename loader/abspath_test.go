package loader

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmload/crmload/crm"
)

// TestAbsPath: a run records its store as the file itself (symlinks
// followed: a resume must not follow a symlink pointed at another store
// since), a file: URI as a URI of that file with its parameters, that
// names the same file as SQLite reads it.
func TestAbsPath(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	real := filepath.Join(dir, "a b#1%.db")
	if err := os.WriteFile(real, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(dir, "cur.db")); err != nil {
		t.Skip("no symlinks here:", err)
	}
	for db, want := range map[string]string{
		"cur.db":                        real,
		"a b#1%.db":                     real,
		"file:cur.db":                   real,
		"file:cur.db?cache=private":     "?cache=private",
		"file:a%20b%231%25.db?mode=rwc": "?mode=rwc",
		"postgres://u:pw@h/db":          "postgres://u@h/db",
	} {
		got := absPath(db)
		switch {
		case strings.HasPrefix(want, "?"):
			if !strings.HasPrefix(got, "file:///") || !strings.HasSuffix(got, want) || crm.StoreFile(got) != real {
				t.Errorf("absPath(%q) = %q, want a file:/// URI of %s ending %s", db, got, real, want)
			}
		case got != want:
			t.Errorf("absPath(%q) = %q, want %q", db, got, want)
		}
	}
}
