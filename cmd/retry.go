package cmd

import (
	"bufio"
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
	return c
}

// hasRows reports whether a report has a row: a line after a CSV's
// header, or any line of JSONL.
func hasRows(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	lines := 0
	for sc.Scan() {
		if lines++; lines > 1 || strings.HasSuffix(path, ".jsonl") {
			return true
		}
	}
	return false
}

func runRetry(ctx context.Context, g *globals, opts loadOptions, dir string) error {
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
	if parent.DryRun && !g.given["dry-run"] {
		// A rehearsal's retry is a rehearsal too, unless --dry-run=false.
		opts.dryRun = true
	}
	if err := followRun(g, &opts, parent.Engine, parent.DB, "retry "+dir, false); err != nil {
		return err
	}
	opts.existing = true // a retry never creates a store
	if !g.given["report-dir"] {
		// The retry's run directory goes where its parent's report
		// directory is (recorded absolute), wherever retry runs from.
		if rf, err := loader.ReadRunFile(dir); err == nil && rf.ReportDir != "" {
			opts.reportDir = rf.ReportDir
		} else if abs, err := filepath.Abs(dir); err == nil {
			opts.reportDir = filepath.Dir(abs)
		}
	}
	opts.mapping = filepath.Join(dir, "mapping.yaml")
	for _, name := range []string{"failed.csv", "failed.tsv", "failed.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			opts.files = []string{filepath.Join(dir, name)}
		}
	}
	if opts.files == nil {
		return usageErrorf("%s has no failure report (failed.csv, failed.tsv or failed.jsonl)", dir)
	}
	if !hasRows(opts.files[0]) {
		// Not the summary's rows_failed: a resumed run's counts only
		// its last attempt's rows.
		return usageErrorf("%s has no failed rows to retry", dir)
	}
	if run, runDir := loader.RetriedBy(dir); run != "" && !opts.again {
		return usageErrorf("%s was retried already by run %s: a second retry would store its rows again; if that run stopped part-way, continue it (crmload load --resume %s); for the rows it failed, retry it (crmload retry %s); or give --again", dir, run, runDir, runDir)
	}
	opts.reports = true // read as written: UTF-8, no comment lines
	opts.load.ParentDir = dir
	return runLoad(ctx, g, opts, "retry", parent.RunID)
}
