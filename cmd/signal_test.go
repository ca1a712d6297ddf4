package cmd

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmload/crmload/loader"
)

// startProc starts crmload with args in dir and returns the process, its
// stderr lines as they come, and its exit code when it ends.
func startProc(t *testing.T, dir string, args ...string) (*exec.Cmd, <-chan string, <-chan int) {
	t.Helper()
	cmd := exec.Command(crmloadBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CRMLOAD_PASSWORD=p")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	ln, ex := make(chan string, 1000), make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			ln <- sc.Text()
		}
		close(ln)
		cmd.Wait()
		ex <- cmd.ProcessState.ExitCode()
	}()
	return cmd, ln, ex
}

// drain reads the remaining lines and the exit code, failing the test if
// the process takes longer than within to end.
func drain(t *testing.T, lines <-chan string, exit <-chan int, seen *[]string, within time.Duration) int {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				select {
				case code := <-exit:
					return code
				case <-deadline:
					t.Fatalf("the process did not end within %s", within)
				}
			}
			*seen = append(*seen, l)
		case <-deadline:
			t.Fatalf("the process did not end within %s:\n%s", within, strings.Join(*seen, "\n"))
		}
	}
}

// readSummary returns the one run directory in reports and its summary,
// as loader.RunDir reads it.
func readSummary(t *testing.T, reports string) (string, *loader.Summary) {
	t.Helper()
	runs, _ := filepath.Glob(filepath.Join(reports, "[0-9]*"))
	if len(runs) != 1 {
		t.Fatalf("%d run directories in %s, want 1", len(runs), reports)
	}
	s, err := loader.RunDir(runs[0]).Summary()
	if err != nil {
		t.Fatalf("%s: %v", runs[0], err)
	}
	return runs[0], s
}

// TestSignalDuringRetryWait is issue 17.4 and 17.5: a 503 asking for a
// day's wait is capped (and logged as a warning with what was asked);
// SIGTERM during that wait ends the run at once (not after --grace, as
// no call is in flight) with exit 3, its summary and the resume hint; a
// --deadline ends a run that cannot progress the same way.
func TestSignalDuringRetryWait(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: &stalling{next: servedStore(t, dir), retryAfter: "86400"}} // a day
	go srv.Serve(l)
	defer srv.Close()
	writeVisits(t, filepath.Join(dir, "web.csv"), 20)
	mapping, _ := filepath.Abs("../testdata/web/mapping.yaml")
	base := []string{"load", "--engine", "http://" + l.Addr().String(), "--username", "u", "--organisation", "O",
		"--progress", "never", "--log-format", "json", "--grace", "30s", "-m", mapping}

	cmd, lines, exit := startProc(t, dir, append(base, "--report-dir", "r1", "web.csv")...)
	var seen []string
	waitLine(t, lines, `"msg":"call failed; retrying"`, &seen)
	retry := seen[len(seen)-1]
	for _, want := range []string{`"level":"WARN"`, `"wait":"5m0s"`, `"retry_after_asked":"24h0m0s"`, `"retry_after_cap":"5m0s"`} {
		if !strings.Contains(retry, want) {
			t.Errorf("the retry line %s lacks %s", retry, want)
		}
	}
	stopsAtOnce(t, cmd, syscall.SIGTERM, "a 5 min retry wait", lines, exit, &seen)
	if _, s := readSummary(t, filepath.Join(dir, "r1")); s.ExitCode != ExitAborted || s.AbortReason != "interrupted" {
		t.Errorf("summary: %+v", s)
	}

	// --deadline: the same outage, no signal.
	_, lines, exit = startProc(t, dir, append(base, "--report-dir", "r2", "--again", "--deadline", "2s", "web.csv")...)
	seen = nil
	code := drain(t, lines, exit, &seen, 20*time.Second)
	if _, s := readSummary(t, filepath.Join(dir, "r2")); code != ExitAborted || !strings.Contains(s.AbortReason, "--deadline of 2s passed") {
		t.Errorf("--deadline: exit %d, summary %+v:\n%s", code, s, strings.Join(seen, "\n"))
	}
}

// TestSIGHUPWhileRateLimited is issue 17.5 and 17.6: SIGHUP (an ssh
// session dropping) while the run waits for --rate is handled like
// SIGTERM: the run stops at once, writes its reports and summary, exits 3
// with the resume hint; the resume loads the rest, every row once.
func TestSIGHUPWhileRateLimited(t *testing.T) {
	dir := t.TempDir()
	reference, _ := filepath.Abs("../testdata/seed/reference.yaml")
	mapping, _ := filepath.Abs("../testdata/web/mapping.yaml")
	if out, err := exec.Command(crmloadBinary(t), "--db", filepath.Join(dir, "crm.db"), "engine", "seed", reference).CombinedOutput(); err != nil {
		t.Fatalf("seed: %v %s", err, out)
	}
	writeVisits(t, filepath.Join(dir, "web.csv"), 20)
	// One call at once, one event a call, one call every 1000 s: the
	// second call waits on the rate limit.
	cmd, lines, exit := startProc(t, dir, "--db", "crm.db", "load", "--progress", "never", "--heartbeat", "20ms", "--grace", "30s",
		"--rate", "0.001", "--batch-size", "1", "--concurrency", "1", "--report-dir", "reports", "-m", mapping, "web.csv")
	var seen []string
	waitLine(t, lines, "rows_settled=1 ", &seen)
	stopsAtOnce(t, cmd, syscall.SIGHUP, "the wait on --rate", lines, exit, &seen)
	run, s := readSummary(t, filepath.Join(dir, "reports"))
	if s.ExitCode != ExitAborted || s.RowsSucceeded != 1 || s.AbortReason != "interrupted" {
		t.Errorf("summary after SIGHUP: %+v", s)
	}
	// A resume keeps the run's settings unless told: not the crawl.
	resume := exec.Command(crmloadBinary(t), "load", "--progress", "never", "--rate", "0", "--resume", run)
	resume.Dir = dir
	if out, err := resume.CombinedOutput(); err == nil || err.(*exec.ExitError).ExitCode() != ExitFailed {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	ok, failed := reportLines(t, filepath.Join(run, "succeeded.csv")), reportLines(t, filepath.Join(run, "failed.csv"))
	if len(ok) != 18 || len(failed) != 2 {
		t.Errorf("after the resume: %d succeeded, %d failed; want 18 and 2", len(ok), len(failed))
	}
}

// stopsAtOnce sends sig to a run that waits (for minutes, with no call in
// flight) and checks that it ends with exit 3 and the resume hint well
// before that wait would have (--grace bounds calls in flight only).
func stopsAtOnce(t *testing.T, cmd *exec.Cmd, sig syscall.Signal, waiting string, lines <-chan string, exit <-chan int, seen *[]string) {
	t.Helper()
	start := time.Now()
	cmd.Process.Signal(sig)
	code := drain(t, lines, exit, seen, 10*time.Second)
	took := time.Since(start)
	t.Logf("%v during %s: exit %d after %s", sig, waiting, code, took.Round(time.Millisecond))
	if out := strings.Join(*seen, "\n"); code != ExitAborted || !strings.Contains(out, "crmload load --resume") {
		t.Fatalf("%v during %s: exit %d, want 3 with the resume hint:\n%s", sig, waiting, code, out)
	}
	if took > 5*time.Second {
		t.Errorf("%v during %s: took %s to stop", sig, waiting, took)
	}
}
