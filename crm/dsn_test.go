package crm

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db?sslmode=disable":     "postgres://u@h:5432/db?sslmode=disable",
		"postgresql://u@h/db":                           "postgresql://u@h/db",
		"postgres://h/db?password=pw&sslmode=require":   "postgres://h/db?sslmode=require",
		"POSTGRES://u:pw@h/db":                          "postgres://u@h/db",
		"/var/lib/crmload.db":                           "/var/lib/crmload.db",
		"postgres://u@h/db?sslpassword=KEYPW":           "postgres://u@h/db",
		"postgres://u@h/db?Password=PW&sslmode=require": "postgres://u@h/db?sslmode=require",
		// A mistyped or another scheme: the password goes all the same.
		"postgrs://u:pw@h/db":   "postgrs://u:xxxxx@h/db",
		"mysql://u:p@w@h:3306/": "mysql://u:xxxxx@h:3306/",
		"file:crm.db":           "file:crm.db",
		"./odd://name.db":       "./odd://name.db",
		// URLs that are not read as URLs, with a password all the same.
		"postgres:/u:S3cret@db/crm": "postgres:/xxxxx@db/crm",
		"1pg://u:S3cret@db/crm":     "1pg://xxxxx@db/crm",
		"/backups/u@2024/crm.db":    "/backups/u@2024/crm.db",
		`C:\Users\me@corp\crm.db`:   `C:\Users\me@corp\crm.db`,
		"/data/a:b@c/crm.db":        "/data/xxxxx@c/crm.db", // shown so; recorded by its real path
		"u:S3cret@db/crm":           "xxxxx@db/crm",
		"postgres//u:S3cret@h/db":   "postgres//xxxxx@h/db",
		"postgres:/ /u:S3cret@h/db": "postgres:/ /xxxxx@h/db",
	} {
		if got := RedactDSN(in); got != want {
			t.Errorf("RedactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactURLMalformed(t *testing.T) {
	for in, want := range map[string]string{
		"https://alice:S3cret@crm.example.com/crmapi/rest/v2": "https://crm.example.com/crmapi/rest/v2",
		"htps://alice:S3cret@crm.example.com/x":               "htps://crm.example.com/x",
		"https:/alice:S3cret@host/x":                          "https:/xxxxx@host/x",
		"https:alice:S3cret@host":                             "xxxxx@host",
		"alice:S3cret@host/crmapi":                            "xxxxx@host/crmapi",
		"https://crm.example.com/a@b":                         "https://crm.example.com/a@b",
		"https:///u:S3cret@h/x":                               "https://xxxxx@h/x",
		"http://127.0.0.1:8080/x":                             "http://127.0.0.1:8080/x",
	} {
		got := RedactURL(in)
		if got != want || strings.Contains(got, "S3cret") {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOtherScheme(t *testing.T) {
	for in, want := range map[string]string{
		"postgrs://u:pw@h/db":     "postgrs",
		"HTTP://h/x":              "HTTP",
		"pg_sql://u@h/db":         "pg_sql",
		"svn+ssh://h/x":           "svn+ssh",
		"postgres://u@h/db":       "",
		"PostgreSQL://u@h/db":     "",
		"file:///var/lib/crm.db":  "",
		"crm.db":                  "",
		"./odd://name.db":         "",
		"/data/2024://x.db":       "",
		"host=h user=u dbname=db": "",
		"://x":                    "",
	} {
		if got := OtherScheme(in); got != want {
			t.Errorf("OtherScheme(%q) = %q, want %q", in, got, want)
		}
	}
}

// The DSNs QA found leaking: a keyword/value DSN taken for a file name,
// and URLs whose passwords are not percent-encoded.
var leakyDSNs = map[string][]string{ // DSN -> its password and fragments of it
	"host=127.0.0.1 port=55432 user=qa password=S3cret dbname=qadb":      {"S3cret"},
	"host=127.0.0.1 port=55432 user=qa password='S3 cret' dbname=qadb":   {"S3 cret", "S3", "cret"},
	"postgres://qa2:Zp@ss:w/rd Q@127.0.0.1:55432/qadb?sslmode=disable":   {"Zp@ss:w/rd Q", "Zp", "ss:w", "rd Q"},
	"postgres://qa2:Zp@ss@127.0.0.1:55432/qadb":                          {"Zp@ss", "Zp", "ss@"},
	"postgresql://qa2:a?b#c@127.0.0.1/qadb":                              {"a?b#c", "b#c"},
	"postgres://qa2:ok%40pw@127.0.0.1/qadb?sslmode=disable&password=Pw2": {"ok%40pw", "ok@pw", "Pw2"},
	"postgres://127.0.0.1/qadb?password=Q%20Q&sslmode=disable":           {"Q%20Q", "Q Q"},
	"postgres://qa2:[weird@127.0.0.1/qadb":                               {"[weird", "weird"},
	"postgres://qa2@127.0.0.1/qadb?sslpassword=K3yPass&sslmode=require":  {"K3yPass"},
}

func TestDSNsNeverShowTheirPassword(t *testing.T) {
	for dsn, secrets := range leakyDSNs {
		if !IsDSN(dsn) {
			t.Errorf("%q is not taken for a DSN", dsn)
		}
		shown := RedactDSN(dsn)
		msg := ""
		if err := CheckDSN(dsn); err != nil {
			msg = err.Error()
		}
		for _, s := range secrets {
			if strings.Contains(shown, s) || strings.Contains(msg, s) {
				t.Errorf("%q: %q shown as %q / %q", dsn, s, shown, msg)
			}
		}
		all := strings.Join(DSNSecrets(dsn), "\n")
		if !strings.Contains(all, secrets[0]) {
			t.Errorf("DSNSecrets(%q) = %q: without %q", dsn, all, secrets[0])
		}
	}
	for _, dsn := range []string{"postgres://qa2:Zp@ss:w/rd Q@127.0.0.1:55432/qadb?sslmode=disable", "postgres://qa2:Zp@ss@127.0.0.1:55432/qadb"} {
		err := CheckDSN(dsn)
		if err == nil || !strings.Contains(err.Error(), "percent-encoded") || !strings.Contains(err.Error(), "127.0.0.1:55432/qadb") {
			t.Errorf("CheckDSN(%q) = %v, want refused, naming the database", dsn, err)
		}
	}
	if got := RedactDSN("host=127.0.0.1 port=55432 user=qa password=S3cret dbname=qadb"); got != "host=127.0.0.1 port=55432 user=qa dbname=qadb" {
		t.Errorf("keyword/value DSN redacted: %q", got)
	}
	for _, ok := range []string{"postgres://u:p%40w@h:5432/db?sslmode=disable", "host=h dbname=d", "postgres://h/db"} {
		if err := CheckDSN(ok); err != nil {
			t.Errorf("CheckDSN(%q): %v", ok, err)
		}
	}
	for _, file := range []string{"crmload.db", "/var/lib/a=b.db", "./store.db", "data/x y.db", "a=b.db"} {
		if IsDSN(file) {
			t.Errorf("%q taken for a DSN", file)
		}
	}
}

func TestValidClaimKind(t *testing.T) {
	for in, want := range map[string]bool{"purchases": true, "web shard 1/2": true, "web shard 2/2": true, "web shard 3/2": false, "web shard 0/2": false,
		"web shard 1/1": false, "web shard 01/2": false, "web shard 1/2x": false, "nonsense": false, "purchases shard 9/2": false, "": false} {
		if got := ValidClaimKind(in); got != want {
			t.Errorf("ValidClaimKind(%q) = %v, want %v", in, got, want)
		}
	}
}

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
		"file://otherhost/tmp/crm.db":       "",
		"file:100%.db":                      "100%.db",
		"file:a%zz.db":                      "a%zz.db",
		"file:x.db?mode=rwc&mode=memory":    "",
		"file:x.db?vfs=memdb&vfs=unix":      "x.db",
		"file:x.db#part":                    "x.db",
		"file:%41.db":                       "A.db",
	} {
		if got := StoreFile(name); filepath.ToSlash(got) != want {
			t.Errorf("StoreFile(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestStoreMode: a file: URI's mode as SQLite reads it (the last given).
func TestStoreMode(t *testing.T) {
	for name, want := range map[string]string{
		"crm.db":                           "",
		"file:crm.db":                      "",
		"file:crm.db?mode=ro":              "ro",
		"file:crm.db?cache=shared&mode=rw": "rw",
		"file:crm.db?mode=ro&mode=rwc":     "rwc",
		"file:100%.db?mode=ro":             "ro",
		"file:crm.db?mode=%72o":            "ro",
		"file:crm.db?mode=rw%00x":          "rw",
		"file:crm%00x.db?mode=ro":          "ro",
	} {
		if got := StoreMode(name); got != want {
			t.Errorf("StoreMode(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestStoreNameAtMost: the name a read-only (or a read-write, never
// creating) connection opens a store by, whose mode SQLite must not find
// less restrictive than the open's flags.
func TestStoreNameAtMost(t *testing.T) {
	for _, c := range []struct{ name, mode, want string }{
		{"crm.db", "ro", "crm.db"},
		{"dir/mode=rw.db", "ro", "dir/mode=rw.db"},
		{"file:crm.db", "ro", "file:crm.db"},
		{"file:crm.db?mode=ro", "ro", "file:crm.db?mode=ro"},
		{"file:crm.db?mode=rw", "ro", "file:crm.db?mode=ro"},
		{"file:crm.db?mode=rwc", "ro", "file:crm.db?mode=ro"},
		{"file:crm.db?mode=%72w", "ro", "file:crm.db?mode=ro"},
		{"file:crm.db?cache=shared&mode=rw", "ro", "file:crm.db?cache=shared&mode=ro"},
		{"file:crm.db?mode=rw&mode=rwc", "ro", "file:crm.db?mode=ro&mode=ro"},
		{"file:crm.db?mode=rw#frag?mode=rw", "ro", "file:crm.db?mode=ro#frag?mode=rw"},
		{"file:///tmp/crm.db?mode=rw&vfs=unix", "ro", "file:///tmp/crm.db?mode=ro&vfs=unix"},
		{"file:x.db?mode=memory", "ro", "file:x.db?mode=memory"},
		{"file:crm.db?mode=rwc", "rw", "file:crm.db?mode=rw"},
		{"file:crm.db?mode=rw", "rw", "file:crm.db?mode=rw"},
		{"file:crm.db?mode=ro", "rw", "file:crm.db?mode=ro"},
		{"file:crm.db?mode=rw%00x", "ro", "file:crm.db?mode=ro"}, // SQLite reads rw
		{"file:crm.db?mode%00x=rwc", "rw", "file:crm.db?mode=rw"},
	} {
		got := StoreNameAtMost(c.name, c.mode)
		if got != c.want {
			t.Errorf("StoreNameAtMost(%q, %q) = %q, want %q", c.name, c.mode, got, c.want)
		}
		if StoreFile(got) != StoreFile(c.name) {
			t.Errorf("StoreNameAtMost(%q, %q) names another file: %q", c.name, c.mode, StoreFile(got))
		}
	}
}

// TestStoreModes: every mode a file: URI gives, in order.
func TestStoreModes(t *testing.T) {
	for name, want := range map[string][]string{
		"crm.db":                           nil,
		"file:crm.db":                      nil,
		"file:crm.db?mode=ro&mode=rw":      {"ro", "rw"},
		"file:crm.db?cache=shared&mode=rw": {"rw"},
		"file:crm.db?mode=%72o#mode=rw":    {"ro"},
	} {
		if got := StoreModes(name); !slices.Equal(got, want) {
			t.Errorf("StoreModes(%q) = %q, want %q", name, got, want)
		}
	}
}
