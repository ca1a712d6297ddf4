package engine

import (
	"context"

	"github.com/crmload/crmload/crm"
)

// lookupKey names a reference record by one identifying column.
type lookupKey struct {
	e        *Entity
	col, val string
}

// maxCached bounds the resolution cache. Past it the cache starts over:
// a load whose batches each touch new accounts then costs one indexed query
// per identifier column per batch, never one per event.
const maxCached = 500_000

// maxLookedUp bounds the keys the cache holds of an entity it did not
// read whole (participants, which referrals change; a table too large to
// read): past it that entity's records start over, the others stay. A
// record looked up takes about 400 bytes of heap (the record, its values,
// its object for events, two index slots), so a referral load of 200k
// participants held 80 MB of them: the heap at the runtime's memory limit
// (main.go), collected every few MB (a third of the load's CPU). A record
// dropped is looked up again if a later call names it.
const maxLookedUp = 100_000

// refCache keeps the reference records the engine has resolved, across
// calls, until reference data is seeded again. It holds no misses: a record
// seeded later is found. Owned by Engine and used under Engine.mu.
//
// Records are kept by entity and column (id, then the entity's lookup
// columns), each an index by value (refIndex): a lookup hashes the value
// alone. Keys of other columns, or of an entity outside entities, are kept
// in other.
type refCache struct {
	version int64
	cols    [][]*refIndex // [Entity.slot][colSlot]
	other   map[lookupKey]*Ref
	n       int // keys held, over all the indexes and other
	// By Entity.slot, since the cache started (resolver.scan): the
	// records looked up, the bound on the table's size the store gave
	// (0: not asked yet), and whether the table was read whole.
	looked, bound []int64
	scanned       []bool
	// held is, by Entity.slot, how many keys its indexes hold.
	held []int
}

func (c *refCache) reset(version int64) {
	c.version = version
	c.cols = make([][]*refIndex, len(entities))
	c.held = make([]int, len(entities))
	for _, e := range entities {
		c.clearEntity(e)
	}
	c.other = nil
	c.n = 0
	c.looked, c.bound = make([]int64, len(entities)), make([]int64, len(entities))
	c.scanned = make([]bool, len(entities))
}

// clearEntity starts e's indexes over (keys of e kept in other stay).
func (c *refCache) clearEntity(e *Entity) {
	cols := make([]*refIndex, 1+len(e.lookup))
	cols[0] = newRefIndex(func(r *Ref) string { return r.ID })
	for j, col := range e.lookup {
		at := e.col(col)
		cols[1+j] = newRefIndex(func(r *Ref) string { return r.Vals[at] })
	}
	c.cols[e.slot] = cols
	c.n -= c.held[e.slot]
	c.held[e.slot] = 0
}

// colSlot is the position of column col in e's cache: 0 for id, 1+i for
// e.lookup[i]; -1 when e has no such cached column.
func colSlot(e *Entity, col string) int {
	if e.slot < 0 || e.slot >= len(entities) || entities[e.slot] != e {
		return -1
	}
	if col == "id" {
		return 0
	}
	for i, c := range e.lookup {
		if c == col {
			return 1 + i
		}
	}
	return -1
}

// get returns the record cached under (e, col, val).
func (c *refCache) get(e *Entity, col, val string) (*Ref, bool) {
	if i := colSlot(e, col); i >= 0 {
		return c.cols[e.slot][i].get(val)
	}
	ref, ok := c.other[lookupKey{e, col, val}]
	return ref, ok
}

// set caches r under k, replacing what k held.
func (c *refCache) set(k lookupKey, r *Ref) {
	if i := colSlot(k.e, k.col); i >= 0 {
		if c.cols[k.e.slot][i].set(k.val, r) {
			c.n++
			c.held[k.e.slot]++
		}
		return
	}
	if c.other == nil {
		c.other = make(map[lookupKey]*Ref)
	}
	if _, ok := c.other[k]; !ok {
		c.n++
	}
	c.other[k] = r
}

