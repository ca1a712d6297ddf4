package cmd

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestKillAndResume kills a loading crmload process with SIGKILL at
// moments drawn at random (seeded) during a 20k-row load (calls of 250 rows) into the
// embedded engine: once its journal has a drawn number of lines, so the
// kill lands part-way whatever the machine's speed. It resumes it
// (sometimes killing the resume too, further on), and checks the end
// state: every event stored exactly once, every row in exactly one report
// line. TestKillAtCrashPoints kills at the run's first moments.
func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 20k rows several times")
	}
	t.Parallel()
	const rows = 20_000
	bin, data, mapping, reference := killSetup(t, rows)

	var midway atomic.Int64 // resumes that found a load cut part-way
	// After the subtests, which run in parallel:
	t.Cleanup(func() {
		if midway.Load() == 0 && !t.Failed() {
			t.Error("no kill landed part-way through a load: the test proved nothing")
		}
	})
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 42))
			dir := t.TempDir()
			db := filepath.Join(dir, "crm.db")
			journal := filepath.Join(dir, "reports", "[0-9]*", "journal.jsonl")
			lines := 0 // journal lines at the last kill
			// run runs crmload to its end (exit 1: the unknown
			// participants), or kills it once the journal has more lines
			// than at the last kill: a draw among the first 40 of the
			// 80 a whole load writes (a call of 250 rows each), where
			// it stops for the kill (atJournalLine).
			run := func(kill bool, args ...string) {
				cmd := exec.Command(bin, append([]string{"--db", db}, args...)...)
				cmd.Dir = dir
				if kill {
					// The journal has lines lines: this process's
					// are counted.
					atJournalLine(cmd, 1+rng.IntN(max(1, (40-lines)/2)))
				}
				p := startKillable(t, cmd)
				if !kill {
					if code := p.exit(); code != 1 {
						t.Fatalf("crmload %s: exit %d, want 1; stderr:\n%s", strings.Join(args, " "), code, p.said())
					}
					return
				}
				p.killAtJournalLine()
				lines = journalLines(t, journal)
			}
			if out, err := exec.Command(bin, "--db", db, "engine", "seed", reference).CombinedOutput(); err != nil {
				t.Fatalf("seed: %v %s", err, out)
			}
			run(true, "load", "--quiet", "--batch-size", "250", "--report-dir", "reports", "-m", mapping, data)
			kills := 1
			for {
				dirs, _ := filepath.Glob(filepath.Join(dir, "reports", "[0-9]*"))
				if len(dirs) != 1 {
					t.Fatalf("after a kill part-way: %d run directories, want 1", len(dirs))
				}
				// A kill lands a little after its line is written: past
				// the first half, a resume is left to finish.
				kill := kills < 3 && rng.IntN(2) == 0 && lines < 40
				run(kill, "load", "--quiet", "--resume", dirs[0])
				if !kill {
					break
				}
				kills++
			}
			dirs, _ := filepath.Glob(filepath.Join(dir, "reports", "[0-9]*"))
			if len(dirs) != 1 {
				t.Fatalf("%d run directories, want 1", len(dirs))
			}
			ok := reportLines(t, filepath.Join(dirs[0], "succeeded.csv"))
			failed := reportLines(t, filepath.Join(dirs[0], "failed.csv"))
			for l := range ok {
				if failed[l] {
					t.Errorf("line %d is in both reports", l)
				}
			}
			if len(ok) != rows*9/10 || len(failed) != rows/10 {
				t.Errorf("after %d kills: %d succeeded, %d failed; want %d and %d", kills, len(ok), len(failed), rows*9/10, rows/10)
			}
			if stored := storedOnce(t, db); stored != rows*9/10 {
				t.Errorf("after %d kills the engine holds %d events, want %d (each once)", kills, stored, rows*9/10)
			}
			sum, err := os.ReadFile(filepath.Join(dirs[0], "summary.json"))
			if err != nil {
				t.Fatal(err)
			}
			var s struct {
				Resumed    int `json:"rows_resumed"`
				OK         int `json:"events_succeeded"`
				OKEarlier  int `json:"events_succeeded_earlier"`
				Bad        int `json:"events_failed"`
				BadEarlier int `json:"events_failed_earlier"`
			}
			json.Unmarshal(sum, &s)
			// A visit is one event: the events of every attempt are the rows.
			if s.OK+s.OKEarlier != rows*9/10 || s.Bad+s.BadEarlier != rows/10 {
				t.Errorf("after %d kills the summary counts %d+%d events succeeded and %d+%d failed; want %d and %d", kills, s.OK, s.OKEarlier, s.Bad, s.BadEarlier, rows*9/10, rows/10)
			}
			if s.Resumed > 0 && s.Resumed < rows {
				midway.Add(1)
			}
			t.Logf("%d kills; the last attempt resumed after %d settled rows", kills, s.Resumed)
		})
	}
}

