package loader

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
)

// OutcomeNotWhole is the outcome of a sum of runs that do not make one
// whole load (crmload summary; README, "Exit codes"): the code of "nothing
// was done", as the sum is not the load's.
const OutcomeNotWhole = OutcomeRefused

// Combined is the sum of several runs' summaries: their counts, errors by
// code, and the worst exit code (in the embedded Summary).
type Combined struct {
	Summary
	Runs     []string `json:"runs"`
	Balanced bool     `json:"balanced"`
	// Problems are what keeps the sum from being the whole load: a run
	// without a summary, a shard missing or given twice, a retry without
	// its run.
	Problems []string `json:"problems,omitempty"`
	// Notes say what was left out of the sum that does not keep it from
	// being the whole load: dry runs given with real ones.
	Notes []string `json:"notes,omitempty"`
	// RetriesOf are the runs counted as retries of another: run -> its
	// run (both as given).
	RetriesOf map[string]string `json:"retries_of,omitempty"`
	// Given are the directories as given, in order, for a table of the
	// runs (not in the JSON).
	Given []GivenRun `json:"-"`
}

// GivenRun is one directory given to Combine.
type GivenRun struct {
	Dir string
	// Summary is the run's summary; nil for a run not counted: without a
	// summary (NoSummary), given again, a copy of another, or a retry
	// whose run is not among them.
	Summary   *Summary
	NoSummary bool
	// RetryOf is the directory (as given) of the run it retried, when it
	// is counted as that run's retry.
	RetryOf string
}

// summed is one run as the sum counts it.
type summed struct {
	dir  string
	s    *Summary
	code int // its exit code; a run whose failed rows a retry took, the retry's
	// failed, inDoubt and errors are its rows still failed (a retry
	// of it took the others).
	failed, inDoubt, eventsFailed int
	errors                        map[string]int
	uncounted                     bool // a retry whose run is not among the runs: not in the sum
}

// RunIdentity is the run of dir (its summary s) among others: its run id,
// which for a source of a job is the job's run id and the source's
// ("20261206T...-ab12/01-web"), as two jobs' sources have the same names.
func RunIdentity(dir string, s *Summary) string {
	if s.RunID == "" || strings.Contains(s.RunID, "/") {
		return s.RunID
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return s.RunID
	}
	if up := filepath.Dir(abs); RunDir(up).IsJob() {
		return filepath.Base(up) + "/" + s.RunID
	}
	return s.RunID
}

