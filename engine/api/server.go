package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crmload/crmload/engine"

	"github.com/crmload/crmload/crm"
)

// ServerConfig configures the HTTP server that exposes an engine with
// CRM.COM's wire protocol.
type ServerConfig struct {
	Users map[string]string // user name -> password
	// PasswordHashes are users whose passwords are known by their bcrypt
	// hash only (engine serve --users-file): user name -> hash.
	PasswordHashes map[string][]byte
	APIKeys        []string      // web API keys (authentication/web_api_key/token)
	Organisation   string        // the organisation users log in to
	NoAuth         bool          // accept calls without a token (a local sandbox)
	TokenTTL       time.Duration // a token's lifetime from its creation (default 2h, as CRM.COM from R12)
	// MaxTokens bounds the live tokens of the server (default 10000): a
	// login past it forgets the token closest to expiry.
	MaxTokens int
	// BasePath is the path the methods are served under, as a real
	// deployment's /crmapi/rest/v2 (default "/").
	BasePath string
	// APIVersion is the release whose pages the methods follow where
	// pages of different releases disagree (crm.APIVersion; default the
	// newest, crm.NewestAPIVersion).
	APIVersion crm.APIVersion
	MaxBody    int64 // largest request body (default 32 MiB)
	// PreAuthBody is how much of a body may be read before its token was
	// accepted (default 1 MiB): a login's whole body, and how far into a
	// call's body the token must come.
	PreAuthBody int64
	// BodyTimeout and MinBodyRate set a request body's deadline: the
	// body must arrive within BodyTimeout plus the bytes allowed at the
	// time (PreAuthBody, then MaxBody once the token was accepted) at
	// MinBodyRate bytes a second (defaults 5 s and 128 KiB/s).
	BodyTimeout time.Duration
	MinBodyRate int64
	// ClientRate and ClientBurst limit the requests each client address
	// may make (per second; 0: no limit). A client over its rate gets 429
	// with Retry-After.
	ClientRate  float64
	ClientBurst int
	// LoginRate limits failed logins, per user name and per client address
	// (per second, default 1, with a burst of LoginBurst, default 10).
	LoginRate  float64
	LoginBurst int
	Log        *slog.Logger // access log: never tokens, passwords or bodies
	Now        func() time.Time
}

// Server serves an engine over HTTP: authentication/token,
// authentication/web_api_key/token, authentication/token/release,
// customer_events/bulk/<kind>/create and the single-event methods, with
// the API's envelopes, under ServerConfig.BasePath; and crmload's own
// ledger methods (crm.PathClaimLoads, crm.PathFinishLoads, loads.go).
type Server struct {
	eng  *engine.Engine
	cfg  ServerConfig
	base string // BasePath without its trailing slash ("" for /)

	mu     sync.Mutex
	tokens map[[32]byte]time.Time // SHA-256 of a token -> expiry

	clients *limiters // requests per client address
	logins  *limiters // failed logins per user name and per address

	// eventSets keeps the event sets of finished bulk calls for the next
	// ones (crm.ReadOptions.EventSet): made anew, they were a third of
	// what engine serve allocated.
	eventSets sync.Pool
}

// eventSet is crm.ReadOptions.EventSet: a kept set, if any (the reader
// makes one when it is too small, or none is kept).
func (s *Server) eventSet(n int) []crm.Event {
	if p, ok := s.eventSets.Get().(*[]crm.Event); ok {
		return *p
	}
	return nil
}

// keepEventSet keeps a finished call's set for a later call: nothing of
// the call uses it any more (the engine's results are copies).
func (s *Server) keepEventSet(evs []crm.Event) {
	if cap(evs) < 64 {
		return
	}
	// The readers fill a set from its start: past len it is zero (kept
	// cleared, or made), and only that part is cleared now (a call of 10
	// after one of 1000 cleared 752 KB).
	clear(evs)
	evs = evs[:0]
	s.eventSets.Put(&evs)
}

