package cmd

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/crmload/crmload/loader"
	"github.com/spf13/cobra"
)

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
const ExitNotWhole = int(loader.OutcomeNotWhole)

// Combined is the sum of several runs' summaries (loader.Combine), as
// summary --json prints it.
type Combined = loader.Combined

func runSummary(g *globals, dirs []string, asJSON bool) error {
	c, err := loader.Combine(dirs)
	if err != nil {
		return usage(err)
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
		for _, run := range c.Given {
			s := run.Summary
			if s == nil {
				note := "(not counted)" // given again, a retry without its run, or a dry run
				if run.NoSummary {
					note = "(no summary)"
				}
				fmt.Fprintf(w, "%s\t\t\t\t\t\t\t\t\t%s\n", run.Dir, note)
				continue
			}
			shard := s.Shard
			if shard == "" {
				shard = "all"
			}
			if run.RetryOf != "" {
				shard = "retry of " + run.RetryOf
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", run.Dir, shard, s.RowsRead, s.RowsFiltered, s.RowsSucceeded, s.RowsFailed, s.RowsInDoubt, s.RowsResumed, s.RowsOtherShards, s.ExitCode)
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
		for _, n := range c.Notes {
			fmt.Fprintln(g.io.Out, "note: "+n)
		}
		for _, p := range c.Problems {
			fmt.Fprintln(g.io.Out, "problem: "+p)
		}
	}
	if len(c.Problems) > 0 {
		what := "the runs given do not make one whole load"
		for _, run := range c.Given {
			if run.NoSummary {
				what = "a run given has not finished" // no summary: running, stopped or killed
			}
		}
		return &ExitError{Code: c.ExitCode, Err: fmt.Errorf("%s: %s", what, strings.Join(c.Problems, "; "))}
	}
	if c.ExitCode != ExitOK {
		return &ExitError{Code: c.ExitCode, Err: fmt.Errorf("the worst exit code of the runs is %d", c.ExitCode)}
	}
	return nil
}
