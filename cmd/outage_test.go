package cmd

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmload/crmload/engine/api"

	"github.com/crmload/crmload/engine"
)

// servedStore seeds a store in dir and returns a handler serving it as
// engine serve does, with user u:p in organisation O.
func servedStore(t *testing.T, dir string) http.Handler {
	t.Helper()
	e, err := engine.Open(context.Background(), filepath.Join(dir, "served.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if _, err := e.Seed(context.Background(), "../testdata/seed/reference.yaml"); err != nil {
		t.Fatal(err)
	}
	return api.NewServer(e, api.ServerConfig{Users: map[string]string{"u": "p"}, Organisation: "O", TokenTTL: time.Hour})
}

// startLoad is startProc (signal_test.go) without the process.
func startLoad(t *testing.T, dir string, args ...string) (lines <-chan string, exit <-chan int) {
	t.Helper()
	_, lines, exit = startProc(t, dir, args...)
	return lines, exit
}

// waitLine reads lines until one contains want (it fails the test when the
// process ends first); every line read is kept in seen.
func waitLine(t *testing.T, lines <-chan string, want string, seen *[]string) {
	t.Helper()
	for l := range lines {
		*seen = append(*seen, l)
		if strings.Contains(l, want) {
			return
		}
	}
	t.Fatalf("the process ended without a line containing %q:\n%s", want, strings.Join(*seen, "\n"))
}

// TestLoginWaitsForEngine: a nightly run that starts while the engine is
// still down retries the login with the calls' backoff, saying so, and
// loads once the engine comes up; an engine that never comes up is exit 3.
func TestLoginWaitsForEngine(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there yet
	writeVisits(t, filepath.Join(dir, "web.csv"), 50)
	mapping, _ := filepath.Abs("../testdata/web/mapping.yaml")
	lines, exit := startLoad(t, dir, "load", "--engine", "http://"+addr, "--username", "u", "--organisation", "O",
		"--progress", "never", "-m", mapping, "web.csv")
	var seen []string
	waitLine(t, lines, "retrying the login", &seen)
	if !strings.Contains(seen[len(seen)-1], "connection refused") || !strings.Contains(seen[len(seen)-1], "wait=") {
		t.Errorf("the retry line does not say why and how long: %s", seen[len(seen)-1])
	}
	// The engine comes up.
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: servedStore(t, dir)}
	go srv.Serve(l)
	defer srv.Close()
	for l := range lines {
		seen = append(seen, l)
	}
	if code := <-exit; code != ExitFailed { // the unknown participants
		t.Fatalf("exit %d, want 1:\n%s", code, strings.Join(seen, "\n"))
	}
	if out := strings.Join(seen, "\n"); !strings.Contains(out, "45 succeeded, 5 failed") {
		t.Errorf("the load after the engine came up:\n%s", out)
	}

	// An engine that never comes up: exit 3, nothing sent, no run directory.
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l2.Addr().String()
	l2.Close()
	lines, exit = startLoad(t, dir, "load", "--engine", "http://"+dead, "--username", "u", "--organisation", "O",
		"--retries", "1", "--report-dir", "never", "-m", mapping, "web.csv")
	seen = nil
	for l := range lines {
		seen = append(seen, l)
	}
	out := strings.Join(seen, "\n")
	if code := <-exit; code != ExitAborted || !strings.Contains(out, "could not be reached after 1 retry") || !strings.Contains(out, "nothing was sent") {
		t.Errorf("exit %d, want 3 saying the engine could not be reached:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "never")); err == nil {
		t.Error("a run that never reached its engine left a report directory")
	}
}

// stalling refuses bulk calls with 503 until released, and counts them.
type stalling struct {
	next       http.Handler
	retryAfter string // what the 503 asks for; "0" when empty
	released   atomic.Bool
	refused    atomic.Int64
}

func (s *stalling) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, "/bulk/") && !s.released.Load() {
		s.refused.Add(1)
		w.Header().Set("Retry-After", cmp.Or(s.retryAfter, "0"))
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
		return
	}
	s.next.ServeHTTP(w, r)
}

