package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// Group commit. A Commit queues its call and takes the writer; the caller
// that gets it first commits every call queued by then in one
// transaction, and the others find their result made when they get the
// writer in turn. So concurrent senders (and, through shorter lock holds,
// concurrent processes) share one commit, and its cost, instead of
// queueing for one each. Each call keeps its own result: its events'
// numbers, ids, claims and receipts, or its own error. A call after the
// first that stores something runs inside a savepoint of its own, rolled
// back when it fails (the others are not); a call that finds the
// transaction empty runs without one, and when it fails the transaction
// is rolled back (it held that call alone) and begun again for the rest.

// commitCall is one Commit waiting for the writer.
type commitCall struct {
	ctx  context.Context
	rows []*PendingEvent
	pre  encoded // the rows' stored forms, made before the writer is taken
	opts CommitOptions
	err  error
	done bool // guarded by sqliteStore.qmu
}

func (s *sqliteStore) Commit(ctx context.Context, rows []*PendingEvent, opts CommitOptions) error {
	// What a row stores besides its number does not depend on the store's
	// state: it is encoded here, by the caller's goroutine, so that the
	// writer (one at a time) only binds and inserts.
	call := &commitCall{ctx: ctx, rows: rows, pre: encodeRows(rows), opts: opts}
	s.qmu.Lock()
	s.queue = append(s.queue, call)
	s.qmu.Unlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.qmu.Lock()
	if call.done { // committed by the caller that had the writer before
		s.qmu.Unlock()
		return call.err
	}
	// Not done, so still queued: a group marks all its calls done before
	// it lets the writer go.
	group := s.queue
	s.queue = nil
	s.qmu.Unlock()

	s.commitGroup(group)

	s.qmu.Lock()
	for _, g := range group {
		g.done = true
	}
	s.qmu.Unlock()
	return call.err
}

// commitGroup commits the calls of group in one transaction; it sets each
// call's err. Called with s.mu held.
func (s *sqliteStore) commitGroup(group []*commitCall) {
	fail := func(calls []*commitCall, err error) {
		err = s.full(err)
		for _, g := range calls {
			if g.err == nil {
				g.err = err
			}
		}
	}
	c := s.writer
	if c == nil {
		fail(group, errors.New(s.path+" is closed"))
		return
	}
	// Waiting for the lock, and the statements, are interrupted when every
	// call of the group is cancelled; a call cancelled before its turn is
	// not stored.
	done, stop := allDone(group)
	defer stop()
	defer c.SetInterrupt(c.SetInterrupt(done))
	if err := beginImmediate(c, done); err != nil {
		fail(group, err)
		return
	}
	var stored []*commitCall // calls whose savepoint was released
	// abort rolls the whole transaction back and fails every call that has
	// no error of its own, those already released included: nothing of the
	// group is stored. The interrupt is lifted first: an interrupted
	// connection runs no statement, ROLLBACK included, and would keep the
	// transaction (and the write lock) open.
	abort := func(err error) {
		c.SetInterrupt(nil)
		if !c.AutocommitEnabled() {
			sqlitex.ExecuteTransient(c, "ROLLBACK", nil)
		}
		fail(group, err)
	}
	for i, g := range group {
		if err := g.ctx.Err(); err != nil {
			g.err = err
			continue
		}
		// A call that finds the transaction empty runs bare: rolling the
		// transaction back undoes it alone. A savepoint costs a copy of
		// every page the call changes in the statement journal, and that
		// journal's memory a map and an unmap each call (a load of 1M
		// rows, mostly groups of one call: about 9% of its CPU).
		bare := len(stored) == 0
		if !bare {
			if err := sqlitex.Execute(c, "SAVEPOINT call", nil); err != nil {
				abort(err)
				return
			}
		}
		err := commit(c, g.rows, g.pre, g.opts)
		if err == nil && !bare {
			err = sqlitex.Execute(c, "RELEASE call", nil)
		}
		if err == nil {
			stored = append(stored, g)
			continue
		}
		if errors.Is(err, errDryRun) {
			err = nil
		} else {
			g.err = s.full(err)
		}
		if !bare && c.AutocommitEnabled() {
			// SQLite rolled the whole transaction back (some I/O errors):
			// the calls before this one are not stored either.
			abort(errors.New("the store's transaction was rolled back"))
			return
		}
		if isInterrupted(done) {
			abort(errors.New("interrupted: every call of the group was cancelled"))
			return
		}
		if bare {
			if !c.AutocommitEnabled() {
				if rbErr := sqlitex.ExecuteTransient(c, "ROLLBACK", nil); rbErr != nil {
					abort(rbErr)
					return
				}
			}
			if i == len(group)-1 {
				return // nothing is stored; the lock is let go
			}
			if err := beginImmediate(c, done); err != nil {
				fail(group[i+1:], err)
				return
			}
			continue
		}
		if rbErr := sqlitex.Execute(c, "ROLLBACK TO call", nil); rbErr != nil {
			abort(rbErr)
			return
		}
		if rbErr := sqlitex.Execute(c, "RELEASE call", nil); rbErr != nil {
			abort(rbErr)
			return
		}
	}
	if err := sqlitex.ExecuteTransient(c, "COMMIT", nil); err != nil {
		abort(s.full(err))
		return
	}
	s.ckpt.poke()
}

// isInterrupted reports whether done is closed.
func isInterrupted(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// full makes a write the disk had no room for a *StoreFullError.
func (s *sqliteStore) full(err error) error {
	if err != nil && sqlite.ErrCode(err).ToPrimary() == sqlite.ResultFull {
		return &StoreFullError{Path: s.path, Err: err}
	}
	return err
}

// allDone returns a channel closed when the context of every call of group
// is done, and a function that releases what watches them.
func allDone(group []*commitCall) (<-chan struct{}, func()) {
	if len(group) == 1 {
		return group[0].ctx.Done(), func() {}
	}
	done := make(chan struct{})
	var left atomic.Int64
	left.Store(int64(len(group)))
	var once sync.Once
	stops := make([]func() bool, 0, len(group))
	for _, g := range group {
		stops = append(stops, context.AfterFunc(g.ctx, func() {
			if left.Add(-1) == 0 {
				once.Do(func() { close(done) })
			}
		}))
	}
	return done, func() {
		for _, s := range stops {
			s()
		}
	}
}

// beginImmediate takes the store's write lock. Another process holding it
// is waited for in short sleeps (SQLite's own busy handler sleeps 25 to
// 100 ms once it has waited a little: two loads into one store, each
// holding the lock for a few milliseconds a commit, would spend most of
// their time asleep), for up to busyWait, or until done is closed.
func beginImmediate(c *sqlite.Conn, done <-chan struct{}) error {
	c.SetBusyTimeout(0)
	defer c.SetBusyTimeout(busyWait)
	deadline := time.Now().Add(busyWait)
	for pause := 100 * time.Microsecond; ; pause = min(2*pause, 2*time.Millisecond) {
		err := sqlitex.ExecuteTransient(c, "BEGIN IMMEDIATE", nil)
		if sqlite.ErrCode(err).ToPrimary() != sqlite.ResultBusy || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-done:
			t.Stop()
			return err
		}
	}
}

// busyWait is how long a connection waits for a lock another holds (the
// stores' PRAGMA busy_timeout).
const busyWait = 10 * time.Second
