package loader

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// summaryWriter writes a run directory in dir holding the summary s, and
// returns the directory.
func summaryWriter(t *testing.T, dir string) func(s *Summary) string {
	return func(s *Summary) string {
		t.Helper()
		d := RunDir(filepath.Join(dir, s.RunID))
		if err := d.create(nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := d.writeSummary(s); err != nil {
			t.Fatal(err)
		}
		return string(d)
	}
}

// TestCombineRetry: a retry counts as its run's failed rows settled again,
// not as more rows read; its run's errors are replaced by the retry's; a
// run without a summary is listed as such and makes the sum aborted.
func TestCombineRetry(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	write := summaryWriter(t, dir)
	in := []InputInfo{{Path: "/in/a.csv", SHA256: "aaa"}}
	run := write(&Summary{RunID: "p", Command: "load", Kind: "purchase", Files: []string{"/in/a.csv"}, Inputs: in,
		StartedAt: t0, FinishedAt: t0.Add(time.Minute), RowsRead: 10, RowsSucceeded: 6, RowsFailed: 4, EventsSucceeded: 6, EventsFailed: 4,
		ErrorsByCode: map[string]int{"A": 4}, ExitCode: OutcomeRowsFailed.ExitCode()})
	retry := write(&Summary{RunID: "q", Command: "retry", Parent: "p", Kind: "purchase", Files: []string{run + "/failed.csv"},
		StartedAt: t0.Add(time.Hour), FinishedAt: t0.Add(time.Hour + time.Minute), RowsRead: 4, RowsSucceeded: 3, RowsFailed: 1, EventsSucceeded: 3, EventsFailed: 1,
		ErrorsByCode: map[string]int{"B": 1}, ExitCode: OutcomeRowsFailed.ExitCode()})

	c, err := Combine([]string{run, retry})
	if err != nil {
		t.Fatal(err)
	}
	if c.RowsRead != 10 || c.RowsSucceeded != 9 || c.RowsFailed != 1 || c.EventsFailed != 1 || !c.Balanced ||
		len(c.ErrorsByCode) != 1 || c.ErrorsByCode["B"] != 1 || c.RetriesOf[retry] != run || c.Given[1].RetryOf != run ||
		c.ExitCode != OutcomeRowsFailed.ExitCode() || len(c.Problems) != 0 || c.DurationSeconds != 3660 {
		t.Errorf("a run and its retry: %+v", c)
	}

	killed := RunDir(filepath.Join(dir, "k"))
	if err := killed.create(&RunFile{}, nil); err != nil {
		t.Fatal(err)
	}
	c, err = Combine([]string{run, retry, string(killed)})
	if err != nil {
		t.Fatal(err)
	}
	if c.ExitCode != OutcomeAborted.ExitCode() || len(c.Problems) != 1 || !c.Given[2].NoSummary || c.Given[2].Summary != nil {
		t.Errorf("with a killed run: exit %d, problems %q, %+v", c.ExitCode, c.Problems, c.Given[2])
	}

	if _, err := Combine([]string{t.TempDir()}); err == nil {
		t.Error("a directory that is no run: no error")
	}
}

// TestCombineResumedRun: the rows an earlier attempt of a resumed run
// failed count as failed in the sum, not as resumed, so that the sum's
// failed rows are its failure report's; its retry takes all of them.
func TestCombineResumedRun(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	write := summaryWriter(t, dir)
	// 10 rows: the first attempt settled 6 (2 failed), the resume 4 (1 failed).
	run := write(&Summary{RunID: "p", Command: "load", Kind: "purchase", StartedAt: t0, FinishedAt: t0.Add(time.Minute),
		RowsRead: 10, RowsResumed: 6, RowsFailedEarlier: 2, RowsSucceeded: 3, RowsFailed: 1, EventsSucceeded: 3, EventsFailed: 1,
		ErrorsByCode: map[string]int{"A": 1}, ExitCode: OutcomeRowsFailed.ExitCode()})
	c, err := Combine([]string{run})
	if err != nil {
		t.Fatal(err)
	}
	if c.RowsFailed != 3 || c.RowsResumed != 4 || c.RowsFailedEarlier != 0 || !c.Balanced {
		t.Errorf("a resumed run: failed %d (want 3), resumed %d (want 4), balanced %v", c.RowsFailed, c.RowsResumed, c.Balanced)
	}
	retry := write(&Summary{RunID: "q", Command: "retry", Parent: "p", Kind: "purchase", StartedAt: t0.Add(time.Hour), FinishedAt: t0.Add(time.Hour + time.Minute),
		RowsRead: 3, RowsSucceeded: 3, EventsSucceeded: 3, ErrorsByCode: map[string]int{}, ExitCode: OutcomeOK.ExitCode()})
	c, err = Combine([]string{run, retry})
	if err != nil {
		t.Fatal(err)
	}
	if c.RowsRead != 10 || c.RowsFailed != 0 || c.RowsSucceeded != 6 || !c.Balanced || c.ExitCode != OutcomeOK.ExitCode() {
		t.Errorf("a resumed run and its retry of all 3 failed rows: read %d, failed %d, succeeded %d, balanced %v, exit %d; want 10, 0, 6, true, 0",
			c.RowsRead, c.RowsFailed, c.RowsSucceeded, c.Balanced, c.ExitCode)
	}

	// The same run, resumed by a release whose journal counts the rows an
	// attempt stored: the first attempt's 4 stored rows are succeeded
	// rows of the whole, not merely resumed, and with the retry all 10
	// rows succeeded.
	counted := write(&Summary{RunID: "p2", Command: "load", Kind: "purchase", StartedAt: t0, FinishedAt: t0.Add(time.Minute),
		RowsRead: 10, RowsResumed: 6, RowsFailedEarlier: 2, RowsSucceededEarlier: 4, RowsSucceeded: 3, RowsFailed: 1, EventsSucceeded: 3, EventsFailed: 1,
		EventsSucceededEarlier: 4, EventsFailedEarlier: 2,
		ErrorsByCode: map[string]int{"A": 1}, ExitCode: OutcomeRowsFailed.ExitCode()})
	retry2 := write(&Summary{RunID: "q2", Command: "retry", Parent: "p2", Kind: "purchase", StartedAt: t0.Add(time.Hour), FinishedAt: t0.Add(time.Hour + time.Minute),
		RowsRead: 3, RowsSucceeded: 3, EventsSucceeded: 3, ErrorsByCode: map[string]int{}, ExitCode: OutcomeOK.ExitCode()})
	c, err = Combine([]string{counted, retry2})
	if err != nil {
		t.Fatal(err)
	}
	if c.EventsSucceeded != 10 || c.EventsFailed != 0 || c.EventsSucceededEarlier != 0 {
		t.Errorf("a resumed run that counted its earlier events, and its retry: events succeeded %d, failed %d; want 10, 0", c.EventsSucceeded, c.EventsFailed)
	}
	if c.RowsRead != 10 || c.RowsFailed != 0 || c.RowsSucceeded != 10 || c.RowsResumed != 0 || c.RowsSucceededEarlier != 0 || !c.Balanced {
		t.Errorf("a resumed run that counted its earlier successes, and its retry: read %d, failed %d, succeeded %d, resumed %d, balanced %v; want 10, 0, 10, 0, true",
			c.RowsRead, c.RowsFailed, c.RowsSucceeded, c.RowsResumed, c.Balanced)
	}
}

// TestCombineChainWithoutItsRun: retries whose first run is not given are
// not counted (a retry of an uncounted retry neither): no negative totals.
func TestCombineChainWithoutItsRun(t *testing.T) {
	dir := t.TempDir()
	write := summaryWriter(t, dir)
	t0 := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	r2 := write(&Summary{RunID: "q", Command: "retry", Parent: "p", Kind: "purchase", StartedAt: t0, FinishedAt: t0.Add(time.Minute),
		RowsRead: 12, RowsFailed: 12, EventsFailed: 3, ErrorsByCode: map[string]int{"A": 12}, ExitCode: OutcomeRowsFailed.ExitCode()})
	r3 := write(&Summary{RunID: "r", Command: "retry", Parent: "q", Kind: "purchase", StartedAt: t0.Add(time.Hour), FinishedAt: t0.Add(time.Hour + time.Minute),
		RowsRead: 12, RowsSucceeded: 12, EventsSucceeded: 3, ErrorsByCode: map[string]int{}, ExitCode: OutcomeOK.ExitCode()})
	c, err := Combine([]string{r2, r3})
	if err != nil {
		t.Fatal(err)
	}
	if c.RowsFailed != 0 || c.RowsSucceeded != 0 || c.RowsRead != 0 || len(c.Problems) != 2 {
		t.Errorf("a chain without its run: read %d, succeeded %d, failed %d, problems %q; want nothing counted and two problems",
			c.RowsRead, c.RowsSucceeded, c.RowsFailed, c.Problems)
	}
}

// TestCombineJobSources: the sources of two job runs share their names
// (01-web): neither is taken for a copy of the other, and a retry of one
// counts against its own.
func TestCombineJobSources(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	source := func(job string) string {
		jd := filepath.Join(dir, job)
		if err := os.MkdirAll(filepath.Join(jd, "01-web"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(jd, jobFileName), []byte("sources: [{mapping: web.yaml, files: [a.csv]}]\n"), 0o644)
		d := RunDir(filepath.Join(jd, "01-web"))
		if err := d.writeSummary(&Summary{RunID: "01-web", Command: "load", Kind: "web", Files: []string{"/in/" + job + ".csv"}, StartedAt: t0, FinishedAt: t0.Add(time.Minute),
			RowsRead: 10, RowsSucceeded: 8, RowsFailed: 2, ErrorsByCode: map[string]int{"A": 2}, ExitCode: OutcomeRowsFailed.ExitCode()}); err != nil {
			t.Fatal(err)
		}
		return string(d)
	}
	a, b := source("ja"), source("jb")
	if got := RunIdentity(a, &Summary{RunID: "01-web"}); got != "ja/01-web" {
		t.Errorf("RunIdentity of a job's source = %q, want ja/01-web", got)
	}
	retry := summaryWriter(t, dir)(&Summary{RunID: "q", Command: "retry", Parent: "jb/01-web", Kind: "web", StartedAt: t0.Add(time.Hour), FinishedAt: t0.Add(time.Hour + time.Minute),
		RowsRead: 2, RowsSucceeded: 2, ErrorsByCode: map[string]int{}, ExitCode: OutcomeOK.ExitCode()})
	c, err := Combine([]string{a, b, retry})
	if err != nil {
		t.Fatal(err)
	}
	if c.RowsRead != 20 || c.RowsSucceeded != 18 || c.RowsFailed != 2 || len(c.Problems) != 0 || c.RetriesOf[retry] != b {
		t.Errorf("two jobs' sources and a retry of the second: read %d, succeeded %d, failed %d, problems %q, retry of %q",
			c.RowsRead, c.RowsSucceeded, c.RowsFailed, c.Problems, c.RetriesOf[retry])
	}
}

// TestCombineJobAndItsSource: a job run given with one of its own sources
// counts the source once, in the job.
func TestCombineJobAndItsSource(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	job := filepath.Join(dir, "j")
	if err := os.MkdirAll(filepath.Join(job, "01-web"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(job, jobFileName), []byte("sources: [{mapping: web.yaml, files: [a.csv]}]\n"), 0o644)
	sum := Summary{Command: "load", Kind: "web", Files: []string{"/in/a.csv"}, StartedAt: t0, FinishedAt: t0.Add(time.Minute),
		RowsRead: 10, RowsSucceeded: 10, ErrorsByCode: map[string]int{}, ExitCode: OutcomeOK.ExitCode()}
	src, whole := sum, sum
	src.RunID, whole.RunID, whole.Kind = "01-web", "j", "job"
	if err := RunDir(filepath.Join(job, "01-web")).writeSummary(&src); err != nil {
		t.Fatal(err)
	}
	if err := RunDir(job).writeSummary(&whole); err != nil {
		t.Fatal(err)
	}
	c, err := Combine([]string{job, filepath.Join(job, "01-web")})
	if err != nil {
		t.Fatal(err)
	}
	if c.RowsRead != 10 || len(c.Problems) != 1 || !strings.Contains(c.Problems[0], "is a source of job run") {
		t.Errorf("a job and its own source: read %d (want 10), problems %q", c.RowsRead, c.Problems)
	}
}

// TestCombineRetryOfJobSource: a retry of one source of a job takes that
// source's failed rows and errors, not the whole job's.
func TestCombineRetryOfJobSource(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	job := filepath.Join(dir, "jx")
	os.MkdirAll(job, 0o755)
	os.WriteFile(filepath.Join(job, jobFileName), []byte("sources: [{mapping: web.yaml, files: [a.csv]}, {mapping: web2.yaml, files: [b.csv]}]\n"), 0o644)
	for _, s := range []struct{ name, code string }{{"01-web", "A"}, {"02-web2", "B"}} {
		os.MkdirAll(filepath.Join(job, s.name), 0o755)
		if err := RunDir(filepath.Join(job, s.name)).writeSummary(&Summary{RunID: s.name, Command: "load", Kind: "web", StartedAt: t0, FinishedAt: t0.Add(time.Minute),
			RowsRead: 10, RowsSucceeded: 9, RowsFailed: 1, EventsSucceeded: 9, EventsFailed: 1, ErrorsByCode: map[string]int{s.code: 1}, ExitCode: OutcomeRowsFailed.ExitCode()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := RunDir(job).writeSummary(&Summary{RunID: "jx", Command: "load", Kind: "job", Files: []string{"/in/a.csv", "/in/b.csv"}, StartedAt: t0, FinishedAt: t0.Add(time.Minute),
		RowsRead: 20, RowsSucceeded: 18, RowsFailed: 2, EventsSucceeded: 18, EventsFailed: 2, ErrorsByCode: map[string]int{"A": 1, "B": 1}, ExitCode: OutcomeRowsFailed.ExitCode()}); err != nil {
		t.Fatal(err)
	}
	retry := summaryWriter(t, dir)(&Summary{RunID: "q", Command: "retry", Parent: "jx/01-web", Kind: "web", StartedAt: t0.Add(time.Hour), FinishedAt: t0.Add(time.Hour + time.Minute),
		RowsRead: 1, RowsFailed: 1, EventsFailed: 1, ErrorsByCode: map[string]int{"A": 1}, ExitCode: OutcomeRowsFailed.ExitCode()})
	c, err := Combine([]string{job, retry})
	if err != nil {
		t.Fatal(err)
	}
	if c.RowsRead != 20 || c.RowsFailed != 2 || c.ErrorsByCode["A"] != 1 || c.ErrorsByCode["B"] != 1 || c.EventsFailed != 2 || !c.Balanced {
		t.Errorf("a job and a retry of one source failing again: read %d, failed %d, errors %v, events failed %d, balanced %v; want 20, 2, A:1 B:1, 2, true",
			c.RowsRead, c.RowsFailed, c.ErrorsByCode, c.EventsFailed, c.Balanced)
	}
}

// TestCombineDryRuns: a dry run given with real runs stored nothing and is
// left out (a note, not a problem), so a dry retry does not take its run's
// failed rows; a real retry of a dry run is a problem. Dry runs alone are
// summed as they are.
func TestCombineDryRuns(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	write := summaryWriter(t, dir)
	in := []InputInfo{{Path: "/in/a.csv", SHA256: "aaa"}}
	run := write(&Summary{RunID: "p", Command: "load", Kind: "purchase", Files: []string{"/in/a.csv"}, Inputs: in,
		StartedAt: t0, FinishedAt: t0.Add(time.Minute), RowsRead: 7, RowsSucceeded: 5, RowsFailed: 2, EventsSucceeded: 5, EventsFailed: 2,
		ErrorsByCode: map[string]int{"A": 2}, ExitCode: OutcomeRowsFailed.ExitCode()})
	rehearsal := write(&Summary{RunID: "d", Command: "retry", Parent: "p", DryRun: true, Kind: "purchase", Files: []string{run + "/failed.csv"},
		StartedAt: t0.Add(time.Hour), FinishedAt: t0.Add(time.Hour + time.Minute), RowsRead: 2, RowsFailed: 2, EventsFailed: 2,
		ErrorsByCode: map[string]int{"A": 2}, ExitCode: OutcomeRowsFailed.ExitCode()})
	retry := write(&Summary{RunID: "q", Command: "retry", Parent: "p", Kind: "purchase", Files: []string{run + "/failed.csv"},
		StartedAt: t0.Add(2 * time.Hour), FinishedAt: t0.Add(2*time.Hour + time.Minute), RowsRead: 2, RowsSucceeded: 1, RowsFailed: 1, EventsSucceeded: 1, EventsFailed: 1,
		ErrorsByCode: map[string]int{"B": 1}, ExitCode: OutcomeRowsFailed.ExitCode()})

	c, err := Combine([]string{run, rehearsal, retry})
	if err != nil {
		t.Fatal(err)
	}
	if c.RowsRead != 7 || c.RowsSucceeded != 6 || c.RowsFailed != 1 || !c.Balanced || c.ErrorsByCode["B"] != 1 || c.ErrorsByCode["A"] != 0 ||
		len(c.Problems) != 0 || len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "is a dry run") || c.Given[1].Summary != nil ||
		c.RetriesOf[retry] != run || c.ExitCode != OutcomeRowsFailed.ExitCode() {
		t.Errorf("a run, a dry retry and a real retry: %+v", c)
	}

	forReal := write(&Summary{RunID: "r", Command: "retry", Parent: "d", Kind: "purchase", Files: []string{rehearsal + "/failed.csv"},
		StartedAt: t0.Add(3 * time.Hour), FinishedAt: t0.Add(3*time.Hour + time.Minute), RowsRead: 2, RowsSucceeded: 2, EventsSucceeded: 2,
		ErrorsByCode: map[string]int{}, ExitCode: OutcomeOK.ExitCode()})
	c, err = Combine([]string{run, rehearsal, retry, forReal})
	if err != nil {
		t.Fatal(err)
	}
	if c.RowsSucceeded != 6 || len(c.Problems) != 1 || !strings.Contains(c.Problems[0], "loaded the failed rows of dry run "+rehearsal+" for real") ||
		c.ExitCode != OutcomeNotWhole.ExitCode() {
		t.Errorf("with a real retry of the dry run: %+v", c)
	}

	c, err = Combine([]string{rehearsal})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Notes) != 0 || len(c.Problems) != 1 || !strings.Contains(c.Problems[0], "not among the runs") {
		t.Errorf("a dry retry alone is summed as a retry: %+v", c)
	}
}

// TestCombineStoppedRunSaysWhy: a run that stopped part-way is a problem
// of the whole that says why it stopped (an input rewritten under it: its
// rows need checking), where the sum said only its exit code.
func TestCombineStoppedRunSaysWhy(t *testing.T) {
	write := summaryWriter(t, t.TempDir())
	t0 := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	why := "g.csv changed while it was read: its bytes are not those hashed when the run started"
	r := write(&Summary{RunID: "s", Command: "load", Kind: "purchase", StartedAt: t0, FinishedAt: t0.Add(time.Minute),
		RowsRead: 12, RowsSucceeded: 12, EventsSucceeded: 3, ErrorsByCode: map[string]int{}, ExitCode: OutcomeAborted.ExitCode(), AbortReason: why})
	c, err := Combine([]string{r})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Problems) != 1 || !strings.Contains(c.Problems[0], "stopped part-way: "+why) {
		t.Errorf("problems %q, want the run's stop reason", c.Problems)
	}
}

// TestEarlierWarnings: a resume keeps, as a warning, an earlier attempt's
// stop on an input rewritten under it, and the warnings of that kind the
// summary it replaces kept; not other stops or warnings.
func TestEarlierWarnings(t *testing.T) {
	rewritten := "g.csv changed while it was read: " + rewrittenWords + ", though its size and modification time are the same"
	for _, tt := range []struct {
		name string
		prev Summary
		want []string
	}{
		{"rewritten", Summary{ExitCode: OutcomeAborted.ExitCode(), AbortReason: rewritten}, []string{earlierAttempt + rewritten}},
		{"interrupted", Summary{ExitCode: OutcomeAborted.ExitCode(), AbortReason: "interrupted"}, nil},
		{"kept by a resume before", Summary{ExitCode: OutcomeOK.ExitCode(), Warnings: []string{earlierAttempt + rewritten, "group split across files"}},
			[]string{earlierAttempt + rewritten}},
	} {
		if got := earlierWarnings(&tt.prev); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestCombineNotesEarlierAttempt: a resumed run whose earlier attempt
// stopped on an input rewritten under it is noted by the sum.
func TestCombineNotesEarlierAttempt(t *testing.T) {
	write := summaryWriter(t, t.TempDir())
	t0 := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	w := earlierAttempt + "g.csv changed while it was read: " + rewrittenWords
	r := write(&Summary{RunID: "s", Command: "load", Kind: "purchase", StartedAt: t0, FinishedAt: t0.Add(time.Minute),
		RowsRead: 12, RowsSucceeded: 12, EventsSucceeded: 3, ErrorsByCode: map[string]int{}, ExitCode: OutcomeOK.ExitCode(), Warnings: []string{w}})
	c, err := Combine([]string{r})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Notes) != 1 || !strings.Contains(c.Notes[0], w) || len(c.Problems) != 0 {
		t.Errorf("notes %q, problems %q; want the earlier attempt's word as a note", c.Notes, c.Problems)
	}
}
