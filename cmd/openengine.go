package cmd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
	"github.com/crmload/crmload/loader"
	"golang.org/x/term"
)

// openEngine opens the embedded engine (and seeds it), or a client of a
// remote one, logged in: bad credentials stop the run before a row is read.
func openEngine(ctx context.Context, g *globals, opts *loadOptions, logger *slog.Logger) (loader.Engine, func(), error) {
	if opts.engine == "embedded" {
		eng, err := engine.Open(ctx, g.db)
		if err != nil {
			return nil, nil, usage(err)
		}
		eng.DryRun = opts.dryRun
		if len(opts.seeds) > 0 {
			stats, err := eng.Seed(ctx, opts.seeds...)
			if err != nil {
				eng.Close()
				return nil, nil, usageIfSeed(err)
			}
			logger.Info("seeded reference data", "files", opts.seeds, "records", total(stats))
		}
		opts.load.DB = g.db
		return eng, func() { eng.Close() }, nil
	}
	for _, name := range g.secretsOnFlags {
		if name == "password" || name == "api-key" {
			logger.Warn("SECRET ON THE COMMAND LINE: --" + name + " is visible to every local user (ps, /proc); use CRMLOAD_PASSWORD / CRMLOAD_API_KEY, the config file, or the password prompt")
		}
	}
	if opts.creds.APIKey == "" && opts.creds.Password == "" {
		pw, err := promptPassword(g, opts.creds)
		if err != nil {
			return nil, nil, err
		}
		opts.creds.Password = pw
	}
	client, err := crm.NewClient(opts.engine, opts.creds, crm.ClientOptions{Connections: opts.load.Concurrency, CAFile: opts.caFile, InsecureSkipVerify: opts.insecure})
	if err != nil {
		return nil, nil, usage(err)
	}
	if opts.insecure {
		logger.Warn("TLS certificate verification is OFF (--insecure-skip-tls-verify): anyone on the path can read the credentials and data")
	}
	loginCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := client.Login(loginCtx); err != nil {
		return nil, nil, usageErrorf("log in to %s as %s: %v", crm.RedactURL(opts.engine), opts.creds, err)
	}
	opts.engine = crm.RedactURL(opts.engine)
	return client, func() {
		releaseCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Close(releaseCtx); err != nil {
			logger.Warn("release the token", "error", err)
		}
	}, nil
}

// promptPassword asks for the password on a terminal; elsewhere it says
// where a password comes from.
func promptPassword(g *globals, creds crm.Credentials) (string, error) {
	in, ok := g.io.In.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return "", usageErrorf("no password for %s: set CRMLOAD_PASSWORD (or password: in the config file), or run on a terminal to be asked", creds)
	}
	fmt.Fprintf(g.io.ErrOut, "password for %s: ", creds)
	pw, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(g.io.ErrOut)
	if err != nil {
		return "", usage(err)
	}
	return string(pw), nil
}
