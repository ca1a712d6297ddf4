package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/crmload/crmload/engine"
	"github.com/crmload/crmload/loader"
)

// TestKillAtCrashPoints kills crmload load (SIGKILL) at exact points of a
// run's life, not after a sleep: before its run directory is renamed into
// place, before the first report byte, after the journal has N lines, and,
// for a job run, inside and between its sources; for a retry run, before
// and after its directory appears. After each kill there is either no run
// directory (and loading again works) or one that --resume completes with
// every row in exactly one report line and every event stored once.
func TestKillAtCrashPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("runs crmload as a process")
	}
	t.Parallel()
	bin := crmloadBinary(t)
	mapping, _ := filepath.Abs("../testdata/web/mapping.yaml")
	reference, _ := filepath.Abs("../testdata/seed/reference.yaml")
	const rows = 5_000
	data := filepath.Join(t.TempDir(), "web.csv")
	writeVisitsFrom(t, data, 0, rows)
	load := []string{"load", "--quiet", "--batch-size", "25", "-m", mapping, data}

	// A plain load, killed at each point, then resumed.
	for _, tc := range []crashPoint{
		{name: "before the rename", failpoint: "rundir-partial", empty: true},
		{name: "before the first report byte", failpoint: "before-reports"},
		{name: "after 1 journal line", failpoint: "journal:1@1"},
		{name: "after 40 journal lines", failpoint: "journal:1@40"},
	} {
		t.Run("load/"+tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCrashRun(t, bin, reference)
			run := c.killAndFinish(tc, load...)
			c.checkRows(run, rows)
			if n := c.storedOnce(); n != rows*9/10 {
				t.Errorf("the store holds %d events, want %d", n, rows*9/10)
			}
			// Events the killed attempt stored but never reported are
			// reported by the resume as found stored, not as created by
			// it: what it says it created is what the store gained.
			sum, err := loader.RunDir(run).Summary()
			if err != nil {
				t.Fatal(err)
			}
			if created := sum.EventsSucceeded - sum.EventsFound; created != rows*9/10-c.before {
				t.Errorf("the resume created %d events (%d succeeded, %d found stored), the store gained %d", created, sum.EventsSucceeded, sum.EventsFound, rows*9/10-c.before)
			}
		})
	}

	// A job of two sources, killed in and between them, then resumed.
	jobDir := t.TempDir()
	second := filepath.Join(jobDir, "web2.csv")
	writeVisitsFrom(t, second, rows, rows)
	job := filepath.Join(jobDir, "job.yaml")
	err := os.WriteFile(job, fmt.Appendf(nil, "sources:\n  - mapping: %s\n    files: [%s]\n  - mapping: %s\n    files: [%s]\n", mapping, data, mapping, second), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	jobLoad := []string{"load", "--quiet", "--batch-size", "25", "--job", job}
	for _, tc := range []crashPoint{
		{name: "before the job's rename", failpoint: "rundir-partial@1", empty: true},
		{name: "before the first source's rename", failpoint: "rundir-partial@2"},
		{name: "before the first source's reports", failpoint: "before-reports@1"},
		{name: "between the sources", failpoint: "job-next-source"},
		{name: "before the second source's rename", failpoint: "rundir-partial@3"},
		{name: "before the second source's reports", failpoint: "before-reports@2"},
		// Stopped there, not watched for: a watcher that reads the
		// journal as it grows can be late, and the load finish first.
		{name: "after 30 journal lines of the second source", failpoint: "journal:2@30"},
	} {
		t.Run("job/"+tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCrashRun(t, bin, reference)
			run := c.killAndFinish(tc, jobLoad...)
			for _, src := range []string{"01-mapping", "02-mapping"} {
				c.checkRows(filepath.Join(run, src), rows)
			}
			if n := c.storedOnce(); n != 2*rows*9/10 {
				t.Errorf("the store holds %d events, want %d", n, 2*rows*9/10)
			}
		})
	}

	// A retry of a run's failed rows, killed before and after its run
	// directory appears; and a load -m of the run's failed.csv, which is
	// its retry in all but name.
	for _, tc := range []struct {
		name, failpoint, how string
		empty                bool
	}{
		{name: "before the rename", failpoint: "rundir-partial", how: "retry", empty: true},
		{name: "before the first report byte", failpoint: "before-reports", how: "retry"},
		{name: "before the first report byte", failpoint: "before-reports", how: "load -m"},
		// Its job.json as an earlier release wrote it: no command.
		{name: "of an earlier release", failpoint: "before-reports", how: "retry"},
		// The report edited (a spreadsheet) before the resume: the resume
		// reads the run's copy of it.
		{name: "report edited", failpoint: "before-reports", how: "retry"},
	} {
		t.Run(tc.how+"/"+tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCrashRun(t, bin, reference)
			c.exit(1, load...)
			parent := c.runDirs("reports")
			if len(parent) != 1 {
				t.Fatalf("run directories %v, want 1", parent)
			}
			command, wantCommand := []string{"retry", "--quiet", parent[0]}, "retry"
			if tc.how == "load -m" {
				command, wantCommand = []string{"load", "--quiet", "-m", mapping, filepath.Join(parent[0], "failed.csv")}, "load"
			}
			p := c.start(tc.failpoint, command...)
			p.killAtFailpoint(tc.failpoint)
			runs := c.runDirs("reports")
			if tc.empty != (len(runs) == 1) || len(runs) > 2 {
				t.Fatalf("after the kill: run directories %v; want only the parent: %v", runs, tc.empty)
			}
			if len(runs) == 1 {
				c.exit(1, "retry", "--quiet", parent[0]) // not refused: nothing retried it
			} else {
				retry := runs[0]
				if retry == parent[0] {
					retry = runs[1]
				}
				if tc.name == "report edited" {
					// Saved again by a spreadsheet: CRLF line ends, no
					// byte order mark.
					rep := filepath.Join(parent[0], "failed.csv")
					b, err := os.ReadFile(rep)
					if err != nil {
						t.Fatal(err)
					}
					b = bytes.ReplaceAll(bytes.TrimPrefix(b, []byte("\ufeff")), []byte("\n"), []byte("\r\n"))
					if err := os.WriteFile(rep, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				if tc.name == "of an earlier release" {
					jf := filepath.Join(retry, "job.json")
					b, err := os.ReadFile(jf)
					if err != nil {
						t.Fatal(err)
					}
					var rf map[string]any
					if err := json.Unmarshal(b, &rf); err != nil {
						t.Fatal(err)
					}
					delete(rf, "command")
					delete(rf, "parent_run")
					if b, err = json.Marshal(rf); err != nil || os.WriteFile(jf, b, 0o644) != nil {
						t.Fatal(err)
					}
				}
				c.exit(1, "load", "--quiet", "--resume", retry)
			}
			runs = c.runDirs("reports")
			if len(runs) != 2 {
				t.Fatalf("run directories %v, want the parent and its retry", runs)
			}
			retry := runs[0]
			if retry == parent[0] {
				retry = runs[1]
			}
			if failed := reportLines(t, filepath.Join(retry, "failed.csv")); len(failed) != rows/10 {
				t.Errorf("the retry failed %d rows, want %d (the unknown participants, each once)", len(failed), rows/10)
			}
			// Resumed or not, it is a retry of its parent: crmload summary
			// counts its rows as the parent's, once.
			sum, err := loader.RunDir(retry).Summary()
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Base(parent[0]); sum.Command != wantCommand || sum.Parent != want {
				t.Errorf("the retry's summary says command %q, parent_run %q; want %s of %s", sum.Command, sum.Parent, wantCommand, want)
			}
			if n := c.storedOnce(); n != rows*9/10 {
				t.Errorf("the store holds %d events, want %d", n, rows*9/10)
			}
		})
	}
}

