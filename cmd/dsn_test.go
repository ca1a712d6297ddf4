package cmd

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmload/crmload/engine"
	"github.com/crmload/crmload/internal/pgtest"
)

// TestDSNPasswordNeverShown: DSNs QA found leaking, given to the commands
// that open a store: a keyword/value DSN is a database, never a file name
// (no file named with its password, no "no such store: ...password=");
// a URL whose password is not percent-encoded is refused before any
// parser or connection sees it. Each exits 2 (nothing was done), and
// neither the password nor a fragment of it is in the output or a file.
func TestDSNPasswordNeverShown(t *testing.T) {
	reference, _ := filepath.Abs("../testdata/seed/reference.yaml")
	mapping, _ := filepath.Abs("../testdata/web/mapping.yaml")
	data, _ := filepath.Abs("../testdata/web/web.csv")
	dir := t.TempDir()
	t.Chdir(dir)
	for dsn, secrets := range map[string][]string{
		// port 1: nothing listens there, the connection is refused at once
		"host=127.0.0.1 port=1 user=qa password=S3cret dbname=qadb":        {"S3cret"},
		"postgres://qa2:Zp@ss:w/rd Q@127.0.0.1:55432/qadb?sslmode=disable": {"Zp", "ss:w", "rd Q", "w/rd"},
		"postgres://qa2:Zp@ss@127.0.0.1:55432/qadb":                        {"Zp", "ss@"},
	} {
		for _, args := range [][]string{
			{"events", "list"},
			{"engine", "seed", reference},
			{"load", "-q", "-m", mapping, data},
		} {
			io, out, errOut := Test()
			code := Run(context.Background(), io, append([]string{"--db", dsn}, args...))
			text := out.String() + errOut.String()
			if code != ExitUsage {
				t.Errorf("%q %s: exit %d, want %d: %s", dsn, args[:2], code, ExitUsage, text)
			}
			for _, s := range secrets {
				if strings.Contains(text, s) {
					t.Errorf("%q %s: %q shown: %s", dsn, args[:2], s, text)
				}
			}
			if strings.Contains(text, "no such store") || strings.Contains(text, "seeded into") {
				t.Errorf("%q %s: taken for a file: %s", dsn, args[:2], text)
			}
			if strings.HasPrefix(dsn, "postgres") && !strings.Contains(text, "percent-encoded") {
				t.Errorf("%q %s: no hint at percent-encoding: %s", dsn, args[:2], text)
			}
		}
	}
	left, _ := os.ReadDir(dir)
	for _, e := range left {
		if e.Name() != "reports" {
			t.Errorf("left in the directory: %q", e.Name())
		}
	}
}

// TestFailedSeedLeavesNoNewStore: a seed that fails into a store that did
// not exist removes what it created (no empty store for a later load to
// take for a seeded one); into an existing store, the store is kept.
func TestFailedSeedLeavesNoNewStore(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("parts.yaml", []byte("parts:\n  - code: P1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	io, out, errOut := Test()
	if code := Run(context.Background(), io, []string{"engine", "seed", "parts.yaml"}); code != ExitUsage || !strings.Contains(errOut.String(), "nothing was stored: crmload.db did not exist before this seed and was removed") {
		t.Errorf("seed: exit %d, want %d: %s %s", code, ExitUsage, out, errOut)
	}
	for _, f := range []string{"crmload.db", "crmload.db-wal", "crmload.db-shm"} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s left by a failed seed", f)
		}
	}
	io, _, errOut = Test()
	if code := Run(context.Background(), io, []string{"load", "-m", "m.yaml", "x.csv"}); code != ExitUsage || !strings.Contains(errOut.String(), "seed it first") && !strings.Contains(errOut.String(), "m.yaml") {
		t.Errorf("load after a failed seed: exit %d %s", code, errOut)
	}
	store := newStore(t)
	io, _, errOut = Test()
	if code := Run(context.Background(), io, []string{"--db", store, "engine", "seed", "parts.yaml"}); code != ExitUsage || strings.Contains(errOut.String(), "removed") {
		t.Errorf("seed into an existing store: exit %d %s", code, errOut)
	}
	if _, err := os.Stat(store); err != nil {
		t.Errorf("an existing store removed by a failed seed: %v", err)
	}
}

