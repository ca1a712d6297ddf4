package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
	"github.com/crmload/crmload/internal/pgtest"
)

// replica is an engine serve process on a PostgreSQL database.
type replica struct {
	cmd    *exec.Cmd
	url    string
	stderr *lockedBuffer
}

// lockedBuffer is a bytes.Buffer a process writes to while the test reads
// it (exec copies a non-file Stderr in a goroutine of its own).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startReplica starts engine serve on the database; the DSN comes from
// CRMLOAD_DB when env, else from --db.
func startReplica(t *testing.T, bin, dsn, dir string, env bool) *replica {
	t.Helper()
	urlFile := filepath.Join(dir, fmt.Sprintf("url-%d", time.Now().UnixNano()))
	args := []string{"engine", "serve", "--addr", "127.0.0.1:0", "--url-file", urlFile, "--user", "u:p", "--organisation", "O"}
	if !env {
		args = append([]string{"--db", dsn}, args...)
	}
	r := &replica{cmd: exec.Command(bin, args...), stderr: &lockedBuffer{}}
	if env {
		r.cmd.Env = append(os.Environ(), "CRMLOAD_DB="+dsn)
	}
	r.cmd.Stderr = r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.cmd.Process.Signal(syscall.SIGTERM); r.cmd.Wait() })
	for range 500 {
		if b, _ := os.ReadFile(urlFile); len(b) > 0 {
			r.url = string(bytes.TrimSpace(b))
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("engine serve did not start: %s", r.stderr)
	return nil
}

// noPassword fails t if the test server's password is in any of texts or
// in the files under dir.
func noPassword(t *testing.T, dir string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, pgtest.Password) {
			t.Errorf("the database password is in the output: %s", s)
		}
	}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || fi.Size() > 64<<20 {
			return nil
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(pgtest.Password)) {
			t.Errorf("the database password is in %s", p)
		}
		return nil
	})
}

// TestPostgresReplicasShardedKillResume: two engine serve processes on one
// PostgreSQL database, and two load --shard k/2 processes, each against a
// different replica, both killed (SIGKILL) part-way and resumed once:
// every row is stored exactly once, every row is in exactly one report
// line of one shard, and the combined summary is balanced.
func TestPostgresReplicasShardedKillResume(t *testing.T) {
	dsn := pgtest.DSN(t)
	if testing.Short() {
		t.Skip("builds crmload and loads 60k rows over HTTP into PostgreSQL")
	}
	const rows = 60_000
	bin, data, mapping, reference := killSetup(t, rows)
	dir := t.TempDir()
	out, err := exec.Command(bin, "--db", dsn, "engine", "seed", reference).CombinedOutput()
	if err != nil {
		t.Fatalf("seed: %v %s", err, out)
	}
	noPassword(t, dir, string(out))
	replicas := []*replica{startReplica(t, bin, dsn, dir, false), startReplica(t, bin, dsn, dir, true)}
	rng := rand.New(rand.NewPCG(12, 2))

	var wg sync.WaitGroup
	outputs := make([]string, 4)
	// A load is killed once its run's journal has killAt lines (0: it runs
	// to its end, exit 1 for the unknown participants).
	load := func(i, killAt int, args ...string) {
		defer wg.Done()
		args = append([]string{"load", "--engine", replicas[i].url, "--username", "u", "--organisation", "O", "--quiet"}, args...)
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CRMLOAD_PASSWORD=p")
		if killAt > 0 {
			atJournalLine(cmd, killAt)
		}
		p := startKillable(t, cmd)
		if killAt > 0 {
			p.killAtJournalLine()
		} else if code := p.exit(); code != ExitFailed {
			t.Errorf("%v: exit %d, want 1 (the unknown participants); stderr:\n%s", args, code, p.said())
		}
		outputs[i] += p.said()
	}
	for i := range 2 {
		wg.Add(1)
		go load(i, 1+rng.IntN(40), "--report-dir", fmt.Sprintf("reports%d", i+1), "--shard", fmt.Sprintf("%d/2", i+1), "--batch-size", "250", "-m", mapping, data)
	}
	wg.Wait()
	var runs []string
	for i := range 2 {
		dirs, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("reports%d", i+1), "[0-9]*"))
		if len(dirs) != 1 {
			t.Fatalf("shard %d: %d run directories after the kill, want 1", i+1, len(dirs))
		}
		runs = append(runs, dirs[0])
	}
	for i := range 2 {
		wg.Add(1)
		go load(i, 0, "--resume", runs[i])
	}
	wg.Wait()

	seen := map[int]string{} // line -> the shard report holding it
	okRows, doubtRows := 0, 0
	for i, run := range runs {
		sets := map[string]map[int]bool{"succeeded": reportLines(t, filepath.Join(run, "succeeded.csv")), "failed": reportLines(t, filepath.Join(run, "failed.csv"))}
		if _, err := os.Stat(filepath.Join(run, "in_doubt.csv")); err == nil {
			sets["in_doubt"] = reportLines(t, filepath.Join(run, "in_doubt.csv"))
		}
		for name, lines := range sets {
			for l := range lines {
				where := fmt.Sprintf("shard %d %s", i+1, name)
				if seen[l] != "" {
					t.Errorf("line %d is in %s and in %s", l, seen[l], where)
				}
				seen[l] = where
			}
		}
		okRows += len(sets["succeeded"])
		doubtRows += len(sets["in_doubt"])
	}
	if len(seen) != rows {
		t.Errorf("%d rows in the shards' reports, want %d", len(seen), rows)
	}
	stored := storedOnce(t, dsn)
	if stored < okRows || stored > okRows+doubtRows {
		t.Errorf("the database holds %d events; want between %d (succeeded) and %d (+ in doubt)", stored, okRows, okRows+doubtRows)
	}

	sum := exec.Command(bin, "summary", "--json", runs[0], runs[1])
	b, err := sum.Output()
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != ExitFailed) {
		t.Fatalf("summary: %v (want exit 1: the unknown participants)\n%s", err, b)
	}
	var c Combined
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("summary --json: %v\n%s", err, b)
	}
	if !c.Balanced || c.RowsRead != rows || c.RowsSucceeded+c.RowsResumed+c.RowsFailed+c.RowsInDoubt != rows || len(c.Problems) > 0 || c.ExitCode != ExitFailed {
		t.Errorf("combined summary = %s, want %d rows read, balanced, exit 1", b, rows)
	}
	var texts []string
	for _, r := range replicas {
		texts = append(texts, r.stderr.String())
	}
	noPassword(t, dir, append(texts, outputs...)...)
	t.Logf("%d rows in two shards: %d succeeded, %d in doubt, %d events stored once each; combined: %+v", rows, okRows, doubtRows, stored, c)
}

