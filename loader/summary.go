package loader

import (
	"encoding/json"
	"math"
	"time"
)

// Summary is summary.json: the run's counts. The accounting invariant
// rows_read = rows_resumed + rows_filtered + rows_succeeded + rows_failed +
// rows_in_doubt holds in every summary.
type Summary struct {
	RunID           string      `json:"run_id"`
	Command         string      `json:"command"`
	Parent          string      `json:"parent_run,omitempty"`
	DB              string      `json:"db,omitempty"`
	Kind            string      `json:"kind"`
	Engine          string      `json:"engine"`
	Files           []string    `json:"files"`
	Inputs          []InputInfo `json:"inputs,omitempty"`
	Again           bool        `json:"again,omitempty"`   // loaded although the ledger knew an input (--again)
	DryRun          bool        `json:"dry_run,omitempty"` // nothing was stored (--dry-run): reports carry no ids
	StartedAt       time.Time   `json:"started_at"`
	FinishedAt      time.Time   `json:"finished_at"`
	DurationSeconds float64     `json:"duration_seconds"`
	RowsRead        int         `json:"rows_read"`
	RowsFiltered    int         `json:"rows_filtered"`
	RowsSucceeded   int         `json:"rows_succeeded"`
	RowsFailed      int         `json:"rows_failed"`
	RowsInDoubt     int         `json:"rows_in_doubt"`
	RowsResumed     int         `json:"rows_resumed"`
	EventsSucceeded int         `json:"events_succeeded"`
	// EventsFound are the events of EventsSucceeded an earlier attempt
	// created but did not report (calls in flight when it stopped): a
	// resume finds their receipts in the store and reports them.
	EventsFound  int            `json:"events_found_stored,omitempty"`
	EventsFailed int            `json:"events_failed"`
	Batches      int            `json:"batches"`
	Retries      int            `json:"retries"`
	ErrorsByCode map[string]int `json:"errors_by_code"`
	ExitCode     int            `json:"exit_code"` // Outcome.ExitCode; read it as Outcome()
	AbortReason  string         `json:"abort_reason,omitempty"`
	// Warnings are things the operator should know that fail no row: a
	// group split across two files.
	Warnings []string `json:"warnings,omitempty"`
	// Shard is the run's part of its inputs (load --shard K/N); the rows of
	// the other shards are not counted as read, only here.
	Shard           string `json:"shard,omitempty"`
	RowsOtherShards int    `json:"rows_other_shards,omitempty"`
	// RowsFailedEarlier are the rows of rows_resumed that an earlier
	// attempt of a resumed run failed: they are in failed.* with this
	// attempt's, and the run's rows that failed are rows_failed + these.
	RowsFailedEarlier int `json:"rows_failed_earlier,omitempty"`
	// RowsSucceededEarlier are the rows of rows_resumed that an earlier
	// attempt stored (in succeeded.*), as its journal counted them (none
	// for a journal of a release before it counted them).
	RowsSucceededEarlier int `json:"rows_succeeded_earlier,omitempty"`
	// EventsSucceededEarlier and EventsFailedEarlier are the events the
	// rows of rows_succeeded_earlier and rows_failed_earlier made, as the
	// journal counted them (none for a journal of a release before it
	// counted them): the run's events are events_succeeded + these.
	EventsSucceededEarlier int `json:"events_succeeded_earlier,omitempty"`
	EventsFailedEarlier    int `json:"events_failed_earlier,omitempty"`
	// RowsInDoubtEarlier are the rows of rows_resumed that an earlier
	// attempt left in doubt (in in_doubt.* with this attempt's): they
	// still need checking, and the run's exit code says so.
	RowsInDoubtEarlier int `json:"rows_in_doubt_earlier,omitempty"`
	// RowsFilteredEarlier are the rows of rows_resumed that an earlier
	// attempt filtered out (none for a journal of a release before it
	// counted them).
	RowsFilteredEarlier int `json:"rows_filtered_earlier,omitempty"`
}

// RowsFailedInAll are the rows of the run that failed, in every attempt:
// the rows of its failure report.
func (s *Summary) RowsFailedInAll() int { return s.RowsFailed + s.RowsFailedEarlier }

// RowsInDoubtInAll are the rows of the run in doubt, in every attempt:
// the rows of its in-doubt report.
func (s *Summary) RowsInDoubtInAll() int { return s.RowsInDoubt + s.RowsInDoubtEarlier }

// finish sets the end of the run and its outcome.
func (s *Summary) finish(at time.Time, o Outcome) {
	s.FinishedAt = at.UTC()
	s.DurationSeconds = math.Round(s.FinishedAt.Sub(s.StartedAt).Seconds()*1000) / 1000
	s.ExitCode = o.ExitCode()
}

// Balanced reports whether the accounting invariant holds.
func (s *Summary) Balanced() bool {
	return s.RowsRead == s.RowsResumed+s.RowsFiltered+s.RowsSucceeded+s.RowsFailed+s.RowsInDoubt
}

func decodeSummary(b []byte) (*Summary, error) {
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if s.ErrorsByCode == nil {
		s.ErrorsByCode = map[string]int{}
	}
	return &s, nil
}

// add counts a source's summary into a job's.
func (s *Summary) add(o *Summary) {
	s.Again = s.Again || o.Again // a job loaded --again says so, as its sources do
	s.Files = append(s.Files, o.Files...)
	s.Inputs = append(s.Inputs, o.Inputs...)
	s.RowsRead += o.RowsRead
	s.RowsFiltered += o.RowsFiltered
	s.RowsSucceeded += o.RowsSucceeded
	s.RowsFailed += o.RowsFailed
	s.RowsFailedEarlier += o.RowsFailedEarlier
	s.RowsSucceededEarlier += o.RowsSucceededEarlier
	s.EventsSucceededEarlier += o.EventsSucceededEarlier
	s.EventsFailedEarlier += o.EventsFailedEarlier
	s.RowsInDoubt += o.RowsInDoubt
	s.RowsInDoubtEarlier += o.RowsInDoubtEarlier
	s.RowsFilteredEarlier += o.RowsFilteredEarlier
	s.RowsResumed += o.RowsResumed
	s.EventsSucceeded += o.EventsSucceeded
	s.EventsFound += o.EventsFound
	s.EventsFailed += o.EventsFailed
	s.Batches += o.Batches
	s.Retries += o.Retries
	for k, v := range o.ErrorsByCode {
		s.ErrorsByCode[k] += v
	}
}
