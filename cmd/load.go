package cmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
	"github.com/crmload/crmload/internal/hugepages"
	"github.com/crmload/crmload/loader"
	"github.com/crmload/crmload/mapping"
	"github.com/spf13/cobra"
)

type loadOptions struct {
	mapping   string
	engine    string
	seeds     []string
	reportDir string
	maxErrors string
	resume    string
	job       string
	progress  string
	quiet     bool
	logFormat string
	dryRun    bool
	again     bool
	minAge    time.Duration
	existing  bool // resume and retry: the store must exist already
	reports   bool // retry: the files are crmload reports
	creds     crm.Credentials
	caFile    string
	insecure  bool
	load      loader.LoadOptions
	files     []string
	// maxRecordLines bounds a CSV record's lines; maxRecordLinesGiven:
	// set by flag, environment or config (a resume keeps the run's own).
	maxRecordLines      int
	maxRecordLinesGiven bool
	limits              loader.Limits // --max-record-bytes, --max-field-bytes
	format              string        // --format: of standard input (-)
	// notes are logged as the run starts: settings of a resumed run that
	// the command line overrides.
	notes []string
	// onDuplicateID is --on-duplicate-request-id: warn or fail.
	onDuplicateID string
	// precheck checks the mapping and inputs (Plan.Check, JobFile.Check)
	// before --seed seeds the store.
	precheck func() error
}