// TestPostgresReferralRace sends the two referrals of one participant to
// two engine serve replicas of one database at the same moment, many
// times: exactly one succeeds each time.
func TestPostgresReferralRace(t *testing.T) {
	dsn := pgtest.DSN(t)
	const n = 50
	bin := crmloadBinary(t)
	dir := t.TempDir()
	var seed strings.Builder
	seed.WriteString("currencies:\n  - {code: EUR}\nunits:\n  - {name: Admin Unit, currency: EUR}\naccounts_receivable:\n  - {number: ACR1}\nrewards_participants:\n")
	seed.WriteString("  - {number: BY-A, accounts_receivable: ACR1}\n  - {number: BY-B, accounts_receivable: ACR1}\n")
	for i := range n {
		fmt.Fprintf(&seed, "  - {number: P%03d, accounts_receivable: ACR1}\n", i)
	}
	f := filepath.Join(dir, "seed.yaml")
	if err := os.WriteFile(f, []byte(seed.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "--db", dsn, "engine", "seed", f).CombinedOutput(); err != nil {
		t.Fatalf("seed: %v %s", err, out)
	}
	ctx := context.Background()
	var clients []*crm.Client
	for i := range 2 {
		r := startReplica(t, bin, dsn, dir, i == 1)
		c, err := crm.NewClient(r.url, crm.Credentials{Username: "u", Password: "p", Organisation: "O"}, crm.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login(ctx); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	for i := range n {
		p := fmt.Sprintf("P%03d", i)
		var wg sync.WaitGroup
		var ok [2]bool
		start := make(chan struct{})
		for j, by := range []string{"BY-A", "BY-B"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ev := crm.Event{RequestUniqueIdentifier: "r", PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2016-06-22T15:00:00",
					ReferredRewardsParticipant: &crm.ParticipantIdentifier{Number: p}, ReferredByRewardsParticipant: &crm.ParticipantIdentifier{Number: by}}
				res, err := clients[j].CreateEvents(ctx, crm.BulkRequest{Kind: crm.Referrals, Events: []crm.Event{ev}})
				if err != nil {
					t.Error(err)
					return
				}
				ok[j] = len(res.Processed) == 1
				if !ok[j] && (len(res.Unprocessed) != 1 || res.Unprocessed[0].ErrorCode != crm.CodeReferredByAnother) {
					t.Errorf("%s by %s: %+v, want processed or %s", p, by, res, crm.CodeReferredByAnother)
				}
			}()
		}
		close(start)
		wg.Wait()
		if ok[0] == ok[1] {
			t.Fatalf("%s: the referral through replica 1 processed: %v, through replica 2: %v; want exactly one", p, ok[0], ok[1])
		}
	}
}

// TestPostgresEmbeddedLoad: load --db postgres://... (the embedded engine
// on PostgreSQL), killed and resumed with the DSN from CRMLOAD_DB: every
// row stored once, events list and cancel work on the database, and the
// password is nowhere in the run directory or the output.
func TestPostgresEmbeddedLoad(t *testing.T) {
	dsn := pgtest.DSN(t)
	if testing.Short() {
		t.Skip("builds crmload and loads 40k rows into PostgreSQL")
	}
	const rows = 40_000
	bin, data, mapping, reference := killSetup(t, rows)
	dir := t.TempDir()
	var outputs []string
	// run runs crmload; with killAt > 0 it is killed once its run's
	// journal has killAt lines.
	run := func(killAt int, env bool, args ...string) (string, int) {
		if !env {
			args = append([]string{"--db", dsn}, args...)
		}
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		if env {
			cmd.Env = append(os.Environ(), "CRMLOAD_DB="+dsn)
		}
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		if killAt > 0 {
			atJournalLine(cmd, killAt)
		}
		p := startKillable(t, cmd)
		code := -1
		if killAt > 0 {
			p.killAtJournalLine()
		} else {
			code = p.exit()
		}
		out := stdout.String() + p.said()
		outputs = append(outputs, out)
		return out, code
	}
	if out, code := run(0, false, "load", "-m", mapping, data); code != ExitUsage || !strings.Contains(out, "no crmload store") {
		t.Errorf("load into an empty database: exit %d %s, want exit 2 saying there is no store", code, out)
	}
	if out, code := run(0, false, "engine", "seed", reference); code != 0 {
		t.Fatalf("seed: exit %d %s", code, out)
	}
	run(1+rand.IntN(30), false, "load", "--quiet", "--batch-size", "500", "--report-dir", "reports", "-m", mapping, data)
	dirs, _ := filepath.Glob(filepath.Join(dir, "reports", "[0-9]*"))
	if len(dirs) != 1 {
		t.Fatalf("%d run directories after the kill, want 1", len(dirs))
	}
	jobJSON, _ := os.ReadFile(filepath.Join(dirs[0], "job.json"))
	if !strings.Contains(string(jobJSON), engine.RedactDSN(dsn)) {
		t.Errorf("job.json = %s, want the database %s", jobJSON, engine.RedactDSN(dsn))
	}
	if out, code := run(0, true, "load", "--quiet", "--resume", dirs[0]); code != ExitFailed {
		t.Fatalf("resume: exit %d %s, want 1 (the unknown participants)", code, out)
	}
	ok := reportLines(t, filepath.Join(dirs[0], "succeeded.csv"))
	failed := reportLines(t, filepath.Join(dirs[0], "failed.csv"))
	if len(ok) != rows*9/10 || len(failed) != rows/10 {
		t.Errorf("after resume: %d succeeded, %d failed; want %d and %d", len(ok), len(failed), rows*9/10, rows/10)
	}
	// A retry of the failed rows follows the run's database (the DSN from
	// CRMLOAD_DB gives the password): they fail again, the participant is
	// still unknown.
	if out, code := run(0, true, "retry", "--quiet", dirs[0]); code != ExitFailed || strings.Contains(out, "does not exist") {
		t.Errorf("retry: exit %d %s, want 1", code, out)
	}
	retries, _ := filepath.Glob(filepath.Join(dir, "reports", "[0-9]*"))
	if len(retries) != 2 {
		t.Errorf("run directories after the retry: %v", retries)
	}
	list, code := run(0, true, "events", "list", "--format", "jsonl", "--limit", "3")
	if code != 0 || strings.Count(list, "\n") != 3 {
		t.Errorf("events list: exit %d %s", code, list)
	}
	var first struct{ Number string }
	json.Unmarshal([]byte(list[:strings.Index(list, "\n")]), &first)
	if out, code := run(0, false, "events", "cancel", first.Number); code != 0 || !strings.Contains(out, "CANCELLED") {
		t.Errorf("events cancel %s: exit %d %s", first.Number, code, out)
	}
	if out, code := run(0, false, "events", "show", first.Number); code != 0 || !strings.Contains(out, "CANCELLED") {
		t.Errorf("events show %s: exit %d %s", first.Number, code, out)
	}
	if stored := storedOnce(t, dsn); stored != rows*9/10 {
		t.Errorf("the database holds %d events, want %d (each once)", stored, rows*9/10)
	}
	noPassword(t, dir, outputs...)
}
