package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// The ledger of loaded inputs over HTTP, a crmload extension of engine
// serve (a real CRM.COM has no such methods): a load through any replica
// of an engine serve claims its inputs in the ledger of the server's store,
// so that a file loaded through one replica, or from another machine, is
// known through every other.
const (
	// PathClaimLoads claims a run's inputs: ClaimLoadsParams, answered
	// with ClaimLoadsResult (the earlier conflicting claims).
	PathClaimLoads = "crmload/loads/claim"
	// PathFinishLoads sets the state of a run's claims: FinishLoadsParams.
	PathFinishLoads = "crmload/loads/finish"
)

// LoadClaim is a ledger claim on the wire: a run claims an input's content
// (hash, kind) before sending anything. Size is an integer; StartedAt is
// RFC 3339. State is set in answers only.
type LoadClaim struct {
	Hash      string      `json:"hash"`
	Size      json.Number `json:"size"`
	Name      string      `json:"name"`
	Kind      string      `json:"kind"`
	Run       string      `json:"run"`
	RunDir    string      `json:"run_dir"`
	StartedAt string      `json:"started_at"`
	State     string      `json:"state,omitempty"`
}

// ClaimLoadsParams are the parameters of crmload/loads/claim. An empty
// claims list claims nothing (a client asks so whether the server has
// the method).
type ClaimLoadsParams struct {
	Token  string      `json:"token"`
	Claims []LoadClaim `json:"claims"`
	Again  bool        `json:"again"`
}

// ClaimLoadsResult is the answer of crmload/loads/claim: the claims of
// other runs on the same content, for an overlapping kind. Without again,
// nothing was recorded when it is not empty.
type ClaimLoadsResult struct {
	Earlier []LoadClaim `json:"earlier"`
}

// FinishLoadsParams are the parameters of crmload/loads/finish.
type FinishLoadsParams struct {
	Token string `json:"token"`
	Run   string `json:"run"`
	State string `json:"state"`
}

// MaxLoadClaims bounds the claims of one crmload/loads/claim call.
const MaxLoadClaims = 10000

var hashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Check refuses a claim that is not one a crmload run makes: the hash is
// a hex SHA-256, the size a non-negative integer, the kind, run and run
// directory given, the start an RFC 3339 time.
func (c LoadClaim) Check(i int) (size int64, started time.Time, err error) {
	at := fmt.Sprintf("claims[%d].", i)
	bad := func(field, what string) error {
		return &Error{Code: CodeInvalidValue, Message: "Value of " + at + field + " is not " + what,
			Reason: "The specified API value is not valid.", Field: at + field}
	}
	missing := func(field string) error {
		return &Error{Code: CodeMandatoryMissing, Message: "Mandatory parameter " + at + field + " is missing",
			Reason: "A mandatory parameter was not specified.", Field: at + field}
	}
	switch {
	case c.Hash == "":
		return 0, time.Time{}, missing("hash")
	case !hashRE.MatchString(c.Hash):
		return 0, time.Time{}, bad("hash", "a SHA-256 in lower-case hex")
	case c.Kind == "":
		return 0, time.Time{}, missing("kind")
	case !ValidClaimKind(c.Kind):
		return 0, time.Time{}, bad("kind", `an event kind, alone or with its shard ("purchases shard 1/2")`)
	case c.Run == "":
		return 0, time.Time{}, missing("run")
	case c.RunDir == "":
		return 0, time.Time{}, missing("run_dir")
	case c.Size == "":
		return 0, time.Time{}, missing("size")
	case c.StartedAt == "":
		return 0, time.Time{}, missing("started_at")
	}
	if size, err = strconv.ParseInt(string(c.Size), 10, 64); err != nil || size < 0 {
		return 0, time.Time{}, bad("size", "a non-negative integer")
	}
	if started, err = time.Parse(time.RFC3339Nano, c.StartedAt); err != nil {
		return 0, time.Time{}, bad("started_at", "an RFC 3339 time")
	}
	return size, started, nil
}

// ErrNoLedgerMethods is the answer of a server without the ledger
// methods: a real CRM.COM, or an engine serve of an earlier release (404).
var ErrNoLedgerMethods = errors.New("the server has no crmload ledger methods")

// ClaimLoads calls crmload/loads/claim: it records claims unless other
// runs claimed the same content before, whose claims it returns (with
// again, it records them anyway and returns nothing).
func (c *Client) ClaimLoads(ctx context.Context, claims []LoadClaim, again bool) ([]LoadClaim, error) {
	if claims == nil {
		claims = []LoadClaim{}
	}
	var out Response[ClaimLoadsResult]
	err := c.extension(ctx, PathClaimLoads, func(token string) any {
		return ClaimLoadsParams{Token: token, Claims: claims, Again: again}
	}, &out)
	return out.Data.Earlier, err
}

// FinishLoads calls crmload/loads/finish: the run's claims get state.
func (c *Client) FinishLoads(ctx context.Context, run, state string) error {
	var out Response[json.RawMessage]
	return c.extension(ctx, PathFinishLoads, func(token string) any {
		return FinishLoadsParams{Token: token, Run: run, State: state}
	}, &out)
}

// extension calls one of engine serve's crmload methods with the held
// token, logging in again once if it expired. A server without the method
// (HTTP 404) is ErrNoLedgerMethods.
func (c *Client) extension(ctx context.Context, path string, body func(token string) any, out any) error {
	for attempt := 0; ; attempt++ {
		token, err := c.currentToken(ctx)
		if err != nil {
			return err
		}
		status, err := c.do(ctx, path, body(token), nil, out)
		var apiErr *Error
		switch {
		case status == http.StatusNotFound && errors.As(err, &apiErr):
			return fmt.Errorf("%w (%s: %v)", ErrNoLedgerMethods, path, err)
		case errors.As(err, &apiErr) && apiErr.Code == CodeInvalidToken && attempt == 0:
			if _, err := c.login(ctx, token); err != nil {
				return err
			}
			continue
		}
		return err
	}
}