// Combine reads and adds up the summaries of the run directories dirs
// (crmload summary): the shards of one load and the retries of its runs.
// A directory given twice, or a copy of a run, is counted once; a run
// without a summary counts as stopped part-way (OutcomeAborted); runs that
// do not make one whole load are Problems (OutcomeNotWhole). A retry
// counts as its run's failed rows fixed, not as more rows read. An error
// is a directory that is not a run directory or whose summary cannot be
// read.
func Combine(dirs []string) (*Combined, error) {
	c := &Combined{Runs: []string{}}
	c.Command, c.ErrorsByCode = "summary", map[string]int{}
	c.Given = make([]GivenRun, len(dirs))
	for i, dir := range dirs {
		c.Given[i].Dir = dir
	}
	notWhole := func(format string, args ...any) {
		c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
		c.ExitCode = max(c.ExitCode, OutcomeNotWhole.ExitCode())
	}
	seenDir, byID := map[string]string{}, map[string]*summed{}
	dry := map[string]string{} // dry runs left out, by run id: their dirs
	var runs, retries []*summed
	realDir := func(dir string) (string, error) {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return "", err
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
		return abs, nil
	}
	given := map[string]string{} // real path -> as given
	// Each summary, read once; whether a real run (not a dry run) is
	// among them.
	sums, sumErrs := make([]*Summary, len(dirs)), make([]error, len(dirs))
	anyReal := false
	for i, dir := range dirs {
		if abs, err := realDir(dir); err == nil {
			given[abs] = dir
		}
		sums[i], sumErrs[i] = RunDir(dir).Summary()
		anyReal = anyReal || sumErrs[i] == nil && !sums[i].DryRun
	}
	for i, dir := range dirs {
		abs, err := realDir(dir)
		if err != nil {
			return nil, err
		}
		if job, ok := given[filepath.Dir(abs)]; ok && RunDir(filepath.Dir(abs)).IsJob() {
			// A job's source, and the job too: the job's summary holds it.
			notWhole("%s is a source of job run %s, given too: it is counted once, in the job", dir, job)
			continue
		}
		if first, ok := seenDir[abs]; ok {
			notWhole("%s is given more than once (as %s too): it is counted once", dir, first)
			continue
		}
		seenDir[abs] = dir
		c.Runs = append(c.Runs, dir)
		rd := RunDir(dir)
		s, err := sums[i], sumErrs[i]
		if errors.Is(err, fs.ErrNotExist) {
			if !rd.HasRunFile() {
				return nil, fmt.Errorf("%s is not a run directory (no summary.json, no job.json)", dir)
			}
			c.Problems = append(c.Problems, noSummary(rd))
			c.ExitCode = max(c.ExitCode, OutcomeAborted.ExitCode())
			continue
		}
		if se := (*SummaryError)(nil); errors.As(err, &se) {
			return nil, fmt.Errorf("%s/summary.json: %v", dir, se.Err)
		}
		if err != nil {
			return nil, err
		}
		if s.DryRun && anyReal {
			// A rehearsal stored nothing: summed with the real runs,
			// its rows would count twice (a dry retry took the rows
			// of the run it rehearsed).
			c.Notes = append(c.Notes, fmt.Sprintf("%s is a dry run: it stored nothing, and is not counted with the real runs", dir))
			dry[RunIdentity(dir, s)] = dir
			continue
		}
		id := RunIdentity(dir, s)
		if id != "" {
			if other, ok := byID[id]; ok {
				notWhole("%s is run %s, as %s is (a copy): it is counted once", dir, id, other.dir)
				continue
			}
		}
		if s.Outcome() == OutcomeAborted && s.AbortReason != "" {
			// Why it stopped, which may say its rows need checking (an
			// input rewritten under it).
			c.Problems = append(c.Problems, fmt.Sprintf("%s stopped part-way: %s", dir, s.AbortReason))
		}
		for _, w := range keptWarnings(s.Warnings) {
			c.Notes = append(c.Notes, fmt.Sprintf("%s: %s", dir, w))
		}
		c.Given[i].Summary = s
		r := &summed{dir: dir, s: s, code: s.ExitCode, failed: s.RowsFailedInAll(), inDoubt: s.RowsInDoubtInAll(), eventsFailed: s.EventsFailed + s.EventsFailedEarlier, errors: maps.Clone(s.ErrorsByCode)}
		if id != "" {
			byID[id] = r
		}
		if s.Parent != "" {
			retries = append(retries, r)
			continue
		}
		runs = append(runs, r)
		c.Add(s)
		// The rows earlier attempts failed are failed rows of the whole,
		// not rows merely resumed.
		c.RowsFailed += s.RowsFailedEarlier
		c.RowsResumed -= s.RowsFailedEarlier
		c.RowsFailedEarlier -= s.RowsFailedEarlier
		// So are those they left in doubt, and those they filtered out.
		c.RowsInDoubt += s.RowsInDoubtEarlier
		c.RowsResumed -= s.RowsInDoubtEarlier
		c.RowsInDoubtEarlier -= s.RowsInDoubtEarlier
		c.RowsFiltered += s.RowsFilteredEarlier
		c.RowsResumed -= s.RowsFilteredEarlier
		c.RowsFilteredEarlier -= s.RowsFilteredEarlier
		// And those they stored are rows of the whole that succeeded.
		c.RowsSucceeded += s.RowsSucceededEarlier
		c.RowsResumed -= s.RowsSucceededEarlier
		c.RowsSucceededEarlier -= s.RowsSucceededEarlier
		// Their events are the whole's events too.
		c.EventsSucceeded += s.EventsSucceededEarlier
		c.EventsFailed += s.EventsFailedEarlier
		c.EventsSucceededEarlier -= s.EventsSucceededEarlier
		c.EventsFailedEarlier -= s.EventsFailedEarlier
		c.span(s)
	}
	// Retries, in the order they ran (a retry of a retry after its run):
	// their rows are their run's failed rows, read once.
	slices.SortStableFunc(retries, func(a, b *summed) int { return a.s.StartedAt.Compare(b.s.StartedAt) })
	for _, r := range retries {
		p := byID[r.s.Parent]
		source := "" // the job's source it retried, when counted against the job
		if job, name, ok := strings.Cut(r.s.Parent, "/"); p == nil && ok {
			p, source = byID[job], name // a retry of a job's source, counted against the job given whole
		}
		if p == nil || p == r || p.uncounted {
			// Its run is missing, or is itself a retry whose run is: the
			// rows it settled have no run to count them in.
			r.uncounted = true
			if d, ok := dry[r.s.Parent]; ok {
				notWhole("%s loaded the failed rows of dry run %s for real: they are not what the real runs left, and it may have stored rows they stored too; its rows are not counted", r.dir, d)
			} else {
				notWhole("%s is a retry of run %s, which is not among the runs: its rows are not counted (give that run's directory too)", r.dir, r.s.Parent)
			}
			for i := range c.Given {
				if c.Given[i].Summary == r.s {
					c.Given[i].Summary = nil
				}
			}
			continue
		}
		for i := range c.Given {
			if c.Given[i].Summary == r.s {
				c.Given[i].RetryOf = p.dir
			}
		}
		if c.RetriesOf == nil {
			c.RetriesOf = map[string]string{}
		}
		c.RetriesOf[r.dir] = p.dir
		// What of p the retry read: p's failed rows, or those of the one
		// source of a job it retried (read from the source's summary).
		part := p
		if src, err := RunDir(filepath.Join(p.dir, source)).Summary(); source != "" && err == nil {
			part = &summed{failed: min(src.RowsFailedInAll(), p.failed), inDoubt: min(src.RowsInDoubtInAll(), p.inDoubt),
				eventsFailed: min(src.EventsFailed+src.EventsFailedEarlier, p.eventsFailed), errors: src.ErrorsByCode}
		}
		// The retry read rows its run had failed (or had in doubt): they
		// count as that run's rows, now settled as the retry settled them.
		took := min(r.s.RowsRead, part.failed)
		p.failed -= took
		tookDoubt := min(r.s.RowsRead-took, part.inDoubt)
		p.inDoubt -= tookDoubt
		c.RowsFailed += r.s.RowsFailedInAll() - took
		c.RowsInDoubt += r.s.RowsInDoubtInAll() - tookDoubt
		c.RowsSucceeded += r.s.RowsSucceeded
		c.RowsFiltered += r.s.RowsFiltered
		c.RowsResumed += r.s.RowsResumed - r.s.RowsFailedEarlier - r.s.RowsSucceededEarlier - r.s.RowsInDoubtEarlier - r.s.RowsFilteredEarlier
		c.RowsFiltered += r.s.RowsFilteredEarlier
		c.RowsSucceeded += r.s.RowsSucceededEarlier
		if extra := r.s.RowsRead - took - tookDoubt; extra > 0 {
			c.RowsRead += extra // more rows than its run had failed: count them as read
		}
		c.EventsSucceeded += r.s.EventsSucceeded + r.s.EventsSucceededEarlier
		c.EventsFound += r.s.EventsFound
		c.EventsFailed += r.s.EventsFailed + r.s.EventsFailedEarlier - part.eventsFailed // its run's failed events are the retry's now
		p.eventsFailed -= part.eventsFailed
		c.Batches += r.s.Batches
		c.Retries += r.s.Retries
		// Its run's errors are now the retry's: the rows it failed again.
		for code, n := range part.errors {
			n = min(n, p.errors[code])
			c.ErrorsByCode[code] -= n
			if c.ErrorsByCode[code] <= 0 {
				delete(c.ErrorsByCode, code)
			}
			if p.errors[code] -= n; p.errors[code] <= 0 {
				delete(p.errors, code)
			}
		}
		for code, n := range r.s.ErrorsByCode {
			c.ErrorsByCode[code] += n
		}
		if p.code == OutcomeRowsFailed.ExitCode() && p.failed == 0 && p.inDoubt == 0 {
			p.code = OutcomeOK.ExitCode() // its failed rows are the retry's now
		}
		c.span(r.s)
		runs = append(runs, r)
	}
	for i, g := range c.Given {
		if g.Summary == nil {
			c.Given[i].NoSummary = !RunDir(g.Dir).hasSummary()
		}
	}
	for _, r := range runs {
		c.ExitCode = max(c.ExitCode, r.code)
		if c.Kind == "" {
			c.Kind = r.s.Kind
		}
	}
	c.checkWhole(runs, notWhole)
	c.Files = dedupe(c.Files)
	c.Inputs = dedupeInputs(c.Inputs)
	if !c.StartedAt.IsZero() {
		c.DurationSeconds = math.Round(c.FinishedAt.Sub(c.StartedAt).Seconds()*1000) / 1000
	}
	c.Balanced = c.Summary.Balanced()
	return c, nil
}