// crashPoint is where a run is killed: at a failpoint (name or name@n),
// or once its journal has so many lines.
type crashPoint struct {
	name, failpoint string
	empty           bool // the kill leaves no run directory
}

// killAndFinish runs crmload args (a load into reports/), kills it at
// tc, checks that this left a run directory or none as tc says, and
// finishes the load: resumed, or run again when there was none (exit 1
// either way: the unknown participants). It returns the run directory.
func (c *crashRun) killAndFinish(tc crashPoint, args ...string) string {
	c.t.Helper()
	p := c.start(tc.failpoint, args...)
	name, _, _ := strings.Cut(tc.failpoint, "@")
	p.killAtFailpoint(name)
	runs := c.runDirs("reports")
	if tc.empty != (len(runs) == 0) || len(runs) > 1 {
		c.t.Fatalf("after the kill: run directories %v; want none: %v", runs, tc.empty)
	}
	if len(runs) == 0 {
		c.exit(1, args...)
		runs = c.runDirs("reports")
	} else {
		c.before = c.storedOnce()
		c.exit(1, "load", "--quiet", "--resume", runs[0])
	}
	if len(runs) != 1 {
		c.t.Fatalf("run directories %v, want 1", runs)
	}
	return runs[0]
}

// crashRun is a working directory with a seeded store, for runs that are
// killed and resumed.
type crashRun struct {
	t        *testing.T
	bin, dir string
	before   int // events stored when killAndFinish resumed
}

