package engine

import (
	"context"
	"time"

	"github.com/crmload/crmload/crm"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// InputClaim is an entry of the store's ledger of loaded inputs: a load
// run claimed an input file's content (its hash) before sending anything.
type InputClaim struct {
	Hash      string // hex SHA-256 of the file's bytes
	Size      int64
	Name      string // the file's path when it was claimed
	Kind      string // of the events loaded from it
	Run       string // the run's key
	RunDir    string // the run directory, absolute
	StartedAt time.Time
	State     string // loading, loaded or stopped
	Again     bool   // claimed although an earlier run had (--again)
}

// Ledger states.
const (
	ClaimLoading = "loading"
	ClaimLoaded  = "loaded"
	ClaimStopped = "stopped"
)

// ClaimInputs records that a run loads these inputs. If another run
// claimed the same content for the same kind of events before (loading now, finished, or stopped),
// nothing is recorded and those earlier claims are returned, unless again.
// A run's own earlier claims (a resume) are no conflict. One immediate
// transaction: of two loads of one file started together, one wins.
func (e *Engine) ClaimInputs(ctx context.Context, claims []InputClaim, again bool) ([]InputClaim, error) {
	return e.store.ClaimInputs(ctx, claims, again)
}

// FinishInputs sets the state of the run's claims.
func (e *Engine) FinishInputs(ctx context.Context, run, state string) error {
	return e.store.FinishInputs(ctx, run, state)
}

func (s *sqliteStore) ClaimInputs(ctx context.Context, claims []InputClaim, again bool) (earlier []InputClaim, err error) {
	err = s.write(ctx, func(c *sqlite.Conn) error {
		// Claims of other kinds, and other shards of the same split, are no
		// conflict (crm.ClaimKindsOverlap).
		find := c.Prep(`SELECT input_size, input_name, run, run_dir, started_at, state, kind FROM loads
			WHERE input_hash = ? AND run != ? ORDER BY started_at`)
		for _, cl := range claims {
			find.BindText(1, cl.Hash)
			find.BindText(2, cl.Run)
			for {
				row, err := find.Step()
				if err != nil {
					return err
				}
				if !row {
					break
				}
				if !crm.ClaimKindsOverlap(find.ColumnText(6), cl.Kind) {
					continue
				}
				at, _ := time.Parse(time.RFC3339Nano, find.ColumnText(4))
				earlier = append(earlier, InputClaim{Hash: cl.Hash, Kind: find.ColumnText(6), Size: find.ColumnInt64(0), Name: find.ColumnText(1),
					Run: find.ColumnText(2), RunDir: find.ColumnText(3), StartedAt: at, State: find.ColumnText(5)})
			}
			if err := find.Reset(); err != nil {
				return err
			}
		}
		if len(earlier) > 0 && !again {
			return nil
		}
		ins := c.Prep(`INSERT INTO loads (input_hash, input_size, input_name, run, run_dir, started_at, state, again, kind)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (input_hash, run) DO UPDATE SET state = excluded.state, finished_at = ''`)
		for _, cl := range claims {
			ins.BindText(1, cl.Hash)
			ins.BindInt64(2, cl.Size)
			ins.BindText(3, cl.Name)
			ins.BindText(4, cl.Run)
			ins.BindText(5, cl.RunDir)
			ins.BindText(6, cl.StartedAt.UTC().Format(time.RFC3339Nano))
			ins.BindText(7, ClaimLoading)
			ins.BindBool(8, again && len(earlier) > 0)
			ins.BindText(9, cl.Kind)
			if _, err := ins.Step(); err != nil {
				return err
			}
			if err := ins.Reset(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || again {
		return nil, err
	}
	return earlier, nil
}

func (s *sqliteStore) FinishInputs(ctx context.Context, run, state string) error {
	return s.write(ctx, func(c *sqlite.Conn) error {
		return sqlitex.Execute(c, "UPDATE loads SET state = ?, finished_at = ? WHERE run = ?", &sqlitex.ExecOptions{
			Args: []any{state, time.Now().UTC().Format(time.RFC3339Nano), run},
		})
	})
}