func newLoadCommand(g *globals) *cobra.Command {
	var opts loadOptions
	c := &cobra.Command{
		Use:   "load -m MAPPING.yaml [flags] FILE...",
		Short: "Load events from files into the engine (the main job)",
		Long: `Read the files, map every row with the mapping spec, and send the events in
batches to customer_events/bulk/<kind>/create on the engine. Every row ends
in the run directory's succeeded or failed report.

Exit codes: 0 every row succeeded (or was filtered out); 1 some rows failed
(see failed.csv); 2 nothing was sent (bad flags, mapping, input); 3 the run
stopped part-way (interrupted, --max-errors, engine unreachable): what was
done is in the reports, and --resume RUN_DIR continues it.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			g.jsonLog = opts.logFormat == "json"
			opts.files = args
			if err := checkShard(&opts); err != nil {
				return err
			}
			opts.maxRecordLinesGiven = cmd.Flags().Changed("max-record-lines")
			if opts.resume != "" {
				// The run's settings, unless the command line overrides them.
				notes, err := applyRunSettings(g, cmd.Flags(), opts.resume, runSettings)
				if err != nil {
					return err
				}
				opts.notes = notes
				opts.load.Settings = recordSettings(cmd.Flags())
				return runResume(cmd.Context(), g, opts)
			}
			opts.load.Settings = recordSettings(cmd.Flags())
			if opts.job != "" {
				if opts.mapping != "" || len(args) > 0 {
					return usageErrorf("--job lists the mappings and files: give neither -m nor FILEs")
				}
				return runJob(cmd.Context(), g, opts, opts.job, "")
			}
			if opts.mapping == "" || len(args) == 0 {
				return usageErrorf("load needs -m MAPPING.yaml and at least one FILE (or --job JOB.yaml, or --resume RUN_DIR)")
			}
			parent, err := reportOfRun(g, &opts)
			if err != nil {
				return err
			}
			if opts.load.ParentDir != "" {
				// The run's retry in all but name: what a request id used
				// twice means is the run's, as for a retry.
				notes, err := applyRunSettings(g, cmd.Flags(), opts.load.ParentDir, []string{"on-duplicate-request-id"})
				if err != nil {
					return err
				}
				opts.notes = append(opts.notes, notes...)
				opts.load.Settings = recordSettings(cmd.Flags())
			}
			return runLoad(cmd.Context(), g, opts, "load", parent)
		},
	}
	addLoadFlags(c, &opts)
	c.Flags().StringVarP(&opts.mapping, "mapping", "m", "", "the mapping spec (YAML)")
	c.Flags().StringVar(&opts.resume, "resume", "", "continue the run in RUN_DIR after a crash or a stop: settled rows are skipped, stored events are not sent again")
	c.Flags().StringVar(&opts.job, "job", "", "a job file listing several sources (mapping and files each) to load in one run")
	c.Flags().StringVar(&opts.format, "format", "", "the input format, csv or jsonl, where no extension tells it (standard input: -)")
	choiceFlag(c, "format", "csv", "jsonl")
	addShardFlag(c, &opts)
	return c
}

// addLoadFlags declares the flags load and retry share.
func addLoadFlags(c *cobra.Command, opts *loadOptions) {
	f := c.Flags()
	f.StringVar(&opts.engine, "engine", "embedded", "where events go: embedded (the local engine in --db), or a CRM.COM Web API base URL")
	f.StringVar(&opts.creds.Username, "username", "", "remote engine: user name")
	f.StringVar(&opts.creds.Password, "password", "", "remote engine: password (better: CRMLOAD_PASSWORD, or typed at the prompt)")
	f.StringVar(&opts.creds.Organisation, "organisation", "", "remote engine: organisation")
	f.StringVar(&opts.creds.Unit, "unit", "", "remote engine: unit (optional)")
	f.StringVar(&opts.creds.APIKey, "api-key", "", "remote engine: web API key instead of a user (better: CRMLOAD_API_KEY)")
	f.StringVar(&opts.caFile, "ca-file", "", "remote engine: PEM certificates to trust besides the system's")
	f.BoolVar(&opts.insecure, "insecure-skip-tls-verify", false, "remote engine: DO NOT verify the server's TLS certificate (testing only)")
	f.StringArrayVar(&opts.seeds, "seed", nil, "reference data to import into the embedded engine before loading (repeatable)")
	f.StringVar(&opts.reportDir, "report-dir", "reports", "where run directories are created")
	f.IntVar(&opts.load.BatchSize, "batch-size", crm.MaxBulkEvents, "events per call (at most 1000)")
	f.IntVar(&opts.load.Concurrency, "concurrency", 4, "calls in flight at once")
	f.Float64Var(&opts.load.Rate, "rate", 0, "at most this many calls per second (0: no limit)")
	f.IntVar(&opts.load.Retries, "retries", loader.DefaultRetries, "retries of a call that could not reach the engine or was refused (429/503); the default waits out 10+ minutes")
	f.DurationVar(&opts.load.Timeout, "timeout", time.Minute, "time limit of one call")
	f.DurationVar(&opts.load.Heartbeat, "heartbeat", 30*time.Second, "log a line this often while the run lives (what it has done, what it waits for)")
	f.DurationVar(&opts.load.Grace, "grace", 30*time.Second, "after an interrupt, how long calls in flight may finish (waits for the rate limit or a retry end at once)")
	f.DurationVar(&opts.load.Deadline, "deadline", 0, "stop the run this long after sending starts, as on an interrupt (exit 3, --resume continues it); 0: none")
	f.StringVar(&opts.maxErrors, "max-errors", "0", "abort after N failed rows, or N% of the rows settled (0: never)")
	f.StringVar(&opts.progress, "progress", "auto", "progress bar on stderr: auto (when a terminal), always, never")
	f.BoolVarP(&opts.quiet, "quiet", "q", false, "no progress, no summary: only errors")
	f.StringVar(&opts.logFormat, "log-format", "text", "log lines on stderr: text or json")
	f.BoolVar(&opts.dryRun, "dry-run", false, "embedded engine: run every rule and write the reports, store nothing")
	f.BoolVar(&opts.again, "again", false, "load inputs although the ledger says an earlier run loaded the same content (their events are stored again)")
	f.DurationVar(&opts.minAge, "min-age", 0, "skip input files modified less than this long ago (a writer may still be appending), e.g. 5m")
	f.IntVar(&opts.maxRecordLines, "max-record-lines", loader.DefaultMaxRecordLines, "CSV: at most this many lines in one record (a quoted field with line breaks); a longer one is a stray quote, failed with its lines")
	addLimitFlags(c, &opts.limits)
	choiceFlag(c, "progress", "auto", "always", "never")
	choiceFlag(c, "log-format", "text", "json")
	f.StringVar(&opts.onDuplicateID, "on-duplicate-request-id", "warn", "a row whose request id an earlier row of the file has: warn (both are stored; one warning names the lines) or fail (the later row fails)")
	f.BoolVar(&opts.load.ResendInDoubt, "resend-in-doubt", false, "with --resume on a remote engine: send again the rows whose calls were in flight when the run died (they may be created twice)")
}

func (o *loadOptions) check() error {
	if o.engine != "embedded" {
		if l := strings.ToLower(o.engine); !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://") {
			return usageErrorf("--engine %q: want embedded or the API base URL (https://host/crmapi/rest/v2)", crm.RedactURL(o.engine))
		}
		if o.dryRun {
			return usageErrorf("--dry-run is for the embedded engine; a remote engine stores what it is sent")
		}
		if len(o.seeds) > 0 {
			return usageErrorf("--seed is for the embedded engine; a remote engine has its own reference data")
		}
		if o.creds.APIKey == "" && (o.creds.Username == "" || o.creds.Organisation == "") {
			return usageErrorf("--engine %s: give --username and --organisation (password from CRMLOAD_PASSWORD or the prompt), or --api-key", crm.RedactURL(o.engine))
		}
	}
	if o.load.BatchSize < 1 || o.load.BatchSize > crm.MaxBulkEvents {
		return usageErrorf("--batch-size %d: want 1 to %d (CRM.COM takes at most %d events a call)", o.load.BatchSize, crm.MaxBulkEvents, crm.MaxBulkEvents)
	}
	if o.load.Concurrency < 1 || o.load.Concurrency > 64 {
		return usageErrorf("--concurrency %d: want 1 to 64", o.load.Concurrency)
	}
	if o.maxRecordLines < 1 {
		return usageErrorf("--max-record-lines %d: want at least 1", o.maxRecordLines)
	}
	if o.load.Retries < 0 || o.load.Rate < 0 {
		return usageErrorf("--retries and --rate cannot be negative")
	}
	if o.load.Timeout <= 0 {
		return usageErrorf("--timeout %s: want a duration above 0, e.g. 1m (a call without a time limit could hang the run)", o.load.Timeout)
	}
	if o.load.Grace < 0 {
		return usageErrorf("--grace %s: want a duration of 0 or more, e.g. 30s", o.load.Grace)
	}
	if o.load.Heartbeat <= 0 {
		return usageErrorf("--heartbeat %s: want a duration above 0, e.g. 30s", o.load.Heartbeat)
	}
	if o.minAge < 0 {
		return usageErrorf("--min-age %s: want a duration of 0 or more, e.g. 5m", o.minAge)
	}
	switch o.onDuplicateID {
	case "warn", "fail":
		o.load.FailDuplicateIDs = o.onDuplicateID == "fail"
	default:
		return usageErrorf("--on-duplicate-request-id %q: want warn or fail", o.onDuplicateID)
	}
	switch o.progress {
	case "auto", "always", "never":
	default:
		return usageErrorf("--progress %q: want auto, always or never", o.progress)
	}
	switch o.logFormat {
	case "text", "json":
	default:
		return usageErrorf("--log-format %q: want text or json", o.logFormat)
	}
	if pct, ok := strings.CutSuffix(o.maxErrors, "%"); ok {
		v, err := strconv.ParseFloat(pct, 64)
		if err != nil || v < 0 || v > 100 {
			return usageErrorf("--max-errors %q: want a count or a percentage such as 5%%", o.maxErrors)
		}
		o.load.MaxErrorPct = v
	} else {
		v, err := strconv.Atoi(o.maxErrors)
		if err != nil || v < 0 {
			return usageErrorf("--max-errors %q: want a count or a percentage such as 5%%", o.maxErrors)
		}
		o.load.MaxErrors = v
	}
	for _, f := range o.files {
		if err := checkInput(f); err != nil {
			return usage(err)
		}
	}
	return nil
}

// checkInput says, before anything is sent, why the input at path cannot
// be read: in words, naming the path as given.
func checkInput(path string) error {
	if path == stdinName {
		return nil
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("input %s: no such file (give the path of a CSV, TSV or JSONL file, optionally .gz, or - for standard input)", path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("input %s: permission denied: this user cannot read it", path)
	case err != nil:
		return fmt.Errorf("input %s: %w", path, err)
	case fi.IsDir():
		return fmt.Errorf("input %s is a directory: give the files in it (%s/*.csv, say)", path, strings.TrimSuffix(path, "/"))
	case !fi.Mode().IsRegular():
		// A pipe (<(zcat x.gz), a FIFO): opened once, to be copied
		// (spoolStdin); opening it to check would lose what its writer
		// wrote, or wait for a writer.
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("input %s: permission denied: this user cannot read it", path)
		}
		return fmt.Errorf("input %s: %w", path, err)
	}
	return f.Close()
}

func runLoad(ctx context.Context, g *globals, opts loadOptions, command, parent string) error {
	// A load's heap grows in huge pages (README, "Memory").
	hugepages.AdviseHeap(heapToAdvise())
	spec, err := mapping.ReadSpec(opts.mapping)
	if err != nil {
		return usage(err)
	}
	if opts.files, err = skipYoung(g, opts); err != nil {
		return err
	}
	if opts.format != "" {
		spec.Input.Format = opts.format
	}
	files, cleanup, stdin, err := spoolStdin(ctx, g, opts.files, spec.Input.Format)
	if err != nil {
		return err
	}
	defer cleanup()
	opts.files = files
	opts.load.Command, opts.load.Parent, opts.load.Resume = command, parent, opts.resume
	plan := &loader.Plan{SpecPath: opts.mapping, Spec: spec, Files: opts.files, ReportDir: opts.reportDir, Engine: crm.RedactURL(opts.engine),
		Reports: opts.reports, MaxRecordLines: opts.maxRecordLines, Limits: opts.limits, Stdin: stdin}
	opts.precheck = plan.Check
	return runWithEngine(ctx, g, opts, func(eng loader.Engine, lo loader.LoadOptions) (*loader.Summary, string, error) {
		sum, dir, err := loader.Load(ctx, plan, eng, lo)
		if stdin && sum != nil && sum.Outcome() == loader.OutcomeAborted && dir != "" {
			// Stopped part-way: the copy of standard input goes into the
			// run directory, where a resume reads it again.
			if aerr := loader.RunDir(dir).AdoptStdinCopy(); aerr != nil && err == nil {
				err = aerr
			}
		}
		return sum, dir, err
	})
}

// skipYoung drops the inputs modified less than --min-age ago, saying so;
// with none left, nothing is loaded (exit 2).
func skipYoung(g *globals, opts loadOptions) ([]string, error) {
	if opts.minAge <= 0 || opts.resume != "" {
		return opts.files, nil
	}
	var keep []string
	for _, f := range opts.files {
		if f == stdinName || loader.IsPipe(f) {
			keep = append(keep, f) // being written now, by design
			continue
		}
		if err := checkInput(f); err != nil {
			return nil, usage(err)
		}
		fi, err := os.Stat(f)
		if err != nil {
			return nil, usage(err)
		}
		if age := time.Since(fi.ModTime()); age < opts.minAge {
			msg := fmt.Sprintf("skipping %s: modified %s ago, less than --min-age %s (a writer may still be appending)", f, age.Truncate(time.Second), opts.minAge)
			if g.jsonLog {
				newLogger(g, opts).Warn(msg)
			} else {
				fmt.Fprintf(g.io.ErrOut, "crmload: %s\n", msg)
			}
			continue
		}
		keep = append(keep, f)
	}
	if len(keep) == 0 {
		return nil, usageErrorf("every input was modified less than --min-age %s ago: nothing to load yet", opts.minAge)
	}
	return keep, nil
}

// runJob loads a job file's sources in one run (or resumes that run).
func runJob(ctx context.Context, g *globals, opts loadOptions, path, resume string) error {
	jf, err := loader.ReadJobFile(path)
	if err != nil {
		return usage(err)
	}
	opts.load.Command, opts.load.Resume = "load", resume
	if opts.maxRecordLinesGiven || jf.MaxRecordLines == 0 {
		jf.MaxRecordLines = opts.maxRecordLines
	}
	jf.Limits = opts.limits
	opts.precheck = jf.Check
	return runWithEngine(ctx, g, opts, func(eng loader.Engine, lo loader.LoadOptions) (*loader.Summary, string, error) {
		return loader.LoadJobFile(ctx, jf, opts.reportDir, crm.RedactURL(opts.engine), eng, lo)
	})
}

// runWithEngine checks the options, opens the engine (the embedded one,
// seeded, or a logged-in remote client), runs the load with progress,
// prints the summary and turns the outcome into the exit code.
func runWithEngine(ctx context.Context, g *globals, opts loadOptions, load func(loader.Engine, loader.LoadOptions) (*loader.Summary, string, error)) error {
	if err := opts.check(); err != nil {
		return err
	}
	if opts.precheck != nil && len(opts.seeds) > 0 && opts.load.Resume == "" {
		// The store is seeded when it opens: a bad mapping or input must
		// stop the run before that, as it stops it before anything is
		// sent. (A resume's mapping and inputs are the run's, checked
		// when it starts.)
		if err := opts.precheck(); err != nil {
			return usage(err)
		}
	}
	logger := newLogger(g, opts)
	for _, n := range opts.notes {
		logger.Info(n)
	}
	eng, closeEngine, err := openEngine(ctx, g, &opts, logger)
	if err != nil {
		if ctx.Err() != nil && engine.IsInterrupted(err) {
			return interruptedAtStart(ctx, opts.load.Resume)
		}
		return err
	}
	defer closeEngine()
	bar := newProgress(g, opts, logger)
	opts.load.Progress, opts.load.Logger = bar.update, logger
	sum, dir, err := load(eng, opts.load)
	bar.finish()
	if err != nil && sum == nil && ctx.Err() != nil && engine.IsInterrupted(err) {
		// A signal as the run started (claiming its inputs, reading a
		// resume's receipts): SQLite's "interrupted" said nothing of
		// what was done, and a resume's exit code was 1, "rows failed".
		switch {
		case opts.load.Resume != "":
			return interruptedAtStart(ctx, opts.load.Resume)
		case dir != "" && loader.RunDir(dir).HasRunFile():
			return interruptedAtStart(ctx, dir)
		}
		return interruptedAtStart(ctx, "")
	}
	if err != nil && dir == "" {
		return usage(err) // nothing was sent
	}
	if sum != nil && !opts.quiet {
		printSummary(g, logger, sum, dir, opts.dryRun, opts.resume != "")
	}
	if err != nil {
		if sum != nil && sum.Outcome() == loader.OutcomeAborted {
			// The run could not write its reports (a full disk): it
			// stopped, and a resume once there is room finishes it.
			msg := loadOutcome(sum, dir)
			if !strings.Contains(msg, err.Error()) {
				msg += " (" + err.Error() + ")"
			}
			return &ExitError{Code: ExitAborted, Err: errors.New(msg)}
		}
		return err
	}
	if o := sum.Outcome(); o != loader.OutcomeOK {
		return &ExitError{Code: o.ExitCode(), Err: errors.New(loadOutcome(sum, dir))}
	}
	return nil
}

// interruptedAtStart is the error of a run a signal stopped as it
// started: nothing was sent (exit 2), or, for a run that exists (a
// resume), nothing more, and the resume continues it (exit 3).
func interruptedAtStart(ctx context.Context, dir string) error {
	if dir == "" {
		return usageErrorf("interrupted before the run started (%v): nothing was sent", context.Cause(ctx))
	}
	return &ExitError{Code: ExitAborted, Err: fmt.Errorf("interrupted as the run started (%v): nothing more was sent; continue it with: crmload load --resume %s", context.Cause(ctx), dir)}
}

func loadOutcome(sum *loader.Summary, dir string) string {
	if sum.Outcome() == loader.OutcomeAborted {
		return fmt.Sprintf("the run stopped part-way (%s); what was done is in %s; continue it with: crmload load --resume %s", sum.AbortReason, dir, dir)
	}
	run := loader.RunDir(dir)
	where := run.AnyReport(loader.FailedReport)
	if sum.Kind == "job" {
		// A job's reports are in its sources' directories.
		var dirs []string
		for _, d := range run.FailedSources() {
			dirs = append(dirs, d.AnyReport(loader.FailedReport))
		}
		where = strings.Join(dirs, ", ")
	}
	msg := failedOutcome(sum, run, where)
	if n := sum.RowsInDoubtInAll(); n > 0 && (sum.RowsFailed > 0 || sum.RowsFailedEarlier > 0) {
		// Failed rows and rows in doubt: both said.
		msg += fmt.Sprintf("; and %s in doubt (the engine may or may not have stored them): see %s", mapping.CountOf(n, "row is", "rows are"), run.AnyReport(loader.InDoubtReport))
	}
	return msg
}

// doubtReport is the name of the run's in-doubt report (in_doubt.csv,
// .tsv or .jsonl, as its input).
func doubtReport(dir string) string {
	if p := loader.RunDir(dir).Report(loader.InDoubtReport); p != "" {
		return filepath.Base(p)
	}
	return loader.InDoubtReport + ".*"
}

// failedOutcome is loadOutcome's word on the rows that failed, or on the
// rows in doubt when none failed.
func failedOutcome(sum *loader.Summary, run loader.RunDir, where string) string {
	switch {
	case sum.RowsFailed == 0 && sum.RowsInDoubt > 0 && sum.RowsInDoubtEarlier > 0:
		return fmt.Sprintf("%s in doubt (%d in this attempt, %d in earlier ones: the engine may or may not have stored them; each line says why): see %s", mapping.CountOf(sum.RowsInDoubtInAll(), "row is", "rows are"), sum.RowsInDoubt, sum.RowsInDoubtEarlier, run.AnyReport(loader.InDoubtReport))
	case sum.RowsFailed == 0 && sum.RowsInDoubt > 0:
		return fmt.Sprintf("%s in doubt (the engine may or may not have stored them; each line says why): see %s", mapping.CountOf(sum.RowsInDoubt, "row is", "rows are"), run.AnyReport(loader.InDoubtReport))
	case sum.RowsFailed == 0 && sum.RowsFailedEarlier == 0 && sum.RowsInDoubtEarlier > 0:
		return fmt.Sprintf("%s in doubt since an earlier attempt of this run (the engine may or may not have stored them; each line says why): see %s", mapping.CountOf(sum.RowsInDoubtEarlier, "row is", "rows are"), run.AnyReport(loader.InDoubtReport))
	case sum.RowsFailed == 0 && sum.RowsFailedEarlier > 0:
		return fmt.Sprintf("%s failed in earlier attempts of this run: see %s", mapping.CountOf(sum.RowsFailedEarlier, "row", ""), where)
	case sum.RowsFailed == 0:
		return fmt.Sprintf("rows failed in an earlier attempt of this run: see %s", where)
	case sum.RowsFailedEarlier > 0 && sum.Kind != "job": // a job counts its sources finished earlier as this attempt's
		return fmt.Sprintf("%s failed (%d in this attempt, %d in earlier ones): see %s", mapping.CountOf(sum.RowsFailedInAll(), "row", ""), sum.RowsFailed, sum.RowsFailedEarlier, where)
	}
	return fmt.Sprintf("%s failed: see %s", mapping.CountOf(sum.RowsFailedInAll(), "row", ""), where)
}

// printSummary says how the run went on stderr: prose lines, or with
// --log-format json one JSON line each (the summary's counts as fields),
// so that a log collector gets the whole night in one format.
func printSummary(g *globals, logger *slog.Logger, sum *loader.Summary, dir string, dryRun, resume bool) {
	dryRun = dryRun || sum.DryRun
	secs := sum.FinishedAt.Sub(sum.StartedAt).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(sum.RowsRead) / secs
	}
	retryDirs := []string{dir}
	if sum.Kind == "job" {
		retryDirs = nil // a job's sources are retried one by one
		for _, d := range loader.RunDir(dir).FailedSources() {
			retryDirs = append(retryDirs, d.String())
		}
	}
	hint := "to load the failed rows again (after fixing them or the reference data): crmload retry "
	if dryRun {
		// Never a hint that loads for real after a rehearsal.
		hint = "to check the failed rows again (after fixing them or the reference data), as a dry run again: crmload retry "
	}
	if g.jsonLog {
		logger.Info("summary", "run_dir", dir, "kind", sum.Kind, "dry_run", dryRun, "seconds", math.Round(secs*10)/10,
			"rows_read", sum.RowsRead, "rows_succeeded", sum.RowsSucceeded, "rows_failed", sum.RowsFailed,
			"rows_filtered", sum.RowsFiltered, "rows_resumed", sum.RowsResumed, "rows_in_doubt", sum.RowsInDoubt, "rows_in_doubt_earlier", sum.RowsInDoubtEarlier,
			"events_created", sum.EventsSucceeded-sum.EventsFound, "events_found_stored", sum.EventsFound, "calls", sum.Batches, "retries", sum.Retries, "exit_code", sum.ExitCode)
		for _, w := range sum.Warnings {
			logger.Warn(w)
		}
		if retryable(sum) {
			for _, d := range retryDirs {
				logger.Info(hint + d)
			}
		}
		return
	}
	what := "loaded"
	if dryRun {
		what = "dry run: checked (nothing stored)"
	}
	resumed := ""
	if sum.RowsResumed > 0 {
		resumed = fmt.Sprintf(", %d settled by the earlier attempt", sum.RowsResumed)
	}
	if sum.RowsInDoubt > 0 {
		resumed += fmt.Sprintf(", %d in doubt (%s)", sum.RowsInDoubt, doubtReport(dir))
	}
	if sum.RowsInDoubtEarlier > 0 {
		resumed += fmt.Sprintf(", %d in doubt since an earlier attempt (%s)", sum.RowsInDoubtEarlier, doubtReport(dir))
	}
	created := "created"
	if dryRun {
		created = "checked (rolled back)"
	}
	switch {
	case sum.EventsFound > 0 && resume:
		// Stored by the attempt that stopped, with calls in flight.
		created += fmt.Sprintf(" (and %d found stored by the earlier attempt)", sum.EventsFound)
	case sum.EventsFound > 0:
		// A call sent again (its answer lost, a timeout) that the
		// engine had stored the first time: no earlier attempt to blame.
		created += fmt.Sprintf(" (and %d found stored by an earlier copy of their call, sent again after its answer was lost)", sum.EventsFound)
	}
	fmt.Fprintf(g.io.ErrOut, "%s %s of %s in %.1fs (%.0f rows/s): %d succeeded, %d failed, %d filtered out%s; %s %s in %s, %s\n",
		what, mapping.CountOf(sum.RowsRead, "row", ""), sum.Kind, secs, rate, sum.RowsSucceeded, sum.RowsFailed, sum.RowsFiltered, resumed,
		mapping.CountOf(sum.EventsSucceeded-sum.EventsFound, "event", ""), created, mapping.CountOf(sum.Batches, "call", ""), mapping.CountOf(sum.Retries, "retry", ""))
	for _, w := range sum.Warnings {
		fmt.Fprintf(g.io.ErrOut, "warning: %s\n", w)
	}
	fmt.Fprintf(g.io.ErrOut, "reports: %s\n", dir)
	if retryable(sum) {
		for _, d := range retryDirs {
			fmt.Fprintf(g.io.ErrOut, "%s%s\n", hint, d)
		}
	}
}

// retryable says whether the run's end may name crmload retry: rows
// failed (in any attempt), and the run finished. A run stopped part-way
// is resumed first: a retry then would leave the rows the resume fails
// where no retry of the chain reaches them.
func retryable(sum *loader.Summary) bool {
	return sum.RowsFailedInAll() > 0 && sum.Outcome() != loader.OutcomeAborted
}

// retryHint says how to load the failed rows of the finished run in dir
// (named shown) again: retry it; a job run, each source with failed rows;
// a run whose failed rows were retried already, the last retry of the chain.
func retryHint(dir loader.RunDir, shown string) string {
	if dir.IsJob() {
		var hints []string
		for _, src := range dir.FailedSources() {
			hints = append(hints, retryHint(src, string(src)))
		}
		if len(hints) == 0 {
			return "its failed rows are in its sources' directories"
		}
		return "it is a job run: " + strings.Join(hints, "; ")
	}
	by, byDir := dir.RetriedBy()
	if by == "" {
		return "to load its failed rows again: crmload retry " + shown
	}
	// Its failed rows went to a retry already (and that one's maybe to
	// another): the last of the chain holds what is left.
	for range 1000 {
		next, nextDir := loader.RunDir(byDir).RetriedBy()
		if next == "" {
			break
		}
		by, byDir = next, nextDir
	}
	return fmt.Sprintf("the failed rows of %s were retried already, last by run %s: what is left is that run's (crmload load --resume %s if it stopped part-way, crmload retry %s for the rows it failed)", shown, by, byDir, byDir)
}

// reportOfRun makes a load of a finished run's failure report, where the
// run wrote it and into the run's own store or engine, a retry of that
// run in all but its name: it is recorded in the run as its retry (so a
// later crmload retry of the run is refused, not stored twice), and its
// summary names the run as its parent_run (crmload summary counts its
// rows once). It returns that parent, "" for any other load.
func reportOfRun(g *globals, opts *loadOptions) (string, error) {
	if len(opts.files) != 1 || !strings.HasPrefix(filepath.Base(opts.files[0]), loader.FailedReport+".") {
		return "", nil
	}
	dir := filepath.Dir(opts.files[0])
	run := loader.RunDir(dir)
	rf, err := run.RunFile()
	if err != nil {
		return "", nil // no run directory: a file like any other
	}
	sum, err := run.Summary()
	if err != nil || rf.Engine != crm.RedactURL(opts.engine) || opts.engine == "embedded" && !sameStore(g.db, rf.DB) {
		return "", nil // not finished, or another store: no retry of it
	}
	if sum.Outcome() == loader.OutcomeAborted {
		// As retry refuses it: the rows its resume will fail are not in
		// this report yet, and a retry after it would be refused.
		if !opts.again {
			return "", usageErrorf("%s is the failure report of run %s, which stopped part-way (%s): resume it first (crmload load --resume %s), then retry the rows it failed (crmload retry %s); or give --again to load this report as a file like any other", opts.files[0], dir, sum.AbortReason, dir, dir)
		}
		return "", nil
	}
	if by, byDir := run.RetriedBy(); by != "" && !opts.again {
		return "", usageErrorf("%s is the failure report of run %s, whose failed rows were loaded again already by run %s (%s): loading them again could store the ones it stored twice; for what is left, crmload retry %s; or give --again", opts.files[0], dir, by, byDir, byDir)
	}
	opts.load.ParentDir = dir
	return loader.RunIdentity(dir, sum), nil
}

// runResume continues the run in opts.resume with the mapping, inputs,
// engine and store it was started with. A store or engine given on the
// command line that is not the run's is refused: half a run in one store
// and half in another is never what was meant.
func runResume(ctx context.Context, g *globals, opts loadOptions) error {
	if len(opts.files) > 0 || opts.mapping != "" || opts.job != "" {
		return usageErrorf("--resume takes the mapping and files from %s: give neither -m, --job nor FILEs", opts.resume)
	}
	opts.existing = true
	run := loader.RunDir(opts.resume)
	if done, err := run.Summary(); err == nil && (done.Outcome() == loader.OutcomeOK || done.Outcome() == loader.OutcomeRowsFailed) {
		// Every row is settled: a resume would only rewrite the summary
		// with the counts of an attempt that did nothing.
		hint := ""
		if done.Outcome() == loader.OutcomeRowsFailed {
			hint = "; " + retryHint(run, opts.resume)
		}
		return usageErrorf("%s finished at %s (exit %d): nothing to resume%s", opts.resume, done.FinishedAt.Format(time.RFC3339), done.Outcome().ExitCode(), hint)
	}
	isJob := run.IsJob()
	rf, err := run.RunFile()
	if err != nil && !isJob { // job runs of earlier releases have no job.json
		return usage(err)
	}
	if rf != nil && rf.Stdin {
		return usageErrorf("%s read its input from standard input, which cannot be read again: a resume needs the input's bytes; load the rows it did not settle from a file in a new run (reports in %s say which rows settled)", opts.resume, opts.resume)
	}
	if rf != nil {
		if err := followRun(g, &opts, rf.Engine, rf.DB, "--resume "+opts.resume, true); err != nil {
			return err
		}
		if err := followShard(g, &opts, rf); err != nil {
			return err
		}
		if !opts.maxRecordLinesGiven && rf.MaxRecordLines > 0 {
			opts.maxRecordLines = rf.MaxRecordLines // records are keyed by line
		}
	}
	if isJob {
		return runJob(ctx, g, opts, run.JobFilePath(), opts.resume)
	}
	opts.mapping = run.MappingPath()
	files, fromCopy := rf.ResumeFiles()
	opts.files = files
	if fromCopy {
		opts.notes = append(opts.notes, fmt.Sprintf("%s changed since the run started: the resume reads the run's copy of it (%s), the rows the run started on", rf.Files[0], files[0]))
	}
	command, parent := cmp.Or(rf.Command, "load"), rf.Parent
	if up := run.RetryOf(); rf.Command == "" && up != "" && loader.RunDir(up).RecordedRetry(opts.resume) {
		// A retry started by an earlier release: its parent recorded it.
		command = "retry"
		if s, err := loader.RunDir(up).Summary(); err == nil {
			parent = loader.RunIdentity(up, s)
		}
	}
	if command == "retry" {
		// A retry goes on as one: its input is read as the report it is
		// (UTF-8, no comment lines).
		opts.reports = true
	}
	// Its summary names the run whose failed rows it loads, as the first
	// attempt's did (a retry, or a load -m of a run's failed.*).
	return runLoad(ctx, g, opts, command, parent)
}

// followRun points opts at a run's engine and store (recorded as absolute
// paths, so this works from any directory). strict refuses a store or
// engine given on the command line that is not the run's; otherwise such
// a flag wins. The environment and config file do not override a run's.
func followRun(g *globals, opts *loadOptions, eng, db, what string, strict bool) error {
	if db != "" {
		if diff := storeDiff(g.db, db); g.given["db"] && diff != "" {
			if strict {
				return usageErrorf("%s loads into the run's store %s, not --db %s: give no --db (a run is never split across stores; here: %s)", what, db, shownDB(g.db), diff)
			}
		} else if !sameStore(g.db, db) || !engine.IsDSN(db) {
			// The run's store as the run recorded it: a file by its real
			// path, a file: URI with its parameters (a --db naming the
			// same file another way does not drop them: a vfs= sets the
			// locking); the same database given again keeps its password.
			g.db = db
		}
	}
	if eng != "" {
		if g.given["engine"] && opts.engine != eng {
			if strict {
				return usageErrorf("%s loads into the run's engine %s, not --engine %s: give no --engine", what, eng, crm.RedactURL(opts.engine))
			}
		} else {
			opts.engine = eng
		}
	}
	return nil
}

// samePath reports whether two --db values name the same store file: a
// file: URI by the file it names (its parameters aside), by absolute
// path with symlinks followed, as SQLite names a store's -wal: a hard
// link to the store is another name, whose -wal SQLite keeps apart (a
// resume through one lost the killed run's last commits, still in the
// store's own -wal). Names of no file (in memory) are no file's.
//
// Two names of one file that has a single link (nlink 1) are the same
// name but for letter case (macOS's case-insensitive filesystem: CRM.db
// for crm.db) or a bind mount: there SQLite finds the same -wal too.
func samePath(a, b string) bool {
	fa, fb := crm.StoreFileAbs(a), crm.StoreFileAbs(b)
	if fa == "" || fb == "" {
		return false
	}
	if fa == fb {
		return true
	}
	sa, errA := os.Stat(fa)
	sb, errB := os.Stat(fb)
	return errA == nil && errB == nil && os.SameFile(sa, sb) && links(sa) == 1
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// heapToAdvise is the heap a load asks huge pages for: twice the Go
// runtime's memory limit (main.go's, unless GOMEMLIMIT), which covers the
// heap the limit lets a load grow to, and at most 1 GiB.
func heapToAdvise() int {
	const most = 1 << 30
	if limit := debug.SetMemoryLimit(-1); limit < most/2 { // no overflow when there is no limit
		return int(2 * limit)
	}
	return most
}
