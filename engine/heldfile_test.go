package engine

import (
	"path/filepath"
	"testing"
)

// TestStoreFile: the file a store name gives SQLite names, as SQLite reads
// it (a path, or a file: URI's path), or none in memory.
func TestStoreFile(t *testing.T) {
	for name, want := range map[string]string{
		"crm.db":                            "crm.db",
		"/var/lib/crm.db":                   "/var/lib/crm.db",
		"./file:odd.db":                     "./file:odd.db",
		"file:crm.db":                       "crm.db",
		"file:crm.db?cache=private":         "crm.db",
		"file:/var/lib/crm.db":              "/var/lib/crm.db",
		"file:///var/lib/crm.db?mode=rw":    "/var/lib/crm.db",
		"file://localhost/var/lib/crm.db":   "/var/lib/crm.db",
		"file:my%20store.db":                "my store.db",
		"file:///data/my%20store.db":        "/data/my store.db",
		"":                                  "",
		":memory:":                          "",
		"file::memory:":                     "",
		"file::memory:?cache=shared":        "",
		"file:mem?mode=memory&cache=shared": "",
		"file:/x.db?vfs=memdb":              "",
		"file:":                             "",
	} {
		if got := storeFile(name); filepath.ToSlash(got) != want {
			t.Errorf("storeFile(%q) = %q, want %q", name, got, want)
		}
	}
}
