package engine

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/crmload/crmload/crm"
)

// ServerConfig configures the HTTP server that exposes an engine with
// CRM.COM's wire protocol.
type ServerConfig struct {
	Users        map[string]string // user name -> password
	APIKeys      []string          // web API keys (authentication/web_api_key/token)
	Organisation string            // the organisation users log in to
	NoAuth       bool              // accept calls without a token (a local sandbox)
	TokenTTL     time.Duration     // a token's lifetime from its creation (default 2h, as CRM.COM from R12)
	MaxBody      int64             // largest request body (default 32 MiB)
	Log          *slog.Logger      // access log: never tokens, passwords or bodies
	Now          func() time.Time
}

// Server serves an engine over HTTP: authentication/token,
// authentication/web_api_key/token, authentication/token/release and
// customer_events/bulk/<kind>/create, with the API's envelopes.
type Server struct {
	eng *Engine
	cfg ServerConfig

	mu     sync.Mutex
	tokens map[string]time.Time // token -> expiry
}

// NewServer returns the HTTP handler of an engine.
func NewServer(e *Engine, cfg ServerConfig) *Server {
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 2 * time.Hour
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 32 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Server{eng: e, cfg: cfg, tokens: map[string]time.Time{}}
}

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
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.route(rec, r)
	// The path only: a GET's query string may carry a token.
	s.cfg.Log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
		"duration_ms", time.Since(start).Milliseconds(), "remote", r.RemoteAddr)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(r.URL.Path, "/")
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

// readBody reads at most MaxBody bytes of the request.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, &crm.Error{Code: crm.CodeInvalidRequest,
			Message: fmt.Sprintf("The Request Body Is Larger Than %d Bytes", s.cfg.MaxBody), Reason: "Send fewer customer events per call."})
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, &crm.Error{Code: crm.CodeInvalidRequest, Message: "The Request Body Could Not Be Read", Reason: "The request was cut short."})
		return nil, false
	}
	return body, true
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var in struct {
		Username     string `json:"username"`
		Password     string `json:"password"`
		Organisation string `json:"organisation"`
		Unit         string `json:"unit"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, malformed(err))
		return
	}
	for _, f := range []struct{ name, v string }{{"username", in.Username}, {"password", in.Password}, {"organisation", in.Organisation}} {
		if f.v == "" {
			writeError(w, http.StatusBadRequest, &crm.Error{Code: crm.CodeMandatoryMissing, Message: "Mandatory parameter " + f.name + " is missing", Reason: "A mandatory parameter was not specified."})
			return
		}
	}
	want, known := s.cfg.Users[in.Username]
	if !known || subtle.ConstantTimeCompare([]byte(want), []byte(in.Password)) != 1 || in.Organisation != s.cfg.Organisation {
		writeError(w, http.StatusUnauthorized, authFailed())
		return
	}
	s.issue(w)
}

func (s *Server) loginKey(w http.ResponseWriter, r *http.Request) {
	key, _, ok := r.BasicAuth()
	valid := false
	for _, k := range s.cfg.APIKeys {
		if ok && subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 {
			valid = true
		}
	}
	if !valid {
		writeError(w, http.StatusUnauthorized, authFailed())
		return
	}
	s.issue(w)
}

func authFailed() *crm.Error {
	return &crm.Error{Code: crm.CodeAuthenticationFailed, Message: "The Credentials Are Not Valid", Reason: "The user name, password and organisation (or the web API key) must match an active user."}
}

func (s *Server) issue(w http.ResponseWriter) {
	var b [16]byte
	rand.Read(b[:])
	token := strings.ToUpper(hex.EncodeToString(b[:]))
	s.mu.Lock()
	now := s.cfg.Now()
	for t, exp := range s.tokens { // forget expired tokens
		if now.After(exp) {
			delete(s.tokens, t)
		}
	}
	s.tokens[token] = now.Add(s.cfg.TokenTTL)
	s.mu.Unlock()
	writeOK(w, map[string]string{"token": token})
}

func (s *Server) release(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var in struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, malformed(err))
		return
	}
	s.mu.Lock()
	delete(s.tokens, in.Token)
	s.mu.Unlock()
	writeOK(w, map[string]string{})
}

// valid reports whether token is a live token (or no token is needed).
func (s *Server) valid(token string) bool {
	if s.cfg.NoAuth {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[token]
	if ok && s.cfg.Now().After(exp) {
		delete(s.tokens, token)
		return false
	}
	return ok
}

func (s *Server) bulkCreate(w http.ResponseWriter, r *http.Request, kind crm.Kind) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	req, err := crm.DecodeBulkRequest(kind, body)
	if err != nil {
		writeError(w, http.StatusBadRequest, malformed(err))
		return
	}
	if !s.valid(req.Token) {
		writeError(w, http.StatusUnauthorized, invalidToken())
		return
	}
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
	switch {
	case errors.As(err, &apiErr):
		writeError(w, http.StatusBadRequest, apiErr)
	case err != nil:
		s.cfg.Log.Error("create events", "kind", kind, "error", err)
		writeError(w, http.StatusInternalServerError, &crm.Error{Code: crm.CodeInternal, Message: "The Customer Events Could Not Be Stored", Reason: "Nothing of the call was stored; call again."})
	default:
		writeOK(w, res)
	}
}

func malformed(err error) *crm.Error {
	return &crm.Error{Code: crm.CodeInvalidRequest, Message: "The Request Body Is Not Valid: " + err.Error(), Reason: "The body must be a JSON object with the method's parameters."}
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
