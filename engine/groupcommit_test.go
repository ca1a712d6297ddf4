package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmload/crmload/crm"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// TestGroupCommit: calls committed in one group keep their own results: a
// call that fails (an event referencing a record the store does not have)
// and a dry run are rolled back alone, the calls around them are stored,
// numbered in order, under ids their numbers make.
func TestGroupCommit(t *testing.T) {
	e := newTestEngine(t, "testdata/rules.yaml")
	s := e.store.(*sqliteStore)
	ctx := context.Background()
	pending := func(n int, prefix string) []*PendingEvent {
		req := crm.BulkRequest{Kind: crm.Purchases}
		for i := range n {
			req.Events = append(req.Events, crm.Event{RequestUniqueIdentifier: prefix + string(rune('a'+i)),
				AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"}, PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"},
				PerformedOn: "2016-06-22T15:00:00", ReferenceNumber: "RF" + prefix,
				ProductsSet: []crm.PurchaseProduct{{Product: &crm.ProductIdentifier{Code: "Bronze"}, TotalAmount: "12.50"}}})
		}
		errs := make([]*crm.Error, n)
		p, err := e.resolveAll(ctx, req, nil, errs, newArena(len(req.Events)))
		if err != nil || p[0] == nil {
			t.Fatalf("resolveAll: %v, %v", err, errs[0])
		}
		return p
	}
	first, bad, dry, last := pending(2, "1"), pending(1, "2"), pending(1, "3"), pending(3, "4")
	bad[0].Obj.Product = &RefObject{ID: "NO-SUCH-PRODUCT"}
	group := []*commitCall{
		{ctx: ctx, rows: first},
		{ctx: ctx, rows: bad},
		{ctx: ctx, rows: dry, opts: CommitOptions{DryRun: true}},
		{ctx: ctx, rows: last},
	}
	s.mu.Lock()
	s.commitGroup(group)
	s.mu.Unlock()
	if group[0].err != nil || group[1].err == nil || group[2].err != nil || group[3].err != nil {
		t.Fatalf("errors: %v, %v, %v, %v; want only the second call's", group[0].err, group[1].err, group[2].err, group[3].err)
	}
	var numbers []string
	if err := e.store.Events(ctx, Filter{}, func(o *EventObject) error {
		numbers = append(numbers, o.Number)
		if created, n, ok := parseEventID(o.ID); !ok || eventID(created, n) != o.ID || o.Number != strconv.FormatInt(n, 10) {
			t.Errorf("event %s has id %s", o.Number, o.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(numbers) != 5 || numbers[0] != "1" || numbers[4] != "5" {
		t.Errorf("stored %v, want the two events of the first call and the three of the last, numbered 1 to 5", numbers)
	}
	if last[2].Obj.Number != "5" || first[0].Obj.Number != "1" {
		t.Errorf("numbers given: first call %s, last call %s", first[0].Obj.Number, last[2].Obj.Number)
	}
}

// commitGroupClosed commits group as the writer's holder does, and fails
// the test when that leaves the writer's transaction open.
func commitGroupClosed(t *testing.T, s *sqliteStore, group []*commitCall) {
	t.Helper()
	s.mu.Lock()
	s.commitGroup(group)
	open := !s.writer.AutocommitEnabled()
	s.mu.Unlock()
	if open {
		t.Fatal("the writer's transaction is still open")
	}
}

// resolvedPurchases returns n purchases of one product line, request ids
// "call-j", resolved and ready to commit.
func resolvedPurchases(t *testing.T, e *Engine, call, n int) []*PendingEvent {
	t.Helper()
	req := crm.BulkRequest{Kind: crm.Purchases}
	for j := range n {
		req.Events = append(req.Events, crm.Event{RequestUniqueIdentifier: fmt.Sprintf("%d-%d", call, j),
			AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"}, PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"},
			PerformedOn: "2016-06-22T15:00:00", ReferenceNumber: "RF",
			ProductsSet: []crm.PurchaseProduct{{Product: &crm.ProductIdentifier{Code: "Bronze"}, TotalAmount: "12.50"}}})
	}
	errs := make([]*crm.Error, n)
	rows, err := e.resolveAll(context.Background(), req, nil, errs, newArena(len(req.Events)))
	if err != nil {
		t.Fatal(err)
	}
	for j, r := range rows {
		if r == nil {
			t.Fatalf("event %d-%d not resolved: %v", call, j, errs[j])
		}
	}
	return rows
}

// TestGroupCommitOrders: whichever call of a group fails, and wherever a
// dry run stands, the calls that succeed are stored, numbered in order
// from 1, and the others leave nothing; no transaction stays open. A call
// that finds the transaction empty runs without a savepoint (its failure
// rolls the transaction back and begins it again for the rest), the
// others inside one.
func TestGroupCommitOrders(t *testing.T) {
	for _, tc := range []struct {
		calls string // one letter a call: o stores 2 events, b fails, d is a dry run
		want  int    // events stored
	}{
		{"o", 2},
		{"b", 0},
		{"d", 0},
		{"bo", 2},
		{"ob", 2},
		{"bbo", 2},
		{"dbo", 2},
		{"bob", 2},
		{"obdo", 4},
		{"bdbo", 2},
		{"oob", 4},
		{"bd", 0},
	} {
		t.Run(tc.calls, func(t *testing.T) {
			e := newTestEngine(t, "testdata/rules.yaml")
			s := e.store.(*sqliteStore)
			ctx := context.Background()
			var group []*commitCall
			for i, c := range tc.calls {
				rows := resolvedPurchases(t, e, i, 2)
				call := &commitCall{ctx: ctx, rows: rows}
				switch c {
				case 'b':
					rows[1].Obj.Product = &RefObject{ID: "NO-SUCH-PRODUCT"} // its first event is good
				case 'd':
					call.opts.DryRun = true
				}
				group = append(group, call)
			}
			commitGroupClosed(t, s, group)
			next := 1
			for i, c := range tc.calls {
				g := group[i]
				if (g.err != nil) != (c == 'b') {
					t.Errorf("call %d (%c): error %v", i, c, g.err)
				}
				if c == 'o' {
					if g.rows[0].Obj.Number != strconv.Itoa(next) || g.rows[1].Obj.Number != strconv.Itoa(next+1) {
						t.Errorf("call %d numbered %s, %s; want %d, %d", i, g.rows[0].Obj.Number, g.rows[1].Obj.Number, next, next+1)
					}
					next += 2
				}
			}
			if got := listNumbers(t, e, Filter{}); len(got) != tc.want {
				t.Errorf("stored %v, want %d events", got, tc.want)
			}
		})
	}
}

// TestValidatedStaysStrict: a request marked Validated skips the engine's
// per-event check only for the bulk schema of the zero version; a single
// create method's request is checked whatever it says.
func TestValidatedStaysStrict(t *testing.T) {
	e := newTestEngine(t, "testdata/rules.yaml")
	bad := crm.Event{RequestUniqueIdentifier: "1", AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"},
		PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "not a date", ReferenceNumber: "RF"}
	res, err := e.CreateEvents(context.Background(), crm.BulkRequest{Kind: crm.Web, Events: []crm.Event{bad}, Validated: true, Single: true})
	if err != nil || len(res.Unprocessed) != 1 {
		t.Errorf("a single create's invalid event marked validated = %+v, %v; want it refused", res, err)
	}
	res, err = e.CreateEvents(context.Background(), crm.BulkRequest{Kind: crm.Web, Events: []crm.Event{bad}})
	if err != nil || len(res.Unprocessed) != 1 {
		t.Errorf("an invalid event = %+v, %v; want it refused", res, err)
	}
}

// TestGroupCommitInterrupted: a commit whose call is cancelled at any
// moment (here at 30 points from before BEGIN to after COMMIT) leaves no
// transaction open on the writer (an interrupted connection runs no
// ROLLBACK; the write lock would stay held), and stores all of the call or
// none of it, as its error says.
func TestGroupCommitInterrupted(t *testing.T) {
	e := newTestEngine(t, "testdata/rules.yaml")
	s := e.store.(*sqliteStore)
	stored := 0
	for i := range 30 {
		rows := resolvedPurchases(t, e, i, 300)
		ctx, cancel := context.WithCancel(context.Background())
		timer := time.AfterFunc(time.Duration(i)*150*time.Microsecond, cancel)
		err := s.Commit(ctx, rows, CommitOptions{})
		timer.Stop()
		cancel()
		s.mu.Lock()
		open := !s.writer.AutocommitEnabled()
		s.mu.Unlock()
		if open {
			t.Fatalf("cancel after %d µs: the writer's transaction is still open (commit: %v)", i*150, err)
		}
		if err == nil {
			stored += len(rows)
		}
		if got := len(listNumbers(t, e, Filter{})); got != stored {
			t.Fatalf("cancel after %d µs: %d events stored, want %d (commit: %v)", i*250, got, stored, err)
		}
	}
	// The store still takes writes.
	if _, err := e.CreateEvents(context.Background(), crm.BulkRequest{Kind: crm.Web, Events: []crm.Event{{RequestUniqueIdentifier: "w",
		AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"}, PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"},
		PerformedOn: "2016-06-22T15:00:00", Website: "w"}}}); err != nil {
		t.Fatalf("a write after the interrupted commits: %v", err)
	}
}

// TestEventIDOutsideItsRange: an event created at a time the id's 48 bits
// of milliseconds do not hold (a clock before 1970, or after year 10889) is
// still found by its own id, and by no other.
func TestEventIDOutsideItsRange(t *testing.T) {
	for _, at := range []time.Time{time.UnixMilli(-5000), time.UnixMilli(1<<48 + 7)} {
		e := newTestEngine(t, "testdata/rules.yaml")
		e.now = func() time.Time { return at }
		res, err := e.CreateEvents(context.Background(), crm.BulkRequest{Kind: crm.Web, Events: []crm.Event{{RequestUniqueIdentifier: "w",
			AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"}, PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"},
			PerformedOn: "2016-06-22T15:00:00", Website: "w"}}})
		if err != nil || len(res.Processed) != 1 {
			t.Fatalf("create at %v: %+v %v", at, res, err)
		}
		id := res.Processed[0].ID
		if _, err := e.Event(context.Background(), id); err != nil {
			t.Errorf("created at %v: its own id %s: %v", at, id, err)
		}
		other := id[:11] + string("0123456789ABCDEF"[(strings.IndexByte("0123456789ABCDEF", id[11])+1)%16]) + id[12:]
		if _, err := e.Event(context.Background(), other); err == nil {
			t.Errorf("created at %v: id %s (time part changed) found an event", at, other)
		}
	}
}

