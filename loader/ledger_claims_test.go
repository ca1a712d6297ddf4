package loader

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeGzip compresses src into dir/name at level, with a header of its
// own (name and time), as two gzip tools or two runs of one would.
func writeGzip(t *testing.T, src []byte, dir, name string, level int, mtime time.Time) string {
	t.Helper()
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	zw.Name, zw.ModTime = name, mtime
	zw.Write(src)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLedgerKnowsGzipByContent: the ledger knows a gzip input by what it
// decompresses to. The same export compressed again (another level,
// another header time), the plain file, and a byte-for-byte copy are all
// refused as loaded; an input an earlier release claimed by its
// compressed bytes is still refused; a damaged gzip is known by its bytes.
func TestLedgerKnowsGzipByContent(t *testing.T) {
	e := seededEngine(t)
	plain := writeWebCSV(t, 40)
	src, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	first := writeGzip(t, src, dir, "night.csv.gz", gzip.DefaultCompression, time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC))
	again := writeGzip(t, src, dir, "night-again.csv.gz", gzip.BestCompression, time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC))
	copied := filepath.Join(dir, "copy.csv.gz")
	b, _ := os.ReadFile(first)
	os.WriteFile(copied, b, 0o644)
	if b2, _ := os.ReadFile(again); bytes.Equal(b, b2) {
		t.Fatal("the two compressions are the same bytes: the test would not tell the keys apart")
	}

	ledger := FileLedger{Path: filepath.Join(t.TempDir(), LedgerFileName), Engine: "embedded"}
	opts := defaultOptions()
	opts.Ledger, opts.LedgerName = ledger, "this store"
	sum, _, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", first), e, opts)
	if err != nil || sum.RowsSucceeded != 36 {
		t.Fatalf("first load: %v, %d succeeded, want 36", err, sum.RowsSucceeded)
	}

	for _, tc := range []struct{ name, path string }{
		{"compressed again", again},
		{"plain", plain},
		{"byte-for-byte copy", copied},
	} {
		_, _, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", tc.path), e, opts)
		var already *AlreadyLoadedError
		if !errors.As(err, &already) {
			t.Errorf("%s: %v, want it refused as loaded", tc.name, err)
			continue
		}
		if len(already.Earlier) != 1 || already.Earlier[0].Name != first {
			t.Errorf("%s: earlier claims %+v, want the first load's once", tc.name, already.Earlier)
		}
		if want := tc.path + " has the same content as " + first; !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %q does not say %q", tc.name, err, want)
		}
	}
	if n := countEvents(t, e); n != 36 {
		t.Errorf("engine holds %d events, want the first load's 36", n)
	}

	// A ledger where an earlier release claimed the file by the hash of
	// its compressed bytes.
	sum256 := sha256.Sum256(b)
	old := FileLedger{Path: filepath.Join(t.TempDir(), LedgerFileName), Engine: "embedded"}
	if _, err := old.ClaimInputs(context.Background(), []Claim{{Hash: hex.EncodeToString(sum256[:]), Size: int64(len(b)), Name: first,
		Kind: "web", Run: "earlier-release", RunDir: dir, StartedAt: time.Now(), State: ClaimLoaded}}, false); err != nil {
		t.Fatal(err)
	}
	opts.Ledger = old
	_, _, err = Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", first), e, opts)
	if already := (*AlreadyLoadedError)(nil); !errors.As(err, &already) || already.Earlier[0].Run != "earlier-release" {
		t.Errorf("a file an earlier release claimed by its compressed bytes: %v, want refused", err)
	}

	// A damaged gzip: its fingerprint is its bytes'; the load reports the damage.
	cut := filepath.Join(dir, "cut.csv.gz")
	os.WriteFile(cut, b[:len(b)-9], 0o644)
	info, err := fingerprint(cut)
	if err != nil || info.Content != "" || info.SHA256 == "" {
		t.Errorf("fingerprint of a cut gzip: %+v, %v; want its bytes' hash only", info, err)
	}
	if got := info.claims(Claim{}); len(got) != 1 || got[0].Hash != info.SHA256 {
		t.Errorf("claims of a cut gzip: %+v, want one by its bytes", got)
	}
}

