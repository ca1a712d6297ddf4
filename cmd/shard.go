package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/crmload/crmload/loader"
	"github.com/spf13/cobra"
)

// addShardFlag declares load --shard.
func addShardFlag(c *cobra.Command, opts *loadOptions) {
	c.Flags().Var(&opts.load.Shard, "shard", "load only shard K of N of the input (e.g. 1/2 on one machine, 2/2 on another): rows are split by a hash of their event's group_by key, else its request id; each shard has its own run directory and --resume")
}

// followShard gives a resume its run's shard: a resume loads the part of
// the input its run started on, never another.
func followShard(g *globals, opts *loadOptions, rf *loader.RunFile) error {
	run, err := loader.ParseShard(rf.Shard)
	if err != nil {
		return usage(err)
	}
	if g.given["shard"] && opts.load.Shard != run {
		was := rf.Shard
		if was == "" {
			was = "the whole input"
		}
		return usageErrorf("--resume %s loads shard %s, not --shard %s: give no --shard (a run is never split differently)", opts.resume, was, opts.load.Shard)
	}
	opts.load.Shard = run
	return nil
}

// checkShard refuses --shard where it is not supported.
func checkShard(opts *loadOptions) error {
	if !opts.load.Shard.Whole() && opts.job != "" {
		return usageErrorf("--shard splits the input of a plain load (-m MAPPING FILE...), not a --job: run one load per source with --shard")
	}
	if !opts.load.Shard.Whole() && len(opts.files) == 1 && opts.files[0] == "-" {
		return usageErrorf("--shard needs an input file that each shard reads in full, not standard input")
	}
	return nil
}