func newCrashRun(t *testing.T, bin, reference string) *crashRun {
	t.Helper()
	c := &crashRun{t: t, bin: bin, dir: t.TempDir()}
	c.exit(0, "engine", "seed", reference)
	return c
}

func (c *crashRun) command(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(c.bin, append([]string{"--db", filepath.Join(c.dir, "crm.db")}, args...)...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// exit runs crmload to its end and checks its exit code.
func (c *crashRun) exit(want int, args ...string) {
	c.t.Helper()
	out, err := c.command(nil, args...).CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatal(err)
	}
	if code != want {
		c.t.Fatalf("crmload %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
	}
}

// start starts crmload, stopping at failpoint if not "".
func (c *crashRun) start(failpoint string, args ...string) *killable {
	c.t.Helper()
	var env []string
	if failpoint != "" {
		env = []string{loader.FailpointEnv + "=" + failpoint}
	}
	return startKillable(c.t, c.command(env, args...))
}

// startKillable starts cmd, reading its stderr, to be killed at a point.
func startKillable(t *testing.T, cmd *exec.Cmd) *killable {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &killable{t: t, cmd: cmd, reached: make(chan string, 1), exited: make(chan struct{})}
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			p.mu.Lock()
			p.stderr = append(p.stderr, s.Text())
			p.mu.Unlock()
			if name, ok := strings.CutPrefix(s.Text(), "crmload: failpoint "); ok {
				p.reached <- strings.TrimSuffix(name, " reached")
			}
		}
		p.err = cmd.Wait() // after stderr's end, as exec wants
		close(p.exited)
	}()
	t.Cleanup(func() { cmd.Process.Kill(); <-p.exited })
	return p
}

// runDirs are the run directories in the working directory's dir (not
// the hidden ones of runs being created).
func (c *crashRun) runDirs(dir string) []string {
	runs, _ := filepath.Glob(filepath.Join(c.dir, dir, "[0-9]*"))
	return runs
}

// checkRows checks that each of rows rows is in exactly one report line
// of the run directory: 90% succeeded, 10% failed.
func (c *crashRun) checkRows(dir string, rows int) {
	c.t.Helper()
	ok := reportLines(c.t, filepath.Join(dir, "succeeded.csv"))
	failed := reportLines(c.t, filepath.Join(dir, "failed.csv"))
	for l := range ok {
		if failed[l] {
			c.t.Errorf("%s: line %d is in both reports", dir, l)
		}
	}
	if len(ok) != rows*9/10 || len(failed) != rows/10 {
		c.t.Errorf("%s: %d succeeded, %d failed; want %d and %d", dir, len(ok), len(failed), rows*9/10, rows/10)
	}
}

// storedOnce is how many events the store holds; one stored twice (by
// its website, unique to a row) fails the test.
func (c *crashRun) storedOnce() int {
	c.t.Helper()
	return storedOnce(c.t, filepath.Join(c.dir, "crm.db"))
}

