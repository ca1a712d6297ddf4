package engine

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crmload/crmload/crm"
	"zombiezen.com/go/sqlite"
)

// Engine is an embedded CRM.COM customer-events engine. Its methods are
// safe for concurrent use; calls that write are serialised.
type Engine struct {
	store Store
	now   func() time.Time
	// DryRun makes CreateEvents run every rule and the commit, then roll
	// it back: results are what a load would get, and nothing is stored.
	// Set it before the first call.
	DryRun bool

	mu    sync.Mutex // serialises resolution; guards cache (commits are serialised by the store)
	cache refCache
}

// Open opens (creating it if needed) the engine store at path and brings
// its schema up to date. A postgres:// or postgresql:// DSN opens a
// PostgreSQL store (OpenPostgres); anything else is an SQLite file.
func Open(ctx context.Context, path string) (*Engine, error) {
	if IsDSN(path) {
		return OpenPostgres(ctx, path)
	}
	if err := CheckStorePath(path); err != nil {
		return nil, err
	}
	s, err := openSQLite(ctx, path)
	if err != nil {
		if shown := RedactDSN(path); shown != path {
			// A URL taken for a path (postgres:/u:pw@h): its password
			// stays out of the message.
			return nil, errors.New(strings.ReplaceAll(err.Error(), path, shown))
		}
		return nil, err
	}
	return New(s), nil
}

// IsInterrupted reports whether err is a store call cut short by its
// context: SQLite's "interrupted", or the context's own error.
func IsInterrupted(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || sqlite.ErrCode(err).ToPrimary() == sqlite.ResultInterrupt
}

// CheckWritable refuses a store name that opens the store read-only, for
// a command that writes to it: a file: URI with mode=ro given anywhere in
// it (SQLite applies each mode in turn), or immutable true (the first
// given, as SQLite reads it).
func CheckWritable(path string) error {
	if slices.Contains(crm.StoreModes(path), "ro") {
		return &StoreError{Path: path, Reason: "mode=ro opens the store read-only, and this command writes to it: give --db without mode=ro (events list and show read a store without writing)"}
	}
	if v := crm.StoreParam(path, "immutable"); len(v) > 0 && crm.URITrue(v[0]) {
		return &StoreError{Path: path, Reason: fmt.Sprintf("immutable=%s opens the store read-only, and this command writes to it: give --db without immutable", v[0])}
	}
	return nil
}

// checkStoreParams refuses a file: URI's mode or cache value SQLite
// refuses with no more than "SQL logic error", saying what it takes.
// Checked where a store is opened, not for every command (a remote load
// never opens the --db of its environment).
func checkStoreParams(path string) error {
	for _, m := range crm.StoreModes(path) {
		if m != "ro" && m != "rw" && m != "rwc" && m != "memory" {
			return &StoreError{Path: path, Reason: fmt.Sprintf("mode=%s: SQLite takes mode=ro, rw or rwc (lower case)", m)}
		}
	}
	for _, c := range crm.StoreParam(path, "cache") {
		if c != "shared" && c != "private" {
			return &StoreError{Path: path, Reason: fmt.Sprintf("cache=%s: SQLite takes cache=shared or private (lower case)", c)}
		}
	}
	// SQLite says "SQL logic error" of a vfs it lacks, and "unable to
	// open database file" of one without shared memory, which WAL mode
	// needs (unix-dotfile, unix-none).
	for _, v := range crm.StoreParam(path, "vfs") {
		if v != "unix" && v != "unix-excl" && runtime.GOOS != "windows" {
			return &StoreError{Path: path, Reason: fmt.Sprintf("vfs=%s: a crmload store (SQLite in WAL mode) opens with vfs=unix or unix-excl", v)}
		}
	}
	return nil
}