func newSummaryCommand(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "summary RUN_DIR...",
		Short: "Add up the summaries of several runs (the shards of one load)",
		Long: `Add up the summary.json of several run directories, such as the shards of one
input loaded by several processes (load --shard K/N): row counts, errors by
code, and the worst exit code, which is also this command's exit code. A run
directory without a summary (still running, or killed: --resume it) counts as
stopped part-way (exit 3). Runs that do not make one whole load exit 2: a
shard of a split missing or given twice, shards of different inputs, the
whole of an input with a shard of it or with another whole of it, a retry
whose run is not among them. A directory given twice is counted once. A
retry (crmload retry) counts as its run's failed rows fixed, not as more
rows read.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSummary(g, args, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the combined summary as JSON")
	return c
}

// ExitNotWhole is summary's exit code when the runs given do not make one
// whole load (README, "Exit codes"): the code of "nothing was done", as
// the sum is not the load's.
const ExitNotWhole = ExitUsage

// Combined is the sum of several runs' summaries: their counts, errors by
// code, and the worst exit code (in the embedded Summary).
type Combined struct {
	loader.Summary
	Runs     []string `json:"runs"`
	Balanced bool     `json:"balanced"`
	// Problems are what keeps the sum from being the whole load: a run
	// without a summary, a shard missing or given twice, a retry without
	// its run.
	Problems []string `json:"problems,omitempty"`
	// RetriesOf are the runs counted as retries of another: run -> its
	// run (both as given).
	RetriesOf map[string]string `json:"retries_of,omitempty"`
}

// summed is one run as the sum counts it.
type summed struct {
	dir  string
	s    *loader.Summary
	code int // its exit code; a run whose failed rows a retry took, the retry's
	// failed, inDoubt and errors are its rows still failed (a retry
	// of it took the others).
	failed, inDoubt, eventsFailed int
	errors                        map[string]int
}

// addSummaries reads and adds up the runs' summaries. Its rows are the
// runs' (sums[i] is dirs[i]'s, nil for one without a summary or given
// again); retryOf[i] is the directory of the run dirs[i] retried.
func addSummaries(dirs []string) (*Combined, []*loader.Summary, error) {
	c, sums, _, err := addSummariesRetries(dirs)
	return c, sums, err
}

func addSummariesRetries(dirs []string) (*Combined, []*loader.Summary, []string, error) {
	c := &Combined{Runs: []string{}}
	c.Command, c.ErrorsByCode = "summary", map[string]int{}
	sums := make([]*loader.Summary, len(dirs))
	retryOf := make([]string, len(dirs))
	notWhole := func(format string, args ...any) {
		c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
		c.ExitCode = max(c.ExitCode, ExitNotWhole)
	}
	seenDir, byID := map[string]string{}, map[string]*summed{}
	var runs, retries []*summed
	for i, dir := range dirs {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, nil, nil, usage(err)
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
		if first, ok := seenDir[abs]; ok {
			notWhole("%s is given more than once (as %s too): it is counted once", dir, first)
			continue
		}
		seenDir[abs] = dir
		c.Runs = append(c.Runs, dir)
		b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(filepath.Join(dir, "job.json")); serr != nil {
				return nil, nil, nil, usageErrorf("%s is not a run directory (no summary.json, no job.json)", dir)
			}
			c.Problems = append(c.Problems, fmt.Sprintf("%s has no summary: it is running, or was killed (crmload load --resume %s)", dir, dir))
			c.ExitCode = max(c.ExitCode, ExitAborted)
			continue
		}
		if err != nil {
			return nil, nil, nil, usage(err)
		}
		var s loader.Summary
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, nil, nil, usageErrorf("%s/summary.json: %v", dir, err)
		}
		if s.RunID != "" {
			if other, ok := byID[s.RunID]; ok {
				notWhole("%s is run %s, as %s is (a copy): it is counted once", dir, s.RunID, other.dir)
				continue
			}
		}
		sums[i] = &s
		r := &summed{dir: dir, s: &s, code: s.ExitCode, failed: s.RowsFailed, inDoubt: s.RowsInDoubt, eventsFailed: s.EventsFailed, errors: maps.Clone(s.ErrorsByCode)}
		if s.RunID != "" {
			byID[s.RunID] = r
		}
		if s.Parent != "" {
			retries = append(retries, r)
			continue
		}
		runs = append(runs, r)
		c.Add(&s)
		c.span(&s)
	}
	// Retries, in the order they ran (a retry of a retry after its run):
	// their rows are their run's failed rows, read once.
	slices.SortStableFunc(retries, func(a, b *summed) int { return a.s.StartedAt.Compare(b.s.StartedAt) })
	for _, r := range retries {
		p := byID[r.s.Parent]
		if p == nil || p == r {
			notWhole("%s is a retry of run %s, which is not among the runs: its rows are not counted (give that run's directory too)", r.dir, r.s.Parent)
			for i := range sums {
				if sums[i] == r.s {
					sums[i] = nil
				}
			}
			continue
		}
		for i := range dirs {
			if sums[i] == r.s {
				retryOf[i] = p.dir
			}
		}
		if c.RetriesOf == nil {
			c.RetriesOf = map[string]string{}
		}
		c.RetriesOf[r.dir] = p.dir
		// The retry read rows its run had failed (or had in doubt): they
		// count as that run's rows, now settled as the retry settled them.
		took := min(r.s.RowsRead, p.failed)
		p.failed -= took
		tookDoubt := min(r.s.RowsRead-took, p.inDoubt)
		p.inDoubt -= tookDoubt
		c.RowsFailed += r.s.RowsFailed - took
		c.RowsInDoubt += r.s.RowsInDoubt - tookDoubt
		c.RowsSucceeded += r.s.RowsSucceeded
		c.RowsFiltered += r.s.RowsFiltered
		c.RowsResumed += r.s.RowsResumed
		if extra := r.s.RowsRead - took - tookDoubt; extra > 0 {
			c.RowsRead += extra // more rows than its run had failed: count them as read
		}
		c.EventsSucceeded += r.s.EventsSucceeded
		c.EventsFailed += r.s.EventsFailed - p.eventsFailed // its run's failed events are the retry's now
		p.eventsFailed = 0
		c.Batches += r.s.Batches
		c.Retries += r.s.Retries
		// Its run's errors are now the retry's: the rows it failed again.
		for code, n := range p.errors {
			c.ErrorsByCode[code] -= n
			if c.ErrorsByCode[code] <= 0 {
				delete(c.ErrorsByCode, code)
			}
		}
		p.errors = nil
		for code, n := range r.s.ErrorsByCode {
			c.ErrorsByCode[code] += n
		}
		if p.code == ExitFailed && p.failed == 0 && p.inDoubt == 0 {
			p.code = ExitOK // its failed rows are the retry's now
		}
		c.span(r.s)
		runs = append(runs, r)
	}
	for _, r := range runs {
		c.ExitCode = max(c.ExitCode, r.code)
		if c.Kind == "" {
			c.Kind = r.s.Kind
		}
	}
	c.checkWhole(runs, notWhole)
	c.Files = dedupe(c.Files)
	c.Inputs = slices.CompactFunc(c.Inputs, func(a, b loader.InputInfo) bool { return a == b })
	if !c.StartedAt.IsZero() {
		c.DurationSeconds = math.Round(c.FinishedAt.Sub(c.StartedAt).Seconds()*1000) / 1000
	}
	c.Balanced = c.Summary.Balanced()
	return c, sums, retryOf, nil
}

// span widens the sum's start and finish to a run's: its duration is
// from the first start to the last finish.
func (c *Combined) span(s *loader.Summary) {
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
		sh, err := loader.ParseShard(s.Shard)
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

func runSummary(g *globals, dirs []string, asJSON bool) error {
	c, sums, retryOf, err := addSummariesRetries(dirs)
	if err != nil {
		return err
	}
	if asJSON {
		b, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(g.io.Out, string(b))
	} else {
		w := tabwriter.NewWriter(g.io.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "run\tshard\tread\tfiltered\tsucceeded\tfailed\tin doubt\tresumed\tother shards\texit")
		for i, s := range sums {
			if s == nil {
				note := "(not counted)" // given again, or a retry without its run
				if _, err := os.Stat(filepath.Join(dirs[i], "summary.json")); err != nil {
					note = "(no summary)"
				}
				fmt.Fprintf(w, "%s\t\t\t\t\t\t\t\t\t%s\n", dirs[i], note)
				continue
			}
			shard := s.Shard
			if shard == "" {
				shard = "all"
			}
			if retryOf[i] != "" {
				shard = "retry of " + retryOf[i]
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", dirs[i], shard, s.RowsRead, s.RowsFiltered, s.RowsSucceeded, s.RowsFailed, s.RowsInDoubt, s.RowsResumed, s.RowsOtherShards, s.ExitCode)
		}
		fmt.Fprintf(w, "total\t\t%d\t%d\t%d\t%d\t%d\t%d\t\t%d\n", c.RowsRead, c.RowsFiltered, c.RowsSucceeded, c.RowsFailed, c.RowsInDoubt, c.RowsResumed, c.ExitCode)
		w.Flush()
		if len(c.RetriesOf) > 0 {
			fmt.Fprintln(g.io.Out, "a retry's rows are its run's failed rows: the total counts them once, as the retry settled them")
		}
		if len(c.ErrorsByCode) > 0 {
			fmt.Fprintln(g.io.Out, "errors by code:")
			for _, code := range slices.Sorted(maps.Keys(c.ErrorsByCode)) {
				fmt.Fprintf(g.io.Out, "  %-50s %d\n", code, c.ErrorsByCode[code])
			}
		}
		if !c.Balanced {
			fmt.Fprintln(g.io.Out, "NOT BALANCED: rows read != resumed + filtered + succeeded + failed + in doubt")
		}
		for _, p := range c.Problems {
			fmt.Fprintln(g.io.Out, "problem: "+p)
		}
	}
	if len(c.Problems) > 0 {
		return &ExitError{Code: c.ExitCode, Err: fmt.Errorf("the runs given do not make one whole load: %s", strings.Join(c.Problems, "; "))}
	}
	if c.ExitCode != ExitOK {
		return &ExitError{Code: c.ExitCode, Err: fmt.Errorf("the worst exit code of the runs is %d", c.ExitCode)}
	}
	return nil
}
