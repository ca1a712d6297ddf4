package cmd

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmload/crmload/engine"
	"github.com/crmload/crmload/internal/pgtest"
	"github.com/crmload/crmload/loader"
)

// TestReplicasShareTheLedger: two engine serve processes on one store
// (an SQLite file, a PostgreSQL database), loads through either with
// their own report directories (as from two machines). The ledger is the
// store's, so a file loaded through one replica is refused through the
// other (exit 2, naming the first run) unless --again; shards 1/2 and 2/2
// through different replicas both load; shard 1/2 again, or the whole
// file after its shards, is refused.
func TestReplicasShareTheLedger(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmload and runs two engine serve processes")
	}
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) { testReplicasShareTheLedger(t, store) })
	}
}

func testReplicasShareTheLedger(t *testing.T, store string) {
	bin, data, mapping, reference := killSetup(t, 200)
	dir := t.TempDir()
	db := filepath.Join(dir, "store.db")
	if store == "postgres" {
		db = pgtest.DSN(t)
	}
	if out, err := exec.Command(bin, "--db", db, "engine", "seed", reference).CombinedOutput(); err != nil {
		t.Fatalf("seed: %v %s", err, out)
	}
	replicas := []*replica{startReplica(t, bin, db, dir, false), startReplica(t, bin, db, dir, false)}
	load := func(engineURL, reportDir string, args ...string) (int, string) {
		t.Helper()
		args = append([]string{"load", "--engine", engineURL, "--username", "u", "--organisation", "O", "--quiet",
			"--report-dir", reportDir, "-m", mapping}, args...)
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CRMLOAD_PASSWORD=p")
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		cmd.Run()
		return cmd.ProcessState.ExitCode(), buf.String()
	}
	loaded := func(what string, code int, out string) {
		t.Helper()
		if code != ExitOK && code != ExitFailed { // every tenth participant is unknown
			t.Fatalf("%s: exit %d, want the rows loaded\n%s", what, code, out)
		}
	}
	refused := func(what string, code int, out string, runs ...string) {
		t.Helper()
		if code != ExitUsage || !strings.Contains(out, "--again") {
			t.Fatalf("%s: exit %d, want 2 refusing it as loaded\n%s", what, code, out)
		}
		for _, run := range runs {
			if !strings.Contains(out, run) {
				t.Errorf("%s: the refusal does not name run %s\n%s", what, run, out)
			}
		}
	}
	runOf := func(reportDir string) string {
		t.Helper()
		dirs, _ := filepath.Glob(filepath.Join(dir, reportDir, "[0-9]*"))
		if len(dirs) != 1 {
			t.Fatalf("%s: %d run directories, want 1", reportDir, len(dirs))
		}
		return filepath.Base(dirs[0])
	}
	events := func() int {
		t.Helper()
		e, err := engine.OpenReadOnly(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		n := 0
		if err := e.Events(context.Background(), engine.Filter{}, func([]byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}

	code, out := load(replicas[0].url, "a", data)
	loaded("the file through replica 1", code, out)
	first, stored := runOf("a"), events()
	if strings.Contains(out, "no ledger methods") {
		t.Errorf("engine serve was taken for one without the ledger methods:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "a", loader.LedgerFileName)); err == nil {
		t.Errorf("a load through engine serve wrote the file ledger")
	}
	code, out = load(replicas[1].url, "b", data)
	refused("the file again through replica 2, another report directory", code, out, first)
	if !strings.Contains(out, "the store of the engine serve at "+replicas[1].url) {
		t.Errorf("the refusal does not say whose ledger it is:\n%s", out)
	}
	if n := events(); n != stored {
		t.Fatalf("a refused load stored %d events", n-stored)
	}
	code, out = load(replicas[1].url, "b", "--again", data)
	loaded("the file again with --again", code, out)
	if n := events(); n != 2*stored {
		t.Errorf("--again stored %d events, want %d", n-stored, stored)
	}

	// Shards of another file through different replicas.
	split := filepath.Join(dir, "split.csv")
	writeVisitsFrom(t, split, 1000, 200)
	code, out = load(replicas[0].url, "s1", "--shard", "1/2", split)
	loaded("shard 1/2 through replica 1", code, out)
	code, out = load(replicas[1].url, "s2", "--shard", "2/2", split)
	loaded("shard 2/2 through replica 2", code, out)
	shard1, shard2 := runOf("s1"), runOf("s2")
	code, out = load(replicas[1].url, "s3", "--shard", "1/2", split)
	refused("shard 1/2 again through replica 2", code, out, shard1)
	if strings.Contains(out, shard2) {
		t.Errorf("shard 1/2 was refused for shard 2/2's run too:\n%s", out)
	}
	code, out = load(replicas[0].url, "s4", split)
	refused("the whole file after its shards", code, out, shard1, shard2)
}

// TestLedgerFallbackEarlierServe: an engine serve without the ledger
// methods (an earlier release: 404) keeps the report directory's file
// ledger, and says so.
func TestLedgerFallbackEarlierServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmload and runs engine serve")
	}
	bin, data, mapping, reference := killSetup(t, 50)
	dir := t.TempDir()
	db := filepath.Join(dir, "store.db")
	if out, err := exec.Command(bin, "--db", db, "engine", "seed", reference).CombinedOutput(); err != nil {
		t.Fatalf("seed: %v %s", err, out)
	}
	target, _ := url.Parse(startReplica(t, bin, db, dir, false).url)
	proxy := httputil.NewSingleHostReverseProxy(target)
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/crmload/") {
			w.Header().Set("X-Crmload-Receipts", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"data":null,"status":{"code":"InvalidAPIRequestException","description":"Error:Unknown Method. - Description:The method does not exist.","message":"Unknown Method"}}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer old.Close()
	for i, want := range []int{ExitFailed, ExitUsage} {
		cmd := exec.Command(bin, "load", "--engine", old.URL, "--username", "u", "--organisation", "O", "--report-dir", "r", "-m", mapping, data)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CRMLOAD_PASSWORD=p")
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != want || !strings.Contains(string(out), "no ledger methods") {
			t.Fatalf("load %d through an earlier engine serve: exit %d, want %d and the fallback said\n%s", i+1, code, want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "r", loader.LedgerFileName)); err != nil {
		t.Errorf("no file ledger: %v", err)
	}
}