// TestPostgresPasswordAndSpelling: a retry of a PostgreSQL run given no
// password says which database and where a password comes from; a --db
// naming the run's database spelled differently (localhost, no sslmode)
// is the run's database, another database is refused saying what
// differs; seed exits 2 when nothing could be stored (wrong password);
// a keyword/value DSN works as the URL does, its password shown nowhere.
func TestPostgresPasswordAndSpelling(t *testing.T) {
	dsn := pgtest.DSN(t)
	bin, data, mapping, reference := killSetup(t, 200)
	dir := t.TempDir()
	home := t.TempDir()
	run := func(args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		var env []string
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "CRMLOAD_DB=") && !strings.HasPrefix(e, "PGPASS") && !strings.HasPrefix(e, "HOME=") {
				env = append(env, e)
			}
		}
		cmd.Env = append(env, "HOME="+home, "PGPASSFILE="+filepath.Join(home, "none"))
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		cmd.Run()
		return buf.String(), cmd.ProcessState.ExitCode()
	}
	var outputs []string
	check := func(out string) string { outputs = append(outputs, out); return out }
	if out, code := run("--db", dsn, "engine", "seed", reference); code != 0 {
		t.Fatalf("seed: exit %d %s", code, check(out))
	}
	if out, code := run("--db", dsn, "load", "-q", "--report-dir", "reports", "-m", mapping, data); code != ExitFailed {
		t.Fatalf("load: exit %d %s, want 1 (unknown participants)", code, check(out))
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "reports", "[0-9]*"))
	if len(runs) != 1 {
		t.Fatalf("runs: %v", runs)
	}
	out, code := run("retry", "-q", runs[0])
	check(out)
	if code != ExitUsage || !strings.Contains(out, "PGPASSWORD") || !strings.Contains(out, engine.RedactDSN(dsn)) {
		t.Errorf("retry without the password: exit %d %s, want 2 naming the database and PGPASSWORD", code, out)
	}
	u, _ := url.Parse(dsn)
	other := *u
	other.Host = "localhost:" + u.Port()
	other.RawQuery = ""
	out, code = run("--db", other.String(), "retry", "-q", runs[0])
	check(out)
	if code != ExitFailed || strings.Contains(out, "give no --db") {
		t.Errorf("retry with --db spelled %s: exit %d %s, want 1 (the rows fail again)", other.Redacted(), code, out)
	}
	bad := *u
	bad.User = url.UserPassword(u.User.Username(), "not-"+pgtest.Password[:3])
	out, code = run("--db", bad.String(), "engine", "seed", reference)
	check(out)
	if code != ExitUsage || strings.Contains(out, "not-"+pgtest.Password[:3]) {
		t.Errorf("seed with a wrong password: exit %d %s, want 2", code, out)
	}
	kv := "host=" + u.Hostname() + " port=" + u.Port() + " user=" + u.User.Username() + " password='" + pgtest.Password + "' dbname=" + strings.TrimPrefix(u.Path, "/") + " sslmode=disable"
	out, code = run("--db", kv, "events", "list", "--limit", "1")
	check(out)
	if code != 0 || strings.Contains(out, "no such store") {
		t.Errorf("events list with a keyword/value DSN: exit %d %s", code, out)
	}
	out, code = run("--db", kv, "engine", "seed", reference)
	check(out)
	if code != 0 || !strings.Contains(out, "seeded into host=") {
		t.Errorf("seed with a keyword/value DSN: exit %d %s", code, out)
	}
	noPassword(t, dir, outputs...)
}

