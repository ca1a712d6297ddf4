package engine

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/crmload/crmload/crm"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// checkpointer copies the WAL's pages into the database file from a
// connection of its own, in the background, so that commits do not wait
// for checkpoints (the writer runs with wal_autocheckpoint = 0). A commit
// pokes it; at most every checkpointEvery it runs a PASSIVE checkpoint,
// which takes no lock a writer or a reader waits for. The WAL starts over
// only when a write transaction begins with the WAL copied whole, which a
// writer committing back to back never does (its next transaction has
// begun before the checkpoint of its last ends); so once the WAL holds
// restartFrames frames the checkpointer copies the frames left holding
// this process's writer lock and the store's write lock (restart), and
// the next commit, this process's or another's, starts the WAL over: the
// -wal file stays about that size however long loads go on, two
// processes' included (TestWALStartsOver).
type checkpointer struct {
	c      *sqlite.Conn
	db     *os.File    // the store's held descriptor of its file, for presync; nil without one
	writer *sync.Mutex // the store's writer lock
	wake   chan struct{}
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
	err    error
}

// How often the checkpointer may run, and the WAL's size in frames past
// which it makes the next commit start the WAL over. Variables for the
// tests, which set them before opening a store.
var (
	checkpointEvery       = 100 * time.Millisecond
	restartFrames   int64 = 8192 // 32 MiB of 4 KiB pages
)

// presyncFrames is the WAL's size in frames from which a restart is
// preceded by presync: below it the restart's own sync has little to
// write, and the commits that go on during an extra sync would grow the
// WAL further past restartFrames than they save (TestWALStartsOver, whose
// restartFrames is 64, saw its WAL grow to a fifth of the store with it).
const presyncFrames = 1024 // 4 MiB

// checkpointerCacheKiB is the checkpointer connection's page cache.
const checkpointerCacheKiB = 1 << 10

func startCheckpointer(path string, db *os.File, writer *sync.Mutex) (*checkpointer, error) {
	c, err := sqlite.OpenConn(crm.StoreNameAtMost(path, "rw"), sqlite.OpenReadWrite|sqlite.OpenWAL|sqlite.OpenURI)
	if err != nil {
		return nil, err
	}
	for _, p := range []string{fmt.Sprintf("PRAGMA busy_timeout = %d", busyWait.Milliseconds()), "PRAGMA wal_autocheckpoint = 0", fmt.Sprintf("PRAGMA cache_size = %d", -checkpointerCacheKiB)} {
		if err := sqlitex.ExecuteTransient(c, p, nil); err != nil {
			c.Close()
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	k := &checkpointer{c: c, db: db, writer: writer, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go k.run()
	return k, nil
}

// close stops the checkpointer and closes its connection.
func (k *checkpointer) close() error {
	k.once.Do(func() {
		close(k.quit)
		<-k.done
		k.err = k.c.Close() // k.db is the store's (heldFile)
	})
	return k.err
}

// poke tells the checkpointer that a commit added to the WAL.
func (k *checkpointer) poke() {
	if k == nil {
		return
	}
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

func (k *checkpointer) run() {
	defer close(k.done)
	for {
		select {
		case <-k.quit:
			return
		case <-k.wake:
		}
		log, err := k.checkpoint("PASSIVE")
		if err == nil && log >= restartFrames {
			// Even a checkpoint that copied the whole WAL is followed by
			// this one: its copy ends at the WAL as it found it, and a
			// busy writer has begun its next transaction by then; a
			// transaction that begins before the WAL is all copied does
			// not restart it. (Without it the -wal file of a 1M-row load
			// grew to 136 MiB.)
			if log >= presyncFrames {
				k.presync()
			}
			k.writer.Lock()
			k.restart()
			k.writer.Unlock()
		}
		select {
		case <-k.quit:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

// presync writes the database file's pages to disk before a restart, so
// that the restart's own sync of the database, which it makes holding the
// writer lock, has only the pages the restart copies left to write: a
// passive checkpoint syncs the database only when it copied the WAL to its
// end, which under a busy writer (appending meanwhile) it does not, and
// the restart then synced the 32 MiB they had copied, 31-55 ms with every
// commit waiting (3-4 times a 1M-row load).
func (k *checkpointer) presync() {
	if k.db != nil {
		k.db.Sync() // a failure leaves the work to the restart's sync
	}
}

// restart, called with this process's writer lock held, copies what is
// left of the WAL while holding the store's write lock (a RESTART
// checkpoint), so that the next write transaction, this process's or
// another's, starts the WAL over: another process's writer cannot begin a
// transaction halfway through the copy either. It does not wait: while
// another process writes, or a reader holds an older snapshot, it copies
// what it can (nothing while another process checkpoints), and the
// checkpointer tries again after the next commit.
func (k *checkpointer) restart() {
	k.c.SetBusyTimeout(0)
	defer k.c.SetBusyTimeout(busyWait)
	k.checkpoint("RESTART")
}

// checkpoint runs a checkpoint in mode (PASSIVE or RESTART) and returns
// the WAL's frames. One that cannot run (another process
// checkpoints: SQLite answers busy, log and copied -1) or fails is tried
// again after the next commit.
func (k *checkpointer) checkpoint(mode string) (log int64, err error) {
	err = sqlitex.ExecuteTransient(k.c, "PRAGMA wal_checkpoint("+mode+")", &sqlitex.ExecOptions{
		ResultFunc: func(stmt *sqlite.Stmt) error {
			log = stmt.ColumnInt64(1)
			return nil
		},
	})
	return log, err
}
