package cmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/crmload/crmload/loader"
	"github.com/crmload/crmload/mapping"
	"github.com/spf13/cobra"
)

type validateOptions struct {
	mapping   string
	reportDir string
	files     []string
	// maxRecordLines bounds a CSV record's lines, as for load.
	maxRecordLines int
	limits         loader.Limits
	format         string
}

func newValidateCommand(g *globals) *cobra.Command {
	var opts validateOptions
	c := &cobra.Command{
		Use:   "validate -m MAPPING.yaml FILE...",
		Short: "Read, map and check every row; send nothing; write the failure report",
		Long: `Read every row of the files, map it with the mapping spec and run the
client-side checks (mandatory parameters, identifiers, enumerations, types),
without sending anything. The run directory is written as a load would
write it: failed rows with the reason, a copy of the mapping, summary.json.

Exit codes: 0 every row is valid (or filtered out), 1 some rows failed,
2 the mapping or an input cannot be used, 3 interrupted.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.files = args
			return runValidate(cmd.Context(), g, opts)
		},
	}
	c.Flags().StringVarP(&opts.mapping, "mapping", "m", "", "the mapping spec (YAML)")
	c.Flags().StringVar(&opts.reportDir, "report-dir", "reports", "where run directories are created")
	c.Flags().IntVar(&opts.maxRecordLines, "max-record-lines", loader.DefaultMaxRecordLines, "CSV: at most this many lines in one record (a quoted field with line breaks); a longer one is a stray quote, failed with its lines")
	addLimitFlags(c, &opts.limits)
	c.Flags().StringVar(&opts.format, "format", "", "the input format, csv or jsonl, where no extension tells it (standard input: -)")
	choiceFlag(c, "format", "csv", "jsonl")
	c.MarkFlagRequired("mapping")
	return c
}

func runValidate(ctx context.Context, g *globals, opts validateOptions) error {
	spec, err := mapping.ReadSpec(opts.mapping)
	if err != nil {
		return usage(err)
	}
	if opts.maxRecordLines < 1 {
		return usageErrorf("--max-record-lines %d: want at least 1", opts.maxRecordLines)
	}
	for _, f := range withoutStdin(opts.files) {
		if err := checkInput(f); err != nil {
			return usage(err)
		}
	}
	if opts.format != "" {
		spec.Input.Format = opts.format
	}
	files, cleanup, _, err := spoolStdin(ctx, g, opts.files, spec.Input.Format)
	if err != nil {
		return err
	}
	defer cleanup()
	opts.files = files
	sum, dir, err := loader.Validate(ctx, &loader.Plan{SpecPath: opts.mapping, Spec: spec, Files: opts.files, ReportDir: opts.reportDir, Engine: "none", MaxRecordLines: opts.maxRecordLines, Limits: opts.limits})
	if err != nil {
		if dir == "" {
			return usage(err) // nothing was read: a mapping or input problem
		}
		return err
	}
	fmt.Fprintf(g.io.ErrOut, "validated %d rows of %s: %d valid, %d failed, %d filtered out\nreports: %s\n",
		sum.RowsRead, sum.Kind, sum.RowsSucceeded, sum.RowsFailed, sum.RowsFiltered, dir)
	for _, w := range sum.Warnings {
		fmt.Fprintf(g.io.ErrOut, "warning: %s\n", w)
	}
	if o := sum.Outcome(); o != loader.OutcomeOK {
		return &ExitError{Code: o.ExitCode(), Err: errors.New(outcomeMessage(sum, dir))}
	}
	return nil
}

func outcomeMessage(sum *loader.Summary, dir string) string {
	if sum.Outcome() == loader.OutcomeAborted {
		return "interrupted; what was done is in " + dir
	}
	return fmt.Sprintf("%s failed: see %s", mapping.CountOf(sum.RowsFailed, "row", ""), loader.RunDir(dir).AnyReport(loader.FailedReport))
}
