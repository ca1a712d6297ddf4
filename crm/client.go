package crm

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Credentials authenticate a client: a user (Username, Password,
// Organisation and optionally Unit) or a web API key.
type Credentials struct {
	Username, Password, Organisation, Unit string
	APIKey                                 string
}

// String describes the credentials without their secrets.
func (c Credentials) String() string {
	if c.APIKey != "" {
		return "web API key"
	}
	return fmt.Sprintf("user %s of organisation %s", c.Username, c.Organisation)
}

// ClientOptions tune the HTTP client.
type ClientOptions struct {
	Connections        int    // keep-alive connections to keep (the load's concurrency)
	CAFile             string // PEM certificates to trust besides the system's
	InsecureSkipVerify bool   // do not verify the server's certificate (never in production)
	// OnIgnored, when set, is called with an answer's
	// X-Crmload-Ignored-Parameters header (engine serve names the
	// parameters it ignored as not the method's: a misspelt or misplaced
	// name in a mapping), once per distinct value. A real CRM.COM says
	// nothing of what it ignores.
	OnIgnored func(names string)
	// OnRelogin, when set, is called when the client has logged in again
	// after the server refused its token as expired (for the log): once a
	// login, however many calls saw the token expire.
	OnRelogin func()
}

// Client calls a CRM.COM Web API. It logs in on first use, logs in again
// once when the token has expired, and releases the token on Close. It is
// safe for concurrent use.
type Client struct {
	base  string
	http  *http.Client
	creds Credentials

	mu          sync.Mutex // guards token; never held across a call
	token       string
	loginFlight singleflight.Group // one login round trip at a time, shared
	logins      atomic.Int64
	receipts    atomic.Bool // the server keeps load receipts (engine serve)

	onIgnored func(string)
	onRelogin func()
	ignored   sync.Map // header values reported to onIgnored
}

// SupportsReplay reports whether the server keeps load receipts, so that a
// call that failed ambiguously can be sent again as a replay without
// storing anything twice. A real CRM.COM does not.
func (c *Client) SupportsReplay() bool { return c.receipts.Load() }

// NewClient returns a client of the API at base (e.g.
// https://host/crmapi/rest/v2).
func NewClient(base string, creds Credentials, opts ClientOptions) (*Client, error) {
	if err := checkBaseURL(base); err != nil {
		return nil, err
	}
	tlsConf := &tls.Config{InsecureSkipVerify: opts.InsecureSkipVerify}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", opts.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	conns := max(opts.Connections, 1)
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSClientConfig:       tlsConf,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // the call's context bounds it
		ForceAttemptHTTP2:     true,
	}
	// Redirects are not followed: the body of a call holds the password
	// (a login) or the events, and a 307 or 308 would send it again to
	// wherever the answer points, over plain HTTP too. do says where.
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{base: strings.TrimRight(base, "/"), http: &http.Client{Transport: tr, CheckRedirect: noRedirect}, creds: creds, onIgnored: opts.OnIgnored, onRelogin: opts.OnRelogin}, nil
}

// checkBaseURL refuses what cannot be an API base URL: the methods' paths
// are appended to it, so a query string or a fragment would swallow them
// (and a query string may hold a secret: it is not echoed).
func checkBaseURL(base string) error {
	u, err := url.Parse(base)
	const want = "give the API's base URL, such as https://host/crmapi/rest/v2"
	switch {
	case err != nil:
		return fmt.Errorf("engine URL %s: %s", RedactURL(base), want)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("engine URL %s: want http:// or https://; %s", RedactURL(base), want)
	case u.Host == "":
		return fmt.Errorf("engine URL %s: no host; %s", RedactURL(base), want)
	case u.User != nil && u.RawQuery == "" && u.Fragment == "" && !strings.Contains(base, "#"):
		// Not used (the login sends --username and the password), and
		// on a command line every local user can read it (ps).
		return fmt.Errorf("engine URL %s: it holds a user name or password (user:password@), which crmload does not use: give --username, and the password in CRMLOAD_PASSWORD, the config file or at the prompt (a password on the command line is visible to every local user)", RedactURL(base))
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("engine URL %s: it has a query string (after ?), which an API base URL cannot have: the methods' paths are appended to it; %s", RedactURL(u.Scheme+"://"+u.Host+u.Path), want)
	case u.Fragment != "" || strings.Contains(base, "#"):
		return fmt.Errorf("engine URL %s: it has a fragment (after #), which an API base URL cannot have: the methods' paths are appended to it; %s", RedactURL(u.Scheme+"://"+u.Host+u.Path), want)
	}
	return nil
}

