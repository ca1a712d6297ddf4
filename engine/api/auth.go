package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/crmload/crmload/crm"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"
)

// Tokens: 128 bits from crypto/rand, upper-case hex, living TokenTTL from
// their creation (no renewal, as CRM.COM from R12); at most MaxTokens live
// on the server (past it, a login forgets the token closest to expiry);
// authentication/token/release forgets one at once. The server keeps only
// their SHA-256, so that a lookup's timing says nothing about a token.

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username     string `json:"username"`
		Password     string `json:"password"`
		Organisation string `json:"organisation"`
		Unit         string `json:"unit"`
	}
	var ig ignoredNames
	err := crm.ReadParams(s.body(w, r), &in, crm.ReadOptions{Ignored: ig.add})
	s.reportIgnored(w, r, &ig)
	if err != nil {
		s.readFailed(w, err)
		return
	}
	for _, f := range []struct{ name, v string }{{"username", in.Username}, {"password", in.Password}, {"organisation", in.Organisation}} {
		if f.v == "" {
			writeError(w, http.StatusBadRequest, &crm.Error{Code: crm.CodeMandatoryMissing, Message: "Mandatory parameter " + f.name + " is missing", Reason: "A mandatory parameter was not specified."})
			return
		}
	}
	addr := "addr " + clientAddr(r)
	_, plain := s.cfg.Users[in.Username]
	_, hashed := s.cfg.PasswordHashes[in.Username]
	user := ""
	if plain || hashed { // unknown names are limited by address only: they cannot fill the table
		user = "user " + in.Username
	}
	if wait, blocked := s.logins.blocked(addr, user); blocked {
		tooMany(w, wait, "Too Many Failed Logins", "Wait before logging in again.")
		return
	}
	if !s.checkPassword(in.Username, in.Password) || in.Organisation != s.cfg.Organisation {
		s.logins.fail(addr, user)
		// An unknown name is not logged: it may be a password typed in
		// the wrong field.
		if user != "" {
			s.cfg.Log.Warn("login failed", "user", in.Username, "remote", r.RemoteAddr)
		} else {
			s.cfg.Log.Warn("login failed", "user", "(unknown)", "remote", r.RemoteAddr)
		}
		writeError(w, http.StatusUnauthorized, authFailed())
		return
	}
	markShown(r)
	s.issue(w)
}

// dummyHash is compared against when a user is unknown, so that a login's
// time does not say whether the user exists.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password"), bcrypt.MinCost)

func (s *Server) checkPassword(user, password string) bool {
	if want, ok := s.cfg.Users[user]; ok {
		return subtle.ConstantTimeCompare([]byte(want), []byte(password)) == 1
	}
	if hash, ok := s.cfg.PasswordHashes[user]; ok {
		return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	}
	if len(s.cfg.PasswordHashes) > 0 {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
	}
	return false
}

func (s *Server) loginKey(w http.ResponseWriter, r *http.Request) {
	addr := "addr " + clientAddr(r)
	if wait, blocked := s.logins.blocked(addr, ""); blocked {
		tooMany(w, wait, "Too Many Failed Logins", "Wait before logging in again.")
		return
	}
	key, _, ok := r.BasicAuth()
	valid := false
	for _, k := range s.cfg.APIKeys {
		if ok && subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 {
			valid = true
		}
	}
	if !valid {
		s.logins.fail(addr, "")
		s.cfg.Log.Warn("login failed", "web_api_key", true, "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, authFailed())
		return
	}
	markShown(r)
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
	if len(s.tokens) >= s.cfg.MaxTokens {
		var first [32]byte
		var firstExp time.Time
		for t, exp := range s.tokens {
			if firstExp.IsZero() || exp.Before(firstExp) {
				first, firstExp = t, exp
			}
		}
		delete(s.tokens, first)
	}
	s.tokens[sha256.Sum256([]byte(token))] = now.Add(s.cfg.TokenTTL)
	s.mu.Unlock()
	writeOK(w, map[string]string{"token": token})
}

func (s *Server) release(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token string `json:"token"`
	}
	var ig ignoredNames
	err := crm.ReadParams(s.body(w, r), &in, crm.ReadOptions{Ignored: ig.add})
	s.reportIgnored(w, r, &ig)
	if err != nil {
		s.readFailed(w, err)
		return
	}
	s.mu.Lock()
	delete(s.tokens, sha256.Sum256([]byte(in.Token)))
	s.mu.Unlock()
	writeOK(w, map[string]string{})
}

// valid reports whether token is a live token (or no token is needed).
func (s *Server) valid(token string) bool {
	if s.cfg.NoAuth {
		return true
	}
	h := sha256.Sum256([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[h]
	if ok && s.cfg.Now().After(exp) {
		delete(s.tokens, h)
		return false
	}
	return ok
}

// clientAddr is the client's IP address, without the port.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limiters keeps a token bucket per key (a client address, a user name).
// It forgets buckets that are full again, and holds at most maxLimiters:
// past that, new keys share one bucket, so a flood of addresses costs
// bounded memory and is limited as one client.
type limiters struct {
	mu    sync.Mutex
	rate  rate.Limit
	burst int
	now   func() time.Time
	m     map[string]*rate.Limiter
}

const maxLimiters = 50000

func newLimiters(perSecond float64, burst int, now func() time.Time) *limiters {
	return &limiters{rate: rate.Limit(perSecond), burst: burst, now: now, m: map[string]*rate.Limiter{}}
}

// get returns key's bucket; l.mu is held.
func (l *limiters) get(key string, now time.Time) *rate.Limiter {
	if b, ok := l.m[key]; ok {
		return b
	}
	if len(l.m) >= maxLimiters {
		for k, b := range l.m {
			if b.TokensAt(now) >= float64(l.burst) {
				delete(l.m, k)
			}
		}
		if len(l.m) >= maxLimiters {
			key = "(overflow)"
			if b, ok := l.m[key]; ok {
				return b
			}
		}
	}
	b := rate.NewLimiter(l.rate, l.burst)
	l.m[key] = b
	return b
}

// allow takes a token from key's bucket, or says how long to wait for one.
func (l *limiters) allow(key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	r := l.get(key, now).ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// blocked says whether any of keys ("" skipped) has an empty bucket, and
// how long until it has a token again.
func (l *limiters) blocked(keys ...string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		if k == "" {
			continue
		}
		if b := l.get(k, now); b.TokensAt(now) < 1 {
			return time.Duration((1 - b.TokensAt(now)) / float64(l.rate) * float64(time.Second)), true
		}
	}
	return 0, false
}

// fail takes a token from each of keys' buckets ("" skipped).
func (l *limiters) fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		if k != "" {
			l.get(k, now).AllowN(now, 1)
		}
	}
}
