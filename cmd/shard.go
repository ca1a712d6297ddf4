package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
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
stopped part-way (exit 3). The shards of one split that are missing or given
twice are named.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSummary(g, args, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the combined summary as JSON")
	return c
}

// Combined is the sum of several runs' summaries: their counts, errors by
// code, and the worst exit code (in the embedded Summary).
type Combined struct {
	loader.Summary
	Runs     []string `json:"runs"`
	Balanced bool     `json:"balanced"`
	// Problems are what keeps the sum from being the whole load: a run
	// without a summary, a shard missing or given twice.
	Problems []string `json:"problems,omitempty"`
}

// addSummaries reads and adds up the runs' summaries.
func addSummaries(dirs []string) (*Combined, []*loader.Summary, error) {
	c := &Combined{Runs: []string{}}
	c.Command, c.ErrorsByCode = "summary", map[string]int{}
	var sums []*loader.Summary
	shards := map[string]map[string][]string{} // input hashes + N -> K -> runs
	for _, dir := range dirs {
		c.Runs = append(c.Runs, dir)
		b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(filepath.Join(dir, "job.json")); serr != nil {
				return nil, nil, usageErrorf("%s is not a run directory (no summary.json, no job.json)", dir)
			}
			c.Problems = append(c.Problems, fmt.Sprintf("%s has no summary: it is running, or was killed (crmload load --resume %s)", dir, dir))
			c.ExitCode = max(c.ExitCode, ExitAborted)
			sums = append(sums, nil)
			continue
		}
		if err != nil {
			return nil, nil, usage(err)
		}
		var s loader.Summary
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, nil, usageErrorf("%s/summary.json: %v", dir, err)
		}
		sums = append(sums, &s)
		c.Add(&s)
		if c.Kind == "" {
			c.Kind = s.Kind
		}
		if c.StartedAt.IsZero() || s.StartedAt.Before(c.StartedAt) {
			c.StartedAt = s.StartedAt
		}
		if s.FinishedAt.After(c.FinishedAt) {
			c.FinishedAt = s.FinishedAt
		}
		c.ExitCode = max(c.ExitCode, s.ExitCode)
		if s.Shard != "" {
			sh, err := loader.ParseShard(s.Shard)
			if err == nil {
				var hashes []string
				for _, in := range s.Inputs {
					hashes = append(hashes, in.SHA256)
				}
				split := fmt.Sprintf("%s of %d", strings.Join(hashes, "+"), sh.N)
				if shards[split] == nil {
					shards[split] = map[string][]string{}
				}
				shards[split][fmt.Sprint(sh.K)] = append(shards[split][fmt.Sprint(sh.K)], dir)
			}
		}
	}
	for _, split := range slices.Sorted(maps.Keys(shards)) {
		var n int
		fmt.Sscanf(split[strings.LastIndex(split, " of ")+4:], "%d", &n)
		for k := 1; k <= n; k++ {
			runs := shards[split][fmt.Sprint(k)]
			switch {
			case len(runs) == 0:
				c.Problems = append(c.Problems, fmt.Sprintf("shard %d/%d of the input is not among the runs: its rows are not counted", k, n))
			case len(runs) > 1:
				c.Problems = append(c.Problems, fmt.Sprintf("shard %d/%d is given more than once (%s): its rows are counted twice", k, n, strings.Join(runs, ", ")))
			}
		}
	}
	c.Balanced = c.Summary.Balanced()
	return c, sums, nil
}

func runSummary(g *globals, dirs []string, asJSON bool) error {
	c, sums, err := addSummaries(dirs)
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
				fmt.Fprintf(w, "%s\t\t\t\t\t\t\t\t\t(no summary)\n", dirs[i])
				continue
			}
			shard := s.Shard
			if shard == "" {
				shard = "all"
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", dirs[i], shard, s.RowsRead, s.RowsFiltered, s.RowsSucceeded, s.RowsFailed, s.RowsInDoubt, s.RowsResumed, s.RowsOtherShards, s.ExitCode)
		}
		fmt.Fprintf(w, "total\t\t%d\t%d\t%d\t%d\t%d\t%d\t\t%d\n", c.RowsRead, c.RowsFiltered, c.RowsSucceeded, c.RowsFailed, c.RowsInDoubt, c.RowsResumed, c.ExitCode)
		w.Flush()
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
			fmt.Fprintln(g.io.Out, "warning: "+p)
		}
	}
	if c.ExitCode != ExitOK {
		return &ExitError{Code: c.ExitCode, Err: fmt.Errorf("the worst exit code of the runs is %d", c.ExitCode)}
	}
	return nil
}