// killSetup builds the crmload binary and writes rows web visits; it
// returns the binary, the data, and the sample mapping and reference data.
func killSetup(t *testing.T, rows int) (bin, data, mapping, reference string) {
	t.Helper()
	tmp := t.TempDir()
	bin = crmloadBinary(t)
	data = filepath.Join(tmp, "web.csv")
	writeVisits(t, data, rows)
	mapping, _ = filepath.Abs("../testdata/web/mapping.yaml")
	reference, _ = filepath.Abs("../testdata/seed/reference.yaml")
	return bin, data, mapping, reference
}

var binary struct {
	once sync.Once
	path string
	err  error
}

// crmloadBinary builds crmload once for the package's tests that run it
// as a process (signals, kills, stderr as it comes).
func crmloadBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "crmload-test-bin")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "crmload")
		build := exec.Command("go", "build", "-o", binary.path, "github.com/crmload/crmload")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// writeVisits writes n web visits: every tenth participant is unknown.
func writeVisits(t *testing.T, path string, n int) {
	t.Helper()
	writeVisitsFrom(t, path, 0, n)
}

// reportLines reads a report's crmload_line column; a line twice fails.
func reportLines(t *testing.T, path string) map[int]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	col := -1
	for i, h := range header {
		if h == "crmload_line" {
			col = i
		}
	}
	out := map[int]bool{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var line int
		fmt.Sscan(rec[col], &line)
		if out[line] {
			t.Errorf("%s: line %d twice", filepath.Base(path), line)
		}
		out[line] = true
	}
}

// TestKillAndResumeRemote: the same against a remote engine (engine serve
// over loopback). After a SIGKILL, the calls that were in flight are sent
// again on resume as replays, which engine serve answers from its load
// receipts (a server without receipts would get none: those rows would be
// in doubt). Every row ends in exactly one of succeeded, failed and
// in_doubt, no event is stored twice, and the events the resume says it
// created (events_succeeded - events_found_stored: a replay's events the
// server found stored are not) are the events the store gained.
func TestKillAndResumeRemote(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 20k rows over HTTP several times")
	}
	t.Parallel()
	const rows = 20_000
	bin, data, mapping, reference := killSetup(t, rows)

	for _, seed := range []uint64{7, 8} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 99))
			dir := t.TempDir()
			db := filepath.Join(dir, "served.db")
			if out, err := exec.Command(bin, "--db", db, "engine", "seed", reference).CombinedOutput(); err != nil {
				t.Fatalf("seed: %v %s", err, out)
			}
			urlFile := filepath.Join(dir, "url")
			server := exec.Command(bin, "--db", db, "engine", "serve", "--addr", "127.0.0.1:0", "--url-file", urlFile, "--user", "u:p", "--organisation", "O")
			if err := server.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				server.Process.Signal(syscall.SIGTERM)
				if err := server.Wait(); err != nil {
					t.Errorf("engine serve stopped by SIGTERM: %v, want exit 0", err)
				}
			}()
			var url []byte
			for range 500 { // until engine serve listens
				if url, _ = os.ReadFile(urlFile); len(url) > 0 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if len(url) == 0 {
				t.Fatal("engine serve wrote no URL in 10 s")
			}
			remote := []string{"--engine", string(bytes.TrimSpace(url)), "--username", "u", "--organisation", "O", "--quiet"}
			// The load is killed once its journal (a Sending line before
			// each call of 250 rows, a line for each settled one: some 160
			// in all) has a drawn number of lines; the resume runs to its
			// end (exit 1: the unknown participants).
			load := exec.Command(bin, append(append([]string{"load"}, remote...), "--batch-size", "250", "--report-dir", "reports", "-m", mapping, data)...)
			load.Dir = dir
			load.Env = append(os.Environ(), "CRMLOAD_PASSWORD=p")
			atJournalLine(load, 1+rng.IntN(80))
			startKillable(t, load).killAtJournalLine()
			dirs, _ := filepath.Glob(filepath.Join(dir, "reports", "[0-9]*"))
			if len(dirs) != 1 {
				t.Fatalf("%d run directories after a kill part-way, want 1", len(dirs))
			}
			// engine serve finishes a call it read in full after its
			// client dies: the store's count is taken once it holds.
			before := storedOnce(t, db)
			for range 100 {
				time.Sleep(50 * time.Millisecond)
				n := storedOnce(t, db)
				if n == before {
					break
				}
				before = n
			}
			resume := exec.Command(bin, append(append([]string{"load"}, remote...), "--resume", dirs[0])...)
			resume.Dir = dir
			resume.Env = append(os.Environ(), "CRMLOAD_PASSWORD=p") // without the load's failpoint
			if p := startKillable(t, resume); p.exit() != 1 {
				t.Fatalf("resume: exit %d, want 1; stderr:\n%s", p.exit(), p.said())
			}

			ok := reportLines(t, filepath.Join(dirs[0], "succeeded.csv"))
			failed := reportLines(t, filepath.Join(dirs[0], "failed.csv"))
			doubt := map[int]bool{}
			if _, err := os.Stat(filepath.Join(dirs[0], "in_doubt.csv")); err == nil {
				doubt = reportLines(t, filepath.Join(dirs[0], "in_doubt.csv"))
			}
			for l := range doubt {
				if ok[l] || failed[l] {
					t.Errorf("line %d is in doubt and settled", l)
				}
			}
			if n := len(ok) + len(failed) + len(doubt); n != rows {
				t.Errorf("%d rows in the reports (%d ok, %d failed, %d in doubt), want %d", n, len(ok), len(failed), len(doubt), rows)
			}
			stored := storedOnce(t, db) // websites are unique per row
			if stored < len(ok) || stored > len(ok)+len(doubt) {
				t.Errorf("engine holds %d events; want between %d (succeeded) and %d (+ in doubt)", stored, len(ok), len(ok)+len(doubt))
			}
			var s struct {
				Succeeded int `json:"events_succeeded"`
				Found     int `json:"events_found_stored"`
			}
			if b, err := os.ReadFile(filepath.Join(dirs[0], "summary.json")); err != nil || json.Unmarshal(b, &s) != nil {
				t.Fatalf("the resume's summary: %v", err)
			}
			if created := s.Succeeded - s.Found; created != stored-before {
				t.Errorf("the resume says it created %d events (%d succeeded, %d found stored), the store gained %d (%d before it, %d after)",
					created, s.Succeeded, s.Found, stored-before, before, stored)
			}
			t.Logf("%d succeeded, %d failed, %d in doubt; %d events stored, none twice; the resume created %d, found %d stored", len(ok), len(failed), len(doubt), stored, stored-before, s.Found)
		})
	}
}

