package cmd

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/crmload/crmload/loader"
)

// TestShardsAddUpToTheWhole: a grouped input (a day of Online Retail,
// invoices of several lines, filtered rows, unknown customers) loaded as
// three shards at once into one store gives what one load of the whole
// gives: each row in exactly one shard's reports, the same counts, the
// same events; the rows of one invoice in one shard; and a second load of
// a shard, or of the whole, is refused by the ledger.
func TestShardsAddUpToTheWhole(t *testing.T) {
	bin := crmloadBinary(t)
	data, _ := filepath.Abs("../testdata/online_retail/online-retail-2011-12-09.csv")
	mapping, _ := filepath.Abs("../testdata/online_retail/mapping.yaml")
	seeds, _ := filepath.Glob("../testdata/online_retail/seed/*.csv")
	dir := t.TempDir()
	crmload := func(args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	for _, db := range []string{"whole.db", "shards.db"} {
		for _, s := range seeds {
			abs, _ := filepath.Abs(s)
			if out, code := crmload(append([]string{"--db", db, "engine", "seed"}, abs)...); code != 0 {
				t.Fatalf("seed: %s", out)
			}
		}
	}
	if out, code := crmload("--db", "whole.db", "load", "-q", "--report-dir", "whole", "-m", mapping, data); code > ExitFailed {
		t.Fatalf("whole load: exit %d %s", code, out)
	}
	var wg sync.WaitGroup
	for k := 1; k <= 3; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, code := crmload("--db", "shards.db", "load", "-q", "--report-dir", fmt.Sprintf("shard%d", k), "--shard", fmt.Sprintf("%d/3", k), "-m", mapping, data); code > ExitFailed {
				t.Errorf("shard %d/3: exit %d %s", k, code, out)
			}
		}()
	}
	wg.Wait()
	whole, _ := filepath.Glob(filepath.Join(dir, "whole", "[0-9]*"))
	shards, _ := filepath.Glob(filepath.Join(dir, "shard*", "[0-9]*"))
	if len(whole) != 1 || len(shards) != 3 {
		t.Fatalf("run directories: %v %v", whole, shards)
	}
	w, err := loader.Combine(whole)
	if err != nil {
		t.Fatal(err)
	}
	c, err := loader.Combine(shards)
	if err != nil {
		t.Fatal(err)
	}
	if c.RowsRead != w.RowsRead || c.RowsSucceeded != w.RowsSucceeded || c.RowsFailed != w.RowsFailed || c.RowsFiltered != w.RowsFiltered ||
		c.EventsSucceeded != w.EventsSucceeded || !c.Balanced || len(c.Problems) > 0 || c.ExitCode != w.ExitCode || fmt.Sprint(c.ErrorsByCode) != fmt.Sprint(w.ErrorsByCode) {
		t.Errorf("three shards = %+v\nthe whole = %+v", c, w)
	}
	for _, run := range c.Given {
		s := run.Summary
		if s.RowsRead+s.RowsOtherShards != w.RowsRead || s.RowsRead == 0 {
			t.Errorf("shard %s read %d rows and skipped %d, want %d in all", s.Shard, s.RowsRead, s.RowsOtherShards, w.RowsRead)
		}
	}
	// Each reported line in one shard; an invoice's lines in one shard.
	lineShard := map[int]string{}
	invoiceShard := map[string]string{}
	for _, run := range shards {
		for _, rep := range []string{"succeeded.csv", "failed.csv"} {
			p := filepath.Join(run, rep)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			for l := range reportLines(t, p) {
				if lineShard[l] != "" {
					t.Errorf("line %d reported by %s and %s", l, lineShard[l], run)
				}
				lineShard[l] = run
			}
		}
		b, _ := os.ReadFile(filepath.Join(run, "succeeded.csv"))
		for _, row := range strings.Split(string(b), "\n")[1:] {
			inv, _, _ := strings.Cut(strings.TrimPrefix(row, "\ufeff"), ",")
			if inv == "" {
				continue
			}
			if invoiceShard[inv] != "" && invoiceShard[inv] != run {
				t.Errorf("invoice %s is in two shards", inv)
			}
			invoiceShard[inv] = run
		}
	}
	if got := len(lineShard); got != w.RowsSucceeded+w.RowsFailed {
		t.Errorf("%d lines in the shards' reports, want %d", got, w.RowsSucceeded+w.RowsFailed)
	}
	// The ledger: a shard loaded again is refused, so is the whole input;
	// a resume of a shard keeps its shard.
	if out, code := crmload("--db", "shards.db", "load", "-q", "--report-dir", "again", "--shard", "2/3", "-m", mapping, data); code != ExitUsage || !strings.Contains(out, "shard 2/3") {
		t.Errorf("shard 2/3 again: exit %d %s, want refused", code, out)
	}
	if out, code := crmload("--db", "shards.db", "load", "-q", "--report-dir", "again", "-m", mapping, data); code != ExitUsage || !strings.Contains(out, "give --again") {
		t.Errorf("the whole input after its shards: exit %d %s, want refused", code, out)
	}
	var rf loader.RunFile
	b, _ := os.ReadFile(filepath.Join(shards[0], "job.json"))
	json.Unmarshal(b, &rf)
	if rf.Shard == "" {
		t.Errorf("job.json records no shard: %s", b)
	}
	other := "1/3"
	if rf.Shard == "1/3" {
		other = "2/3"
	}
	os.Remove(filepath.Join(shards[0], "summary.json")) // as if it had been killed
	if out, code := crmload("--db", "shards.db", "load", "--resume", shards[0], "--shard", other); code != ExitUsage || !strings.Contains(out, "not --shard") {
		t.Errorf("resume with another shard: exit %d %s, want refused", code, out)
	}
	if out, code := crmload("load", "--shard", "3/2", "-m", mapping, data); code != ExitUsage || !strings.Contains(out, "1 <= K <= N") {
		t.Errorf("--shard 3/2: exit %d %s", code, out)
	}
}
