package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/crmload/crmload/crm"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// TestWALStartsOver: under writers that commit back to back, the -wal
// file stays near restartFrames frames however much is written, because
// the checkpointer makes the next commit start the WAL over: with one
// engine (a load's senders) and with two engines on one file (two
// processes). A checkpoint that copies the WAL whole while a writer's
// next transaction has begun does not restart it, and the WAL then grew
// with the load: to the store's size.
func TestWALStartsOver(t *testing.T) {
	every, restart := checkpointEvery, restartFrames
	checkpointEvery, restartFrames = time.Millisecond, 64 // 256 KiB
	t.Cleanup(func() { checkpointEvery, restartFrames = every, restart })
	for _, tc := range []struct {
		engines int
		bound   int64 // the -wal file's largest size allowed, in parts of the store's
	}{{1, 5}, {2, 2}} {
		engines := tc.engines
		t.Run(fmt.Sprintf("engines=%d", engines), func(t *testing.T) {
			first := newTestEngine(t, "testdata/rules.yaml")
			path := first.store.(*sqliteStore).path
			es := []*Engine{first}
			for range engines - 1 {
				e, err := Open(context.Background(), path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { e.Close() })
				es = append(es, e)
			}
			walMax := writeBackToBack(t, es, path)
			db, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			// Every page of the store went through the WAL at least once:
			// a WAL that never starts over is the database's size or more
			// (two engines, the PASSIVE copy of dc48bf7: 100-150%); one
			// engine under 135d72b's checkpointer, which restarted the WAL
			// only when a checkpoint happened to lag, 32-40%. One that
			// starts over stays near 64 frames, plus what the commits add
			// until the checkpointer's next turn: 7-10% with one engine;
			// with two, until its RESTART finds the other engine between
			// transactions: 8-14% on a quiet machine, 35% seen under CI's
			// load. Hence a fifth for one engine, a half for two. With two
			// engines this catches a checkpointer that never restarts the
			// WAL (50-90%), not reliably one that copies PASSIVE under
			// the lock (19-60%, overlapping); TestRestartDoesNotWait
			// checks restart itself.
			t.Logf("database %d KiB, -wal at most %d KiB", db.Size()>>10, walMax>>10)
			if db.Size() < 8<<20 {
				t.Fatalf("database %d bytes: the test wrote too little to tell", db.Size())
			}
			if walMax > db.Size()/tc.bound {
				t.Errorf("-wal grew to %d KiB for a database of %d KiB: the WAL did not start over", walMax>>10, db.Size()>>10)
			}
		})
	}
}

