package loader

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
	"github.com/crmload/crmload/mapping"
)

func seededEngine(t *testing.T) *engine.Engine {
	t.Helper()
	e, err := engine.Open(context.Background(), filepath.Join(t.TempDir(), "engine.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if _, err := e.Seed(context.Background(), "../testdata/seed/reference.yaml"); err != nil {
		t.Fatal(err)
	}
	return e
}

func defaultOptions() LoadOptions {
	return LoadOptions{Command: "load", BatchSize: 1000, Concurrency: 4, Retries: 2, Timeout: 10 * time.Second, Grace: 5 * time.Second}
}

func loadJob(t *testing.T, specPath string, files ...string) *Plan {
	t.Helper()
	spec, err := mapping.ReadSpec(specPath)
	if err != nil {
		t.Fatal(err)
	}
	return &Plan{SpecPath: specPath, Spec: spec, Files: files, ReportDir: t.TempDir(), Engine: "embedded"}
}

// readReport reads a CSV report whole, its byte order mark dropped.
func readReport(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff")))).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

// reportRows reads a CSV report's crmload_line column (and one more).
func reportRows(t *testing.T, path string, col string) map[string]string {
	t.Helper()
	rows := readReport(t, path)
	lineCol, other := -1, -1
	for i, h := range rows[0] {
		switch h {
		case "crmload_line":
			lineCol = i
		case col:
			other = i
		}
	}
	out := map[string]string{}
	for _, r := range rows[1:] {
		if _, dup := out[r[lineCol]]; dup {
			t.Errorf("%s reports line %s twice", filepath.Base(path), r[lineCol])
		}
		out[r[lineCol]] = r[other]
	}
	return out
}

// checkEveryRowOnce checks the accounting: every input line is in exactly
// one report, or counted as filtered.
func checkEveryRowOnce(t *testing.T, dir string, sum *Summary, dataLines int) (ok, failed map[string]string) {
	t.Helper()
	if !sum.Balanced() {
		t.Errorf("summary does not balance: %+v", sum)
	}
	ok = reportRows(t, filepath.Join(dir, "succeeded.csv"), "crm_number")
	failed = reportRows(t, filepath.Join(dir, "failed.csv"), "error_code")
	for l := range ok {
		if _, both := failed[l]; both {
			t.Errorf("line %s is in both reports", l)
		}
	}
	if got := len(ok) + len(failed) + sum.RowsFiltered; got != dataLines || sum.RowsRead != dataLines {
		t.Errorf("%d rows in the reports + %d filtered, %d read; want %d", len(ok)+len(failed), sum.RowsFiltered, sum.RowsRead, dataLines)
	}
	return ok, failed
}

var idRE = regexp.MustCompile(`[0-9A-F]{32}`)

func TestLoadSamples(t *testing.T) {
	for _, sm := range samples {
		t.Run(sm.name, func(t *testing.T) {
			e := seededEngine(t)
			job := loadJob(t, filepath.Join("..", "testdata", sm.spec), filepath.Join("..", "testdata", sm.input))
			sum, dir, err := Load(context.Background(), job, e, defaultOptions())
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !sum.Balanced() || sum.ExitCode != 1 {
				t.Errorf("summary = %+v, want balanced, exit 1 (every sample has a failing row)", sum)
			}
			ext := filepath.Ext(sm.input)
			for _, name := range []string{"succeeded", "failed"} {
				b, err := os.ReadFile(filepath.Join(dir, name+ext))
				if err != nil {
					t.Fatal(err)
				}
				// Ids are random: the golden files hold a placeholder. Rows
				// settle concurrently: the golden files hold them sorted.
				golden(t, "load/"+sm.name+"."+name+ext, sortRows(idRE.ReplaceAll(b, []byte("<ID>")), ext == ".csv"))
			}
		})
	}
}

// writeWebCSV writes n web events; every 10th names an unknown account.
func writeWebCSV(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("visit_id,participant,site,visited_on\n")
	for i := range n {
		p := "RP0000000010"
		if i%10 == 9 {
			p = "RP9999999999"
		}
		fmt.Fprintf(&b, "v%d,%s,www.crm.com/%d,2016-06-22 15:00\n", i, p, i)
	}
	p := filepath.Join(t.TempDir(), "web.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func countEvents(t *testing.T, e *engine.Engine) int {
	t.Helper()
	n := 0
	if err := e.Events(context.Background(), engine.Filter{}, func([]byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLoadManyRowsConcurrently(t *testing.T) {
	e := seededEngine(t)
	in := writeWebCSV(t, 5000)
	opts := defaultOptions()
	opts.BatchSize = 97 // batches that do not divide the rows
	sum, dir, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", in), e, opts)
	if err != nil {
		t.Fatal(err)
	}
	ok, failed := checkEveryRowOnce(t, dir, sum, 5000)
	if len(ok) != 4500 || len(failed) != 500 || sum.Batches != 52 {
		t.Errorf("%d succeeded, %d failed in %d batches; want 4500, 500 in 52", len(ok), len(failed), sum.Batches)
	}
	if n := countEvents(t, e); n != 4500 {
		t.Errorf("engine holds %d events, want 4500", n)
	}
}

// faultEngine sits in front of the real engine and injects faults.
type faultEngine struct {
	Engine
	calls   atomic.Int64
	failing atomic.Bool                                 // every call fails to reach the engine
	before  func(call int64, req crm.BulkRequest) error // runs before each call
}

func (f *faultEngine) CreateEvents(ctx context.Context, req crm.BulkRequest) (crm.BulkResult, error) {
	n := f.calls.Add(1)
	if f.failing.Load() {
		return crm.BulkResult{}, errors.New("connection refused")
	}
	if f.before != nil {
		if err := f.before(n, req); err != nil {
			return crm.BulkResult{}, err
		}
	}
	return f.Engine.CreateEvents(ctx, req)
}

// TestLoadInterrupted: an interrupt stops reading and new calls; calls in
// flight finish; the rows settled so far are in the reports, exactly once;
// --resume sends the rest, and every event is stored exactly once.
func TestLoadInterrupted(t *testing.T) {
	e := seededEngine(t)
	in := writeWebCSV(t, 3000)
	ctx, cancel := context.WithCancel(context.Background())
	fe := &faultEngine{Engine: e}
	fe.before = func(call int64, _ crm.BulkRequest) error {
		if call == 3 {
			cancel() // interrupt while this call is in flight
		}
		return nil
	}
	opts := defaultOptions()
	opts.BatchSize, opts.Concurrency = 100, 2
	job := loadJob(t, "../testdata/web/mapping.yaml", in)
	sum, dir, err := Load(ctx, job, fe, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.ExitCode != 3 || sum.AbortReason != "interrupted" {
		t.Errorf("exit %d (%s), want 3 (interrupted)", sum.ExitCode, sum.AbortReason)
	}
	if sum.RowsRead >= 3000 || sum.RowsRead == 0 {
		t.Errorf("%d rows settled before the interrupt, want some but not all", sum.RowsRead)
	}
	ok, _ := checkEveryRowOnce(t, dir, sum, sum.RowsRead)
	if len(ok) != countEvents(t, e) {
		t.Errorf("%d succeeded, engine holds %d", len(ok), countEvents(t, e))
	}
	checkResumed(t, e, job, dir, sum.RowsRead)
}

// checkResumed resumes the run in dir and checks the end state: every row
// in exactly one report, each event stored once, the summary balanced.
func checkResumed(t *testing.T, e *engine.Engine, job *Plan, dir string, settledBefore int) {
	t.Helper()
	opts := defaultOptions()
	opts.Resume = dir
	sum, dir2, err := Load(context.Background(), job, e, opts)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if dir2 != dir || sum.RowsResumed != settledBefore || sum.ExitCode != 1 {
		t.Errorf("resume: dir %s, %d rows resumed, exit %d; want %s, %d, 1 (the unknown participants)", dir2, sum.RowsResumed, sum.ExitCode, dir, settledBefore)
	}
	if !sum.Balanced() || sum.RowsRead != 3000 {
		t.Errorf("resumed summary = %+v, want balanced over the 3000 rows", sum)
	}
	// The reports hold both attempts: every row exactly once.
	ok := reportRows(t, filepath.Join(dir, "succeeded.csv"), "crm_number")
	failed := reportRows(t, filepath.Join(dir, "failed.csv"), "error_code")
	if len(ok) != 2700 || len(failed) != 300 || countEvents(t, e) != 2700 {
		t.Errorf("after resume: %d succeeded, %d failed, engine holds %d; want 2700, 300, 2700", len(ok), len(failed), countEvents(t, e))
	}
	for l := range ok {
		if _, both := failed[l]; both {
			t.Errorf("line %s is in both reports", l)
		}
	}
}

func TestLoadEngineUnreachable(t *testing.T) {
	e := seededEngine(t)
	fe := &faultEngine{Engine: e}
	fe.failing.Store(true)
	opts := defaultOptions()
	opts.BatchSize, opts.Retries = 10, 2
	opts.sleep = (&waits{}).sleep
	job := loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 3000))
	sum, dir, err := Load(context.Background(), job, fe, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.ExitCode != 3 || !strings.Contains(sum.AbortReason, "could not be reached after 2 retries: connection refused") || sum.Retries < 2 {
		t.Errorf("summary = exit %d, %q, %d retries; want exit 3, the reason, retries counted", sum.ExitCode, sum.AbortReason, sum.Retries)
	}
	checkEveryRowOnce(t, dir, sum, sum.RowsRead)
	if sum.RowsSucceeded != 0 {
		t.Errorf("%d rows succeeded with the engine down", sum.RowsSucceeded)
	}
	// The engine is back: the resume loads everything.
	checkResumed(t, e, job, dir, sum.RowsRead)
}

// TestLoadSplitsRefusedCalls: a call the engine refuses as a whole is split
// until the event that causes it stands alone.
func TestLoadSplitsRefusedCalls(t *testing.T) {
	e := seededEngine(t)
	fe := &faultEngine{Engine: e}
	fe.before = func(_ int64, req crm.BulkRequest) error {
		for _, ev := range req.Events {
			if ev.RequestUniqueIdentifier == "v17" {
				return &crm.Error{Code: crm.CodeInvalidRequest, Message: "Poison", Reason: "Injected."}
			}
		}
		return nil
	}
	sum, dir, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 40)), fe, defaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, failed := checkEveryRowOnce(t, dir, sum, 40)
	if failed["19"] != crm.CodeInvalidRequest || sum.ErrorsByCode[crm.CodeInvalidRequest] != 1 {
		t.Errorf("failed = %v, want line 19 (v17) alone refused", failed)
	}
	if n := countEvents(t, e); n != 35 {
		t.Errorf("engine holds %d events, want 35 (40 - 4 unknown participants - v17)", n)
	}
}

func TestLoadMaxErrors(t *testing.T) {
	e := seededEngine(t)
	opts := defaultOptions()
	opts.BatchSize, opts.Concurrency, opts.MaxErrors = 10, 1, 3
	sum, dir, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 500)), e, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.ExitCode != 3 || !strings.HasPrefix(sum.AbortReason, "--max-errors reached") {
		t.Errorf("exit %d (%s), want 3, --max-errors", sum.ExitCode, sum.AbortReason)
	}
	checkEveryRowOnce(t, dir, sum, sum.RowsRead)
	if sum.RowsSucceeded >= 450 {
		t.Errorf("%d rows succeeded: the run did not stop early", sum.RowsSucceeded)
	}
}

func TestLoadDryRun(t *testing.T) {
	e := seededEngine(t)
	e.DryRun = true
	opts := defaultOptions()
	opts.DryRun = true
	sum, dir, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 30)), e, opts)
	if err != nil {
		t.Fatal(err)
	}
	ok, _ := checkEveryRowOnce(t, dir, sum, 30)
	if len(ok) != 27 || countEvents(t, e) != 0 || !sum.DryRun {
		t.Errorf("dry run: %d succeeded, engine holds %d, dry_run %v; want 27, nothing stored, true", len(ok), countEvents(t, e), sum.DryRun)
	}
	for line, num := range ok {
		if num != "" {
			t.Errorf("dry run: line %s reports crm_number %q of an event that was rolled back, want none", line, num)
		}
	}
}

// sortRows sorts a report's rows, keeping a CSV header first. Rows are
// lines: the sample reports have no quoted line breaks.
func sortRows(b []byte, header bool) []byte {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	body := lines
	if header && len(lines) > 0 {
		body = lines[1:]
	}
	sort.Strings(body)
	return []byte(strings.Join(lines, "\n") + "\n")
}