// reserve makes room in the indexes of e's columns id and col for n
// more records at once, before a table read whole is cached: grown a
// record at a time, they were rehashed a dozen times (a tenth of a
// 10k-row load's CPU, with maps).
func (c *refCache) reserve(e *Entity, col string, n int) {
	for j, col := range []string{"id", col} {
		if i := colSlot(e, col); i >= 0 && (j == 0 || col != "id") {
			c.cols[e.slot][i].reserve(n)
		}
	}
}

// put records r under key and under its id. A record already cached under
// its id is updated in place, so that every key shares one *Ref (a referral
// updates the participant once for all of them).
func (c *refCache) put(k lookupKey, r *Ref) *Ref {
	if old, ok := c.get(k.e, "id", r.ID); ok {
		copy(old.Vals, r.Vals)
		old.obj = nil
		if r.row != 0 {
			old.row = r.row
		}
		r = old
	} else {
		c.set(lookupKey{k.e, "id", r.ID}, r)
	}
	c.set(k, r)
	return r
}

// resolver resolves the identifiers of one batch. Events are evaluated in
// rounds: a round records every lookup it cannot answer from the cache,
// fetch runs them (one query per entity and column), and the next round
// goes on. Chains (access token -> participant -> account) need at most
// three rounds.
type resolver struct {
	store   Store
	cache   *refCache
	missing map[lookupKey]bool
	pending map[lookupKey]bool
}

func newResolver(store Store, cache *refCache) *resolver {
	return &resolver{store: store, cache: cache, missing: map[lookupKey]bool{}, pending: map[lookupKey]bool{}}
}

// find returns the record and true when it is known (nil when it does not
// exist), or false when it must be fetched first.
func (r *resolver) find(e *Entity, col, val string) (*Ref, bool) {
	if ref, ok := r.cache.get(e, col, val); ok {
		return ref, true
	}
	k := lookupKey{e, col, val}
	if r.missing[k] {
		return nil, true
	}
	r.pending[k] = true
	return nil, false
}

func (r *resolver) fetch(ctx context.Context) error {
	type group struct {
		e   *Entity
		col string
	}
	groups := map[group][]string{}
	for k := range r.pending {
		g := group{k.e, k.col}
		groups[g] = append(groups[g], k.val)
	}
	if r.cache.n > maxCached {
		r.cache.reset(r.cache.version)
	}
	for g := range groups {
		if c := r.cache; colSlot(g.e, g.col) >= 0 && !c.scanned[g.e.slot] && c.held[g.e.slot] > maxLookedUp {
			c.clearEntity(g.e)
		}
	}
	for g, keys := range groups {
		refs, whole, err := r.scan(ctx, g.e, len(keys))
		if err != nil {
			return err
		}
		if whole {
			r.cache.reserve(g.e, g.col, len(refs))
		} else if refs, err = r.store.Lookup(ctx, g.e, g.col, keys); err != nil {
			return err
		}
		for _, ref := range refs {
			val := ref.ID
			if g.col != "id" {
				val = ref.get(g.e, g.col)
			}
			k := lookupKey{g.e, g.col, val}
			if whole && !r.pending[k] {
				// A record no event of this call names: cached for the
				// calls to come, unless a record before it has its value.
				if _, ok := r.cache.get(g.e, g.col, val); !ok {
					r.cache.put(k, ref)
				}
				continue
			}
			if !r.pending[k] {
				continue // two records share a non-unique value: the first wins
			}
			r.cache.put(k, ref)
			delete(r.pending, k)
		}
	}
	for k := range r.pending {
		r.missing[k] = true
	}
	clear(r.pending)
	return nil
}

// An entity whose records a load keeps looking up one call after another
// (the first calls of a load: 100k rows over 20k accounts name about a
// thousand new accounts in each of their first calls) has its table read
// whole once the records looked up so far would have paid for the read:
// a pass over a table reads a record for a fifth to a quarter of what
// looking it up costs (an indexed lookup of each key and its JSON list:
// 0.39-0.43 against 1.71-1.79 µs a record in BenchmarkScanAccounts and
// BenchmarkLookupAccounts; 0.5 against 2.5-2.9 when an IN list was first
// copied into a temporary index, which scanShare was chosen by), and both run on the
// engine's one resolving goroutine, which the first calls queue on. As when renting skis until
// their price is spent, a load never pays more than twice what the best
// choice made in advance would have cost; a load that names few records
// never reads the table. Each entity is read whole at most once per cache
// (the cache starts over when reference data is seeded).
const (
	// scanShare: the table is read once the records looked up reach
	// 1/scanShare of its size.
	scanShare = 5
	// scanMinKeys is the fewest records looked up before the store is
	// asked how large the table is.
	scanMinKeys = 256
	// scanMaxRecords is the largest table read whole: its records stay in
	// the cache (about 150 bytes each, under two keys: well within
	// maxCached).
	scanMaxRecords = 100_000
)

