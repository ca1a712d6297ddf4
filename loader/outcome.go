package loader

// Outcome is how a command that loads or checks rows ended. Its value is
// the process's exit code (README, "Exit codes"): this table is the only
// mapping of outcomes to exit codes, and summary.json records it as
// exit_code. Outcomes of runs are ordered by gravity: the outcome of a
// job is the greatest of its sources'.
type Outcome int

const (
	// OutcomeOK: every row succeeded or was filtered out.
	OutcomeOK Outcome = 0
	// OutcomeRowsFailed: the run finished and rows failed or are in doubt
	// (in this attempt or an earlier one); also a command that failed.
	OutcomeRowsFailed Outcome = 1
	// OutcomeRefused: nothing was sent or written (bad flags, mapping,
	// input, credentials, a store that cannot be opened). No run directory
	// records it. crmload summary also ends so when the runs it is given
	// do not make one whole load (README, "Exit codes").
	OutcomeRefused Outcome = 2
	// OutcomeAborted: the run stopped part-way; --resume continues it.
	// Also an engine unreachable before anything was sent (no run
	// directory then: run the same command again).
	OutcomeAborted Outcome = 3
)

// ExitCode is the process exit code of the outcome.
func (o Outcome) ExitCode() int { return int(o) }

// Outcome is the run's outcome, as its exit code records it.
func (s *Summary) Outcome() Outcome { return Outcome(s.ExitCode) }

// settledOutcome is the outcome of a run that ended (aborted or not) with
// the rows of s settled.
func (s *Summary) settledOutcome(aborted bool) Outcome {
	switch {
	case aborted:
		return OutcomeAborted
	case s.RowsFailed > 0 || s.RowsInDoubt > 0 || s.RowsFailedEarlier > 0 || s.RowsInDoubtEarlier > 0:
		return OutcomeRowsFailed
	}
	return OutcomeOK
}
