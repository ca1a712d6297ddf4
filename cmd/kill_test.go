package cmd

import (
	"bufio"
	"bytes"
	"context"
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
	"syscall"
	"testing"
	"time"

	"github.com/crmload/crmload/engine"
)

// TestKillAndResume kills a loading crmload process with SIGKILL at random
// moments during a 200k-row load into the embedded engine, resumes it
// (sometimes killing the resume too), and checks the end state: every
// event stored exactly once, every row in exactly one report line.
func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmload and loads 200k rows several times")
	}
	const rows = 200_000
	bin, data, mapping, reference := killSetup(t, rows)

	midway := 0 // resumes that found a load cut part-way
	defer func() {
		if midway == 0 && !t.Failed() {
			t.Error("no kill landed part-way through a load: the test proved nothing")
		}
	}()
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			dir := t.TempDir()
			db := filepath.Join(dir, "crm.db")
			run := func(kill bool, args ...string) {
				cmd := exec.Command(bin, append([]string{"--db", db}, args...)...)
				cmd.Dir = dir
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				if kill {
					time.Sleep(time.Duration(50+rng.IntN(1500)) * time.Millisecond)
					cmd.Process.Signal(syscall.SIGKILL)
				}
				cmd.Wait()
			}
			run(false, "engine", "seed", reference)
			run(true, "load", "--quiet", "--report-dir", "reports", "-m", mapping, data)
			kills := 1
			for {
				dirs, _ := filepath.Glob(filepath.Join(dir, "reports", "[0-9]*"))
				kill := kills < 3 && rng.IntN(2) == 0
				if len(dirs) == 0 {
					// Killed before the run started: start it again.
					run(kill, "load", "--quiet", "--report-dir", "reports", "-m", mapping, data)
				} else {
					run(kill, "load", "--quiet", "--resume", dirs[0])
				}
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
			e, err := engine.Open(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			stored := 0
			if err := e.Events(context.Background(), engine.Filter{}, func([]byte) error { stored++; return nil }); err != nil {
				t.Fatal(err)
			}
			if stored != rows*9/10 {
				t.Errorf("after %d kills the engine holds %d events, want %d (each once)", kills, stored, rows*9/10)
			}
			sum, err := os.ReadFile(filepath.Join(dirs[0], "summary.json"))
			if err != nil {
				t.Fatal(err)
			}
			var s struct {
				Resumed int `json:"rows_resumed"`
			}
			json.Unmarshal(sum, &s)
			if s.Resumed > 0 && s.Resumed < rows {
				midway++
			}
			t.Logf("%d kills; the last attempt resumed after %d settled rows; %d events stored once each", kills, s.Resumed, stored)
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

func writeVisits(t *testing.T, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "visit_id,participant,site,visited_on")
	for i := range n {
		p := "RP0000000010"
		if i%10 == 9 {
			p = "RP9999999999"
		}
		fmt.Fprintf(w, "v%d,%s,www.crm.com/%d,2016-06-22 15:00\n", i, p, i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
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
// in_doubt, and no event is stored twice.
func TestKillAndResumeRemote(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmload and loads 200k rows over HTTP several times")
	}
	const rows = 200_000
	bin, data, mapping, reference := killSetup(t, rows)

	for _, seed := range []uint64{7, 8} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
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
			defer func() { server.Process.Signal(syscall.SIGTERM); server.Wait() }()
			var url []byte
			for range 200 {
				if url, _ = os.ReadFile(urlFile); len(url) > 0 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			remote := []string{"--engine", string(bytes.TrimSpace(url)), "--username", "u", "--organisation", "O", "--quiet"}
			run := func(kill bool, args ...string) {
				cmd := exec.Command(bin, args...)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "CRMLOAD_PASSWORD=p")
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				if kill {
					time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
					cmd.Process.Signal(syscall.SIGKILL)
				}
				cmd.Wait()
			}
			run(true, append(append([]string{"load"}, remote...), "--report-dir", "reports", "-m", mapping, data)...)
			dirs, _ := filepath.Glob(filepath.Join(dir, "reports", "[0-9]*"))
			if len(dirs) != 1 {
				t.Skipf("the kill came before the run started (%d run directories)", len(dirs))
			}
			run(false, append(append([]string{"load"}, remote...), "--resume", dirs[0])...)

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
			// Each stored event once: websites are unique per row.
			e, err := engine.Open(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			sites := map[string]bool{}
			stored := 0
			err = e.Events(context.Background(), engine.Filter{}, func(obj []byte) error {
				var ev struct{ Website string }
				json.Unmarshal(obj, &ev)
				if sites[ev.Website] {
					t.Errorf("event for %s stored twice", ev.Website)
				}
				sites[ev.Website] = true
				stored++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if stored < len(ok) || stored > len(ok)+len(doubt) {
				t.Errorf("engine holds %d events; want between %d (succeeded) and %d (+ in doubt)", stored, len(ok), len(ok)+len(doubt))
			}
			t.Logf("%d succeeded, %d failed, %d in doubt; %d events stored, none twice", len(ok), len(failed), len(doubt), stored)
		})
	}
}

// TestInterruptAndResume: SIGINT (an operator's ^C, or SIGTERM from a
// scheduler) stops a load cleanly: exit 3, the summary says why, the
// message names the resume command, and --resume finishes it with every
// event stored once.
func TestInterruptAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmload and loads 200k rows")
	}
	const rows = 200_000
	bin, data, mapping, reference := killSetup(t, rows)
	dir := t.TempDir()
	if out, err := exec.Command(bin, "--db", filepath.Join(dir, "crm.db"), "engine", "seed", reference).CombinedOutput(); err != nil {
		t.Fatalf("seed: %v %s", err, out)
	}
	cmd := exec.Command(bin, "--db", "crm.db", "load", "--report-dir", "reports", "-m", mapping, data)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("interrupted load: %v, want exit 3; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "the run stopped part-way (interrupted)") || !strings.Contains(stderr.String(), "crmload load --resume reports/") {
		t.Errorf("stderr = %s, want the reason and the resume command", stderr.String())
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
	if !strings.Contains(string(b), `"rows_read": 200000`) || strings.Contains(string(b), `"rows_resumed": 0,`) {
		t.Errorf("resumed summary = %s", b)
	}
}
