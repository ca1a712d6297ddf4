package cmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
	"github.com/crmload/crmload/loader"
	"github.com/crmload/crmload/mapping"
	"golang.org/x/term"
)

// neverCreates is what a resume or retry says of a store it cannot find.
const neverCreates = "a resume or retry never creates a store: it continues in the store the run loaded into, or a retry in the one --db names; if the run's store moved, move it back to its path"

// openEngine opens the embedded engine (and seeds it), or a client of a
// remote one, logged in: bad credentials stop the run before a row is read.
func openEngine(ctx context.Context, g *globals, opts *loadOptions, logger *slog.Logger) (loader.Engine, func(), error) {
	if opts.engine == "embedded" {
		if err := engine.CheckStorePath(g.db); err != nil {
			return nil, nil, usage(err) // a --db from the environment or config file (root checks a given one)
		}
		if err := engine.CheckWritable(g.db); err != nil {
			return nil, nil, usage(err) // before a hint to seed it so
		}
		if opts.existing && storeMissing(g.db) {
			return nil, nil, usageErrorf("the store %s does not exist (%s)", shownDB(g.db), neverCreates)
		}
		if storeMissing(g.db) && len(opts.seeds) == 0 {
			// A mistyped --db would make an empty store in which every
			// row fails: only seeding creates one.
			return nil, nil, usageErrorf("the store %s does not exist: seed it first (crmload engine seed --db %s FILE, or load --seed FILE)", shownDB(g.db), shownDB(g.db))
		}
		if err := checkSeedFiles(opts.seeds); err != nil {
			return nil, nil, err
		}
		created := storeMissing(g.db)
		eng, err := openStore(noticeUpgrade(ctx, logger), g.db, opts.existing || len(opts.seeds) == 0)
		if err != nil {
			var se *engine.StoreError
			if opts.existing && errors.As(err, &se) && errors.Is(err, engine.ErrNoStore) {
				// An empty file where the run's store was: seeding it
				// is not the way (the run's receipts are not in it).
				hinted := *se
				hinted.Hint = neverCreates
				return nil, nil, usage(&hinted)
			}
			return nil, nil, usage(err)
		}
		eng.DryRun, opts.load.DryRun = opts.dryRun, opts.dryRun
		if len(opts.seeds) > 0 {
			stats, err := eng.Seed(ctx, opts.seeds...)
			if err != nil {
				eng.Close()
				if created && seededCount(stats) == 0 {
					// As engine seed: no empty store left for a later
					// load to take for a seeded one.
					return nil, nil, usageIfSeed(fmt.Errorf("%w (%s)", err, removedNote(g.db, removeStore(g.db))))
				}
				return nil, nil, seedFailed(err, stats, shownDB(g.db))
			}
			logger.Info("seeded reference data", "files", opts.seeds, "records", seededCount(stats))
		}
		opts.load.DB = g.db // the run file records a database without its password, a file by its path (a resume opens it)
		if !opts.dryRun {
			opts.load.Ledger, opts.load.LedgerName, opts.load.Again = storeLedger{eng}, "the store "+shownDB(g.db), opts.again
		}
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
	client, err := crm.NewClient(opts.engine, opts.creds, crm.ClientOptions{Connections: opts.load.Concurrency, CAFile: opts.caFile, InsecureSkipVerify: opts.insecure,
		OnIgnored: func(names string) {
			logger.Warn("the engine ignored parameters that are not its method's (check the mapping's names against the API pages)", "parameters", names)
		},
		OnRelogin: func() {
			logger.Info("the engine refused the token as expired: logged in again", "engine", crm.RedactURL(opts.engine))
		},
	})
	if err != nil {
		return nil, nil, usage(err)
	}
	if opts.insecure {
		logger.Warn("TLS certificate verification is OFF (--insecure-skip-tls-verify): anyone on the path can read the credentials and data")
	}
	if err := login(ctx, client, opts, logger); err != nil {
		return nil, nil, err
	}
	opts.engine = crm.RedactURL(opts.engine)
	release := func() {
		releaseCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Close(releaseCtx); err != nil {
			logger.Warn("release the token", "error", err)
		}
	}
	if err := remoteLedger(ctx, client, opts, logger); err != nil {
		release()
		return nil, nil, err
	}
	return client, release, nil
}

// login logs in, waiting out an engine that is not up yet (connection
// refused, 503) with the calls' backoff and --retries: a nightly run that
// starts while the server restarts waits for it. Refused credentials stop
// at once (exit 2); an engine that never answers is exit 3.
func login(ctx context.Context, client *crm.Client, opts *loadOptions, logger *slog.Logger) error {
	url := crm.RedactURL(opts.engine)
	timeout := opts.load.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	for attempt := 0; ; attempt++ {
		loginCtx, cancel := context.WithTimeout(ctx, timeout)
		err := client.Login(loginCtx)
		cancel()
		var callErr *crm.CallError
		if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			// No answer in time: an engine not up yet, as a refused
			// connection is, never refused credentials.
			callErr = &crm.CallError{Err: fmt.Errorf("no answer to the login within %s (--timeout)", timeout)}
			err = callErr
		}
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return &ExitError{Code: ExitAborted, Err: fmt.Errorf("interrupted while logging in to %s: nothing was sent", url)}
		case errors.As(err, &callErr) && loginSetupError(callErr) != "":
			// Waiting does not mend these: someone must act.
			return usageErrorf("log in to %s: %s", url, loginSetupError(callErr))
		case !errors.As(err, &callErr):
			// The user name is not repeated: a password typed there by
			// mistake would end up in the terminal and cron's mail (the
			// server logs such a name as "(unknown)" for the same reason).
			who := "web API key"
			if opts.creds.APIKey == "" {
				who = "the user given of organisation " + opts.creds.Organisation
			}
			return usageErrorf("log in to %s with %s: %v", url, who, err)
		case attempt >= opts.load.Retries:
			return &ExitError{Code: ExitAborted, Err: fmt.Errorf("the engine at %s could not be reached after %s (%v): nothing was sent; run the same command again when it is up", url, mapping.CountOf(attempt, "retry", ""), err)}
		}
		wait := max(loader.Backoff(attempt), callErr.RetryAfter)
		level := slog.LevelInfo
		if wait > loader.LongWait {
			level = slog.LevelWarn // a long wait is never silent (Retry-After is capped: crm.MaxRetryAfter)
		}
		logger.Log(ctx, level, "the engine is not reachable; retrying the login", "engine", url, "reason", err.Error(),
			"wait", wait.Round(time.Millisecond).String(), "retry", attempt+1, "of", opts.load.Retries)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return &ExitError{Code: ExitAborted, Err: fmt.Errorf("interrupted while waiting for %s: nothing was sent", url)}
		case <-t.C:
		}
	}
}