// TestConcurrentRetries: retries of retries while every row still fails
// are allowed (their failed report is byte for byte their input); two
// retries of one run started together: one stores the rows, the other is
// refused, and the rows are stored once.
func TestConcurrentRetries(t *testing.T) {
	e := seededEngine(t)
	ledger := FileLedger{Path: filepath.Join(t.TempDir(), LedgerFileName), Engine: "embedded"}
	opts := defaultOptions()
	opts.Ledger, opts.LedgerName = ledger, "this store"
	job := loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 50))
	sum, dir, err := Load(context.Background(), job, e, opts)
	if err != nil || sum.RowsFailed != 5 {
		t.Fatalf("first load: %v, %d failed, want 5", err, sum.RowsFailed)
	}
	retry := func(parent string) (*Summary, string, error) {
		failed, _ := RunDir(parent).FailedRows()
		o := opts
		o.Command, o.ParentDir = "retry", parent
		p := loadJob(t, "../testdata/web/mapping.yaml", failed)
		p.Reports, p.ReportDir = true, filepath.Dir(parent)
		return Load(context.Background(), p, e, o)
	}
	// Two retries in which every row fails again (the participant is
	// still missing): the second's failed report is its input's bytes.
	for range 2 {
		if sum, dir, err = retry(dir); err != nil || sum.RowsFailed != 5 {
			t.Fatalf("retry: %v, %d failed, want 5", err, sum.RowsFailed)
		}
	}
	seed := filepath.Join(t.TempDir(), "participant.yaml")
	os.WriteFile(seed, []byte("rewards_participants:\n  - {number: RP9999999999, accounts_receivable: ACR0000000077}\n"), 0o644)
	if _, err := e.Seed(context.Background(), seed); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, _, err := retry(dir)
			errs <- err
		}()
	}
	e1, e2 := <-errs, <-errs
	if (e1 == nil) == (e2 == nil) {
		t.Fatalf("two retries of one run at once: %v and %v; want one refused", e1, e2)
	}
	if n := countEvents(t, e); n != 50 {
		t.Errorf("engine holds %d events, want 50 (45 + the 5 retried once)", n)
	}
}

// TestGrownGzipKnownByContent: a .gz that grew (a gzip member appended)
// and was resumed is known, in the summary and the ledger, by what it
// decompresses to now: the whole file compressed anew is refused.
func TestGrownGzipKnownByContent(t *testing.T) {
	e := seededEngine(t)
	plain, err := os.ReadFile(writeWebCSV(t, 100))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := writeGzip(t, plain, dir, "web.csv.gz", gzip.DefaultCompression, time.Time{})
	opts := defaultOptions()
	opts.Ledger, opts.LedgerName = FileLedger{Path: filepath.Join(t.TempDir(), LedgerFileName), Engine: "embedded"}, "this store"
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // stopped before anything was sent
	_, run, _ := Load(ctx, loadJob(t, "../testdata/web/mapping.yaml", p), e, opts)
	if run == "" {
		t.Fatal("the interrupted load made no run directory")
	}
	more := []byte("v900,RP0000000010,www.crm.com/900,2016-06-22 15:00\n")
	member, _ := os.ReadFile(writeGzip(t, more, t.TempDir(), "more.gz", gzip.DefaultCompression, time.Time{}))
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(member)
	f.Close()
	resume := opts
	resume.Resume = run
	sum, _, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", p), e, resume)
	if err != nil || sum.RowsRead != 101 {
		t.Fatalf("resume of the grown .gz: %v, %d rows read, want 101", err, sum.RowsRead)
	}
	now, _ := fingerprint(p)
	if now.Content == "" || sum.Inputs[0].Content != now.Content || sum.Inputs[0].SHA256 != now.SHA256 {
		t.Errorf("summary input %+v, want the file as it is now (content %s)", sum.Inputs[0], now.Content)
	}
	whole := writeGzip(t, append(plain, more...), t.TempDir(), "whole.csv.gz", gzip.BestCompression, time.Time{})
	var already *AlreadyLoadedError
	if _, _, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", whole), e, opts); !errors.As(err, &already) {
		t.Errorf("the grown file's rows compressed anew: %v, want refused as loaded", err)
	}
}

// racingLedger is a file ledger on which another run claims its inputs
// right after this run's first call, whatever that call found, as a
// concurrent load of the same file could.
type racingLedger struct {
	FileLedger
	other   []Claim
	calls   int
	refused bool // the other run was refused
}