// CheckStorePath refuses, before any store is opened, a --db that names
// no store file: empty, an in-memory database, a file: URI of another
// host, a store's -wal, -shm or -journal file (beside an SQLite file), or
// a URL of another scheme than PostgreSQL's (a mistyped postgres://,
// which would name a SQLite file in a directory called after the scheme).
func CheckStorePath(path string) error {
	if path == "" {
		return fmt.Errorf("%w: --db is empty: give the store's path (an SQLite file) or a PostgreSQL URL", ErrBadDSN)
	}
	if scheme := crm.OtherScheme(path); scheme != "" {
		return fmt.Errorf("%w %s: a store is a SQLite file's path or a PostgreSQL URL (postgres:// or postgresql://), not a %s:// URL", ErrBadDSN, RedactDSN(path), scheme)
	}
	if IsDSN(path) {
		return nil
	}
	f := crm.StoreFile(path)
	if f == "" {
		return fmt.Errorf("%w %s: names no file (an in-memory database, or a file: URI of another host): a store is kept in a file; give its path", ErrBadDSN, RedactDSN(path))
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if base, ok := strings.CutSuffix(f, suffix); ok && base != "" && sqliteFile(base) { // x-journal may name a store of its own
			return fmt.Errorf("%w %s: a store's %s file, not a store: give the store's own path (without %s)", ErrBadDSN, RedactDSN(path), suffix, suffix)
		}
	}
	return nil
}

// sqliteFile says whether path is an SQLite database file (its magic). It
// reads through the held descriptor (heldFile): the file may be a store
// this process has open, whose locks a descriptor of its own would drop
// on closing.
func sqliteFile(path string) bool {
	h, err := holdFile(path, false)
	if err != nil {
		return false
	}
	defer h.release()
	var b [16]byte
	_, err = h.f.ReadAt(b[:], 0)
	return err == nil && string(b[:]) == "SQLite format 3\x00"
}

// ErrNoStore is returned by OpenExisting and OpenReadOnly for a store
// file that does not exist.
var ErrNoStore = errors.New("no such store")

// OpenExisting opens the store at path like Open, but refuses to create
// it: a mistyped --db names no store rather than an empty new one.
func OpenExisting(ctx context.Context, path string) (*Engine, error) {
	if IsDSN(path) {
		return openPostgresEngine(ctx, path, pgExisting)
	}
	if err := CheckStorePath(path); err != nil {
		return nil, err
	}
	if err := storeExists(path); err != nil {
		return nil, err
	}
	// An empty file or database is refused too (openSQLite).
	return Open(context.WithValue(ctx, mustExistKey{}, true), path)
}

// mustExistKey marks the context of OpenExisting's open: the store must
// be one already.
type mustExistKey struct{}

// OpenReadOnly opens the existing store at path for reading (events,
// reference data): it writes nothing, so it works on a read-only file.
// Calls that write fail.
func OpenReadOnly(ctx context.Context, path string) (*Engine, error) {
	if IsDSN(path) {
		return openPostgresEngine(ctx, path, pgReadOnly)
	}
	if err := CheckStorePath(path); err != nil {
		return nil, err
	}
	if err := checkStoreParams(path); err != nil {
		return nil, err
	}
	if err := storeExists(path); err != nil {
		return nil, err
	}
	s, err := openSQLiteReadOnly(ctx, path)
	if err != nil {
		return nil, err
	}
	return New(s), nil
}

func storeExists(path string) error {
	name := crm.StoreFile(path) // a file: URI's file
	if name == "" {
		return fmt.Errorf("%w: %s names no file (an in-memory database, or a file: URI of another host)", ErrNoStore, RedactDSN(path))
	}
	fi, err := os.Stat(name)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s does not exist (crmload engine seed --db %s creates one)", ErrNoStore, RedactDSN(path), RedactDSN(path))
	}
	if err == nil && fi.IsDir() {
		return fmt.Errorf("%w: %s is a directory", ErrNoStore, path)
	}
	return err
}