// TestOutageIsNotSilent: while the engine refuses calls, every retry is
// logged with its reason and wait, and a heartbeat says the run lives;
// --progress never prints no progress lines.
func TestOutageIsNotSilent(t *testing.T) {
	dir := t.TempDir()
	st := &stalling{next: servedStore(t, dir)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: st}
	go srv.Serve(l)
	defer srv.Close()
	writeVisits(t, filepath.Join(dir, "web.csv"), 50)
	mapping, _ := filepath.Abs("../testdata/web/mapping.yaml")
	lines, exit := startLoad(t, dir, "load", "--engine", "http://"+l.Addr().String(), "--username", "u", "--organisation", "O",
		"--progress", "never", "--heartbeat", "100ms", "--log-format", "json", "-m", mapping, "web.csv")
	var seen []string
	waitLine(t, lines, `"msg":"call failed; retrying"`, &seen)
	retry := seen[len(seen)-1]
	for _, want := range []string{`"reason":"HTTP 503`, `"wait":`, `"retry":1`} {
		if !strings.Contains(retry, want) {
			t.Errorf("retry line %s lacks %s", retry, want)
		}
	}
	waitLine(t, lines, `"msg":"still running"`, &seen)
	if beat := seen[len(seen)-1]; !strings.Contains(beat, `"last_wait":`) || !strings.Contains(beat, "HTTP 503") {
		t.Errorf("the heartbeat does not say what the run waits for: %s", beat)
	}
	st.released.Store(true) // the outage ends
	for l := range lines {
		seen = append(seen, l)
	}
	if code := <-exit; code != ExitFailed {
		t.Fatalf("exit %d, want 1:\n%s", code, strings.Join(seen, "\n"))
	}
	for _, l := range seen {
		if strings.Contains(l, `"msg":"progress"`) {
			t.Errorf("--progress never printed a progress line: %s", l)
		}
	}
}

// TestSameInputTwiceAtOnce: a cron job started twice in a night, the
// second while the first still loads: the second is refused (exit 2),
// naming the run that is loading the file; every row is stored once.
func TestSameInputTwiceAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := crmloadBinary(t)
	reference, _ := filepath.Abs("../testdata/seed/reference.yaml")
	mapping, _ := filepath.Abs("../testdata/web/mapping.yaml")
	if out, err := exec.Command(bin, "--db", filepath.Join(dir, "crm.db"), "engine", "seed", reference).CombinedOutput(); err != nil {
		t.Fatalf("seed: %v %s", err, out)
	}
	const rows = 10_000 // the first run crawls: the refusal needs no more
	writeVisits(t, filepath.Join(dir, "web.csv"), rows)
	// The first run crawls (one call a second), so it is surely still
	// loading when the second starts.
	cmd := exec.Command(bin, "--db", "crm.db", "load", "--heartbeat", "1ms", "--progress", "never", "--rate", "1", "--grace", "1s",
		"--batch-size", "100", "--concurrency", "1", "--report-dir", "reports", "-m", mapping, "web.csv")
	cmd.Dir = dir
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), "still running") {
	}
	go io.Copy(io.Discard, stderr)
	second := exec.Command(bin, "--db", "crm.db", "load", "-m", mapping, "web.csv")
	second.Dir = dir
	out, err := second.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != ExitUsage || !strings.Contains(string(out), "is being loaded into the store crm.db by run") {
		t.Errorf("second load: %v, want exit 2 naming the loading run:\n%s", err, out)
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err == nil || err.(*exec.ExitError).ExitCode() != ExitAborted {
		t.Fatalf("interrupted first load: %v, want exit 3", err)
	}
	// Stopped part-way: a new load of the file says to resume it.
	again := exec.Command(bin, "--db", "crm.db", "load", "-m", mapping, "web.csv")
	again.Dir = dir
	if out, err = again.CombinedOutput(); err == nil || !strings.Contains(string(out), "which stopped part-way: continue it with crmload load --resume") {
		t.Errorf("a load of a stopped run's input: %v\n%s", err, out)
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "reports", "[0-9]*"))
	if len(runs) != 1 {
		t.Fatalf("%d run directories, want the first run's only", len(runs))
	}
	// The resume would keep the run's crawl (--rate 1): the command line
	// lifts it.
	resume := exec.Command(bin, "load", "--progress", "never", "--rate", "0", "--heartbeat", "30s", "--resume", runs[0])
	resume.Dir = dir
	if out, err := resume.CombinedOutput(); err == nil || err.(*exec.ExitError).ExitCode() != ExitFailed {
		t.Fatalf("resume: %v\n%s", err, out)
	} else if !strings.Contains(string(out), "--rate 0 given on the command line overrides the run's 1") {
		t.Errorf("resume: no line saying --rate 0 overrides the run's rate:\n%s", out)
	}
	e, err := engine.Open(context.Background(), filepath.Join(dir, "crm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	n := 0
	e.Events(context.Background(), engine.Filter{}, func([]byte) error { n++; return nil })
	if n != rows*9/10 {
		t.Errorf("the store holds %d events, want %d (each row once)", n, rows*9/10)
	}
}

// TestStoreDiskFull: a store on a full filesystem stops the run at once
// (exit 3) saying so, with the resume hint; after room is made, the
// resume stores every row once. Needs a small tmpfs (root).
func TestStoreDiskFull(t *testing.T) {
	t.Parallel()
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v: %s); engine.TestStoreFull covers the store's side", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	dir := t.TempDir()
	bin := crmloadBinary(t)
	reference, _ := filepath.Abs("../testdata/seed/reference.yaml")
	mapping, _ := filepath.Abs("../testdata/web/mapping.yaml")
	db := filepath.Join(mnt, "crm.db")
	if out, err := exec.Command(bin, "--db", db, "engine", "seed", reference).CombinedOutput(); err != nil {
		t.Fatalf("seed: %v %s", err, out)
	}
	writeVisits(t, filepath.Join(dir, "web.csv"), 20_000)
	cmd := exec.Command(bin, "--db", db, "load", "--progress", "never", "-m", mapping, "web.csv")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != ExitAborted ||
		!strings.Contains(string(out), "the store's disk is full") || !strings.Contains(string(out), "crmload load --resume") {
		t.Fatalf("load onto a full disk: %v, want exit 3 saying the disk is full, with the resume hint:\n%s", err, out)
	}
	if strings.Contains(string(out), "retrying") {
		t.Errorf("a full disk was retried:\n%s", out)
	}
	// Room is made: the store moves to a roomy disk; the resume is told.
	moved := filepath.Join(dir, "crm.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if b, err := os.ReadFile(db + suffix); err == nil {
			os.WriteFile(moved+suffix, b, 0o644)
		}
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "reports", "[0-9]*"))
	if len(runs) != 1 {
		t.Fatalf("%d run directories", len(runs))
	}
	rf, _ := os.ReadFile(filepath.Join(runs[0], "job.json"))
	os.WriteFile(filepath.Join(runs[0], "job.json"), []byte(strings.ReplaceAll(string(rf), db, moved)), 0o644)
	resume := exec.Command(bin, "load", "--progress", "never", "--resume", runs[0])
	resume.Dir = dir
	if out, err := resume.CombinedOutput(); err == nil || err.(*exec.ExitError).ExitCode() != ExitFailed {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	ok := reportLines(t, filepath.Join(runs[0], "succeeded.csv"))
	failed := reportLines(t, filepath.Join(runs[0], "failed.csv"))
	if len(ok) != 18_000 || len(failed) != 2_000 {
		t.Errorf("after the resume: %d succeeded, %d failed; want 18000 and 2000", len(ok), len(failed))
	}
}