// TestWriteAfterClose: a write reaching a closed store (a handler still
// running while engine serve closes) is an error, not a panic.
func TestWriteAfterClose(t *testing.T) {
	e := newTestEngine(t, "testdata/rules.yaml")
	e.Close()
	_, err := e.CreateEvents(context.Background(), crm.BulkRequest{Kind: crm.Web, Events: []crm.Event{{RequestUniqueIdentifier: "w",
		AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"}, PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"},
		PerformedOn: "2016-06-22T15:00:00", Website: "w"}}})
	if err == nil {
		t.Fatal("a write after Close succeeded")
	}
	if _, err := e.Cancel(context.Background(), "1"); err == nil {
		t.Fatal("a cancel after Close succeeded")
	}
}

// TestEncodeRows: what Commit encodes before it takes the writer is what
// the writer would encode itself; a row it cannot encode alone (a
// reference without its rid, a digest that is not hex) is left to the
// writer, and a commit of calls made either way stores the same bytes.
func TestEncodeRows(t *testing.T) {
	e := newTestEngine(t, "testdata/rules.yaml")
	s := e.store.(*sqliteStore)
	ctx := context.Background()
	req := crm.BulkRequest{Kind: crm.Purchases, Run: "run", Keys: []string{"0:2", "0:3", "0:4", "0:5"}}
	for i := range 4 {
		req.Events = append(req.Events, crm.Event{RequestUniqueIdentifier: fmt.Sprint("r", i),
			AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"}, PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"},
			PerformedOn: "2016-06-22T15:00:00", ReferenceNumber: fmt.Sprint("RF", i), UDFs: crm.UDFs{UDFString1: strings.Repeat("u", i)},
			ProductsSet: []crm.PurchaseProduct{{Product: &crm.ProductIdentifier{Code: "Bronze"}, Quantity: "2", TotalAmount: "12.50"}}})
	}
	digests := []string{"00112233445566778899aabbccddeeff", "", "not hex", "ffeeddccbbaa99887766554433221100"}
	errs := make([]*crm.Error, len(req.Events))
	rows, err := e.resolveAll(ctx, req, digests, errs, newArena(len(req.Events)))
	if err != nil || rows[3] == nil {
		t.Fatalf("resolveAll: %v, %v", err, errs)
	}
	rows[2].Obj.Product = &RefObject{ID: rows[0].Obj.ProductsSet[0].Product.ID} // no rid: only the store knows it
	pre := encodeRows(rows)
	s.mu.Lock()
	defer s.mu.Unlock()
	rids := ridFinder{c: s.writer}
	for i, p := range rows {
		want, err := encodeData(nil, p.Obj, rids.rid)
		if err != nil {
			t.Fatal(err)
		}
		switch got := pre.data(i); {
		case i == 2 && got != nil:
			t.Errorf("row 2 (a reference without its rid) encoded before the writer: %x", got)
		case i != 2 && !bytes.Equal(got, want):
			t.Errorf("row %d: encoded before the writer %x, by it %x", i, got, want)
		}
		if d, want := pre.digest(i), map[int]string{0: digests[0], 3: digests[3]}[i]; hex.EncodeToString(d) != want {
			t.Errorf("row %d: digest bytes %x, want %q", i, d, want)
		}
	}
	// A group of the same rows, once encoded before and once not, stores
	// the same data and digests.
	copyRows := func() []*PendingEvent {
		out := make([]*PendingEvent, len(rows))
		for i, p := range rows {
			c, o := *p, *p.Obj
			c.Obj = &o
			out[i] = &c
		}
		return out
	}
	s.commitGroup([]*commitCall{{ctx: ctx, rows: copyRows(), pre: pre}, {ctx: ctx, rows: copyRows()}})
	var stored [][2]string
	if err := sqlitex.Execute(s.writer, "SELECT hex(data), hex(receipt_digest) FROM events ORDER BY number", &sqlitex.ExecOptions{
		ResultFunc: func(st *sqlite.Stmt) error {
			stored = append(stored, [2]string{st.ColumnText(0), st.ColumnText(1)})
			return nil
		}}); err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2*len(rows) {
		t.Fatalf("stored %d events, want %d", len(stored), 2*len(rows))
	}
	for i := range rows {
		if stored[i] != stored[len(rows)+i] {
			t.Errorf("row %d stored %v encoded before the writer, %v by it", i, stored[i], stored[len(rows)+i])
		}
	}
}