// New returns an engine on store.
func New(store Store) *Engine {
	e := &Engine{store: store, now: time.Now}
	e.cache.reset(-1)
	return e
}

// Close closes the store.
func (e *Engine) Close() error { return e.store.Close() }

// PendingEvent is an event that passed every rule and waits for a Store's
// Commit: its resolved object (with its id but no number yet; the columns
// list filters on come from it, filterRefs), its load receipt and, for a
// referral, its claim. Commit sets Obj.Number, or Err when the event was
// not stored after all.
type PendingEvent struct {
	Kind             string
	RequestID        string
	LoadRun, LoadKey string     // the load receipt ("" when the call has none)
	Digest           string     // crm.Digest of the event, kept with the receipt
	Source           *crm.Event // the event as the call sent it (with a receipt)
	Obj              *EventObject
	// Created is when the event was created (Obj's created date, to the
	// millisecond).
	Created time.Time
	// Encoded is Obj as encoding/json writes it, with an empty number:
	// encoded outside the store's lock; Numbered puts the number in.
	Encoded []byte
	Claim   *Claim     // a referral: mark the participant referred
	Err     *crm.Error // set by Commit when the event was not stored
	// Found is set by Commit when the event was not stored because its
	// load receipt was (by another copy of the call): Obj has that
	// copy's id and number.
	Found bool

	index int // in the request
}

// filterRefs returns the records of p's event that list filters on, as
// its object nests them (nil when it has none): its account, its
// participant (a referral's: the referred one) and its classification.
func (p *PendingEvent) filterRefs() (account, participant, classification *RefObject) {
	o := p.Obj
	participant = o.RewardsParticipant
	if participant == nil {
		participant = o.ReferredRewardsParticipant
	}
	return o.AccountsReceivable, participant, o.Classification
}

// Claim marks a participant as referred by another, if nobody did first.
// When somebody did, Commit stores no event and sets the event's Err to
// Lost.
type Claim struct {
	Referred, By string // participant ids
	Lost         *crm.Error
}

// compactStore is a Store that stores PendingEvent.Obj itself, compact,
// and gives each event its id (Obj.ID) as it stores it: the engine leaves
// Obj.ID and Encoded empty for it.
type compactStore interface {
	Store
	storesCompact()
}

// CreateEvents is the bulk create method of req.Kind: it validates and
// resolves every event, stores the valid ones in one transaction, and
// reports each event as processed or unprocessed, in request order. A
// returned error is call-level: a *crm.Error (too many events, an unknown
// intended currency) or a store failure; then nothing was stored.
func (e *Engine) CreateEvents(ctx context.Context, req crm.BulkRequest) (crm.BulkResult, error) {
	res, _, err := e.createEvents(ctx, req)
	return res, err
}

// CreateOne creates req's one event (a single create method): the
// processed event, or the event's error.
func (e *Engine) CreateOne(ctx context.Context, req crm.BulkRequest) (crm.Processed, *crm.Error, error) {
	res, errs, err := e.createEvents(ctx, req)
	switch {
	case err != nil:
		return crm.Processed{}, nil, err
	case errs[0] != nil && errs[0] != errStored:
		return crm.Processed{}, errs[0], nil
	}
	return res.Processed[0], nil, nil
}