// writeBackToBack stores 160,000 purchases through es, four senders in
// all, each committing as soon as its last call returned, and returns the
// largest size of path's -wal file seen after a call. (Enough that the
// figures above keep well apart: at 80,000 the two engines' restarting
// WAL reached 2.2 MiB of 6.9 on a busy machine.)
func writeBackToBack(t *testing.T, es []*Engine, path string) int64 {
	t.Helper()
	const senders, calls, events = 4, 160, 250
	var wg sync.WaitGroup
	var mu sync.Mutex
	var walMax int64
	errs := make(chan error, senders)
	for s := range senders {
		e := es[s%len(es)]
		wg.Go(func() {
			for c := range calls {
				req := crm.BulkRequest{Kind: crm.Purchases}
				for j := range events {
					req.Events = append(req.Events, crm.Event{RequestUniqueIdentifier: fmt.Sprintf("%d-%d-%d", s, c, j),
						AccountsReceivable: &crm.AccountIdentifier{Number: "ACR0000000077"}, PerformedByUnit: &crm.NamedIdentifier{Name: "Admin Unit"},
						PerformedOn: "2016-06-22T15:00:00", ReferenceNumber: fmt.Sprintf("RF%d-%d-%d", s, c, j),
						ProductsSet: []crm.PurchaseProduct{{Product: &crm.ProductIdentifier{Code: "Bronze"}, NetAmount: "10.00", VATAmount: "2.50", TotalAmount: "12.50"}}})
				}
				res, err := e.CreateEvents(context.Background(), req)
				if err == nil && len(res.Unprocessed) > 0 {
					err = fmt.Errorf("call %d-%d: %d unprocessed, the first: %v", s, c, len(res.Unprocessed), res.Unprocessed[0])
				}
				if err != nil {
					errs <- err
					return
				}
				fi, err := os.Stat(path + "-wal")
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				walMax = max(walMax, fi.Size())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return walMax
}

// TestRestartDoesNotWait: the checkpointer's restart, which holds this
// process's writer lock, answers at once while a reader holds an older
// snapshot (an `events list` in another process), instead of waiting the
// busy timeout out with every commit of this process held up; once the
// reader is done, a restart and the next commit start the WAL over.
func TestRestartDoesNotWait(t *testing.T) {
	e := newTestEngine(t, "testdata/rules.yaml")
	s := e.store.(*sqliteStore)
	// The store's own checkpointer is stopped: its checkpoints in the
	// background would race this test's (a RESTART meeting a PASSIVE
	// answers busy and copies nothing; a PASSIVE after the reader is done
	// starts the WAL over without restart), and the test would pass or
	// fail by the scheduler. The test's checkpointer is the only one.
	if err := s.ckpt.close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	commit := func(call int) {
		t.Helper()
		if err := s.Commit(ctx, resolvedPurchases(t, e, call, 50), CommitOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	commit(0)
	reader, err := sqlite.OpenConn(s.path, sqlite.OpenReadOnly|sqlite.OpenWAL)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if err := sqlitex.ExecuteTransient(reader, "BEGIN", nil); err != nil {
		t.Fatal(err)
	}
	if err := sqlitex.ExecuteTransient(reader, "SELECT count(*) FROM events", nil); err != nil {
		t.Fatal(err)
	}
	commit(1) // after the reader's snapshot

	k, err := startCheckpointer(s.path, nil, &s.mu)
	if err != nil {
		t.Fatal(err)
	}
	defer k.close()
	restart := func() <-chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.mu.Lock()
			defer s.mu.Unlock()
			k.restart()
		}()
		return done
	}
	done := restart()
	select {
	case <-done:
	case <-time.After(busyWait / 2):
		// Failed; the checkpointer's connection is closed only once
		// restart has returned (closing it under a running checkpoint
		// crashes the test binary instead of failing the test).
		t.Errorf("restart still waiting for the reader after %v (the busy timeout is %v)", busyWait/2, busyWait)
		<-done
		t.FailNow()
	}

	if err := sqlitex.ExecuteTransient(reader, "COMMIT", nil); err != nil {
		t.Fatal(err)
	}
	before := walSalt(t, s.path)
	<-restart()
	commit(2)
	if after := walSalt(t, s.path); after == before {
		t.Errorf("the commit after a restart with no reader left did not start the WAL over (salt %x)", after)
	}
}

// walSalt is the first salt of path's -wal header, which SQLite changes
// each time it starts the WAL over.
func walSalt(t *testing.T, path string) uint32 {
	t.Helper()
	f, err := os.Open(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var h [32]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint32(h[16:20])
}

// TestPresyncFile: the checkpointer presyncs the store's own database
// file, by the descriptor the store holds (a file: URI's file too), or
// presync would do nothing and every
// restart would sync the whole database holding the writer lock again.
func TestPresyncFile(t *testing.T) {
	e := newTestEngine(t, "testdata/rules.yaml")
	path := e.store.(*sqliteStore).path
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, "file:" + path + "?cache=private"} {
		s, err := openSQLite(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if s.ckpt.db == nil {
			t.Fatalf("checkpointer of %s holds no database file", name)
		}
		held, err := s.ckpt.db.Stat()
		if err != nil {
			t.Fatal(err)
		}
		store, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(held, store) {
			t.Errorf("checkpointer of %s holds %s, not the store", name, s.ckpt.db.Name())
		}
		s.ckpt.presync()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