// NewServer returns the HTTP handler of an engine.
func NewServer(e *engine.Engine, cfg ServerConfig) *Server {
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 2 * time.Hour
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 10000
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 32 << 20
	}
	if cfg.PreAuthBody <= 0 {
		cfg.PreAuthBody = 1 << 20
	}
	cfg.PreAuthBody = min(cfg.PreAuthBody, cfg.MaxBody)
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = 5 * time.Second
	}
	if cfg.MinBodyRate <= 0 {
		cfg.MinBodyRate = 128 << 10
	}
	if cfg.LoginRate <= 0 {
		cfg.LoginRate = 1
	}
	if cfg.LoginBurst <= 0 {
		cfg.LoginBurst = 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = crm.NewestAPIVersion
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{eng: e, cfg: cfg, base: CleanBasePath(cfg.BasePath), tokens: map[[32]byte]time.Time{}}
	s.logins = newLimiters(cfg.LoginRate, cfg.LoginBurst, cfg.Now)
	if cfg.ClientRate > 0 {
		s.clients = newLimiters(cfg.ClientRate, max(cfg.ClientBurst, 1), cfg.Now)
	}
	return s
}

// CleanBasePath returns p as the server matches it: with a leading slash,
// without a trailing one, "" for the root.
func CleanBasePath(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return "/" + p
}

// DefaultServeMemoryLimit is engine serve's default soft memory limit
// (--memory-limit): the requests' bounds keep the live heap to about
// 1.4 MiB a connection (~45 MiB for the 64 connections of the default
// --max-conns); the limit keeps the garbage of a flood of refused bodies
// from doubling the heap. At 96 MiB TestServeBombs peaked at 108-113 MiB
// and at 64 MiB 81-85 MiB; a remote load of 1M rows took 1.01x the wall
// time and 1.02x the CPU at 64 MiB (8 alternating pairs, 2026-12-05).
const DefaultServeMemoryLimit = 64 << 20

// Load receipts over HTTP, a crmload extension a real CRM.COM ignores: the
// server says it keeps receipts; a client sends a call's run and row keys,
// which makes the call idempotent (an event whose key is stored is answered
// from it, not stored again), so that a call can be sent again after an
// ambiguous failure.
const (
	HeaderReceipts = "X-Crmload-Receipts"
	HeaderRun      = "X-Crmload-Run"
	HeaderKeys     = "X-Crmload-Keys"
	HeaderReplay   = "X-Crmload-Replay" // the call is sent again after an ambiguous failure
)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w.Header().Set(HeaderReceipts, "1")
	sh := &shown{ok: s.cfg.NoAuth}
	r = r.WithContext(context.WithValue(r.Context(), shownKey{}, sh))
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK, shown: sh}
	s.serve(rec, r)
	// The path only: a GET's query string may carry a token.
	s.cfg.Log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
		"duration_ms", time.Since(start).Milliseconds(), "remote", r.RemoteAddr)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	shown  *shown
	wrote  bool // the header was written
}

// WriteHeader closes the connection after the answer to a request that
// showed neither a live token nor valid credentials (shown): only a
// client that did keeps a connection open between requests. A client
// without credentials could otherwise hold every slot of --max-conns,
// idle, for the keep-alive's minutes, with one cheap request a
// connection (a release of no token, a failed login, a 401); now it
// holds one only while it sends, within the body's deadline.
func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.wrote = true
		if !r.shown.ok {
			r.Header().Set("Connection", "close")
		}
	}
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}

// shown says whether a request showed a live token or valid credentials
// (a login that succeeded), or needed none (NoAuth). It is read and set
// on the request's goroutine, which reads its body.
type shown struct{ ok bool }

// shownKey is the request context's key of its *shown.
type shownKey struct{}

// markShown records that r showed a live token or valid credentials.
func markShown(r *http.Request) {
	if sh, ok := r.Context().Value(shownKey{}).(*shown); ok {
		sh.ok = true
	}
}