// TestBeginImmediate: the writer's lock, held by another connection (as
// another process would), is waited for until it is let go; a wait whose
// calls are all cancelled gives up with SQLite's busy error.
func TestBeginImmediate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock.db")
	open := func() *sqlite.Conn {
		c, err := sqlite.OpenConn(path, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := sqlitex.ExecuteTransient(c, "PRAGMA journal_mode = WAL", nil); err != nil {
			t.Fatal(err)
		}
		return c
	}
	holder, waiter := open(), open()
	if err := sqlitex.ExecuteTransient(holder, "BEGIN IMMEDIATE", nil); err != nil {
		t.Fatal(err)
	}
	cancelled := make(chan struct{})
	close(cancelled)
	if err := beginImmediate(waiter, cancelled); sqlite.ErrCode(err).ToPrimary() != sqlite.ResultBusy {
		t.Fatalf("cancelled wait for a held lock = %v, want SQLITE_BUSY", err)
	}
	got := make(chan error)
	go func() { got <- beginImmediate(waiter, nil) }()
	select {
	case err := <-got:
		t.Fatalf("the lock was taken while another held it: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := sqlitex.ExecuteTransient(holder, "COMMIT", nil); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("the lock let go was not taken: %v", err)
	}
	if err := sqlitex.ExecuteTransient(waiter, "COMMIT", nil); err != nil {
		t.Fatal(err)
	}
}

// TestLegacyDigestReceipts: a receipt whose digest an earlier release
// kept (the first 16 bytes of a SHA-256 of the kind and the wire form)
// still answers a replay or an idempotent call of the same content with
// its event, and other content under its key is still a conflict.
func TestLegacyDigestReceipts(t *testing.T) { forStores(t, testLegacyDigestReceipts) }

func testLegacyDigestReceipts(t *testing.T, store string) {
	e := newStoreEngine(t, store, "testdata/rules.yaml")
	ctx := context.Background()
	purchase := func(ref string) crm.Event {
		return crm.Event{RequestUniqueIdentifier: "r1", AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"},
			PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"}, PerformedOn: "2016-06-22T15:00:00", ReferenceNumber: ref,
			ProductsSet: []crm.PurchaseProduct{{Product: &crm.ProductIdentifier{Code: "Bronze"}, Quantity: "2", NetAmount: "10", VATAmount: "2.50", TotalAmount: "12.50"}}}
	}
	req := crm.BulkRequest{Kind: crm.Purchases, Run: "run", Keys: []string{"0:2"}, Events: []crm.Event{purchase("RF1")}}
	first, err := e.CreateEvents(ctx, req)
	if err != nil || len(first.Processed) != 1 {
		t.Fatalf("first call = %+v, %v", first, err)
	}
	wire, err := json.Marshal(&req.Events[0])
	if err != nil {
		t.Fatal(err)
	}
	legacy := sha256.Sum256(append([]byte("purchases\x00"), wire...))
	switch s := e.store.(type) {
	case *sqliteStore:
		err = sqlitex.Execute(s.writer, "UPDATE events SET receipt_digest = ?", &sqlitex.ExecOptions{Args: []any{legacy[:16]}})
	case *pgStore:
		_, err = s.pool.Exec(ctx, "UPDATE events SET load_digest = $1", hex.EncodeToString(legacy[:16]))
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []struct {
		name               string
		replay, idempotent bool
	}{{"replay", true, false}, {"idempotent", false, true}} {
		same := req
		same.Replay, same.Idempotent = mode.replay, mode.idempotent
		res, err := e.CreateEvents(ctx, same)
		if err != nil || len(res.Processed) != 1 || res.Processed[0].Number != first.Processed[0].Number {
			t.Errorf("%s of the same content = %+v, %v; want event %s", mode.name, res, err, first.Processed[0].Number)
		}
		other := same
		other.Events = []crm.Event{purchase("RF2")}
		res, err = e.CreateEvents(ctx, other)
		if err != nil || len(res.Unprocessed) != 1 || res.Unprocessed[0].ErrorCode != crm.CodeReceiptConflict {
			t.Errorf("%s of other content = %+v, %v; want %s", mode.name, res, err, crm.CodeReceiptConflict)
		}
	}
	n := 0
	if err := e.Events(ctx, Filter{}, func([]byte) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("store holds %d events (%v), want 1", n, err)
	}
}

// TestResolveWhileCommitting: a call is resolved (its references read,
// the reference version checked) while another call holds the writer:
// the reads do not wait for the commit in progress. They did, and
// resolving and committing took turns, a 100k-row load's senders waiting
// for it 35 ms and the calls behind them on the engine's lock 160 ms.
func TestResolveWhileCommitting(t *testing.T) {
	e := newTestEngine(t, "testdata/rules.yaml")
	s := e.store.(*sqliteStore)
	ctx := context.Background()
	req := crm.BulkRequest{Kind: crm.Purchases, Events: []crm.Event{{RequestUniqueIdentifier: "r1",
		AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"}, PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"},
		PerformedOn: "2016-06-22T15:00:00", ReferenceNumber: "RF1",
		ProductsSet: []crm.PurchaseProduct{{Product: &crm.ProductIdentifier{Code: "Bronze"}, TotalAmount: "12.50"}}}}}
	e.mu.Lock()
	e.cache.reset(-1) // resolved from the store, not a warm cache
	e.mu.Unlock()
	s.mu.Lock() // a commit in progress
	done := make(chan error, 1)
	go func() {
		errs := make([]*crm.Error, 1)
		p, err := e.resolveAll(ctx, req, nil, errs, newArena(1))
		if err == nil && (p[0] == nil || errs[0] != nil) {
			err = fmt.Errorf("not resolved: %v", errs[0])
		}
		done <- err
	}()
	select {
	case err := <-done:
		s.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		s.mu.Unlock()
		<-done
		t.Fatal("resolving a call waited for the commit in progress")
	}
}

// TestReadOnlyStoreCloseWhileReading: a read-only store's reads go
// through its writer connection (there is no reference reader): Close,
// racing them, takes the locks in the order they do. It took them in the
// other, and the two deadlocked.
func TestReadOnlyStoreCloseWhileReading(t *testing.T) {
	path := newEmptyStore(t)
	ctx := context.Background()
	for range 100 {
		s, err := openSQLiteReadOnly(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if s.refs != nil {
			t.Fatal("a read-only store has a reference reader")
		}
		var readers sync.WaitGroup
		for range 4 {
			readers.Go(func() {
				for {
					if _, err := s.ReferenceVersion(ctx); err != nil {
						return // closed
					}
				}
			})
		}
		done := make(chan struct{})
		go func() { readers.Wait(); close(done) }()
		closed := make(chan error, 1)
		go func() { closed <- s.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close and a read deadlocked")
		}
		<-done
	}
}

// TestNoLockStoreReadsOnWriter: a store opened by a nolock=1 URI keeps a
// rollback journal (no WAL); a reader of its own saw the writer's commits
// half done and failed on the journal ("attempt to write a readonly
// database"), so the engine resolves on the writer there. Calls created
// concurrently all succeed.
func TestNoLockStoreReadsOnWriter(t *testing.T) {
	ctx := context.Background()
	e, err := Open(ctx, "file:"+filepath.Join(t.TempDir(), "n.db")+"?nolock=1")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Seed(ctx, "testdata/rules.yaml"); err != nil {
		t.Fatal(err)
	}
	s := e.store.(*sqliteStore)
	if mode := journalMode(s.writer); mode == "wal" || s.refs != nil {
		t.Fatalf("journal mode %q, reference reader %v: want no WAL and no reader", mode, s.refs != nil)
	}
	var calls sync.WaitGroup
	errs := make(chan error, 4*20)
	for g := range 4 {
		calls.Go(func() {
			for c := range 20 {
				req := crm.BulkRequest{Kind: crm.Purchases}
				for i := range 50 {
					req.Events = append(req.Events, crm.Event{RequestUniqueIdentifier: fmt.Sprintf("%d-%d-%d", g, c, i),
						AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"}, PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"},
						PerformedOn: "2016-06-22T15:00:00", ReferenceNumber: "RF",
						ProductsSet: []crm.PurchaseProduct{{Product: &crm.ProductIdentifier{Code: "Bronze"}, NetAmount: "10.00", VATAmount: "2.50", TotalAmount: "12.50"}}})
				}
				e.mu.Lock()
				e.cache.reset(-1) // each call reads the store again
				e.mu.Unlock()
				res, err := e.CreateEvents(ctx, req)
				if err == nil && len(res.Unprocessed) > 0 {
					err = fmt.Errorf("%d unprocessed: %s", len(res.Unprocessed), res.Unprocessed[0].ErrorDescription)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	calls.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCommitInStatementsOfRows: a call's events are inserted in statements
// of several rows (insertRows, then powers of two). Whatever the count, and
// with rows answered from their receipts amid a statement's rows, every
// event is stored once, as itself, under the number its id was made from,
// the numbers following one another.
func TestCommitInStatementsOfRows(t *testing.T) {
	e := newTestEngine(t, "testdata/rules.yaml")
	ctx := context.Background()
	want := map[string]string{} // number: reference number (one a row)
	commit := func(call string, n int, keyed map[int]bool) []*PendingEvent {
		t.Helper()
		req := crm.BulkRequest{Kind: crm.Purchases}
		for j := range n {
			req.Events = append(req.Events, crm.Event{RequestUniqueIdentifier: fmt.Sprintf("%s-%d", call, j),
				AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"}, PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"},
				PerformedOn: "2016-06-22T15:00:00", ReferenceNumber: fmt.Sprintf("RF-%s-%d", call, j),
				ProductsSet: []crm.PurchaseProduct{{Product: &crm.ProductIdentifier{Code: "Bronze"}, TotalAmount: json.Number(fmt.Sprintf("%d.50", j))}}})
		}
		rows, err := e.resolveAll(ctx, req, nil, make([]*crm.Error, n), newArena(n))
		if err != nil {
			t.Fatal(err)
		}
		for j, p := range rows {
			if keyed[j] {
				p.LoadRun, p.LoadKey, p.Digest = "r", fmt.Sprintf("0:%d", j+2), fmt.Sprintf("%02x", j%200+1)
			}
		}
		if err := e.store.Commit(ctx, rows, CommitOptions{Idempotent: true}); err != nil {
			t.Fatalf("call %s of %d events: %v", call, n, err)
		}
		return rows
	}
	last := int64(0)
	for _, n := range []int{1, 2, 63, 64, 65, 127, 130, 1000} {
		call := strconv.Itoa(n)
		for j, p := range commit(call, n, nil) {
			last++
			if p.Obj.Number != strconv.FormatInt(last, 10) {
				t.Fatalf("call of %d: event %d numbered %s, want %d", n, j, p.Obj.Number, last)
			}
			want[p.Obj.Number] = p.Obj.ReferenceNumber
		}
	}
	// A call of 130 rows, six of them with receipts; then a call of the
	// same rows, all with receipts: the six are answered from theirs, the
	// others stored, numbered on from the last.
	stored := map[int]bool{0: true, 1: true, 63: true, 64: true, 100: true, 129: true}
	first := commit("early", 130, stored)
	for _, p := range first {
		last++
		want[p.Obj.Number] = p.Obj.ReferenceNumber
	}
	all := map[int]bool{}
	for j := range 130 {
		all[j] = true
	}
	again := commit("early", 130, all)
	for j, p := range again {
		if stored[j] {
			if !p.Found || p.Obj.Number != first[j].Obj.Number {
				t.Errorf("row %d, stored already as %s: answered %s (found %v)", j, first[j].Obj.Number, p.Obj.Number, p.Found)
			}
			continue
		}
		last++
		if p.Found || p.Obj.Number != strconv.FormatInt(last, 10) {
			t.Errorf("row %d: numbered %s (found %v), want %d", j, p.Obj.Number, p.Found, last)
		}
		want[p.Obj.Number] = p.Obj.ReferenceNumber
	}
	got := map[string]string{}
	if err := e.store.Events(ctx, Filter{}, func(o *EventObject) error {
		if created, n, ok := parseEventID(o.ID); !ok || eventID(created, n) != o.ID || o.Number != strconv.FormatInt(n, 10) {
			t.Errorf("event %s has id %s", o.Number, o.ID)
		}
		if _, dup := got[o.Number]; dup {
			t.Errorf("event %s stored twice", o.Number)
		}
		got[o.Number] = o.ReferenceNumber
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if int64(len(got)) != last || !maps.Equal(got, want) {
		t.Errorf("stored %d events, want %d; each as its row: %v", len(got), last, maps.Equal(got, want))
	}
}

// TestCommitStatementFailsMidway: a statement of several rows that fails
// at its step (a trigger raises FAIL at the call's row 100 of 130, in its
// second statement of 64, or at its row 0, the first of its first) keeps
// the rows before it, OR FAIL; commitGroup must undo the call whole,
// whether it ran bare (first in its group) or in a savepoint, and keep the
// other calls, numbered on without a gap; the error names the event.
func TestCommitStatementFailsMidway(t *testing.T) {
	for _, tc := range []struct {
		calls string
		row   int
	}{{"b", 100}, {"ob", 100}, {"bo", 100}, {"obo", 100}, {"bbo", 100}, {"b", 0}, {"ob", 0}} {
		calls := tc.calls
		t.Run(fmt.Sprintf("%s-row%d", calls, tc.row), func(t *testing.T) {
			e := newTestEngine(t, "testdata/rules.yaml")
			s := e.store.(*sqliteStore)
			ctx := context.Background()
			exec := func(q string, result func(*sqlite.Stmt) error) {
				t.Helper()
				s.mu.Lock()
				defer s.mu.Unlock()
				if err := sqlitex.ExecuteTransient(s.writer, q, &sqlitex.ExecOptions{ResultFunc: result}); err != nil {
					t.Fatal(err)
				}
			}
			exec(fmt.Sprintf(`CREATE TEMP TRIGGER fail BEFORE INSERT ON main.events WHEN NEW.request_id LIKE 'b%%-%d'
				BEGIN SELECT RAISE(FAIL, 'the row fails'); END`, tc.row), nil)
			var group []*commitCall
			stored := 0
			for i, c := range calls {
				rows := resolvedPurchases(t, e, i, 130)
				for j, p := range rows {
					p.RequestID = string(c) + p.RequestID
					p.LoadRun, p.LoadKey, p.Digest = "r", fmt.Sprintf("%d:%d", i, j+2), "01"
				}
				group = append(group, &commitCall{ctx: ctx, rows: rows, pre: encodeRows(rows), opts: CommitOptions{Idempotent: true}})
				if c == 'o' {
					stored += len(rows)
				}
			}
			commitGroupClosed(t, s, group)
			for i, c := range calls {
				if failed := group[i].err != nil; failed != (c == 'b') {
					t.Errorf("call %d (%c): error %v", i, c, group[i].err)
				} else if failed && !strings.Contains(group[i].err.Error(), fmt.Sprintf("insert event b%d-%d: ", i, tc.row)) {
					t.Errorf("call %d: %v; want it to name the event that failed", i, group[i].err)
				}
			}
			var events, distinct, lo, hi, failing, calls int
			exec(`SELECT count(*), count(DISTINCT number), coalesce(min(number), 0), coalesce(max(number), 0),
				count(*) FILTER (WHERE request_id LIKE 'b%'), (SELECT coalesce(sum(last - first + 1), 0) FROM load_calls) FROM events`,
				func(st *sqlite.Stmt) error {
					events, distinct, lo, hi, failing, calls = st.ColumnInt(0), st.ColumnInt(1), st.ColumnInt(2), st.ColumnInt(3), st.ColumnInt(4), st.ColumnInt(5)
					return nil
				})
			if events != stored || distinct != stored || hi != stored || stored > 0 && lo != 1 || failing != 0 || calls != stored {
				t.Errorf("%d events (%d numbers, %d to %d, %d of the failing calls), load_calls cover %d; want the %d of the others, numbered from 1",
					events, distinct, lo, hi, failing, calls, stored)
			}
			exec("DROP TRIGGER temp.fail", nil)
			next := resolvedPurchases(t, e, 9, 3)
			if err := s.Commit(ctx, next, CommitOptions{}); err != nil {
				t.Fatal(err)
			}
			if next[0].Obj.Number != strconv.Itoa(stored+1) {
				t.Errorf("the next call's first event numbered %s, want %d", next[0].Obj.Number, stored+1)
			}
		})
	}
}
