package cmd

import (
	"context"
	"errors"
	"io/fs"
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
			g.jsonLog = opts.logFormat == "json"
			opts.maxRecordLinesGiven = cmd.Flags().Changed("max-record-lines")
			// Who the run logged in as, and a dry run's staying dry.
			notes, err := applyRunSettings(g, cmd.Flags(), args[0], retrySettings)
			if err != nil {
				return err
			}
			opts.notes = notes
			opts.load.Settings = recordSettings(cmd.Flags())
			return runRetry(cmd.Context(), g, opts, args[0])
		},
	}
	addLoadFlags(c, &opts)
	// A retry's run directory goes beside its parent's (runRetry), not
	// into ./reports: the help says so.
	if f := c.Flags().Lookup("report-dir"); f != nil {
		f.Usage, f.DefValue = "where the retry's run directory is created (default: beside RUN_DIR, in its run's report directory)", ""
	}
	if f := c.Flags().Lookup("on-duplicate-request-id"); f != nil {
		f.Usage, f.DefValue = f.Usage+" (default: RUN_DIR's)", ""
	}
	return c
}

func runRetry(ctx context.Context, g *globals, opts loadOptions, dir string) error {
	run := loader.RunDir(dir)
	if run.IsJob() {
		sources, _ := run.Sources()
		var dirs []string
		for _, s := range sources {
			if s.Report(loader.FailedReport) != "" {
				dirs = append(dirs, s.String())
			}
		}
		return usageErrorf("%s is a job run: retry one source at a time (%s)", dir, strings.Join(dirs, ", "))
	}
	parent, err := run.Summary()
	var bad *loader.SummaryError
	switch {
	case errors.As(err, &bad):
		return usageErrorf("%v", err)
	case errors.Is(err, fs.ErrNotExist) && run.HasRunFile():
		// Started, never finished: killed, or running now.
		target := dir
		if run.InJob() {
			target = filepath.Dir(filepath.Clean(dir)) // a job's source is resumed with its job
		}
		return usageErrorf("%s has not finished (no summary.json): it is running, or was stopped or killed; continue it first (crmload load --resume %s), then retry the rows it failed", dir, target)
	case err != nil:
		return usageErrorf("%s is not a finished run directory: %v", dir, err)
	case parent.Outcome() == loader.OutcomeAborted && !opts.again:
		return usageErrorf("%s stopped part-way (%s): resume it first (crmload load --resume %s), then retry the rows it failed; or give --again", dir, parent.AbortReason, dir)
	}
	if parent.DryRun && !g.given["dry-run"] {
		// A rehearsal's retry is a rehearsal too, unless --dry-run=false.
		opts.dryRun = true
	}
	if parent.DryRun && !opts.dryRun && !opts.again {
		// A dry run stored none of its rows: its failed rows are not
		// what is left to load, and loading them for real beside the
		// real run it rehearsed (and its retries) stores rows twice.
		next := "load its input without --dry-run"
		if run.InJob() {
			next = "load its job again without --dry-run"
		}
		// Up the chain of dry retries to the real run they rehearsed.
		for up, seen := run.RetryOf(), 0; up != "" && seen < 1000; up, seen = loader.RunDir(up).RetryOf(), seen+1 {
			if s, err := loader.RunDir(up).Summary(); err == nil && !s.DryRun {
				next = "retry the real run it rehearsed a retry of (crmload retry " + up + ")"
				break
			}
		}
		return usageErrorf("%s was a dry run: it stored none of its rows, so its failed rows are not what is left to load (loading them for real could store rows twice); %s; or give --again", dir, next)
	}
	if err := followRun(g, &opts, parent.Engine, parent.DB, "retry "+dir, false); err != nil {
		return err
	}
	opts.existing = true // a retry never creates a store
	if !g.given["report-dir"] {
		// The retry's run directory goes where its parent's report
		// directory is (recorded absolute), wherever retry runs from.
		if rf, err := run.RunFile(); err == nil && rf.ReportDir != "" {
			opts.reportDir = rf.ReportDir
		} else if abs, err := filepath.Abs(dir); err == nil {
			opts.reportDir = filepath.Dir(abs)
		}
	}
	opts.mapping = run.MappingPath()
	failed, hasRows := run.FailedRows()
	if failed == "" {
		return usageErrorf("%s has no failure report (failed.csv, failed.tsv or failed.jsonl)", dir)
	}
	if !hasRows {
		return usageErrorf("%s has no failed rows to retry", dir)
	}
	opts.files = []string{failed}
	if by, byDir := run.RetriedBy(); by != "" && !opts.again {
		return usageErrorf("%s was retried already by run %s: its failed rows went to that run (retrying them again could store the ones it stored twice); if that run stopped part-way, continue it (crmload load --resume %s); for the rows it failed, retry it (crmload retry %s); or give --again", dir, by, byDir, byDir)
	}
	opts.reports = true // read as written: UTF-8, no comment lines
	opts.load.ParentDir = dir
	return runLoad(ctx, g, opts, "retry", loader.RunIdentity(dir, parent))
}