// TestInterruptAndResume: SIGINT (an operator's ^C, or SIGTERM from a
// scheduler) stops a load cleanly: exit 3, the summary says why, the
// message names the resume command, and --resume finishes it with every
// event stored once.
func TestInterruptAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 20k rows")
	}
	t.Parallel()
	const rows = 20_000
	bin, data, mapping, reference := killSetup(t, rows)
	dir := t.TempDir()
	if out, err := exec.Command(bin, "--db", filepath.Join(dir, "crm.db"), "engine", "seed", reference).CombinedOutput(); err != nil {
		t.Fatalf("seed: %v %s", err, out)
	}
	cmd := exec.Command(bin, "--db", "crm.db", "load", "--batch-size", "250", "--report-dir", "reports", "-m", mapping, data)
	cmd.Dir = dir
	atJournalLine(cmd, 5)
	p := startKillable(t, cmd)
	// Interrupted part-way: once 5 of the load's 80 calls are settled.
	p.signalAtFailpoint("journal:1", syscall.SIGINT)
	if code := p.exit(); code != 3 {
		t.Fatalf("interrupted load: exit %d, want 3; stderr:\n%s", code, p.said())
	}
	if said := p.said(); !strings.Contains(said, "the run stopped part-way (interrupted)") || !strings.Contains(said, "crmload load --resume reports/") {
		t.Errorf("stderr = %s, want the reason and the resume command", said)
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "reports", "[0-9]*"))
	if len(runs) != 1 {
		t.Fatalf("%d run directories", len(runs))
	}
	resume := exec.Command(bin, "load", "--quiet", "--resume", runs[0])
	resume.Dir = dir
	if out, err := resume.CombinedOutput(); err == nil || err.(*exec.ExitError).ExitCode() != 1 {
		t.Fatalf("resume: %v (want exit 1: the unknown participants)\n%s", err, out)
	}
	ok := reportLines(t, filepath.Join(runs[0], "succeeded.csv"))
	failed := reportLines(t, filepath.Join(runs[0], "failed.csv"))
	if len(ok) != rows*9/10 || len(failed) != rows/10 {
		t.Errorf("after resume: %d succeeded, %d failed; want %d and %d", len(ok), len(failed), rows*9/10, rows/10)
	}
	b, _ := os.ReadFile(filepath.Join(runs[0], "summary.json"))
	if !strings.Contains(string(b), `"rows_read": 20000`) || strings.Contains(string(b), `"rows_resumed": 0,`) {
		t.Errorf("resumed summary = %s", b)
	}
}