// CallError is a call that got no usable answer. Sent says whether the
// request may have reached the server and been processed: a call that was
// not sent (no connection, or refused with 429 or 503) can be sent again;
// one that was is in doubt.
type CallError struct {
	Status int // HTTP status; 0 when there was no response
	// RetryAfter is the server's Retry-After, at most MaxRetryAfter;
	// RetryAfterAsked what it asked for, before the cap.
	RetryAfter      time.Duration
	RetryAfterAsked time.Duration
	Sent            bool
	// Redirect: the answer was a redirect (3xx), not followed.
	Redirect bool
	// TooLarge: refused for its size (413), not processed: the same call
	// would be refused again, a smaller one may not be.
	TooLarge bool
	Err      error
}

func (e *CallError) Error() string {
	switch {
	case e.Status != 0:
		return fmt.Sprintf("HTTP %d: %v", e.Status, e.Err)
	case e.Sent:
		return fmt.Sprintf("no answer after the request was sent: %v", e.Err)
	}
	return e.Err.Error()
}

func (e *CallError) Unwrap() error { return e.Err }

// Permanent reports whether calling again cannot help until someone acts:
// the server's store is full (507 Insufficient Storage), or it redirects.
func (e *CallError) Permanent() bool {
	return e.Status == http.StatusInsufficientStorage || e.Redirect
}

// Logins counts the logins the client made (for tests and logs).
func (c *Client) Logins() int64 { return c.logins.Load() }

// Login authenticates now; bad credentials are an *Error with
// CodeAuthenticationFailed (or the server's code).
func (c *Client) Login(ctx context.Context) error {
	_, err := c.login(ctx, "")
	return err
}

// login gets a new token unless another goroutine already replaced stale.
// Concurrent logins are one: the first caller's round trip is shared by
// those that ask meanwhile (no lock is held across it), and a caller whose
// context ends stops waiting.
func (c *Client) login(ctx context.Context, stale string) (string, error) {
	for {
		if t := c.heldToken(); t != "" && t != stale {
			return t, nil
		}
		ch := c.loginFlight.DoChan("login", func() (any, error) {
			// A login that ended while this one waited to start may have
			// replaced stale already.
			if t := c.heldToken(); t != "" && t != stale {
				return t, nil
			}
			t, err := c.authenticate(ctx)
			if err == nil && stale != "" && c.onRelogin != nil {
				c.onRelogin() // once a login, however many callers saw the token expire
			}
			return t, err
		})
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case res := <-ch:
			if res.Err != nil && ctx.Err() == nil && (errors.Is(res.Err, context.Canceled) || errors.Is(res.Err, context.DeadlineExceeded)) {
				continue // the caller that started the login gave up; this one has not
			}
			if res.Err != nil {
				return "", res.Err
			}
			return res.Val.(string), nil
		}
	}
}

// authenticate logs in and keeps the token.
func (c *Client) authenticate(ctx context.Context) (string, error) {
	var body any
	path := "authentication/token"
	var header http.Header
	if c.creds.APIKey != "" {
		path = "authentication/web_api_key/token"
		body = struct{}{}
		r, _ := http.NewRequest(http.MethodPost, "http://x", nil)
		r.SetBasicAuth(c.creds.APIKey, "")
		header = r.Header
	} else {
		body = map[string]string{"username": c.creds.Username, "password": c.creds.Password,
			"organisation": c.creds.Organisation, "unit": c.creds.Unit}
	}
	var out Response[struct {
		Token string `json:"token"`
	}]
	if err := c.post(ctx, path, body, header, &out); err != nil {
		return "", err
	}
	if out.Data.Token == "" {
		return "", &Error{Code: CodeAuthenticationFailed, Message: "The Login Returned No Token", Reason: "The server answered OK without a token."}
	}
	c.mu.Lock()
	c.token = out.Data.Token
	c.mu.Unlock()
	c.logins.Add(1)
	return out.Data.Token, nil
}

// heldToken is the token held now ("" before a login).
func (c *Client) heldToken() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

func (c *Client) currentToken(ctx context.Context) (string, error) {
	if t := c.heldToken(); t != "" {
		return t, nil
	}
	return c.login(ctx, "")
}