// Unwrap lets http.ResponseController reach the connection (body deadlines).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// serve checks what applies to every request (the client's rate, the base
// path, the body's encoding), then routes it.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.clients != nil {
		if wait, ok := s.clients.allow(clientAddr(r)); !ok {
			tooMany(w, wait, "The Client Sends Too Many Requests", "Slow down: this client's requests are limited.")
			return
		}
	}
	path, ok := strings.CutPrefix(r.URL.Path, s.base)
	if !ok || path != "" && path[0] != '/' {
		writeError(w, http.StatusNotFound, &crm.Error{Code: crm.CodeInvalidRequest,
			Message: "Unknown Method " + strings.TrimPrefix(r.URL.Path, "/") + " (the methods are served under " + s.base + "/)", Reason: "The method does not exist."})
		return
	}
	// A body is read as sent: a compressed one is refused rather than
	// inflated (a small gzip body can inflate past every limit).
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		w.Header().Set("Accept-Encoding", "identity")
		writeError(w, http.StatusUnsupportedMediaType, &crm.Error{Code: crm.CodeInvalidRequest,
			Message: "Content-Encoding " + strings.ToValidUTF8(ce[:min(len(ce), 40)], "") + " Is Not Supported", Reason: "Send the body uncompressed (identity)."})
		return
	}
	s.route(w, r, strings.Trim(path, "/"))
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, path string) {
	// customer_events/<kind>/<method>: the single-event methods.
	if parts := strings.Split(path, "/"); len(parts) == 3 && parts[0] == "customer_events" && parts[1] != "bulk" {
		s.singleMethod(w, r, parts[1], parts[2])
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, &crm.Error{Code: crm.CodeInvalidRequest, Message: r.Method + " " + r.URL.Path + " Is Not Supported", Reason: "The methods of this API are called with POST."})
		return
	}
	switch {
	case path == "authentication/token":
		s.login(w, r)
	case path == "authentication/web_api_key/token":
		s.loginKey(w, r)
	case path == "authentication/token/release":
		s.release(w, r)
	case path == crm.PathClaimLoads:
		s.claimLoads(w, r)
	case path == crm.PathFinishLoads:
		s.finishLoads(w, r)
	case strings.HasPrefix(path, "customer_events/bulk/") && strings.HasSuffix(path, "/create"):
		kind, err := crm.ParseKind(strings.TrimSuffix(strings.TrimPrefix(path, "customer_events/bulk/"), "/create"))
		if err != nil {
			writeError(w, http.StatusNotFound, &crm.Error{Code: crm.CodeInvalidRequest, Message: "Unknown Method " + path, Reason: "The method does not exist."})
			return
		}
		s.bulkCreate(w, r, kind)
	default:
		writeError(w, http.StatusNotFound, &crm.Error{Code: crm.CodeInvalidRequest, Message: "Unknown Method " + path, Reason: "The method does not exist."})
	}
}

// singleMethods are the single-event methods served, per kind, with the
// HTTP method each takes.
var singleMethods = map[string]map[string]string{
	"financial_achievements": {"show": http.MethodGet, "list": http.MethodGet, "create": http.MethodPost, "cancel": http.MethodPost},
	"achievements":           {"create": http.MethodPost},
}

func (s *Server) singleMethod(w http.ResponseWriter, r *http.Request, kindName, method string) {
	want, ok := singleMethods[kindName][method]
	if !ok {
		writeError(w, http.StatusNotFound, &crm.Error{Code: crm.CodeInvalidRequest, Message: "Unknown Method customer_events/" + kindName + "/" + method, Reason: "The method does not exist."})
		return
	}
	// GET methods also accept their parameters as a POST body.
	if r.Method != want && r.Method != http.MethodPost {
		w.Header().Set("Allow", want)
		writeError(w, http.StatusMethodNotAllowed, &crm.Error{Code: crm.CodeInvalidRequest, Message: r.Method + " Is Not Supported by " + method, Reason: "Call the method with " + want + "."})
		return
	}
	kind, _ := crm.ParseKind(kindName)
	s.eventMethod(w, r, kind, method)
}