// TestResumeDBSpelling: a resume's --db naming the run's database spelled
// differently (localhost for 127.0.0.1, keyword/value for a URL, no
// sslmode) is the run's, and keeps its password; another database, user
// or port is refused saying what differs.
func TestResumeDBSpelling(t *testing.T) {
	run := "postgres://qa@127.0.0.1:55432/qadb?sslmode=disable" // as job.json records it
	for db, differs := range map[string]string{
		"postgres://qa:pw@localhost:55432/qadb":                     "",
		"postgresql://qa:pw@127.0.0.1:55432/qadb?sslmode=disable":   "",
		"host=localhost port=55432 user=qa password=pw dbname=qadb": "",
		"postgres://qa:pw@127.0.0.1:55432/otherdb?sslmode=disable":  "database otherdb, not qadb",
		"postgres://qb:pw@127.0.0.1:55432/qadb":                     "user qb, not qa",
		"postgres://qa:pw@127.0.0.1:5433/qadb":                      "port 5433, not 55432",
		"postgres://qa:pw@db.example.com:55432/qadb":                "host db.example.com, not 127.0.0.1",
		filepath.Join(t.TempDir(), "x.db"):                          "one is a database, the other a file",
	} {
		g := &globals{db: db, given: map[string]bool{"db": true}}
		err := followRun(g, &loadOptions{}, "", run, "--resume R", true)
		switch {
		case differs == "" && (err != nil || g.db != db):
			t.Errorf("--db %s: %v (db %s), want the run's database with --db's password", db, err, g.db)
		case differs != "" && (err == nil || !strings.Contains(err.Error(), differs) || strings.Contains(err.Error(), ":pw@") || strings.Contains(err.Error(), "password=pw")):
			t.Errorf("--db %s: %v, want refused saying %q, without the password", db, err, differs)
		}
	}
}

// TestResumeStoreFileSpelling: a resume's --db naming the run's store file
// another way (relative, a file: URI with parameters, through a symlink)
// is the run's, and the store opens as the run recorded it; another file,
// a hard link to it included (SQLite keeps its -wal apart), is refused. A
// file: URI of the run's own file used to be refused as "another file"
// (the strings were compared).
func TestResumeStoreFileSpelling(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	store := filepath.Join(dir, "crm.db") // as job.json records it
	if err := os.WriteFile(store, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(store, filepath.Join(dir, "link.db")); err != nil {
		t.Skip("no symlinks here:", err)
	}
	if err := os.Link(store, filepath.Join(dir, "hard.db")); err != nil {
		t.Skip("no hard links here:", err)
	}
	for db, differs := range map[string]string{
		"crm.db":                             "",
		"./crm.db":                           "",
		"link.db":                            "",
		"file:crm.db?mode=rw":                "",
		"file:crm.db?cache=private&mode=rwc": "",
		"file:" + filepath.ToSlash(store):    "",
		"other.db":                           "another file",
		"hard.db":                            "another file",
		"file:other.db?mode=rw":              "another file",
		"file:crm.db?mode=memory":            "another file",
		"postgres://qa@127.0.0.1:5432/qadb":  "one is a database, the other a file",
	} {
		g := &globals{db: db, given: map[string]bool{"db": true}}
		err := followRun(g, &loadOptions{}, "", store, "--resume R", true)
		switch {
		case differs == "" && (err != nil || g.db != store):
			t.Errorf("--db %s: %v (db %s), want the run's store, as recorded", db, err, g.db)
		case differs != "" && (err == nil || !strings.Contains(err.Error(), differs)):
			t.Errorf("--db %s: %v, want refused saying %q", db, err, differs)
		}
	}
}

// TestResumeKeepsRecordedURI: a --db that names the run's store file
// (the default, the environment, the config file, or given on the
// command line another way) gives way to the run's store as the run
// recorded it, a file: URI with its parameters: a vfs= sets the locking.
func TestResumeKeepsRecordedURI(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile(filepath.Join(dir, "crm.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	run := "file:///" + strings.TrimPrefix(filepath.ToSlash(filepath.Join(dir, "crm.db")), "/") + "?cache=private" // as job.json records it
	for _, c := range []struct {
		db    string
		given bool
		want  string
	}{
		{"crm.db", false, run},
		{"file:crm.db", false, run},
		{"crm.db", true, run},
		{"file:crm.db?cache=shared", true, run},
	} {
		g := &globals{db: c.db, given: map[string]bool{"db": c.given}}
		if err := followRun(g, &loadOptions{}, "", run, "--resume R", true); err != nil || g.db != c.want {
			t.Errorf("--db %s (given %v): %v, db %s, want %s", c.db, c.given, err, g.db, c.want)
		}
	}
}
