package engine

import (
	"context"
	"fmt"
	"time"
)

// Store is the engine's persistence: reference data, events and the
// reference version. The SQLite store implements it; a PostgreSQL store
// for many `engine serve` replicas would implement the same methods.
type Store interface {
	// Lookup returns the records of e whose column col (or "id") is one of
	// keys, in one round trip. The keys are distinct.
	Lookup(ctx context.Context, e *Entity, col string, keys []string) ([]*Ref, error)
	// ReferenceVersion changes whenever reference data is seeded, so that
	// resolution caches know to start over.
	ReferenceVersion(ctx context.Context) (int64, error)
	// Commit stores a batch of events and the referrals they make in one
	// transaction, numbering the events in order. A referral whose
	// participant was referred meanwhile is not stored; its row says so.
	// With dryRun, everything runs and is then rolled back. With
	// idempotent, a row whose load receipt is already stored is not stored
	// again: it gets the stored event's id and number.
	Commit(ctx context.Context, rows []*PendingEvent, opts CommitOptions) error
	// Upsert writes reference records of e by natural key, in one
	// transaction, and bumps the reference version.
	Upsert(ctx context.Context, e *Entity, recs []SeedRecord) error
	// Events streams the stored event objects matching f, by number. fn
	// must not keep o after it returns.
	Events(ctx context.Context, f Filter, fn func(o *EventObject) error) error
	// Event returns the event object with the given id or number, or
	// ErrNotFound.
	Event(ctx context.Context, key string) (*EventObject, error)
	// SetState moves an event from one life cycle state to another, sets
	// its updated date to at, and returns the updated object: ErrNotFound
	// when there is no such event, a *StateError when it is not in from.
	SetState(ctx context.Context, key, from, to string, at time.Time) (*EventObject, error)
	// Stored returns, of keys, the receipts of those the load run stored
	// events for.
	Stored(ctx context.Context, run string, keys []string) (map[string]Receipt, error)
	// Receipts streams the key and receipt of every event stored by the
	// given load run.
	Receipts(ctx context.Context, run string, fn func(key string, r Receipt) error) error
	// ClaimInputs records, in one transaction, that run loads these
	// inputs, unless another run claimed the same content before: then it
	// records nothing and returns those claims (again: claim anyway).
	ClaimInputs(ctx context.Context, claims []InputClaim, again bool) ([]InputClaim, error)
	// FinishInputs sets the state of run's claims (loaded or stopped).
	FinishInputs(ctx context.Context, run, state string) error
	Close() error
}

// StoreFullError is a write the store's disk (or its size limit) had no
// room for. Nothing of it was stored, and trying again does not help until
// room is made: a load stops at once (Permanent) instead of retrying.
type StoreFullError struct {
	Path string
	Err  error
}

func (e *StoreFullError) Error() string {
	return fmt.Sprintf("the store's disk is full (%s): %v", e.Path, e.Err)
}

func (e *StoreFullError) Unwrap() error   { return e.Err }
func (e *StoreFullError) Permanent() bool { return true }

// Receipt is a load receipt: the event a load run stored under a row key,
// and the digest of the content it was stored from (crm.Digest; empty for
// receipts stored before digests were kept).
type Receipt struct {
	ID, Number, Digest string
}

// CommitOptions modify a commit.
type CommitOptions struct {
	// DryRun runs everything and then rolls back.
	DryRun bool
	// Idempotent answers an event whose load receipt (LoadRun, LoadKey) is
	// stored already with the stored event's id and number instead of
	// storing it again; a receipt stored from other content (its digest
	// does not match the event's: crm.DigestMatches) is a conflict
	// (crm.ReceiptConflict in the event's Err).
	Idempotent bool
}

// Filter selects events for Events. Empty fields match everything.
type Filter struct {
	Kind           string
	Account        string // accounts receivable number
	Participant    string // rewards participant number
	Classification string // classification name
	State          string
	Since, Until   string // performed_on bounds, inclusive, YYYY-MM-DDTHH:MM:SS
	// CreatedAfter and CreatedBefore bound the creation date, inclusive
	// (the API's submitted_after_date and submitted_before_date).
	CreatedAfter, CreatedBefore string
	Limit                       int // 0: no limit
}