// CreateEvents calls customer_events/bulk/<kind>/create. A refusal of the
// whole call is an *Error; a call without a usable answer a *CallError.
func (c *Client) CreateEvents(ctx context.Context, req BulkRequest) (BulkResult, error) {
	var out Response[BulkResult]
	for attempt := 0; ; attempt++ {
		token, err := c.currentToken(ctx)
		if err != nil {
			return BulkResult{}, err
		}
		req.Token = token
		var header http.Header
		if req.Run != "" && len(req.Keys) == len(req.Events) && c.receipts.Load() {
			header = http.Header{"X-Crmload-Run": {req.Run}, "X-Crmload-Keys": {strings.Join(req.Keys, ",")}}
			if req.Replay {
				header.Set("X-Crmload-Replay", "1")
			}
		}
		err = c.post(ctx, req.Kind.BulkPath(), req, header, &out)
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.Code == CodeInvalidToken && attempt == 0 {
			// Expired: the server refused the call before doing
			// anything, so it is safe to log in and call again.
			if _, err := c.login(ctx, token); err != nil {
				return BulkResult{}, err
			}
			continue
		}
		return out.Data, err
	}
}

// Close releases the token.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	t := c.token
	c.token = ""
	c.mu.Unlock()
	if t == "" {
		return nil
	}
	var out Response[json.RawMessage]
	return c.post(ctx, "authentication/token/release", map[string]string{"token": t}, nil, &out)
}

// post sends body as JSON and decodes the envelope into out. A status
// other than OK is returned as an *Error.
func (c *Client) post(ctx context.Context, path string, body any, header http.Header, out any) error {
	_, err := c.do(ctx, path, body, header, out)
	return err
}

// do is post, which also returns the answer's HTTP status (0 without one).
func (c *Client) do(ctx context.Context, path string, body any, header http.Header, out any) (int, error) {
	var b []byte
	var err error
	if m, ok := body.(json.Marshaler); ok {
		// A bulk request: its MarshalJSON writes compact JSON with HTML
		// escaped, as json.Marshal would leave it; json.Marshal would scan
		// it all again (a sixth of a remote load's client CPU).
		b, err = m.MarshalJSON()
	} else {
		b, err = json.Marshal(body)
	}
	if err != nil {
		return 0, err
	}
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) }}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, c.base+"/"+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		hreq.Header[k] = v
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(hreq)
	if err != nil {
		return 0, &CallError{Sent: wrote.Load(), Err: redact(err, c.base)}
	}
	defer resp.Body.Close()
	if resp.Header.Get("X-Crmload-Receipts") == "1" {
		c.receipts.Store(true)
	}
	if names := resp.Header.Get("X-Crmload-Ignored-Parameters"); names != "" && c.onIgnored != nil {
		if _, seen := c.ignored.LoadOrStore(names, true); !seen {
			c.onIgnored(names)
		}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		// Not an answer of that status: the body was cut off (a
		// deadline, a dropped connection).
		return resp.StatusCode, &CallError{Sent: true, Err: fmt.Errorf("the answer (HTTP %d) was cut off while it was read: %w", resp.StatusCode, redact(err, c.base))}
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		// Not processed: the server points elsewhere. Following it is the
		// user's call, made by giving that URL.
		to := "another URL"
		if loc, err := resp.Location(); err == nil {
			to = RedactURL(loc.String())
		}
		return resp.StatusCode, &CallError{Status: resp.StatusCode, Redirect: true, Err: fmt.Errorf("the engine redirects to %s: crmload does not follow redirects (the call's body, with the password when it logs in, would go there); if that is the API, give its base URL as --engine", to)}
	case resp.StatusCode == http.StatusRequestEntityTooLarge:
		// Refused before processing, for its size (the server's body
		// limit, or a gateway's): a smaller call may go through.
		return resp.StatusCode, &CallError{Status: resp.StatusCode, TooLarge: true, Err: fmt.Errorf("the engine, or a gateway in front of it, refused a call of %s as too large (HTTP 413)", ByteSize(int64(len(b))))}
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		// Refused before processing: safe to send again, after a while.
		asked := retryAfter(resp.Header.Get("Retry-After"))
		return resp.StatusCode, &CallError{Status: resp.StatusCode, RetryAfter: min(asked, MaxRetryAfter), RetryAfterAsked: asked, Err: errors.New(http.StatusText(resp.StatusCode))}
	}
	if r, ok := out.(envelope); ok && resp.StatusCode < 500 {
		// The common answer, OK with its data, is decoded once into out
		// (a bulk call's by decodeBulkResponse when it can); any other is
		// decoded again below as an envelope first.
		decoded := false
		if bulk, ok := out.(*Response[BulkResult]); ok {
			decoded = decodeBulkResponse(data, bulk)
		}
		if !decoded {
			decoded = json.Unmarshal(data, out) == nil
		}
		if decoded && r.status().Code == StatusOK {
			if bulk, ok := out.(*Response[BulkResult]); ok {
				bulk.Data.Found = ParseFound(resp.Header.Get(HeaderFound), bulkEvents(body))
			}
			return resp.StatusCode, nil
		}
		// Not that answer: out is left as it was (zero) for the decoding
		// below, and for a caller that calls again with it (CreateEvents
		// after an expired token).
		reflect.ValueOf(out).Elem().SetZero()
	}
	var env Response[json.RawMessage]
	jsonErr := json.Unmarshal(data, &env)
	if resp.StatusCode >= 500 {
		// A server error, whatever its body says, may come after the
		// call was processed (a gateway timing out, a crash after the
		// commit): the call is in doubt, never a refusal to split and
		// send again.
		what := http.StatusText(resp.StatusCode)
		if jsonErr == nil && env.Status.Code != "" && env.Status.Code != StatusOK {
			what = statusError(env.Status).Error()
		}
		return resp.StatusCode, &CallError{Status: resp.StatusCode, Sent: true, Err: errors.New(what)}
	}
	if jsonErr != nil || env.Status.Code == "" {
		// Not an API answer (a proxy's error page): the call may or may
		// not have been processed.
		return resp.StatusCode, &CallError{Status: resp.StatusCode, Sent: true, Err: fmt.Errorf("the answer is not a CRM.COM response (%.80q)", data)}
	}
	if env.Status.Code != StatusOK {
		return resp.StatusCode, statusError(env.Status)
	}
	return resp.StatusCode, json.Unmarshal(data, out)
}