// tableScanner is a store that reads all of a table in one pass.
type tableScanner interface {
	// TableBound returns a bound on how many records e holds, found
	// without reading the table.
	TableBound(ctx context.Context, e *Entity) (int64, error)
	// ScanTable returns every record of e, in the order the store
	// numbered them.
	ScanTable(ctx context.Context, e *Entity) ([]*Ref, error)
}

// scan reads e's table whole for a call that looks up n of its records,
// when the store can and the lookups so far have paid for it (above): the
// records and true; false when the pending records are to be looked up.
// Participants and access tokens, which events change (referrals,
// one-time passwords), are not read whole: the cache keeps only those
// calls named, as before.
func (r *resolver) scan(ctx context.Context, e *Entity, n int) ([]*Ref, bool, error) {
	sc, ok := r.store.(tableScanner)
	if !ok || changedByEvents(e) || colSlot(e, "id") != 0 {
		return nil, false, nil
	}
	c := r.cache
	looked := c.looked[e.slot] + int64(n)
	c.looked[e.slot] = looked
	if c.scanned[e.slot] || looked < scanMinKeys {
		return nil, false, nil
	}
	if c.bound[e.slot] == 0 {
		b, err := sc.TableBound(ctx, e)
		if err != nil {
			return nil, false, err
		}
		c.bound[e.slot] = max(b, 1)
	}
	if b := c.bound[e.slot]; b > scanMaxRecords || looked*scanShare < b {
		return nil, false, nil
	}
	c.scanned[e.slot] = true
	refs, err := sc.ScanTable(ctx, e)
	return refs, err == nil, err
}

// changedByEvents reports whether events change e's records:
// participants (referrals) and access tokens (one-time passwords).
func changedByEvents(e *Entity) bool {
	return e == entParticipant || e == entAccessToken
}

// eval accumulates the resolution of one event: whether a lookup is still
// pending, and the first error found.
type eval struct {
	r          *resolver
	incomplete bool
	err        *crm.Error
}

func (s *eval) fail(err *crm.Error) {
	if s.err == nil {
		s.err = err
	}
}

// ident resolves an identifier given by exactly one field (crm.Validate has
// checked that) against entity e.
func (s *eval) ident(e *Entity, id crm.Identifier) *Ref {
	name, value, ok := single(id)
	if !ok {
		return nil
	}
	return s.byCol(e, name, value, value)
}

// single returns the one field of id.Set() when it has exactly one, without
// building the set for the identifiers events give.
func single(id crm.Identifier) (name, value string, ok bool) {
	switch id := id.(type) {
	case *crm.NamedIdentifier:
		return one(&[4]nameValue{{"id", id.ID}, {"name", id.Name}, {"alternative_code", id.AlternativeCode}})
	case *crm.CodedIdentifier:
		return one(&[4]nameValue{{"id", id.ID}, {"name", id.Name}, {"code", id.Code}})
	case *crm.ProductIdentifier:
		return one(&[4]nameValue{{"id", id.ID}, {"code", id.Code}, {"alternative_code", id.AlternativeCode}})
	case *crm.InvoiceIdentifier:
		return one(&[4]nameValue{{"id", id.ID}, {"number", id.Number}, {"reference_number", id.ReferenceNumber}, {"back_office_code", id.BackOfficeCode}})
	case *crm.CurrencyIdentifier:
		return one(&[4]nameValue{{"id", id.ID}, {"code", id.Code}})
	case *crm.AccessTokenIdentifier:
		return one(&[4]nameValue{{"authentication_code", id.AuthenticationCode}, {"identifier", id.Identifier}, {"one_time_password", string(id.OneTimePassword)}})
	case *crm.AccountIdentifier:
		if id.AccessToken == nil {
			return one(&[4]nameValue{{"id", id.ID}, {"number", id.Number}, {"name", id.Name}})
		}
	case *crm.ParticipantIdentifier:
		if id.AccessToken == nil {
			return one(&[4]nameValue{{"id", id.ID}, {"number", id.Number}})
		}
	}
	set := id.Set()
	if len(set) != 1 {
		return "", "", false
	}
	return set[0].Name, set[0].Value, true
}

