package loader

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
	"github.com/crmload/crmload/engine/api"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// collidingEngine sends every call under one fixed run key, as the job
// runs of an earlier release did ("01-<mapping>" for every night).
type collidingEngine struct{ *crm.Client }

func (c collidingEngine) CreateEvents(ctx context.Context, req crm.BulkRequest) (crm.BulkResult, error) {
	req.Run = "01-mapping"
	return c.Client.CreateEvents(ctx, req)
}

// TestReceiptDigestMismatch: a server holding a receipt (run, row key) of
// an event stored from other content answers the rows as conflicts: they
// fail, and nothing of the second file is reported as created.
func TestReceiptDigestMismatch(t *testing.T) {
	e, _, url := servedEngine(t, time.Hour, func(int64) string { return "" })
	c := client(t, url)
	if err := c.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	eng := collidingEngine{c}
	night1 := writeWebCSV(t, 20)
	if _, _, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", night1), eng, defaultOptions()); err != nil {
		t.Fatal(err)
	}
	// Night 2: other rows on the same lines, sent under the same keys.
	b, _ := os.ReadFile(night1)
	night2 := filepath.Join(t.TempDir(), "web.csv")
	os.WriteFile(night2, []byte(strings.ReplaceAll(string(b), "www.crm.com", "www.other.com")), 0o644)
	sum, dir, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", night2), eng, defaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ok, failed := checkEveryRowOnce(t, dir, sum, 20)
	if len(ok) != 0 || sum.RowsSucceeded != 0 {
		t.Errorf("%d rows of night 2 reported created: a receipt of night 1 was taken for them", len(ok))
	}
	if n := sum.ErrorsByCode[crm.CodeReceiptConflict]; n != 18 { // 2 of 20 have unknown participants
		t.Errorf("%d rows failed as receipt conflicts, want 18 (%v)", n, sum.ErrorsByCode)
	}
	if n := countEvents(t, e); n != 18 {
		t.Errorf("engine holds %d events, want night 1's 18", n)
	}
	if len(failed) != 20 {
		t.Errorf("%d rows of night 2 in failed.csv, want 20", len(failed))
	}
}