// createEvents is CreateEvents; it also returns each event's error. The
// steps: check the call and each event (checkEvents), answer a replay's
// events from their receipts (replayed), resolve the rest and apply the
// rules (resolveAll, storedReferrals), store what passed (commit), and
// answer each event in request order (results).
func (e *Engine) createEvents(ctx context.Context, req crm.BulkRequest) (crm.BulkResult, []*crm.Error, error) {
	if err := crm.ValidateCall(req.Kind, &req); err != nil {
		return crm.BulkResult{}, nil, err
	}
	errs := checkEvents(req)
	// Keyed calls keep a digest of each event's content with its receipt.
	var digests []string
	if req.Run != "" && len(req.Keys) == len(req.Events) {
		digests = crm.Digests(req.Kind, req.Events)
	}
	var already map[string]Receipt
	if req.Replay && digests != nil {
		var err error
		if already, err = e.replayed(ctx, req, digests, errs); err != nil {
			return crm.BulkResult{}, nil, err
		}
	}
	a := newArena(len(req.Events))
	defer a.release() // after results: they copy what they answer
	pending, err := e.resolveAll(ctx, req, digests, errs, a)
	if err != nil {
		return crm.BulkResult{}, nil, err
	}
	if digests != nil && (req.Replay || req.Idempotent) {
		if already, err = e.storedReferrals(ctx, req, digests, errs, already); err != nil {
			return crm.BulkResult{}, nil, err
		}
	}
	if err := e.commit(ctx, req, pending, errs); err != nil {
		return crm.BulkResult{}, nil, err
	}
	return results(req, pending, errs, already), errs, nil
}

// checkEvents checks each event of req against its schema (unless this
// process's mapper did) and its request id against the others': the
// errors, by event.
func checkEvents(req crm.BulkRequest) []*crm.Error {
	schema := crm.SchemaFor(req.Kind, req.Version)
	if req.Single {
		schema = crm.SingleSchemaFor(req.Kind, req.Version)
	}
	errs := make([]*crm.Error, len(req.Events))
	seen := make(map[string]bool, len(req.Events))
	// Events this process's mapper validated against the same schema are
	// not checked twice; any other caller's are.
	validated := req.Validated && req.Version == "" && !req.Single
	for i := range req.Events {
		ev := &req.Events[i]
		if i < len(req.Invalid) && req.Invalid[i] != nil {
			errs[i] = req.Invalid[i] // a value of the wrong type, found as it was read
		} else if !validated {
			if err := crm.ValidateSchema(schema, ev); err != nil {
				errs[i] = err
			}
		}
		if errs[i] != nil {
			continue
		}
		if seen[ev.RequestUniqueIdentifier] {
			errs[i] = &crm.Error{
				Code:    crm.CodeDuplicateRequestID,
				Message: fmt.Sprintf("Request unique identifier %s is used by more than one customer event of the call", ev.RequestUniqueIdentifier),
				Reason:  "The request unique identifier identifies the result of each customer event and must be unique within the call.",
				Field:   "request_unique_identifier",
			}
		}
		seen[ev.RequestUniqueIdentifier] = true
	}
	return errs
}

// replayed marks, in a replay, the events the replayed call stored: they
// are answered as they were stored (errStored), and not resolved or
// stored again; other content under a stored key is a conflict.
func (e *Engine) replayed(ctx context.Context, req crm.BulkRequest, digests []string, errs []*crm.Error) (map[string]Receipt, error) {
	already, err := e.store.Stored(ctx, req.Run, req.Keys)
	if err != nil {
		return nil, err
	}
	for i, k := range req.Keys {
		if st, ok := already[k]; ok && errs[i] == nil {
			errs[i] = errStored
			if !st.matches(digests[i], req.Kind, &req.Events[i]) {
				errs[i] = crm.ReceiptConflict(req.Run, k)
			}
		}
	}
	return already, nil
}

