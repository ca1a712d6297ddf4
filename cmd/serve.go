package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/crmload/crmload/engine"
	"github.com/spf13/cobra"
)

type serveOptions struct {
	addr         string
	users        []string
	apiKeys      []string
	organisation string
	noAuth       bool
	tokenTTL     time.Duration
	maxBody      int64
	urlFile      string
	logFormat    string
}

func newServeCommand(g *globals) *cobra.Command {
	var opts serveOptions
	c := &cobra.Command{
		Use:   "serve [--db PATH] [--addr 127.0.0.1:8080] --user NAME:PASSWORD --organisation ORG",
		Short: "Serve the embedded engine over CRM.COM's wire protocol",
		Long: `Serve the embedded engine with the CRM.COM Web API's paths and envelopes:
authentication/token, authentication/web_api_key/token,
authentication/token/release and customer_events/bulk/<kind>/create, so that
crmload load --engine http://ADDR (or any CRM.COM client) can use it.

Users come from --user NAME:PASSWORD (repeatable) or CRMLOAD_SERVE_USERS=
name:pw,name2:pw2; web API keys from --api-key. With neither, serve refuses
to start unless --no-auth is given. It listens on 127.0.0.1 unless told
otherwise, caps request bodies, times out slow clients, and on SIGTERM
finishes the calls in flight before it exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), g, opts)
		},
	}
	f := c.Flags()
	f.StringVar(&opts.addr, "addr", "127.0.0.1:8080", "address to listen on (port 0: any free port)")
	f.StringArrayVar(&opts.users, "user", nil, "a user, as NAME:PASSWORD (repeatable)")
	f.StringArrayVar(&opts.apiKeys, "api-key", nil, "a web API key (repeatable)")
	f.StringVar(&opts.organisation, "organisation", "", "the organisation users log in to")
	f.BoolVar(&opts.noAuth, "no-auth", false, "accept calls without a token (a local sandbox only)")
	f.DurationVar(&opts.tokenTTL, "token-ttl", 2*time.Hour, "how long a token lives")
	f.Int64Var(&opts.maxBody, "max-body", 32<<20, "largest request body, in bytes")
	f.StringVar(&opts.urlFile, "url-file", "", "write the server's URL to this file once it listens")
	f.StringVar(&opts.logFormat, "log-format", "text", "access log on stderr: text or json")
	return c
}

func runServe(ctx context.Context, g *globals, opts serveOptions) error {
	users := map[string]string{}
	all := opts.users
	if env := os.Getenv("CRMLOAD_SERVE_USERS"); env != "" {
		all = append(all, strings.Split(env, ",")...)
	}
	for _, u := range all {
		name, pw, ok := strings.Cut(u, ":")
		if !ok || name == "" || pw == "" {
			return usageErrorf("--user: want NAME:PASSWORD (got a value without a colon or with an empty part)")
		}
		users[name] = pw
	}
	if len(users) == 0 && len(opts.apiKeys) == 0 && !opts.noAuth {
		return usageErrorf("no user: give --user NAME:PASSWORD (or CRMLOAD_SERVE_USERS), --api-key KEY, or --no-auth for an open sandbox")
	}
	if len(users) > 0 && opts.organisation == "" {
		return usageErrorf("--organisation: users log in to an organisation; name it")
	}
	var handler slog.Handler = slog.NewTextHandler(g.io.ErrOut, nil)
	if opts.logFormat == "json" {
		handler = slog.NewJSONHandler(g.io.ErrOut, nil)
	}
	logger := slog.New(handler)
	eng, err := engine.Open(ctx, g.db)
	if err != nil {
		return usage(err)
	}
	defer eng.Close()
	ln, err := net.Listen("tcp", opts.addr)
	if err != nil {
		return usage(err)
	}
	srv := &http.Server{
		Handler: engine.NewServer(eng, engine.ServerConfig{Users: users, APIKeys: opts.apiKeys, Organisation: opts.organisation,
			NoAuth: opts.noAuth, TokenTTL: opts.tokenTTL, MaxBody: opts.maxBody, Log: logger}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(handler, slog.LevelWarn),
	}
	url := "http://" + ln.Addr().String()
	if opts.urlFile != "" {
		if err := os.WriteFile(opts.urlFile, []byte(url+"\n"), 0o644); err != nil {
			ln.Close()
			return err
		}
	}
	logger.Info("serving", "url", url, "db", g.db, "users", len(users), "api_keys", len(opts.apiKeys), "no_auth", opts.noAuth)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
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