// loginSetupError says what is wrong with the engine URL or its TLS set-up
// when a login's failure is one that retrying does not mend ("" when it
// may be the engine not being up yet): a redirect, a certificate this
// machine does not trust, an answer that is no CRM.COM answer with a
// client-error status (a 404 page of a wrong base path).
func loginSetupError(e *crm.CallError) string {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case e.Redirect:
		return e.Err.Error()
	case errors.As(e, &unknown) || errors.As(e, &host) || errors.As(e, &invalid) || errors.As(e, &verify):
		return fmt.Sprintf("its TLS certificate is not one this machine trusts (%v): give --ca-file with the certificate of the authority that signed it (--insecure-skip-tls-verify turns the check off, which exposes the password)", e.Err)
	case e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests && e.Status != http.StatusRequestTimeout:
		return fmt.Sprintf("HTTP %d, with an answer that is not a CRM.COM one (%v): is the base URL right? It is the API's, such as https://host/crmapi/rest/v2, to which crmload appends authentication/token", e.Status, e.Err)
	}
	return ""
}

// storeLedger is the embedded engine's ledger of loaded inputs, for the
// loader.
type storeLedger struct{ eng *engine.Engine }

func (l storeLedger) ClaimInputs(ctx context.Context, claims []loader.Claim, again bool) ([]loader.Claim, error) {
	in := make([]engine.InputClaim, len(claims))
	for i, c := range claims {
		in[i] = engine.InputClaim{Hash: c.Hash, Size: c.Size, Name: c.Name, Kind: c.Kind, Run: c.Run, RunDir: c.RunDir, StartedAt: c.StartedAt}
	}
	earlier, err := l.eng.ClaimInputs(ctx, in, again)
	out := make([]loader.Claim, len(earlier))
	for i, c := range earlier {
		out[i] = loader.Claim{Hash: c.Hash, Size: c.Size, Name: c.Name, Kind: c.Kind, Run: c.Run, RunDir: c.RunDir, StartedAt: c.StartedAt, State: c.State}
	}
	return out, err
}

func (l storeLedger) FinishInputs(ctx context.Context, run, state string) error {
	return l.eng.FinishInputs(ctx, run, state)
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