func (l *racingLedger) ClaimInputs(ctx context.Context, claims []Claim, again bool) ([]Claim, error) {
	earlier, err := l.FileLedger.ClaimInputs(ctx, claims, again)
	if l.calls++; l.calls == 1 {
		e2, err2 := l.FileLedger.ClaimInputs(ctx, l.other, false)
		if err2 != nil {
			return nil, err2
		}
		l.refused = len(e2) > 0
	}
	return earlier, err
}

// TestNoRowsClaimRace: a run given an input without rows that was loaded
// before (tonight's header-only export, the same bytes as last night's)
// and an export with rows claims the one with rows as every run does, so
// that of two runs given it at once one is refused. It did not: the first
// call found last night's claim and recorded nothing, the other run
// claimed the export meanwhile, and the second call recorded everything
// as loaded again: both runs stored its rows (2 of 40 concurrent pairs).
func TestNoRowsClaimRace(t *testing.T) {
	ctx := context.Background()
	fl := FileLedger{Path: filepath.Join(t.TempDir(), LedgerFileName), Engine: "embedded"}
	at := time.Now()
	night := func(name, hash, run string, noRows bool) Claim {
		return Claim{Hash: hash, Kind: "web", Name: name, Run: run, RunDir: "/r/" + run, StartedAt: at, noRows: noRows}
	}
	if _, err := fl.ClaimInputs(ctx, []Claim{night("monday.csv", "H", "r0", true)}, false); err != nil {
		t.Fatal(err)
	}
	l := &racingLedger{FileLedger: fl, other: []Claim{night("sales.csv", "S", "rB", false)}}
	err := claim(ctx, LoadOptions{Ledger: l, LedgerName: "this store"}, []Claim{night("tuesday.csv", "H", "rA", true), night("sales.csv", "S", "rA", false)})
	if accepted := err == nil; accepted == !l.refused {
		t.Fatalf("run A accepted %v (%v), the other run accepted %v: sales.csv is claimed by exactly one", accepted, err, !l.refused)
	}
	// Alone, the run with last night's bytes and an export is accepted.
	l2 := &racingLedger{FileLedger: FileLedger{Path: filepath.Join(t.TempDir(), LedgerFileName), Engine: "embedded"}}
	if _, err := l2.FileLedger.ClaimInputs(ctx, []Claim{night("monday.csv", "H", "r0", true)}, false); err != nil {
		t.Fatal(err)
	}
	if err := claim(ctx, LoadOptions{Ledger: &l2.FileLedger, LedgerName: "this store"}, []Claim{night("tuesday.csv", "H", "rA", true), night("sales.csv", "S", "rA", false)}); err != nil {
		t.Fatalf("tuesday's header-only export with an export of rows: %v", err)
	}
}

// TestNoRows: which inputs hold no row, so that the ledger waives an
// earlier claim of their bytes. A changed file, an unreadable one or a
// comment the mapping does not skip is an input with rows.
func TestNoRows(t *testing.T) {
	dir := t.TempDir()
	header := "visit_id,participant\n"
	for _, c := range []struct {
		name, text string
		opts       SourceOptions
		changed    bool
		want       bool
	}{
		{name: "header.csv", text: header, want: true},
		{name: "blank.csv", text: header + "\n\n", want: true},
		{name: "crlf.csv", text: "visit_id,participant\r\n\r\n", want: true},
		{name: "row.csv", text: header + "v1,P1\n"},
		{name: "comments.csv", text: header + "# none\n# tonight\n", opts: SourceOptions{Comment: "#"}, want: true},
		{name: "comment-row.csv", text: header + "# none\nv1,P1\n", opts: SourceOptions{Comment: "#"}},
		{name: "unskipped.csv", text: header + "# none\n"},
		{name: "empty.jsonl", text: "\n\n", want: true},
		{name: "row.jsonl", text: "{\"visit_id\":\"v1\"}\n"},
		{name: "bad.jsonl", text: "{\n"},
		{name: "rewritten.csv", text: header, changed: true},
		{name: "missing.csv"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name)
			if c.text != "" {
				if err := os.WriteFile(path, []byte(c.text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			info, _ := fingerprint(path)
			if c.changed {
				info.Size++ // hashed when it held more (rows since cut)
			}
			if got := noRows(path, c.opts, info); got != c.want {
				t.Errorf("noRows = %v, want %v", got, c.want)
			}
		})
	}
}
