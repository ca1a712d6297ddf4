package cmd

import (
	"errors"
	"fmt"

	"github.com/crmload/crmload/engine"
	"github.com/crmload/crmload/loader"
)

// Exit codes (README, "Exit codes"): those of loader's outcomes, whose
// table (loader.Outcome) is the one mapping of outcomes to codes; exitCode
// below only maps an error to its outcome's code.
const (
	ExitOK      = int(loader.OutcomeOK)         // every row succeeded (or was filtered out)
	ExitFailed  = int(loader.OutcomeRowsFailed) // the run finished and some rows failed; or a command failed
	ExitUsage   = int(loader.OutcomeRefused)    // nothing was sent: bad flags, mapping, input, credentials
	ExitAborted = int(loader.OutcomeAborted)    // the run stopped part-way; --resume continues it
)

// ExitError carries the exit code an error should end the process with.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// usageErrorf is an error that means nothing was done: exit 2.
func usageErrorf(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// usage marks err as a usage error (exit 2), keeping its chain.
func usage(err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: ExitUsage, Err: err}
}

// exitCode maps an error to the process exit code: the code an
// ExitError carries, else a usage or failure code. started says whether the command's own code ran: an error
// before it (flag parsing, argument checks) is a usage error.
func exitCode(err error, started bool) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if errors.Is(err, engine.ErrNotAStore) || errors.Is(err, engine.ErrNoStore) || errors.Is(err, engine.ErrBadDSN) {
		return ExitUsage // nothing was read or written: the wrong --db
	}
	if !started {
		return ExitUsage
	}
	return ExitFailed
}