// storedOnce checks that the store db (a file or a DSN) holds each event
// once, by its id, its number and its website (the test inputs give each
// row its own), and returns how many it holds.
func storedOnce(t *testing.T, db string) int {
	t.Helper()
	e, err := engine.OpenReadOnly(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ids, numbers, sites := map[string]bool{}, map[string]bool{}, map[string]bool{}
	err = e.Events(context.Background(), engine.Filter{}, func(obj []byte) error {
		var o struct{ ID, Number, Website string }
		if err := json.Unmarshal(obj, &o); err != nil {
			return err
		}
		if ids[o.ID] || numbers[o.Number] || sites[o.Website] {
			t.Errorf("event %s (%s, %s) stored twice", o.Number, o.ID, o.Website)
		}
		ids[o.ID], numbers[o.Number], sites[o.Website] = true, true, true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(ids)
}

// killable is a running crmload, to be killed at a point of its run.
type killable struct {
	t       *testing.T
	cmd     *exec.Cmd
	reached chan string // the failpoint it stopped at
	exited  chan struct{}
	err     error // of Wait, once exited is closed

	mu     sync.Mutex
	stderr []string
}

// said is what the process wrote to stderr so far.
func (p *killable) said() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.stderr, "\n")
}

// killAtFailpoint waits until the process says it reached failpoint (and
// stopped there), then kills it.
func (p *killable) killAtFailpoint(name string) {
	p.t.Helper()
	p.atFailpoint(name)
	p.kill()
}

// signalAtFailpoint waits until the process says it reached failpoint
// and sends it sig there: it goes on from there with the signal to handle.
func (p *killable) signalAtFailpoint(name string, sig os.Signal) {
	p.t.Helper()
	p.atFailpoint(name)
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// atFailpoint waits until the process says it reached failpoint name.
func (p *killable) atFailpoint(name string) {
	p.t.Helper()
	select {
	case got := <-p.reached:
		if got != name {
			p.t.Fatalf("crmload stopped at failpoint %s, want %s", got, name)
		}
	case <-p.exited:
		p.t.Fatalf("crmload ended (%v) without reaching failpoint %s; stderr:\n%s", p.err, name, p.said())
	}
}

// journalLines is how many whole lines the one file glob matches has.
func journalLines(t *testing.T, glob string) int {
	t.Helper()
	files, _ := filepath.Glob(glob)
	if len(files) != 1 {
		t.Fatalf("%s matches %v, want one file", glob, files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// atJournalLine makes cmd, not started yet, stop (the test failpoint
// journal:1) right after it has written the n-th line of the first journal
// it opens (lines an earlier process wrote there not counted): a test kills
// it there with killAtJournalLine. (A watcher that reads the journal as it
// grows can read late on a busy machine, and the load finish first.)
func atJournalLine(cmd *exec.Cmd, n int) {
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, fmt.Sprintf("%s=journal:1@%d", loader.FailpointEnv, n))
}

// killAtJournalLine kills a process started after atJournalLine where it
// stopped.
func (p *killable) killAtJournalLine() { p.killAtFailpoint("journal:1") }

// kill sends SIGKILL and checks that it is what ended the process.
func (p *killable) kill() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	checkKilled(p.t, p.err)
}

// exit waits for the process to end and returns its exit code.
func (p *killable) exit() int {
	p.t.Helper()
	<-p.exited
	var ee *exec.ExitError
	if p.err != nil && !errors.As(p.err, &ee) {
		p.t.Fatal(p.err)
	}
	return p.cmd.ProcessState.ExitCode()
}

// checkKilled checks that a process's Wait error says SIGKILL ended it
// (not its own exit before the kill came).
func checkKilled(t *testing.T, err error) {
	t.Helper()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("the killed crmload: %v, want killed by SIGKILL", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the killed crmload: %v, want killed by SIGKILL", err)
	}
}

// writeVisitsFrom writes n web visits numbered from first (their ids and
// websites unique across files): every tenth participant is unknown.
func writeVisitsFrom(t *testing.T, path string, first, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "visit_id,participant,site,visited_on")
	for i := first; i < first+n; i++ {
		p := "RP0000000010"
		if i%10 == 9 {
			p = "RP9999999999"
		}
		fmt.Fprintf(w, "v%d,%s,www.crm.com/%d,2016-06-22 15:00\n", i, p, i)
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
}