// nameValue is a field of an identifier (a crm.FieldValue, written
// positionally).
type nameValue struct{ name, value string }

// one returns the one field of fs with a value, if exactly one has.
func one(fs *[4]nameValue) (name, value string, ok bool) {
	n := 0
	for _, f := range fs {
		if f.value != "" {
			name, value = f.name, f.value
			n++
		}
	}
	if n != 1 {
		return "", "", false
	}
	return name, value, true
}

// byCol resolves e by column col; label is the value named in the error.
func (s *eval) byCol(e *Entity, col, val, label string) *Ref {
	ref, known := s.r.find(e, col, val)
	if !known {
		s.incomplete = true
		return nil
	}
	if ref == nil {
		s.fail(crm.NotFound(e.label, label))
	}
	return ref
}

// byID follows a reference held by a record: an empty id is no record.
func (s *eval) byID(e *Entity, id string) *Ref {
	if id == "" {
		return nil
	}
	return s.byCol(e, "id", id, id)
}

// token resolves an access token identifier and checks it can identify:
// it must be effective, and an identifier must come with its pass code.
func (s *eval) token(t *crm.AccessTokenIdentifier) *Ref {
	name, value, ok := single(t)
	if !ok {
		return nil
	}
	ref := s.byCol(entAccessToken, name, value, value)
	if ref == nil {
		return nil
	}
	if st := ref.get(entAccessToken, "life_cycle_state"); st != "" && st != "EFFECTIVE" {
		s.fail(&crm.Error{
			Code:    crm.CodeAccessTokenNotEffect,
			Message: "Access Token (" + value + ") Is Not Effective",
			Reason:  "Only effective access tokens can be used to identify an accounts receivable or a rewards participant.",
		})
		return nil
	}
	if t.Identifier != "" && ref.get(entAccessToken, "pass_code") != t.PassCode {
		s.fail(&crm.Error{
			Code:    crm.CodeInvalidPassCode,
			Message: "The Pass Code of Access Token (" + t.Identifier + ") Is Not Valid",
			Reason:  "The identifier of the access token is validated against the specified pass code.",
		})
		return nil
	}
	return ref
}

// account resolves an accounts receivable identifier, directly or through
// an access token (the token's account, or its participant's account).
func (s *eval) account(id *crm.AccountIdentifier) (account, token *Ref) {
	if id.AccessToken == nil {
		return s.ident(entAccount, id), nil
	}
	token = s.token(id.AccessToken)
	if token == nil {
		return nil, nil
	}
	if a := token.get(entAccessToken, "accounts_receivable"); a != "" {
		return s.byID(entAccount, a), token
	}
	if p := s.byID(entParticipant, token.get(entAccessToken, "rewards_participant")); p != nil {
		return s.byID(entAccount, p.get(entParticipant, "accounts_receivable")), token
	}
	if !s.incomplete {
		s.fail(crm.NotFound(entAccount.label, "access token "+tokenName(id.AccessToken)))
	}
	return nil, token
}

// participant resolves a rewards participant identifier, directly or
// through an access token.
func (s *eval) participant(id *crm.ParticipantIdentifier) (participant, token *Ref) {
	if id.AccessToken == nil {
		return s.ident(entParticipant, id), nil
	}
	token = s.token(id.AccessToken)
	if token == nil {
		return nil, nil
	}
	p := token.get(entAccessToken, "rewards_participant")
	if p == "" {
		s.fail(crm.NotFound(entParticipant.label, "access token "+tokenName(id.AccessToken)))
		return nil, token
	}
	return s.byID(entParticipant, p), token
}

func tokenName(t *crm.AccessTokenIdentifier) string {
	if set := t.Set(); len(set) == 1 {
		return set[0].Value
	}
	return ""
}