// TestReportDiskFull: a report directory on a full filesystem (1 MB of
// tmpfs for 50k rows of reports) stops the run with exit 3, the reason and
// the resume hint, leaving no half-written summary; once there is room,
// the resume reports every row once and stores nothing twice. Needs root
// for the tmpfs; loader.TestReportDiskFull injects the same failures
// without it.
func TestReportDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 50k rows twice")
	}
	t.Parallel()
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v: %s); loader.TestReportDiskFull covers it", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	const rows = 50_000
	dir := t.TempDir()
	bin, data, mapping, reference := killSetup(t, rows)
	db := filepath.Join(dir, "crm.db")
	if out, err := exec.Command(bin, "--db", db, "engine", "seed", reference).CombinedOutput(); err != nil {
		t.Fatalf("seed: %v %s", err, out)
	}
	cmd := exec.Command(bin, "--db", db, "load", "--progress", "never", "--report-dir", mnt, "-m", mapping, data)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != ExitAborted ||
		!strings.Contains(string(out), "no space left on device") || !strings.Contains(string(out), "crmload load --resume") {
		t.Fatalf("load with a full report directory: %v, want exit 3 naming the full disk, with the resume hint:\n%s", err, out)
	}
	runs, _ := filepath.Glob(filepath.Join(mnt, "[0-9]*"))
	if len(runs) != 1 {
		t.Fatalf("%d run directories", len(runs))
	}
	if _, err := os.Stat(filepath.Join(runs[0], "summary.json.tmp")); err == nil {
		t.Errorf("a summary.json.tmp was left behind")
	}
	// Room is made; the resume finishes the run.
	if out, err := exec.Command("mount", "-o", "remount,size=64m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	resume := exec.Command(bin, "load", "--progress", "never", "--resume", runs[0])
	if out, err := resume.CombinedOutput(); err == nil || err.(*exec.ExitError).ExitCode() != ExitFailed {
		t.Fatalf("resume: %v, want exit 1 (the unknown participants)\n%s", err, out)
	}
	ok := reportLines(t, filepath.Join(runs[0], "succeeded.csv"))
	failed := reportLines(t, filepath.Join(runs[0], "failed.csv"))
	for l := range ok {
		if failed[l] {
			t.Errorf("line %d is in both reports", l)
		}
	}
	if len(ok) != rows*9/10 || len(failed) != rows/10 {
		t.Errorf("after the resume: %d succeeded, %d failed; want %d and %d", len(ok), len(failed), rows*9/10, rows/10)
	}
	list := exec.Command(bin, "--db", db, "events", "list", "--format", "jsonl")
	events, err := list.Output()
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(events, []byte("\n")); n != rows*9/10 {
		t.Errorf("events list shows %d events, want %d (each row's event once)", n, rows*9/10)
	}
}