// span widens the sum's start and finish to a run's: its duration is
// from the first start to the last finish.
func (c *Combined) span(s *Summary) {
	if c.StartedAt.IsZero() || (!s.StartedAt.IsZero() && s.StartedAt.Before(c.StartedAt)) {
		c.StartedAt = s.StartedAt
	}
	if s.FinishedAt.After(c.FinishedAt) {
		c.FinishedAt = s.FinishedAt
	}
}

// checkWhole names what keeps the runs (other than retries) from being
// one whole load: an input loaded whole twice, or whole and in shards, or
// in shards of different splits, or a shard missing or given twice.
func (c *Combined) checkWhole(runs []*summed, notWhole func(string, ...any)) {
	type split struct {
		whole  []string
		shards map[int]map[int][]string // N -> K -> runs
		name   string
	}
	inputs := map[string]*split{}
	for _, r := range runs {
		s := r.s
		if s.Parent != "" {
			continue
		}
		var keys []string
		for _, in := range s.Inputs {
			keys = append(keys, in.SHA256)
		}
		if len(keys) == 0 {
			keys = s.Files
		}
		key := strings.Join(keys, "+")
		sp := inputs[key]
		if sp == nil {
			sp = &split{shards: map[int]map[int][]string{}, name: strings.Join(s.Files, ", ")}
			if sp.name == "" {
				sp.name = "the input"
			}
			inputs[key] = sp
		}
		sh, err := ParseShard(s.Shard)
		if err != nil || sh.Whole() {
			sp.whole = append(sp.whole, r.dir)
			continue
		}
		if sp.shards[sh.N] == nil {
			sp.shards[sh.N] = map[int][]string{}
		}
		sp.shards[sh.N][sh.K] = append(sp.shards[sh.N][sh.K], r.dir)
	}
	for _, key := range slices.Sorted(maps.Keys(inputs)) {
		sp := inputs[key]
		if len(sp.whole) > 1 {
			notWhole("%s load the whole of the same input (%s): its rows are counted %d times", strings.Join(sp.whole, " and "), sp.name, len(sp.whole))
		}
		if len(sp.whole) > 0 && len(sp.shards) > 0 {
			notWhole("%s loads the whole of %s, and other runs shards of it: those rows are counted twice", sp.whole[0], sp.name)
		}
		if len(sp.shards) > 1 {
			notWhole("%s is split in several ways (%d of them) among the runs: its rows are counted more than once", sp.name, len(sp.shards))
		}
		for _, n := range slices.Sorted(maps.Keys(sp.shards)) {
			for k := 1; k <= n; k++ {
				runs := sp.shards[n][k]
				switch {
				case len(runs) == 0:
					notWhole("shard %d/%d of %s is not among the runs: its rows are not counted", k, n, sp.name)
				case len(runs) > 1:
					notWhole("shard %d/%d of %s is given more than once (%s): its rows are counted twice", k, n, sp.name, strings.Join(runs, ", "))
				}
			}
		}
	}
}

// dedupe is ss without repeats, in order.
func dedupe(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// dedupeInputs keeps the first of each input, in order.
func dedupeInputs(in []InputInfo) []InputInfo {
	seen := map[InputInfo]bool{}
	out := in[:0]
	for _, i := range in {
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	return out
}

// noSummary is the problem of a run directory without a summary: it is
// running, or was killed and waits for --resume, unless an input it
// started on changed since (a resume would be refused).
func noSummary(d RunDir) string {
	if rf, err := d.RunFile(); err == nil {
		for _, info := range rf.Inputs {
			if rf.Stdin && isStdinCopy(info.Path) {
				continue
			}
			if info.changed(info.Path) == "" {
				continue // as it was: not read (an input may be gigabytes)
			}
			if _, err := info.sameStart(info.Path); err != nil {
				return fmt.Sprintf("%s has no summary: it is running, or was killed, and crmload load --resume %s will refuse it: %v", d, d, err)
			}
		}
	}
	return fmt.Sprintf("%s has no summary: it is running, or was killed (crmload load --resume %s)", d, d)
}