// TestResumeRefusesChangedInput: a resume reads the input the run started
// on; a replaced file is refused, a file with rows appended is continued.
func TestResumeRefusesChangedInput(t *testing.T) {
	e := seededEngine(t)
	path := writeWebCSV(t, 50)
	job := loadJob(t, "../testdata/web/mapping.yaml", path)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // interrupted before anything was sent
	sum, dir, err := Load(ctx, job, e, defaultOptions())
	if err != nil || sum.ExitCode != 3 {
		t.Fatalf("interrupted load: exit %v, %v", sum, err)
	}
	orig, _ := os.ReadFile(path)

	os.WriteFile(path, []byte(strings.Replace(string(orig), "v1,", "x1,", 1)), 0o644)
	opts := defaultOptions()
	opts.Resume = dir
	if _, _, err := Load(context.Background(), job, e, opts); err == nil || !strings.Contains(err.Error(), "changed since the run started") {
		t.Fatalf("resume over an edited input: %v, want a refusal", err)
	}
	if n := countEvents(t, e); n != 0 {
		t.Fatalf("a refused resume stored %d events", n)
	}

	os.WriteFile(path, append(orig, "v50,RP0000000010,www.crm.com/50,2016-06-22 15:00\n"...), 0o644)
	sum, _, err = Load(context.Background(), job, e, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.RowsRead != 51 || sum.RowsSucceeded != 46 || countEvents(t, e) != 46 {
		t.Errorf("resume of a grown input: %d read, %d succeeded, engine holds %d; want 51, 46, 46", sum.RowsRead, sum.RowsSucceeded, countEvents(t, e))
	}
}

// TestFileLedger: the ledger beside the reports refuses the same content
// for the same kind and engine twice, names the earlier run, and keeps
// claims of other engines and kinds apart.
func TestFileLedger(t *testing.T) {
	ctx := context.Background()
	l := FileLedger{Path: filepath.Join(t.TempDir(), LedgerFileName), Engine: "http://a"}
	claim := Claim{Hash: "h1", Size: 10, Name: "a.csv", Kind: "web", Run: "r1", RunDir: "/reports/r1", StartedAt: time.Now()}
	if earlier, err := l.ClaimInputs(ctx, []Claim{claim}, false); err != nil || len(earlier) != 0 {
		t.Fatalf("first claim: %v %v", earlier, err)
	}
	if earlier, _ := l.ClaimInputs(ctx, []Claim{claim}, false); len(earlier) != 0 {
		t.Errorf("a run's own claim again (a resume) conflicts: %v", earlier)
	}
	second := claim
	second.Run = "r2"
	earlier, err := l.ClaimInputs(ctx, []Claim{second}, false)
	if err != nil || len(earlier) != 1 || earlier[0].Run != "r1" || earlier[0].State != ClaimLoading {
		t.Fatalf("same content again: %v %v, want r1 loading", earlier, err)
	}
	// r1's run directory is not on this machine (a shared store's ledger,
	// another machine's run): live or stopped cannot be told from here.
	if msg := (&AlreadyLoadedError{Earlier: earlier, Where: "x"}).Error(); !strings.Contains(msg, "is being loaded into x by run r1 (/reports/r1, started ") ||
		!strings.Contains(msg, "or stopped part-way: its run directory is not on this machine; if it stopped, continue it there with crmload load --resume /reports/r1") ||
		!strings.Contains(msg, "give --again") {
		t.Errorf("a loading claim of another machine: %s", msg)
	}
	l.FinishInputs(ctx, "r1", ClaimLoaded)
	earlier, _ = l.ClaimInputs(ctx, []Claim{second}, false)
	msg := (&AlreadyLoadedError{Earlier: earlier, Where: "x"}).Error()
	if len(earlier) != 1 || earlier[0].State != ClaimLoaded || !strings.Contains(msg, "was loaded into x by run r1") {
		t.Errorf("after r1 finished: %v (%s)", earlier, msg)
	}
	for _, other := range []struct {
		l FileLedger
		c Claim
	}{
		{FileLedger{Path: l.Path, Engine: "http://b"}, second},            // another engine
		{l, Claim{Hash: "h1", Kind: "purchases", Run: "r3"}},              // another kind
		{l, Claim{Hash: "h2", Kind: "web", Run: "r4", Name: "other.csv"}}, // other content
	} {
		if earlier, _ := other.l.ClaimInputs(ctx, []Claim{other.c}, false); len(earlier) != 0 {
			t.Errorf("claim %+v on %s conflicts with %v", other.c, other.l.Engine, earlier)
		}
	}
	if earlier, err := l.ClaimInputs(ctx, []Claim{second}, true); err != nil || len(earlier) != 0 {
		t.Errorf("--again: %v %v", earlier, err)
	}
}

// appendingEngine is the embedded engine while a writer appends to the
// input: on the first call, half a line is added to the file.
type appendingEngine struct {
	Engine
	path string
	once sync.Once
}

func (a *appendingEngine) CreateEvents(ctx context.Context, req crm.BulkRequest) (crm.BulkResult, error) {
	a.once.Do(func() {
		f, _ := os.OpenFile(a.path, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString("late-1,RP00000000")
		f.Close()
	})
	return a.Engine.CreateEvents(ctx, req)
}

// TestInputGrowsWhileRead: a file still being written when the run reads
// it stops the run (exit 3) naming the file, without reporting its torn
// last line; once the writer has finished, --resume loads the rest, every
// row once.
func TestInputGrowsWhileRead(t *testing.T) {
	e := seededEngine(t)
	path := writeWebCSV(t, 5000)
	job := loadJob(t, "../testdata/web/mapping.yaml", path)
	opts := defaultOptions()
	// Small calls, one at a time: the reader is still far from the end
	// when the first call lets the writer append.
	opts.BatchSize, opts.Concurrency = 10, 1
	opts.Ledger = FileLedger{Path: filepath.Join(t.TempDir(), LedgerFileName)}
	sum, dir, err := Load(context.Background(), job, &appendingEngine{Engine: e, path: path}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.ExitCode != 3 || !strings.Contains(sum.AbortReason, "web.csv changed while it was read") || !strings.Contains(sum.AbortReason, "--resume") {
		t.Fatalf("exit %d, %q; want 3 naming the file and the resume", sum.ExitCode, sum.AbortReason)
	}
	if !sum.Balanced() {
		t.Errorf("summary does not balance: %+v", sum)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "failed.csv"))
	if strings.Contains(string(b), "late-1") {
		t.Errorf("the torn last line was reported:\n%s", b)
	}
	// The writer finishes its line; the resume loads everything once.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("10,www.late.com,2016-06-22 15:00\n")
	f.Close()
	opts.Resume = dir
	sum, _, err = Load(context.Background(), job, e, opts)
	if err != nil {
		t.Fatal(err)
	}
	ok, failed := checkEveryRowOnce(t, dir, sum, 5001)
	if sum.ExitCode != 1 || len(ok) != 4501 || len(failed) != 500 || countEvents(t, e) != 4501 {
		t.Errorf("resume: exit %d, %d succeeded, %d failed, engine holds %d; want 1, 4501, 500, 4501", sum.ExitCode, len(ok), len(failed), countEvents(t, e))
	}
	if fp, _ := fingerprint(path); len(sum.Inputs) != 1 || sum.Inputs[0].SHA256 != fp.SHA256 {
		t.Errorf("the summary's inputs are not the file as loaded: %+v", sum.Inputs)
	}
	// The whole file, loaded anew: the ledger knows it as it is now.
	fresh := defaultOptions()
	fresh.Ledger = opts.Ledger
	var already *AlreadyLoadedError
	if _, _, err := Load(context.Background(), job, e, fresh); !errors.As(err, &already) {
		t.Errorf("a new load of the grown file: %v, want it refused by the ledger", err)
	}
}

// TestRunLocked: a run directory another process works on (a second
// --resume of the same run) is refused, naming the holder; once it is
// free, the resume goes on, every row once.
func TestRunLocked(t *testing.T) {
	e := seededEngine(t)
	job := loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 100))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, dir, err := Load(ctx, job, e, defaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := lockRun(dir) // the other process
	if err != nil {
		t.Fatal(err)
	}
	opts := defaultOptions()
	opts.Resume = dir
	var busy *RunBusyError
	if _, _, err := Load(context.Background(), job, e, opts); !errors.As(err, &busy) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("resume of a locked run: %v, want a RunBusyError naming the holder", err)
	}
	if !running(dir) {
		t.Error("running() does not see the holder")
	}
	unlock()
	sum, _, err := Load(context.Background(), job, e, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkEveryRowOnce(t, dir, sum, 100)
	if countEvents(t, e) != 90 || running(dir) {
		t.Errorf("engine holds %d events (want 90); lock still held: %v", countEvents(t, e), running(dir))
	}
}

// TestRunIDsSort: run ids made within one second sort by start time.
func TestRunIDsSort(t *testing.T) {
	start := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	var prev string
	for i := range 50 {
		dir, err := newRunDirName("reports", start.Add(time.Duration(i)*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if id := filepath.Base(dir); id <= prev {
			t.Fatalf("run id %s made after %s sorts before it", id, prev)
		} else {
			prev = id
		}
	}
}

// contradicting answers bulk calls with the served engine's answer spoiled:
// the first event also in the unprocessed set, the last one left out.
// With plain, it hides the engine's load receipts (a real CRM.COM).
type contradicting struct {
	next  http.Handler
	plain bool
}

func (c contradicting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c.plain {
		w = plainWriter{w}
	}
	if !strings.Contains(r.URL.Path, "/bulk/") {
		c.next.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	c.next.ServeHTTP(rec, r)
	var env crm.Response[crm.BulkResult]
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || len(env.Data.Processed) < 3 {
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	p := env.Data.Processed
	env.Data.Unprocessed = append(env.Data.Unprocessed, crm.Unprocessed{RequestUniqueIdentifier: p[0].RequestUniqueIdentifier, ErrorCode: "X", ErrorDescription: "x"})
	env.Data.Processed = p[:len(p)-1]
	b, _ := json.Marshal(env)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// TestContradictoryAnswer: an event the answer reports both processed and
// unprocessed, or not at all, is in doubt against a real CRM.COM (never
// counted created), and the run says so; against engine serve, which
// keeps receipts, it is sent again as a replay, which answers it.
func TestContradictoryAnswer(t *testing.T) {
	t.Run("real CRM.COM", func(t *testing.T) { testContradictoryAnswer(t, true) })
	t.Run("engine serve", func(t *testing.T) { testContradictoryAnswer(t, false) })
}

func testContradictoryAnswer(t *testing.T, plain bool) {
	e := seededEngine(t)
	srv := httptest.NewServer(contradicting{api.NewServer(e, api.ServerConfig{Users: map[string]string{"loader": "pw"}, Organisation: "ACME", TokenTTL: time.Hour}), plain})
	defer srv.Close()
	c := client(t, srv.URL)
	if err := c.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	opts := defaultOptions()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	rows := writeWebCSV(t, 9) // all known participants
	sum, dir, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", rows), c, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "does not match the call") {
		t.Errorf("no log line about the answer:\n%s", logs.String())
	}
	if !plain {
		// The replay (a call of two events, which the proxy leaves as it
		// is) answers both: stored once each.
		if sum.RowsInDoubt != 0 || sum.RowsSucceeded != 9 || !sum.Balanced() || countEvents(t, e) != 9 {
			t.Errorf("summary %+v, engine holds %d: want 9 succeeded and stored, none in doubt", sum, countEvents(t, e))
		}
		return
	}
	if sum.RowsInDoubt != 2 || sum.RowsSucceeded != 7 || !sum.Balanced() {
		t.Errorf("summary %+v: want 2 rows in doubt (one reported twice, one not at all), 7 succeeded", sum)
	}
	doubt, _ := os.ReadFile(filepath.Join(dir, "in_doubt.csv"))
	if !strings.Contains(string(doubt), "reported this event 2 times") || !strings.Contains(string(doubt), "did not report this event") {
		t.Errorf("in_doubt.csv does not say why:\n%s", doubt)
	}
}

// TestInterruptedRemoteRunReplays: a run against engine serve stopped
// (SIGTERM) while calls that may have been stored are being retried
// leaves those rows for the resume, which replays them: none is lost,
// none stored twice, none left in doubt.
func TestInterruptedRemoteRunReplays(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var outage atomic.Bool
	e, _, url := servedEngine(t, time.Hour, func(n int64) string {
		if n >= 4 && outage.Load() {
			if n == 8 {
				stop() // the operator's SIGTERM, mid-outage
			}
			return "drop" // written, then no answer: the call may have been stored
		}
		return ""
	})
	outage.Store(true)
	job := loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 2000))
	opts := defaultOptions()
	opts.BatchSize, opts.Concurrency, opts.Retries, opts.Grace = 100, 2, 1000, 0
	sum, dir, err := Load(ctx, job, client(t, url), opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.ExitCode != 3 || sum.RowsInDoubt != 0 {
		t.Fatalf("interrupted run: exit %d, %d in doubt; want 3 and none in doubt (the engine replays)", sum.ExitCode, sum.RowsInDoubt)
	}
	outage.Store(false) // the server is back
	opts.Resume = dir
	c := client(t, url)
	if err := c.Login(context.Background()); err != nil { // as crmload load does first
		t.Fatal(err)
	}
	sum, _, err = Load(context.Background(), job, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	ok, failed := checkEveryRowOnce(t, dir, sum, 2000)
	if sum.ExitCode != 1 || len(ok) != 1800 || len(failed) != 200 || countEvents(t, e) != 1800 {
		t.Errorf("after the resume: exit %d, %d succeeded, %d failed, engine holds %d; want 1, 1800, 200, 1800", sum.ExitCode, len(ok), len(failed), countEvents(t, e))
	}
	if _, err := os.Stat(filepath.Join(dir, "in_doubt.csv")); err == nil {
		b, _ := os.ReadFile(filepath.Join(dir, "in_doubt.csv"))
		if strings.Count(string(b), "\n") > 1 {
			t.Errorf("rows left in doubt:\n%s", b)
		}
	}
}

// TestRefusedCallInterrupted: a call a server without receipts refuses as
// a whole is halved; when an interrupt keeps the halves from going, a
// resume sends them: they were never in flight, so never in doubt.
func TestRefusedCallInterrupted(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	e, _, url := servedEngineAs(t, true, time.Hour, func(n int64) string {
		if n == 1 {
			stop() // the operator's SIGTERM as the refusal comes back
			return "400"
		}
		return ""
	})
	job := loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 100))
	opts := defaultOptions()
	opts.BatchSize, opts.Concurrency = 100, 1
	sum, dir, err := Load(ctx, job, client(t, url), opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.ExitCode != 3 || sum.RowsInDoubt != 0 {
		t.Fatalf("interrupted run: exit %d, %d in doubt; want 3, none", sum.ExitCode, sum.RowsInDoubt)
	}
	opts.Resume = dir
	sum, _, err = Load(context.Background(), job, client(t, url), opts)
	if err != nil {
		t.Fatal(err)
	}
	ok, failed := checkEveryRowOnce(t, dir, sum, 100)
	if sum.RowsInDoubt != 0 || len(ok) != 90 || len(failed) != 10 || countEvents(t, e) != 90 {
		t.Errorf("resume: %d in doubt, %d succeeded, %d failed, engine holds %d; want 0, 90, 10, 90", sum.RowsInDoubt, len(ok), len(failed), countEvents(t, e))
	}
}

// legacyDigestEngine stores a call in the embedded engine, then gives its
// receipts the digests an earlier release kept (the first 16 bytes of a
// SHA-256 of the kind and the wire form) and stops the load, as a crash
// after the commit would: the rows are stored but not reported.
type legacyDigestEngine struct {
	*engine.Engine
	db   string
	stop context.CancelFunc
}

func (l legacyDigestEngine) CreateEvents(ctx context.Context, req crm.BulkRequest) (crm.BulkResult, error) {
	if _, err := l.Engine.CreateEvents(ctx, req); err != nil {
		return crm.BulkResult{}, err
	}
	c, err := sqlite.OpenConn(l.db)
	if err != nil {
		return crm.BulkResult{}, err
	}
	defer c.Close()
	c.SetBusyTimeout(5 * time.Second)
	for i := range req.Events {
		wire, err := json.Marshal(&req.Events[i])
		if err != nil {
			return crm.BulkResult{}, err
		}
		sum := sha256.Sum256(append([]byte(string(req.Kind)+"\x00"), wire...))
		if err := sqlitex.Execute(c, "UPDATE events SET receipt_digest = ? WHERE receipt_key = ?",
			&sqlitex.ExecOptions{Args: []any{sum[:16], req.Keys[i]}}); err != nil {
			return crm.BulkResult{}, err
		}
	}
	l.stop()
	<-ctx.Done() // the answer never comes
	return crm.BulkResult{}, ctx.Err()
}

// TestResumeMatchesLegacyDigests: rows an attempt stored, whose receipts
// keep the digest of an earlier release, are found stored by the resume
// (the same content), not failed as conflicts nor stored again.
func TestResumeMatchesLegacyDigests(t *testing.T) {
	db := filepath.Join(t.TempDir(), "engine.db")
	e, err := engine.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if _, err := e.Seed(context.Background(), "../testdata/seed/reference.yaml"); err != nil {
		t.Fatal(err)
	}
	job := loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 50))
	opts := defaultOptions()
	opts.BatchSize, opts.Concurrency, opts.Grace = 20, 1, 100*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sum, dir, err := Load(ctx, job, legacyDigestEngine{Engine: e, db: db, stop: cancel}, opts)
	if err != nil || sum.ExitCode != 3 {
		t.Fatalf("interrupted load: %+v, %v; want exit 3", sum, err)
	}
	if n := countEvents(t, e); n != 18 {
		t.Fatalf("the interrupted load stored %d events, want the first call's 18", n)
	}
	opts.Resume = dir
	sum, dir, err = Load(context.Background(), job, e, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkEveryRowOnce(t, dir, sum, 50)
	if sum.EventsFound != 18 || sum.RowsSucceeded != 45 || sum.ErrorsByCode[crm.CodeReceiptConflict] != 0 {
		t.Errorf("resume: %d found stored, %d succeeded, %v; want 18 found, 45 succeeded, no conflicts", sum.EventsFound, sum.RowsSucceeded, sum.ErrorsByCode)
	}
	if n := countEvents(t, e); n != 45 {
		t.Errorf("engine holds %d events, want 45", n)
	}
}

// recordingEngine passes calls on to an engine and keeps each event sent,
// by its row key.
type recordingEngine struct {
	Engine
	mu   sync.Mutex
	sent map[string]crm.Event
	kind crm.Kind
}

func (r *recordingEngine) CreateEvents(ctx context.Context, req crm.BulkRequest) (crm.BulkResult, error) {
	r.mu.Lock()
	for i, k := range req.Keys {
		r.sent[k] = req.Events[i]
	}
	r.kind = req.Kind
	r.mu.Unlock()
	return r.Engine.CreateEvents(ctx, req)
}

// TestReplayOnPreviousReleaseStore: the receipts of a store made by the
// release before XXH3 digests (engine/testdata/store-v5.db, whose events
// came from testdata/purchases/online_retail.csv with its mapping) keep
// SHA-256 digests; the same rows mapped by today's code, replayed under
// their receipts, are answered with the stored events, not refused as
// conflicts nor stored again.
func TestReplayOnPreviousReleaseStore(t *testing.T) {
	const v5Run = "20261125T144649.866Z-395e0e06" // engine's v5Run
	ctx := context.Background()
	// Today's events of the rows: as a load sends them.
	rec := &recordingEngine{Engine: seededEngine(t), sent: map[string]crm.Event{}}
	job := loadJob(t, "../testdata/purchases/mapping.yaml", "../testdata/purchases/online_retail.csv")
	if _, _, err := Load(ctx, job, rec, defaultOptions()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../engine/testdata/store-v5.db")
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "store-v5.db")
	if err := os.WriteFile(db, b, 0o644); err != nil {
		t.Fatal(err)
	}
	old, err := engine.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	for _, want := range []struct{ key, number string }{{"0:2", "1"}, {"0:4", "2"}, {"0:6", "3"}} {
		ev, ok := rec.sent[want.key]
		if !ok {
			t.Fatalf("no event was sent for row %s", want.key)
		}
		res, err := old.CreateEvents(ctx, crm.BulkRequest{Kind: rec.kind, Events: []crm.Event{ev}, Run: v5Run, Keys: []string{want.key}, Replay: true})
		if err != nil || len(res.Processed) != 1 || res.Processed[0].Number != want.number || len(res.Found) != 1 {
			t.Errorf("replay of row %s = %+v, %v; want event %s, found stored", want.key, res, err, want.number)
		}
	}
	if n := countEvents(t, old); n != 3 {
		t.Errorf("the store holds %d events after the replays, want its 3", n)
	}
}
