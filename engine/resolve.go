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

// refCache keeps the reference records the engine has resolved, across
// calls, until reference data is seeded again. It holds no misses: a record
// seeded later is found. Owned by Engine and used under Engine.mu.
type refCache struct {
	version int64
	byKey   map[lookupKey]*Ref
}

func (c *refCache) reset(version int64) {
	c.version = version
	c.byKey = make(map[lookupKey]*Ref)
}

// put records r under key and under its id. A record already cached under
// its id is updated in place, so that every key shares one *Ref (a referral
// updates the participant once for all of them).
func (c *refCache) put(k lookupKey, r *Ref) *Ref {
	idKey := lookupKey{k.e, "id", r.ID}
	if old, ok := c.byKey[idKey]; ok {
		copy(old.Vals, r.Vals)
		old.obj = nil
		if r.row != 0 {
			old.row = r.row
		}
		r = old
	} else {
		c.byKey[idKey] = r
	}
	c.byKey[k] = r
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
	k := lookupKey{e, col, val}
	if ref, ok := r.cache.byKey[k]; ok {
		return ref, true
	}
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
	if len(r.cache.byKey) > maxCached {
		r.cache.reset(r.cache.version)
	}
	for g, keys := range groups {
		refs, err := r.store.Lookup(ctx, g.e, g.col, keys)
		if err != nil {
			return err
		}
		for _, ref := range refs {
			val := ref.ID
			if g.col != "id" {
				val = ref.get(g.e, g.col)
			}
			k := lookupKey{g.e, g.col, val}
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
	set := id.Set()
	if len(set) != 1 {
		return nil
	}
	return s.byCol(e, set[0].Name, set[0].Value, set[0].Value)
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
	set := t.Set()
	if len(set) != 1 {
		return nil
	}
	ref := s.byCol(entAccessToken, set[0].Name, set[0].Value, set[0].Value)
	if ref == nil {
		return nil
	}
	if st := ref.get(entAccessToken, "life_cycle_state"); st != "" && st != "EFFECTIVE" {
		s.fail(&crm.Error{
			Code:    crm.CodeAccessTokenNotEffect,
			Message: "Access Token (" + set[0].Value + ") Is Not Effective",
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