// envelope is a Response of any data, as do decodes it.
type envelope interface{ status() Status }

func (r *Response[T]) status() Status { return r.Status }

// statusError turns a failed envelope status into an *Error.
func statusError(s Status) *Error {
	msg, reason := s.Message, ""
	if d, ok := strings.CutPrefix(s.Description, "Error:"); ok {
		if m, r, ok := strings.Cut(d, ". - Description:"); ok {
			msg, reason = m, r
		}
	}
	if msg == "" {
		msg = s.Code
	}
	return &Error{Code: s.Code, Message: msg, Reason: reason}
}

// MaxRetryAfter caps how long a Retry-After makes a client wait before one
// retry: a server that asks for a day (Retry-After: 86400) gets five
// minutes, and --retries (or the run's --deadline) ends a run that
// cannot progress.
const MaxRetryAfter = 5 * time.Minute

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		return time.Duration(min(s, int64(math.MaxInt64/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// RedactURL returns u without user information (user name, password),
// for logs, summaries and error messages.
func RedactURL(u string) string {
	parsed, err := url.Parse(u)
	if err == nil && parsed.User != nil {
		parsed.User = nil
		return parsed.String()
	}
	if cut, ok := redactAt(u); ok {
		// Not read as user information (https:/a:pw@h, a:pw@h/x): cut
		// all the same.
		return cut
	}
	if err != nil {
		return "(an engine URL that does not parse)"
	}
	return parsed.String()
}

// redactAt is s with the user part before its last @ replaced by xxxxx,
// when that part could hold a password (a : in it); ok is false when
// there is nothing to cut. After a "://" the user part is all up to the
// @ (https:///u:pw@h); without one (a URL taken for a path, postgres:/u:pw@h,
// postgres//u:pw@h, u:pw@h) it is what follows the last path separator,
// so that C:\Users\me@corp\crm.db is left alone.
func redactAt(s string) (string, bool) {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s, false
	}
	if i := strings.Index(s[:at], "://"); i >= 0 {
		if !strings.Contains(s[i+3:at], ":") {
			return s, false // user@host, or a path with an @: no password
		}
		return s[:i+3] + "xxxxx@" + s[at+1:], true
	}
	seg := strings.LastIndexAny(s[:at], `/\`) + 1
	if !strings.Contains(s[seg:at], ":") {
		return s, false
	}
	return s[:seg] + "xxxxx@" + s[at+1:], true
}

// CanonicalURL is u without user information, with the scheme and host in
// lower case, a default port dropped and no trailing slash: one engine,
// one name (the ledger of a remote engine knows it by this).
func CanonicalURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return RedactURL(u)
	}
	parsed.User = nil
	parsed.Scheme = strings.ToLower(parsed.Scheme)
	host, port := strings.ToLower(parsed.Hostname()), parsed.Port()
	if (parsed.Scheme == "http" && port == "80") || (parsed.Scheme == "https" && port == "443") {
		port = ""
	}
	parsed.Host = host
	if port != "" {
		parsed.Host = net.JoinHostPort(host, port)
	}
	parsed.Path = strings.TrimRight(parsed.Path, "/")
	parsed.RawPath = ""
	return parsed.String()
}

// redact removes the base URL's user information from an error.
func redact(err error, base string) error {
	if safe := RedactURL(base); safe != base {
		return errors.New(strings.ReplaceAll(err.Error(), base, safe))
	}
	return err
}

// ByteSize says a size in bytes the way people read it.
func ByteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
