package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
	"github.com/crmload/crmload/engine/api"
	"github.com/spf13/cobra"
)

type serveOptions struct {
	addr           string
	basePath       string
	apiVersion     string
	users          []string
	usersFile      string
	apiKeys        []string
	apiKeysFile    string
	organisation   string
	noAuth         bool
	noAuthNetwork  bool
	tlsCert        string
	tlsKey         string
	tokenTTL       time.Duration
	maxBody        int64
	maxConns       int
	memoryLimit    int64 // MiB
	maxClientConns int
	clientRate     float64
	clientBurst    int
	bodyTimeout    time.Duration
	urlFile        string
	logFormat      string
	secretsOnFlags []string // set by the root: secrets given on the command line
}

func newServeCommand(g *globals) *cobra.Command {
	var opts serveOptions
	c := &cobra.Command{
		Use:   "serve [--db PATH] [--addr 127.0.0.1:8080] --users-file FILE --organisation ORG",
		Short: "Serve the embedded engine over CRM.COM's wire protocol",
		Long: `Serve the embedded engine with the CRM.COM Web API's paths and envelopes:
authentication/token, authentication/web_api_key/token,
authentication/token/release and customer_events/bulk/<kind>/create (and
the single-event methods), under --base-path, so that crmload load --engine
http://ADDR/BASE (or any CRM.COM client) can use it. --api-version picks
the API pages it follows where releases differ: R18 (the newest, the
default) or R10.

Users come from --users-file FILE (NAME:BCRYPT-HASH lines, as htpasswd -B
writes them), or CRMLOAD_SERVE_USERS=name:pw,name2:pw2; web API keys from
--api-keys-file FILE (one a line) or CRMLOAD_API_KEY=k1,k2. --user and
--api-key work too, but put the secret where every local user can read it
(ps): serve warns. With no user and no key, serve refuses to start unless
--no-auth is given, and refuses --no-auth beyond loopback unless
--no-auth-beyond-loopback is given too.

It listens on 127.0.0.1 unless told otherwise (with TLS when --tls-cert and
--tls-key are given; it warns when it listens beyond loopback without),
reads request bodies strictly (exact parameter names, no name twice, the
token checked as soon as it is read; a name that is not a parameter of the
method is ignored and named in the X-Crmload-Ignored-Parameters header and
the log, as the real API ignores it), holds at most --max-conns
connections, limits each client's rate (--client-rate), bounds bodies in
size and time, and on SIGTERM finishes the calls in flight before it exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.secretsOnFlags = g.secretsOnFlags
			return runServe(cmd.Context(), g, opts)
		},
	}
	f := c.Flags()
	f.StringVar(&opts.addr, "addr", "127.0.0.1:8080", "address to listen on (port 0: any free port)")
	f.StringVar(&opts.basePath, "base-path", "/", "the path the methods are served under, as a real deployment's /crmapi/rest/v2")
	f.StringVar(&opts.apiVersion, "api-version", string(crm.NewestAPIVersion), "the CRM.COM release whose API pages the methods follow where pages differ: R10 (seeds/001) or R18 (seeds/003, 004)")
	f.StringArrayVar(&opts.users, "user", nil, "a user, as NAME:PASSWORD (repeatable; visible in ps: prefer --users-file)")
	f.StringVar(&opts.usersFile, "users-file", "", "users, one NAME:BCRYPT-HASH a line (htpasswd -nB NAME)")
	f.StringArrayVar(&opts.apiKeys, "api-key", nil, "a web API key (repeatable; visible in ps: prefer --api-keys-file or CRMLOAD_API_KEY)")
	f.StringVar(&opts.apiKeysFile, "api-keys-file", "", "web API keys, one a line")
	f.StringVar(&opts.organisation, "organisation", "", "the organisation users log in to")
	f.BoolVar(&opts.noAuth, "no-auth", false, "accept calls without a token (a local sandbox only)")
	f.BoolVar(&opts.noAuthNetwork, "no-auth-beyond-loopback", false, "with --no-auth, listen beyond loopback anyway: anyone who reaches the port can store events")
	f.StringVar(&opts.tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate (chain)")
	f.StringVar(&opts.tlsKey, "tls-key", "", "the PEM private key of --tls-cert")
	f.DurationVar(&opts.tokenTTL, "token-ttl", 2*time.Hour, "how long a token lives")
	f.Int64Var(&opts.maxBody, "max-body", 32<<20, "largest request body, in bytes")
	f.IntVar(&opts.maxConns, "max-conns", 64, "most connections held open at once (more wait to be accepted)")
	f.Int64Var(&opts.memoryLimit, "memory-limit", api.DefaultServeMemoryLimit>>20, "soft limit of the server's memory in MiB (the Go runtime collects harder near it); 0: none")
	f.IntVar(&opts.maxClientConns, "max-conns-per-client", 16, "most connections from one client address (more are closed at once; 0: no limit)")
	f.Float64Var(&opts.clientRate, "client-rate", 0, "most requests a second from one client address (0: no limit)")
	f.IntVar(&opts.clientBurst, "client-burst", 0, "requests a client may send at once above --client-rate (default: 2 x rate)")
	f.DurationVar(&opts.bodyTimeout, "body-timeout", 5*time.Second, "time for a body, plus 1 s per 128 KiB it may hold (1 MiB before the token, then --max-body)")
	f.StringVar(&opts.urlFile, "url-file", "", "write the server's URL to this file once it listens")
	f.StringVar(&opts.logFormat, "log-format", "text", "access log on stderr: text or json")
	choiceFlag(c, "log-format", "text", "json")
	return c
}

func runServe(ctx context.Context, g *globals, opts serveOptions) error {
	var handler slog.Handler = slog.NewTextHandler(g.io.ErrOut, nil)
	if opts.logFormat == "json" {
		handler = slog.NewJSONHandler(g.io.ErrOut, nil)
	}
	logger := slog.New(handler)
	creds, err := serveCredentials(opts)
	if err != nil {
		return err
	}
	for _, name := range opts.secretsOnFlags {
		if name == "user" || name == "api-key" {
			logger.Warn("SECRET ON THE COMMAND LINE: --" + name + " is visible to every local user (ps, /proc); use --users-file / --api-keys-file or the environment")
		}
	}
	if (opts.tlsCert == "") != (opts.tlsKey == "") {
		return usageErrorf("--tls-cert and --tls-key go together")
	}
	eng, err := engine.OpenExisting(noticeUpgrade(ctx, logger), g.db) // a mistyped --db serves no empty store
	if err != nil {
		return usage(err)
	}
	defer eng.Close()
	ln, err := net.Listen("tcp", opts.addr)
	if err != nil {
		return usage(err)
	}
	loopback := isLoopback(ln.Addr())
	switch {
	case opts.noAuth && !loopback && !opts.noAuthNetwork:
		ln.Close()
		return usageErrorf("--no-auth on %s, beyond loopback: anyone who reaches the port could store events; listen on 127.0.0.1, or add --no-auth-beyond-loopback if that is what you want", opts.addr)
	case !loopback && opts.tlsCert == "":
		logger.Warn("listening beyond loopback WITHOUT TLS: passwords, tokens and events cross the network in clear; give --tls-cert and --tls-key", "addr", ln.Addr().String())
	}
	if opts.noAuth && !loopback {
		logger.Warn("NO AUTHENTICATION beyond loopback (--no-auth --no-auth-beyond-loopback): anyone who reaches the port can store events", "addr", ln.Addr().String())
	}
	version, err := crm.ParseAPIVersion(opts.apiVersion)
	if err != nil {
		ln.Close()
		return usageErrorf("--api-version: %v", err)
	}
	cfg := api.ServerConfig{APIVersion: version, Users: creds.users, PasswordHashes: creds.hashes, APIKeys: creds.keys, Organisation: opts.organisation,
		NoAuth: opts.noAuth, TokenTTL: opts.tokenTTL, MaxBody: opts.maxBody, BasePath: opts.basePath,
		BodyTimeout: opts.bodyTimeout, ClientRate: opts.clientRate, ClientBurst: opts.clientBurst, Log: logger}
	if cfg.ClientBurst == 0 {
		cfg.ClientBurst = int(2*opts.clientRate) + 1
	}
	srv := &http.Server{
		Handler:           api.NewServer(eng, cfg),
		ReadHeaderTimeout: 10 * time.Second,
		// Each body gets its own deadline (api.ServerConfig.BodyTimeout);
		// this bounds a request whose connection cannot take one (HTTP/2).
		ReadTimeout:    opts.bodyTimeout + time.Duration(opts.maxBody/(128<<10))*time.Second,
		WriteTimeout:   5 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(handler, slog.LevelWarn),
	}
	// HTTP/1.1 only: a connection then carries one request at a time, so
	// the connection limit bounds the requests in flight (an HTTP/2
	// connection would carry up to 250 streams past it).
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	if opts.memoryLimit > 0 {
		// The requests' own bounds keep the live heap small; the limit
		// keeps garbage from piling up when the CPU is short (the
		// collector works harder near it), so RSS stays near the bound.
		debug.SetMemoryLimit(opts.memoryLimit << 20)
	}
	limited := api.LimitListener(ln, max(opts.maxConns, 1), opts.maxClientConns)
	scheme := "http"
	if opts.tlsCert != "" {
		scheme = "https"
	}
	url := scheme + "://" + ln.Addr().String() + api.CleanBasePath(opts.basePath)
	if opts.urlFile != "" {
		if err := os.WriteFile(opts.urlFile, []byte(url+"\n"), 0o644); err != nil {
			ln.Close()
			return err
		}
	}
	logger.Info("serving", "url", url, "db", shownDB(g.db), "users", len(creds.users)+len(creds.hashes), "api_keys", len(creds.keys),
		"no_auth", opts.noAuth, "tls", opts.tlsCert != "", "max_conns", opts.maxConns)
	errc := make(chan error, 1)
	go func() {
		if opts.tlsCert != "" {
			errc <- srv.ServeTLS(limited, opts.tlsCert, opts.tlsKey)
			return
		}
		errc <- srv.Serve(limited)
	}()
	select {
	case err := <-errc:
		return usage(err)
	case <-ctx.Done():
	}
	// SIGINT/SIGTERM: stop accepting, finish the calls in flight.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	logger.Info("stopped")
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// isLoopback says whether addr is a loopback address (not 0.0.0.0 or ::).
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// serveCreds are the users and keys serve accepts.
type serveCreds struct {
	users  map[string]string // plain passwords (--user, CRMLOAD_SERVE_USERS)
	hashes map[string][]byte // bcrypt hashes (--users-file)
	keys   []string
}

func serveCredentials(opts serveOptions) (serveCreds, error) {
	c := serveCreds{users: map[string]string{}, hashes: map[string][]byte{}, keys: opts.apiKeys}
	all := opts.users
	if env := os.Getenv("CRMLOAD_SERVE_USERS"); env != "" {
		all = append(all, strings.Split(env, ",")...)
	}
	for _, u := range all {
		name, pw, ok := strings.Cut(u, ":")
		if !ok || name == "" || pw == "" {
			return c, usageErrorf("--user: want NAME:PASSWORD (got a value without a colon or with an empty part)")
		}
		c.users[name] = pw
	}
	if opts.usersFile != "" {
		hashes, err := readUsersFile(opts.usersFile)
		if err != nil {
			return c, usage(err)
		}
		for name, h := range hashes {
			if _, dup := c.users[name]; dup {
				return c, usageErrorf("user %s is in %s and in --user or CRMLOAD_SERVE_USERS: give it once", name, opts.usersFile)
			}
			c.hashes[name] = h
		}
	}
	if opts.apiKeysFile != "" {
		keys, err := readLines(opts.apiKeysFile)
		if err != nil {
			return c, usage(err)
		}
		c.keys = append(c.keys, keys...)
	}
	if len(c.users)+len(c.hashes) == 0 && len(c.keys) == 0 && !opts.noAuth {
		return c, usageErrorf("no user: give --users-file FILE (or CRMLOAD_SERVE_USERS, --user NAME:PASSWORD), --api-keys-file FILE (or CRMLOAD_API_KEY), or --no-auth for an open sandbox")
	}
	if len(c.users)+len(c.hashes) > 0 && opts.organisation == "" {
		return c, usageErrorf("--organisation: users log in to an organisation; name it")
	}
	return c, nil
}