func (s *Server) bulkCreate(w http.ResponseWriter, r *http.Request, kind crm.Kind) {
	body := s.body(w, r)
	var ig ignoredNames
	// A crmload client's keyed call names one key per event: the count
	// sizes the set (ReadOptions.Events), and a wrong one only costs time.
	expected := 0
	if keys := r.Header.Get(HeaderKeys); keys != "" && r.Header.Get(HeaderRun) != "" {
		expected = strings.Count(keys, ",") + 1
	}
	req, err := crm.ReadBulkRequest(kind, body, crm.ReadOptions{Authorize: body.authorize, Ignored: ig.add, Version: s.cfg.APIVersion, Events: expected, EventSet: s.eventSet})
	s.reportIgnored(w, r, &ig)
	if err != nil {
		s.readFailed(w, err)
		return
	}
	defer s.keepEventSet(req.Events) // once the answer is written
	if run := r.Header.Get(HeaderRun); run != "" {
		// A keyed call over HTTP is idempotent: a copy of it (a replay
		// after a timeout) may be in flight too, and whichever commits
		// second must find the first.
		if keys := strings.Split(r.Header.Get(HeaderKeys), ","); len(keys) == len(req.Events) {
			req.Run, req.Keys, req.Idempotent = run, keys, true
			req.Replay = r.Header.Get(HeaderReplay) == "1"
		}
	}
	// A call read in full is processed even if the client goes away (a
	// timeout on its side): like a real server, and so that a client that
	// gave up knows the call is in doubt, never half done.
	res, err := s.eng.CreateEvents(context.WithoutCancel(r.Context()), *req)
	var apiErr *crm.Error
	var full *engine.StoreFullError
	switch {
	case errors.As(err, &apiErr):
		writeError(w, http.StatusBadRequest, apiErr)
	case errors.As(err, &full):
		// Nothing was stored, and calling again will not help until
		// someone makes room: 507, which crmload's client takes as a
		// reason to stop, not to retry.
		s.cfg.Log.Error("create events", "kind", kind, "error", err)
		writeError(w, http.StatusInsufficientStorage, &crm.Error{Code: crm.CodeInternal, Message: "The Store Of The Engine Is Full",
			Reason: "Nothing of the call was stored; call again once room is made."})
	case err != nil:
		s.cfg.Log.Error("create events", "kind", kind, "error", err)
		writeError(w, http.StatusInternalServerError, &crm.Error{Code: crm.CodeInternal, Message: "The Customer Events Could Not Be Stored", Reason: "Nothing of the call was stored; call again."})
	case req.FieldsSet != "":
		setFound(w, res)
		writeOK(w, selectResultFields(res, req.FieldsSet))
	default:
		setFound(w, res)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(res.AppendOKResponse(make([]byte, 0, 128*(len(res.Processed)+len(res.Unprocessed)+1))))
	}
}

// setFound names, in the answer's header, the events of a keyed call
// found stored rather than created (BulkResult.Found).
func setFound(w http.ResponseWriter, res crm.BulkResult) {
	if len(res.Found) > 0 {
		w.Header().Set(crm.HeaderFound, crm.FormatFound(res.Found))
	}
}

// selectResultFields applies a bulk call's fields_set to its result: the
// entries of both sets keep only the fields named (request_unique_-
// identifier, id, number, error_code, error_description); the two sets
// are always there.
func selectResultFields(res crm.BulkResult, fieldsSet string) any {
	want := map[string]bool{}
	for _, f := range strings.Split(fieldsSet, ",") {
		want[strings.TrimSpace(f)] = true
	}
	pick := func(pairs ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(pairs); i += 2 {
			if want[pairs[i]] {
				m[pairs[i]] = pairs[i+1]
			}
		}
		return m
	}
	out := struct {
		Unprocessed []map[string]string `json:"unprocessed_customer_events_set"`
		Processed   []map[string]string `json:"processed_customer_events_set"`
	}{Unprocessed: []map[string]string{}, Processed: []map[string]string{}}
	for _, u := range res.Unprocessed {
		out.Unprocessed = append(out.Unprocessed, pick("error_description", u.ErrorDescription, "error_code", u.ErrorCode, "request_unique_identifier", u.RequestUniqueIdentifier))
	}
	for _, p := range res.Processed {
		out.Processed = append(out.Processed, pick("number", p.Number, "id", p.ID, "request_unique_identifier", p.RequestUniqueIdentifier))
	}
	return out
}

func writeOK(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, crm.Response[any]{Data: data, Status: crm.Status{Code: crm.StatusOK}})
}

func writeError(w http.ResponseWriter, httpStatus int, err *crm.Error) {
	writeJSON(w, httpStatus, crm.Response[any]{Data: nil, Status: crm.ErrorStatus(err)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"data":null,"status":{"code":"InternalServerErrorException","description":"","message":""}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// tooMany answers 429 with the seconds to wait.
func tooMany(w http.ResponseWriter, wait time.Duration, msg, reason string) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	writeError(w, http.StatusTooManyRequests, &crm.Error{Code: crm.CodeInvalidRequest, Message: msg, Reason: reason})
}
