package cmd

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// TestConcurrentLoads runs two `crmload load` processes into one embedded
// store at once, each with a file of its own: both finish, every row is
// in one report line of its run, and the store holds every stored event
// once, with distinct ids and numbers (the two processes' commits
// interleave through SQLite's write lock; each commits its own calls in
// groups).
func TestConcurrentLoads(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmload and runs two loads of 30k rows")
	}
	const rows = 30_000
	bin := crmloadBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "crm.db")
	mapping, _ := filepath.Abs("../testdata/web/mapping.yaml")
	reference, _ := filepath.Abs("../testdata/seed/reference.yaml")
	if out, err := exec.Command(bin, "--db", db, "engine", "seed", reference).CombinedOutput(); err != nil {
		t.Fatalf("engine seed: %v\n%s", err, out)
	}
	files := []string{filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")}
	for i, f := range files {
		writePrefixedVisits(t, f, fmt.Sprintf("%c", 'a'+i), rows)
	}

	var wg sync.WaitGroup
	outs := make([][]byte, len(files))
	errs := make([]error, len(files))
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(bin, "--db", db, "load", "--quiet", "--report-dir", filepath.Join(dir, fmt.Sprint("reports", i)), "-m", mapping, f)
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for i := range files {
		// Exit 1: the rows of an unknown participant failed, as they should.
		if ee, ok := errs[i].(*exec.ExitError); errs[i] != nil && (!ok || ee.ExitCode() != 1) {
			t.Fatalf("load %d: %v\n%s", i, errs[i], outs[i])
		}
		runs, _ := filepath.Glob(filepath.Join(dir, fmt.Sprint("reports", i), "[0-9]*"))
		if len(runs) != 1 {
			t.Fatalf("load %d: %d run directories, want 1", i, len(runs))
		}
		ok := reportLines(t, filepath.Join(runs[0], "succeeded.csv"))
		failed := reportLines(t, filepath.Join(runs[0], "failed.csv"))
		if len(ok) != rows*9/10 || len(failed) != rows/10 {
			t.Errorf("load %d: %d succeeded, %d failed; want %d and %d", i, len(ok), len(failed), rows*9/10, rows/10)
		}
		for l := range ok {
			if failed[l] {
				t.Errorf("load %d: line %d is in both reports", i, l)
			}
		}
	}

	if n, want := storedOnce(t, db), 2*rows*9/10; n != want {
		t.Errorf("the store holds %d events, want %d", n, want)
	}
}

// writePrefixedVisits writes n web visits whose ids and sites start with
// prefix; one in ten names a participant that does not exist.
func writePrefixedVisits(t *testing.T, path, prefix string, n int) {
	t.Helper()
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
		fmt.Fprintf(w, "%s%d,%s,www.crm.com/%s/%d,2016-06-22 15:00\n", prefix, i, p, prefix, i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
