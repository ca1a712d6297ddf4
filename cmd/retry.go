package cmd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/crmload/crmload/loader"
	"github.com/spf13/cobra"
)

func newRetryCommand(g *globals) *cobra.Command {
	var opts loadOptions
	c := &cobra.Command{
		Use:   "retry RUN_DIR",
		Short: "Load a run's failed rows again, with the mapping and engine that run used",
		Long: `Load RUN_DIR's failure report again (after fixing the rows, or the reference
data), with the run's copy of the mapping and its engine and store; flags
override them. The new run gets its own run directory, whose summary names
RUN_DIR as its parent_run.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.maxRecordLinesGiven = cmd.Flags().Changed("max-record-lines")
			return runRetry(cmd.Context(), g, opts, args[0], cmd.Flags().Changed("db"), cmd.Flags().Changed("engine"))
		},
	}
	addLoadFlags(c, &opts)
	return c
}

func runRetry(ctx context.Context, g *globals, opts loadOptions, dir string, dbGiven, engineGiven bool) error {
	if _, err := os.Stat(filepath.Join(dir, loader.JobFileName)); err == nil {
		sources, _ := filepath.Glob(filepath.Join(dir, "*", "failed.*"))
		var dirs []string
		for _, s := range sources {
			dirs = append(dirs, filepath.Dir(s))
		}
		return usageErrorf("%s is a job run: retry one source at a time (%s)", dir, strings.Join(dirs, ", "))
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return usageErrorf("%s is not a finished run directory: %v", dir, err)
	}
	var parent loader.Summary
	if err := json.Unmarshal(b, &parent); err != nil {
		return usageErrorf("%s/summary.json: %v", dir, err)
	}
	if !dbGiven && parent.DB != "" {
		g.db = parent.DB
	}
	if !engineGiven && parent.Engine != "" {
		opts.engine = parent.Engine
	}
	opts.mapping = filepath.Join(dir, "mapping.yaml")
	for _, name := range []string{"failed.csv", "failed.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			opts.files = []string{filepath.Join(dir, name)}
		}
	}
	if opts.files == nil {
		return usageErrorf("%s has no failure report (failed.csv or failed.jsonl)", dir)
	}
	if parent.RowsFailed == 0 {
		return usageErrorf("%s has no failed rows to retry", dir)
	}
	return runLoad(ctx, g, opts, "retry", parent.RunID)
}
