package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/loader"
)

// serveLedger is the ledger of loaded inputs of a remote crmload engine
// serve: the ledger of the server's store, over its crmload/loads methods.
// Every replica of an engine serve on one store, and every machine loading
// through one, sees the same claims, keyed as the embedded engine keys
// them (content hash, kind, shard).
type serveLedger struct {
	client *crm.Client
	// retries bounds the calls sent again after no usable answer (a
	// claim or a state change sent twice is recorded once: a run's own
	// claims are no conflict): --retries, as for the load's calls, so
	// that an outage the load waits out does not fail its claim at the
	// start or its record at the end.
	retries int
	sleep   func(context.Context, time.Duration) error
	logger  *slog.Logger // each retry is logged: a wait is never silent
}

func (l serveLedger) ClaimInputs(ctx context.Context, claims []loader.Claim, again bool) ([]loader.Claim, error) {
	in := make([]crm.LoadClaim, len(claims))
	for i, c := range claims {
		in[i] = crm.LoadClaim{Hash: c.Hash, Size: json.Number(strconv.FormatInt(c.Size, 10)), Name: c.Name, Kind: c.Kind, Run: c.Run, RunDir: c.RunDir,
			StartedAt: c.StartedAt.UTC().Format(time.RFC3339Nano)}
	}
	var earlier []crm.LoadClaim
	err := l.retry(ctx, func() (err error) {
		earlier, err = l.client.ClaimLoads(ctx, in, again)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]loader.Claim, len(earlier))
	for i, c := range earlier {
		size, _ := strconv.ParseInt(string(c.Size), 10, 64)
		at, _ := time.Parse(time.RFC3339Nano, c.StartedAt)
		out[i] = loader.Claim{Hash: c.Hash, Size: size, Name: c.Name, Kind: c.Kind, Run: c.Run, RunDir: c.RunDir, StartedAt: at, State: c.State}
	}
	return out, nil
}

func (l serveLedger) FinishInputs(ctx context.Context, run, state string) error {
	return l.retry(ctx, func() error { return l.client.FinishLoads(ctx, run, state) })
}

// retry calls fn until it is answered (or refused), at most retries times
// again after a call without a usable answer.
func (l serveLedger) retry(ctx context.Context, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		var callErr *crm.CallError
		if err == nil || !errors.As(err, &callErr) || callErr.Permanent() || attempt >= l.retries {
			return err
		}
		wait := max(loader.Backoff(attempt), callErr.RetryAfter)
		if l.logger != nil {
			l.logger.Info("ledger call failed; retrying", "reason", err.Error(), "wait", wait.Round(time.Millisecond).String(), "retry", attempt+1, "of", l.retries)
		}
		if err := l.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// remoteLedger chooses the ledger of a remote engine, the client logged
// in: a crmload engine serve (it advertises load receipts) keeps it in its
// store, which every replica and every machine shares; a real CRM.COM, or
// an engine serve of a release without the ledger methods, gets the file
// ledger of the report directory, keyed by the engine's URL.
func remoteLedger(ctx context.Context, client *crm.Client, opts *loadOptions, logger *slog.Logger) error {
	url := crm.RedactURL(opts.engine)
	file := filepath.Join(opts.reportDir, loader.LedgerFileName)
	fileLedger := func() {
		opts.load.Ledger = loader.FileLedger{Path: file, Engine: crm.CanonicalURL(opts.engine)}
		opts.load.LedgerName, opts.load.Again = url+" (as recorded in "+file+")", opts.again
	}
	if !client.SupportsReplay() {
		fileLedger()
		return nil
	}
	l := serveLedger{client: client, retries: opts.load.Retries, sleep: sleepCtx, logger: logger}
	// An empty claim asks whether the server has the ledger methods.
	_, err := l.ClaimInputs(ctx, nil, false)
	switch {
	case errors.Is(err, crm.ErrNoLedgerMethods):
		logger.Warn("the engine serve has no ledger methods (an earlier release): the ledger of loaded inputs is this report directory's file, which loads through other replicas or from other machines do not see; upgrade the engine serve",
			"engine", url, "ledger", file)
		fileLedger()
		return nil
	case ctx.Err() != nil:
		return &ExitError{Code: ExitAborted, Err: fmt.Errorf("interrupted while reaching the ledger of %s: nothing was sent", url)}
	case err != nil:
		var callErr *crm.CallError
		if errors.As(err, &callErr) {
			return &ExitError{Code: ExitAborted, Err: fmt.Errorf("the ledger of loaded inputs of %s could not be reached (%v): nothing was sent; run the same command again when it is up", url, err)}
		}
		return usageErrorf("the ledger of loaded inputs of %s: %v (nothing was sent)", url, err)
	}
	opts.load.Ledger, opts.load.LedgerName, opts.load.Again = l, "the store of the engine serve at "+url, opts.again
	return nil
}
