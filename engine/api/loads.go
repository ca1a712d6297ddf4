package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
)

// The ledger of loaded inputs over HTTP (crm.PathClaimLoads,
// crm.PathFinishLoads), a crmload extension: loads through any replica of
// engine serve on one store, from any machine, claim their inputs in the
// store's ledger (engine.ClaimInputs), keyed as the embedded engine's
// loads are (content hash, kind, shard). Both methods read their body as
// every method does (strict, bounded, the token checked first) and need
// a valid token.

func (s *Server) claimLoads(w http.ResponseWriter, r *http.Request) {
	var p crm.ClaimLoadsParams
	if err := s.params(w, r, &p); err != nil {
		s.readFailed(w, err)
		return
	}
	if len(p.Claims) > crm.MaxLoadClaims {
		writeError(w, http.StatusRequestEntityTooLarge, &crm.Error{Code: crm.CodeInvalidRequest,
			Message: "More Than " + strconv.Itoa(crm.MaxLoadClaims) + " Claims In One Call", Reason: "Claim the inputs of a run in fewer calls.", Field: "claims"})
		return
	}
	in := make([]engine.InputClaim, len(p.Claims))
	for i, c := range p.Claims {
		size, started, err := c.Check(i)
		if err != nil {
			s.fail(w, err)
			return
		}
		in[i] = engine.InputClaim{Hash: c.Hash, Size: size, Name: c.Name, Kind: c.Kind, Run: c.Run, RunDir: c.RunDir, StartedAt: started}
	}
	var earlier []engine.InputClaim
	if len(in) > 0 {
		var err error
		// A claim read in full is recorded even if the client goes away:
		// its retry finds its own run's claims, which are no conflict.
		if earlier, err = s.eng.ClaimInputs(context.WithoutCancel(r.Context()), in, p.Again); err != nil {
			s.fail(w, err)
			return
		}
	}
	out := crm.ClaimLoadsResult{Earlier: make([]crm.LoadClaim, len(earlier))}
	for i, c := range earlier {
		out.Earlier[i] = crm.LoadClaim{Hash: c.Hash, Size: jsonInt(c.Size), Name: c.Name, Kind: c.Kind, Run: c.Run, RunDir: c.RunDir,
			StartedAt: c.StartedAt.UTC().Format(time.RFC3339Nano), State: c.State}
	}
	writeOK(w, out)
}

func (s *Server) finishLoads(w http.ResponseWriter, r *http.Request) {
	var p crm.FinishLoadsParams
	if err := s.params(w, r, &p); err != nil {
		s.readFailed(w, err)
		return
	}
	switch {
	case p.Run == "":
		s.fail(w, &crm.Error{Code: crm.CodeMandatoryMissing, Message: "Mandatory parameter run is missing", Reason: "A mandatory parameter was not specified.", Field: "run"})
		return
	case p.State != engine.ClaimLoading && p.State != engine.ClaimLoaded && p.State != engine.ClaimStopped:
		s.fail(w, &crm.Error{Code: crm.CodeInvalidValue, Message: "Value of state is not loading, loaded or stopped",
			Reason: "The specified API value is not valid.", Field: "state"})
		return
	}
	if err := s.eng.FinishInputs(context.WithoutCancel(r.Context()), p.Run, p.State); err != nil {
		s.fail(w, err)
		return
	}
	writeOK(w, struct {
		Run   string `json:"run"`
		State string `json:"state"`
	}{p.Run, p.State})
}

func jsonInt(n int64) json.Number { return json.Number(strconv.FormatInt(n, 10)) }