// commit stores the pending events in one Commit and records the events
// it did not store after all in errs.
func (e *Engine) commit(ctx context.Context, req crm.BulkRequest, pending []*PendingEvent, errs []*crm.Error) error {
	// Outside the engine's lock: ids and the event objects' JSON, so that
	// concurrent calls encode in parallel while one commits. A store that
	// keeps events compact (the SQLite store) makes the ids and needs no
	// JSON. Two referrals of one participant in the same call are settled
	// by Commit: its conditional update lets only the first one refer it.
	_, compact := e.store.(compactStore)
	rows := make([]*PendingEvent, 0, len(pending))
	for _, p := range pending {
		if p == nil {
			continue
		}
		if !compact {
			p.Obj.ID = newID()
			var err error
			if p.Encoded, err = encodeObject(p.Obj); err != nil {
				return err
			}
		}
		rows = append(rows, p)
	}
	if len(rows) == 0 {
		return nil
	}
	if err := e.store.Commit(ctx, rows, CommitOptions{DryRun: e.DryRun, Idempotent: req.Idempotent || req.Replay}); err != nil {
		e.mu.Lock()
		e.cache.reset(-1) // the cache may hold referrals that were rolled back
		e.mu.Unlock()
		return fmt.Errorf("store %s events: %w", req.Kind, err)
	}
	// The errors are the call's own; only a referral made changes what
	// the engine's cache (shared with the other calls) holds, so only
	// then is the engine's lock taken: waiting for it behind another
	// call's resolution held each call's answer back (a 100k-row load's
	// senders waited 0.46 s for it in all).
	claims := false
	for _, p := range rows {
		if p.Err != nil {
			errs[p.index] = p.Err
		} else if p.Claim != nil {
			claims = true
		}
	}
	if !claims || e.DryRun {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range rows {
		if p.Err == nil && p.Claim != nil {
			if ref, ok := e.cache.get(entParticipant, "id", p.Claim.Referred); ok {
				ref.set(entParticipant, "referred_by", p.Claim.By)
			}
		}
	}
	return nil
}

// results answers each event of req in request order: processed (stored
// now, or by the call a replay replays) or unprocessed with its error.
func results(req crm.BulkRequest, pending []*PendingEvent, errs []*crm.Error, already map[string]Receipt) crm.BulkResult {
	res := crm.BulkResult{Unprocessed: []crm.Unprocessed{}, Processed: make([]crm.Processed, 0, len(req.Events))}
	for i := range req.Events {
		id := req.Events[i].RequestUniqueIdentifier
		if errs[i] == errStored {
			p := already[req.Keys[i]]
			res.Processed = append(res.Processed, crm.Processed{Number: p.Number, ID: p.ID, RequestUniqueIdentifier: id})
			res.Found = append(res.Found, i)
			continue
		}
		if err := errs[i]; err != nil {
			res.Unprocessed = append(res.Unprocessed, crm.Unprocessed{ErrorDescription: err.Description(), ErrorCode: err.Code, RequestUniqueIdentifier: id})
		} else if p := pending[i]; p != nil {
			res.Processed = append(res.Processed, crm.Processed{Number: p.Obj.Number, ID: p.Obj.ID, RequestUniqueIdentifier: id})
			if p.Found {
				res.Found = append(res.Found, i)
			}
		}
	}
	return res
}

// resolveAll resolves every valid event of req under the engine's lock
// (the cache is shared) and returns those ready to store.
func (e *Engine) resolveAll(ctx context.Context, req crm.BulkRequest, digests []string, errs []*crm.Error, a *arena) ([]*PendingEvent, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.refreshCache(ctx); err != nil {
		return nil, err
	}
	r := newResolver(e.store, &e.cache)
	created := e.now()
	now := created.UTC().Format(dateLayout)
	currency, err := e.intendedCurrency(ctx, r, req.IntendedCurrency)
	if err != nil {
		return nil, err
	}
	pending := make([]*PendingEvent, len(req.Events))
	for round := 0; ; round++ {
		complete := true
		for i := range req.Events {
			if errs[i] != nil || pending[i] != nil {
				continue
			}
			p, err, done := e.resolve(r, req.Kind, &req.Events[i], currency, a)
			switch {
			case !done:
				complete = false
			case err != nil:
				errs[i] = err
			default:
				p.index = i
				p.Obj.LogInformation = LogInformation{CreatedDate: now, UpdatedDate: now}
				p.Created = created
				if digests != nil {
					p.LoadRun, p.LoadKey, p.Digest, p.Source = req.Run, req.Keys[i], digests[i], &req.Events[i]
				}
				pending[i] = p
			}
		}
		if complete {
			return pending, nil
		}
		if round > 8 {
			return nil, fmt.Errorf("resolve %s: identifiers still unresolved after %d rounds", req.Kind, round)
		}
		if err := r.fetch(ctx); err != nil {
			return nil, err
		}
	}
}

// storedReferrals answers, of a keyed call, the referrals resolve found
// already referred that are this very event stored by a first copy of the
// call: one that committed after the replay check above, or on another
// engine sharing the store (engine serve replicas). A referral and its
// receipt are committed together, so a referral seen made has its receipt
// visible. It returns already with those receipts added.
func (e *Engine) storedReferrals(ctx context.Context, req crm.BulkRequest, digests []string, errs []*crm.Error, already map[string]Receipt) (map[string]Receipt, error) {
	var keys []string
	for i, err := range errs {
		if err != nil && err.Code == crm.CodeReferredByAnother {
			keys = append(keys, req.Keys[i])
		}
	}
	if len(keys) == 0 {
		return already, nil
	}
	found, err := e.store.Stored(ctx, req.Run, keys)
	if err != nil {
		return nil, err
	}
	if already == nil {
		already = map[string]Receipt{}
	}
	for i, err := range errs {
		st, ok := found[req.Keys[i]]
		if !ok || err == nil || err.Code != crm.CodeReferredByAnother {
			continue
		}
		already[req.Keys[i]] = st
		errs[i] = errStored
		if !st.matches(digests[i], req.Kind, &req.Events[i]) {
			errs[i] = crm.ReceiptConflict(req.Run, req.Keys[i])
		}
	}
	return already, nil
}

// errStored marks, in a replay, an event its replayed call stored.
var errStored = &crm.Error{Code: "stored"}

// matches reports whether a receipt was stored from the content of ev, an
// event of kind k with digest d (crm.DigestMatches: a receipt stored
// before digests were kept matches anything).
func (r Receipt) matches(d string, k crm.Kind, ev *crm.Event) bool {
	return crm.DigestMatches(r.Digest, d, k, ev)
}

// storedAs reports whether receipt st was stored from p's content.
func (p *PendingEvent) storedAs(st Receipt) bool {
	return st.matches(p.Digest, crm.Kind(p.Kind), p.Source)
}

// refreshCache starts the cache over when reference data changed since it
// was filled (a seed by this process or another).
func (e *Engine) refreshCache(ctx context.Context) error {
	v, err := e.store.ReferenceVersion(ctx)
	if err != nil {
		return err
	}
	if v != e.cache.version {
		e.cache.reset(v)
	}
	return nil
}

// intendedCurrency resolves the call's intended currency (nil when there
// is none); a currency that does not exist fails the whole call.
func (e *Engine) intendedCurrency(ctx context.Context, r *resolver, id *crm.CurrencyIdentifier) (*Ref, error) {
	if id == nil {
		return nil, nil
	}
	for {
		s := &eval{r: r}
		ref := s.ident(entCurrency, id)
		if s.err != nil {
			s.err.Field = "intended_currency_identifier"
			return nil, s.err
		}
		if !s.incomplete {
			return ref, nil
		}
		if err := r.fetch(ctx); err != nil {
			return nil, err
		}
	}
}

// newID returns a 32-character upper-case hex id, as CRM.COM's. The first
// twelve digits are the time in milliseconds, so ids of new events sort
// after older ones and their unique index grows at its end.
func newID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// Receipts streams the load receipts of run: the key each of its stored
// events was sent with, the event's id and number, and the digest of the
// content it was stored from (crm.Digest).
func (e *Engine) Receipts(ctx context.Context, run string, fn func(key, id, number, digest string) error) error {
	return e.store.Receipts(ctx, run, func(key string, r Receipt) error { return fn(key, r.ID, r.Number, r.Digest) })
}
