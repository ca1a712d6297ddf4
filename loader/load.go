package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/mapping"
)

// Engine is where a load sends its events: the embedded engine, or a
// remote CRM.COM. A returned error means nothing of the call was stored; a
// *crm.Error is a call-level refusal, anything else a failure to reach the
// engine (retried).
type Engine interface {
	CreateEvents(ctx context.Context, req crm.BulkRequest) (crm.BulkResult, error)
}

// LoadOptions tune a load.
type LoadOptions struct {
	Command     string        // "load" or "retry", for the summary
	Parent      string        // retry: the run whose failed rows are loaded
	ParentDir   string        // retry: its directory, told which run retried it
	DB          string        // embedded engine store, for retry (not a secret)
	BatchSize   int           // events per call, at most crm.MaxBulkEvents
	BatchBytes  int           // rough bound of a call's size
	Concurrency int           // calls in flight
	Rate        float64       // calls per second; 0: no limit
	Retries     int           // retries of a call that could not reach the engine
	Timeout     time.Duration // per call; 0: none
	MaxErrors   int           // abort after this many failed rows; 0: never
	MaxErrorPct float64       // abort when this share of settled rows failed (after 100 rows); 0: never
	Grace       time.Duration // how long calls in flight may finish after an interrupt
	// Deadline bounds the run's sending (0: none): when it passes, the run
	// stops as on an interrupt (exit 3, --resume continues it).
	Deadline time.Duration
	// Resume, when set, is the run directory of an earlier attempt of this
	// run: rows it settled are skipped, events the engine stored for it
	// are reported without being sent again, the rest is loaded. With an
	// engine that keeps no receipts (a remote one), rows of calls that were
	// in flight when the attempt died are in doubt, unless ResendInDoubt.
	Resume        string
	ResendInDoubt bool
	// Ledger, when set, records the inputs this run loads, and refuses an
	// input whose content another run loaded (or is loading) unless
	// Again. LedgerName says where it is, for messages.
	Ledger     Ledger
	LedgerName string
	Again      bool
	// DryRun says the engine stores nothing: the reports leave ids and
	// numbers blank (they name no stored event) and the summary says so.
	DryRun bool
	// FailDuplicateIDs fails a row whose request id an earlier row of the
	// same file has (--on-duplicate-request-id fail); otherwise both are
	// sent and the run warns once per file, naming the lines.
	FailDuplicateIDs bool
	// Shard, unless whole, loads only this shard's rows (load --shard).
	Shard Shard
	// Settings are recorded in the run directory (RunFile.Settings) for
	// a resume; the loader does not read them.
	Settings map[string]string
	// Progress, if set, is called from the goroutine that writes the
	// reports, after each settled batch; it must return quickly.
	Progress func(p Progress)
	// Logger gets a line for every retry and wait (info), and a heartbeat
	// every Heartbeat (default 30 s) while the run lives, so that a long
	// outage is never silent. Nil: no lines.
	Logger    *slog.Logger
	Heartbeat time.Duration

	into string // a source of a job file: its directory inside the run
	// hashed holds fingerprints taken already (a job's claims), by path:
	// a large input is hashed once, not once per step.
	hashed map[string]InputInfo
	// ancestors are the keys of a retry's parent run, its parent's if that
	// was a retry too, and so on: their claims of the retry's content are
	// no conflict (claim).
	ancestors map[string]bool
	// sleep is how a retry waits its backoff: false when ctx ended
	// first. Nil: real time (tests make it instant).
	sleep func(ctx context.Context, d time.Duration) bool
}

// Replayer is an engine that can take a call again after an ambiguous
// failure without storing anything twice (engine serve keeps receipts).
type Replayer interface {
	SupportsReplay() bool
}

// ReceiptSource is an engine that keeps load receipts (the embedded one):
// which events a run stored, by the key they were sent with, and the
// digest (crm.Digest) of the content each was stored from.
type ReceiptSource interface {
	Receipts(ctx context.Context, run string, fn func(key, id, number, digest string) error) error
}

// receipt is an event an earlier attempt of the run stored.
type receipt struct{ id, num, digest string }

// Progress is a snapshot of a running load.
type Progress struct {
	RowsRead, RowsSettled, RowsFailed int
	BytesRead, BytesTotal             int64
	Elapsed                           time.Duration
}

// event is a mapped event on its way to the engine, with its rows.
type event struct {
	item   mapping.Item
	file   int // index of the input
	size   int
	replay bool // may have been stored by a call before a crash
}

// key names an item's rows in a run: the input and the first row's line.
func key(file int, it mapping.Item) string {
	var buf [40]byte // one allocation, the string
	return string(appendKey(buf[:0], file, it))
}

// appendKey appends key(file, it) to b.
func appendKey(b []byte, file int, it mapping.Item) []byte {
	b = strconv.AppendInt(b, int64(file), 10)
	b = append(b, ':')
	return strconv.AppendInt(b, int64(it.Records[0].Line), 10)
}

// Load reads, maps, batches and sends the plan's rows to eng, and writes the
// run directory: succeeded and failed reports, the mapping, the summary.
// The returned error is for a run that could not start (nothing written)
// or could not write its reports; an aborted run returns its summary with
// OutcomeAborted.
func Load(ctx context.Context, plan *Plan, eng Engine, opts LoadOptions) (*Summary, string, error) {
	start := time.Now()
	if opts.BatchSize <= 0 || opts.BatchSize > crm.MaxBulkEvents {
		return nil, "", fmt.Errorf("batch size %d: want 1 to %d", opts.BatchSize, crm.MaxBulkEvents)
	}
	if opts.Concurrency <= 0 {
		return nil, "", fmt.Errorf("concurrency %d: want at least 1", opts.Concurrency)
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 8 << 20
	}
	inputs, err := prepare(plan)
	if err != nil {
		return nil, "", err
	}
	defer closeInputs(inputs)
	dir, rf, rp, unlock, err := startRun(ctx, plan, inputs, opts, start)
	if err != nil {
		return nil, dir, err
	}
	defer unlock()
	failpoint("before-reports")
	runKey := rf.key(dir)
	rep, err := openReports(RunDir(dir), inputs, rp, opts.DryRun)
	if err != nil {
		return nil, dir, err
	}
	keep := int64(-1)
	if opts.Resume != "" {
		keep = rp.journalSize
	}
	jr, err := openJournal(dir, keep)
	if err != nil {
		rep.close()
		return nil, dir, err
	}
	defer jr.Close()
	receipts := map[string]receipt{}
	_, hasReceipts := eng.(ReceiptSource)
	if rs, ok := eng.(ReceiptSource); ok && opts.Resume != "" {
		// Events stored after the last journal line: reported, not sent.
		err := rs.Receipts(ctx, runKey, func(k, id, num, digest string) error {
			var fi, line int
			if _, err := fmt.Sscanf(k, "%d:%d", &fi, &line); err == nil && fi < len(inputs) && !rp.settled[fi].has(line) {
				receipts[k] = receipt{id: id, num: num, digest: digest}
			}
			return nil
		})
		if err != nil {
			rep.close()
			return nil, dir, fmt.Errorf("resume %s: read the engine's receipts: %w", dir, err)
		}
	}
	if rp.found && rp.rowsDoubt == 0 && rp.doubt > 0 {
		// A journal of an earlier release counts no rows in doubt: they
		// are those of the in-doubt report, as the journal left it.
		rp.rowsDoubt = countReportRows(RunDir(dir).report(InDoubtReport, inputs[0].dialect), inputs[0].dialect)
	}
	sum := &Summary{RunID: filepath.Base(dir), Command: opts.Command, Parent: opts.Parent, Kind: string(inputs[0].mapper.Kind()),
		Engine: plan.Engine, DB: rf.DB, Files: shownFiles(plan.Files), Inputs: shownInputs(rf.Inputs), Again: rf.Again, DryRun: opts.DryRun, StartedAt: start.UTC(),
		Shard: opts.Shard.String(), ErrorsByCode: maps.Clone(rp.codes), RowsFailedEarlier: rp.rowsFailed,
		RowsSucceededEarlier: rp.rowsSucceeded, EventsSucceededEarlier: rp.eventsOK, EventsFailedEarlier: rp.eventsFail, RowsInDoubtEarlier: rp.rowsDoubt, RowsFilteredEarlier: rp.rowsFiltered}
	if sum.ErrorsByCode == nil {
		sum.ErrorsByCode = map[string]int{}
	}
	if opts.Resume != "" {
		// The summary this resume replaces may say that rows of the run
		// need checking: said again in this one's warnings, or the first
		// attempt's word is lost once the input is put back and resumed.
		if prev, err := RunDir(dir).Summary(); err == nil {
			sum.Warnings = append(sum.Warnings, earlierWarnings(prev)...)
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 30 * time.Second
	}
	if opts.sleep == nil {
		opts.sleep = sleep
	}
	r := &run{plan: plan, eng: eng, opts: opts, inputs: inputs, rep: rep, sum: sum, start: start, key: runKey,
		journal: jr, resume: rp, receipts: receipts, journalSends: !hasReceipts}
	aborted, runErr := r.pipeline(ctx)
	if err := rep.close(); err != nil && runErr == nil {
		runErr = err
		r.abort("cannot write the reports: " + err.Error())
		aborted = true
	}
	// The earlier attempts' failed rows are rows of rows_resumed: an
	// attempt that stopped before it reached them all counts those it did.
	sum.RowsFailedEarlier = min(sum.RowsFailedEarlier, sum.RowsResumed)
	sum.RowsSucceededEarlier = min(sum.RowsSucceededEarlier, sum.RowsResumed-sum.RowsFailedEarlier)
	sum.RowsInDoubtEarlier = min(sum.RowsInDoubtEarlier, sum.RowsResumed-sum.RowsFailedEarlier-sum.RowsSucceededEarlier)
	sum.RowsFilteredEarlier = min(sum.RowsFilteredEarlier, sum.RowsResumed-sum.RowsFailedEarlier-sum.RowsSucceededEarlier-sum.RowsInDoubtEarlier)
	sum.EventsSucceededEarlier = min(sum.EventsSucceededEarlier, sum.RowsSucceededEarlier) // an event is one row or more
	sum.EventsFailedEarlier = min(sum.EventsFailedEarlier, sum.RowsFailedEarlier)
	sum.finish(time.Now(), sum.settledOutcome(aborted))
	sum.AbortReason = r.abortReason
	// An input that grew since the run started (rows appended, then
	// resumed) was loaded as it is now: the ledger and the summary get
	// its content as it is now too, so a later load of the whole file
	// is known.
	grownInfo, grown, err := grownInputs(rf, inputs, dir, start)
	if err != nil && runErr == nil {
		runErr = err
	}
	for _, g := range grownInfo {
		for i := range sum.Inputs {
			if sum.Inputs[i].Path == g.Path {
				sum.Inputs[i] = g
			}
		}
	}
	if err := RunDir(dir).writeSummary(sum); err != nil {
		// The reports and journal are whole up to the last journal line:
		// a resume once there is room finishes the run and its summary.
		if sum.Outcome() != OutcomeAborted {
			sum.ExitCode, sum.AbortReason = OutcomeAborted.ExitCode(), "cannot write the summary: "+err.Error()
		}
		if runErr == nil {
			runErr = err
		}
	}
	if opts.Ledger != nil {
		state := ClaimLoaded
		if sum.Outcome() == OutcomeAborted || runErr != nil {
			state = ClaimStopped
		}
		// A finished run waits out an outage of a remote ledger (with
		// --retries) unless interrupted; a stopped one (interrupted, the
		// engine gone) tries for ledgerStopWait at most: its claim reads as
		// stopped once its process is gone anyway, and a Ctrl-C is not
		// held for minutes.
		ledgerCtx, cancelLedger := ctx, context.CancelFunc(func() {})
		if state == ClaimStopped {
			ledgerCtx, cancelLedger = context.WithTimeout(context.WithoutCancel(ctx), ledgerStopWait)
		}
		defer cancelLedger()
		if len(grown) > 0 {
			if _, err := opts.Ledger.ClaimInputs(ledgerCtx, grown, true); err != nil && runErr == nil {
				runErr = fmt.Errorf("record the run in the ledger: %w", err)
			}
		}
		if err := opts.Ledger.FinishInputs(ledgerCtx, runKey, state); err != nil && runErr == nil {
			if state == ClaimStopped {
				// The run stopped anyway (its exit code says so): the ledger
				// still shows it loading, which reads as stopped once its
				// process is gone.
				sum.Warnings = append(sum.Warnings, fmt.Sprintf("the ledger (%s) could not record that the run stopped (%v): it still shows the run loading, which a later load reads as stopped part-way", opts.LedgerName, err))
				if err := RunDir(dir).writeSummary(sum); err != nil && runErr == nil {
					runErr = err
				}
			} else {
				// Every row is settled and reported: the run's outcome
				// stands. The ledger keeps its claim as loading; the
				// run's summary says it finished, and a later load of the
				// same input from this machine is told so.
				w := fmt.Sprintf("the ledger (%s) could not record that the run finished (%v): it still shows the run loading; its summary.json is the word on it", opts.LedgerName, err)
				sum.Warnings = append(sum.Warnings, w)
				if err := RunDir(dir).writeSummary(sum); err != nil && runErr == nil {
					runErr = err
				}
			}
		}
	}
	return sum, dir, runErr
}

// ledgerStopWait bounds the ledger's record of a run that stopped.
const ledgerStopWait = 10 * time.Second

// grownInputs are the ledger claims of the run's inputs whose size is not
// the one the run started on (rows appended): their content as it is now.
func grownInputs(rf *RunFile, inputs []*input, dir string, start time.Time) (infos []InputInfo, out []Claim, err error) {
	abs, _ := filepath.Abs(dir)
	for i, was := range rf.Inputs {
		if i >= len(inputs) {
			break
		}
		fi, err := os.Stat(inputs[i].path)
		if err != nil || fi.Size() == was.Size {
			continue
		}
		now, err := fingerprint(inputs[i].path)
		if err != nil {
			return nil, nil, err
		}
		now.Path = was.Path
		infos = append(infos, now)
		out = append(out, now.claims(Claim{Kind: rf.claimKind(), Run: rf.key(dir), RunDir: abs, StartedAt: start.UTC()})...)
	}
	return infos, out, nil
}

// retryChain are the keys of the run in dir and, while a run's only input
// is the failed report of another run, of that run, up the chain of
// retries.
func retryChain(dir string) map[string]bool {
	keys, seen := map[string]bool{}, map[string]bool{}
	for !seen[dir] {
		seen[dir] = true
		rf, err := RunDir(dir).RunFile()
		if err != nil {
			break
		}
		keys[rf.key(dir)] = true
		up := RunDir(dir).RetryOf()
		if up == "" {
			break
		}
		dir = up
	}
	return keys
}

// fingerprint is the input's fingerprint, read with src, from hashed
// when the file has not changed since (a job's, which says whether it
// holds rows for every source that reads it).
func (o LoadOptions) fingerprint(path string, src SourceOptions) (InputInfo, error) {
	if info, ok := o.hashed[path]; ok && info.changed(path) == "" {
		return info, nil
	}
	info, err := fingerprint(path)
	if err != nil {
		return InputInfo{}, err
	}
	info.noRows = noRows(path, src, info)
	return info, nil
}

// claim records claims in the ledger (if any), refusing inputs another run
// loaded unless opts.Again.
func claim(ctx context.Context, opts LoadOptions, claims []Claim) error {
	if opts.Ledger == nil {
		return nil
	}
	if opts.Again {
		return claimRows(ctx, opts, claims)
	}
	// An input without rows (an export of its header alone, night after
	// night) stores nothing: an earlier claim of the same bytes is no
	// conflict. The others are claimed first, refused as one (the
	// ledger's check and record are one step, so of two runs given the
	// same rows one is refused); then these, as loaded again.
	var rows, empty []Claim
	for _, c := range claims {
		if c.noRows {
			empty = append(empty, c)
		} else {
			rows = append(rows, c)
		}
	}
	if len(rows) > 0 || len(empty) == 0 {
		if err := claimRows(ctx, opts, rows); err != nil {
			return err
		}
	}
	if len(empty) > 0 {
		if _, err := opts.Ledger.ClaimInputs(ctx, empty, true); err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
	}
	return nil
}

// claimRows is claim of inputs that may hold rows.
func claimRows(ctx context.Context, opts LoadOptions, claims []Claim) error {
	earlier, err := opts.Ledger.ClaimInputs(ctx, claims, opts.Again)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if len(earlier) > 0 && len(opts.ancestors) > 0 && !opts.Again {
		// A retry whose input (its parent's failed report) is byte for
		// byte the input of a run up its chain of retries: from that run
		// to this one every run failed every row it read (a row stored
		// leaves the next failed report shorter, and the chain could not
		// come back to the same bytes), so none of it was stored and
		// that run's claim is no conflict. Retries of one run claim under
		// its lock (startRun): no other passes meanwhile.
		var others []Claim
		for _, c := range earlier {
			if !opts.ancestors[c.Run] {
				others = append(others, c)
			}
		}
		if len(others) == 0 {
			if _, err := opts.Ledger.ClaimInputs(ctx, claims, true); err != nil {
				return fmt.Errorf("ledger: %w", err)
			}
			return nil
		}
		earlier = others
	}
	if len(earlier) > 0 {
		given := map[string]string{}
		for _, c := range claims {
			given[c.Hash] = c.Name
		}
		// A gzip input is claimed by two keys (InputInfo.claims): an
		// earlier run that matches both is named once.
		seen := map[[2]string]bool{}
		uniq := earlier[:0:0]
		for _, c := range earlier {
			if k := [2]string{c.Run, c.Name}; !seen[k] {
				seen[k] = true
				uniq = append(uniq, c)
			}
		}
		return &AlreadyLoadedError{Earlier: uniq, Where: opts.LedgerName, Given: given}
	}
	return nil
}

// startRun creates the run directory of a new run (then claims its inputs
// in the ledger), or checks and reads that of a resumed one. Either way it
// holds the directory's lock until unlock.
func startRun(ctx context.Context, plan *Plan, inputs []*input, opts LoadOptions, start time.Time) (dir string, rf *RunFile, rp *resumePoint, unlock func(), err error) {
	defer func() {
		if err != nil && unlock != nil {
			unlock()
		}
	}()
	if opts.Resume != "" {
		dir = opts.Resume
		if rf, err = RunDir(dir).RunFile(); err != nil {
			return "", nil, nil, nil, err
		}
		if unlock, err = lockRun(dir); err != nil {
			return "", nil, nil, nil, err
		}
		if err = rf.checkInputs(inputs); err != nil {
			return "", nil, nil, unlock, fmt.Errorf("resume %s: %w", dir, err)
		}
		for _, in := range inputs {
			if in.info, err = statInput(in.path); err != nil {
				return "", nil, nil, unlock, err
			}
		}
		// The run's own claims, marked loading again: a resume is never
		// refused by the ledger (it is the run that claimed them).
		if opts.Ledger != nil {
			if _, err = opts.Ledger.ClaimInputs(ctx, rf.claims(dir, start), true); err != nil {
				return "", nil, nil, unlock, fmt.Errorf("ledger: %w", err)
			}
		}
		if rp, err = readJournal(dir, len(inputs)); err != nil {
			return "", nil, nil, unlock, fmt.Errorf("resume %s: %w", dir, err)
		}
		return dir, rf, rp, unlock, nil
	}
	infos := make([]InputInfo, len(inputs))
	for i, in := range inputs {
		if in.info, err = opts.fingerprint(in.path, plan.sourceOptions()); err != nil {
			return "", nil, nil, nil, err
		}
		infos[i] = in.info
	}
	if err := sameContentTwice(infos, plan.Spec.Kind); err != nil {
		return "", nil, nil, nil, err
	}
	if rf, err = newRunFile(plan, inputs, opts); err != nil {
		return "", nil, nil, nil, err
	}
	dir = opts.into
	if dir == "" {
		if dir, err = newRunDirName(plan.ReportDir, start); err != nil {
			return "", nil, nil, nil, err
		}
	}
	rf.RunKey, rf.Again = runKeyOf(dir, opts.into != ""), opts.Again
	// The directory appears whole (job.json and the mapping), so that a
	// run killed at any moment left either nothing or a resumable run;
	// then its inputs are claimed, before anything is sent.
	spec, err := os.ReadFile(plan.SpecPath)
	if err != nil {
		return "", nil, nil, nil, err
	}
	made := firstMissing(filepath.Dir(dir)) // --report-dir's directories this run makes
	if err = RunDir(dir).create(rf, map[string][]byte{mappingName: spec}); err != nil {
		return "", nil, nil, nil, err
	}
	if unlock, err = lockRun(dir); err != nil {
		return "", nil, nil, nil, err
	}
	if opts.ParentDir != "" && !opts.DryRun { // a dry run stores nothing: it is no retry of record
		// A retry claims and records itself in its parent under the
		// parent's lock: of two retries of one run started together, the
		// second finds the first recorded.
		parent := RunDir(opts.ParentDir)
		punlock, err := lockRun(opts.ParentDir)
		if err != nil {
			discardRun(dir, made)
			return "", nil, nil, unlock, fmt.Errorf("retry of %s (another retry or a resume of it may be running): %w", opts.ParentDir, err)
		}
		defer punlock()
		if by, byDir := parent.RetriedBy(); by != "" && !opts.Again {
			discardRun(dir, made)
			return "", nil, nil, unlock, fmt.Errorf("%s was retried already by run %s (%s) meanwhile: give --again to retry it anyway", opts.ParentDir, by, byDir)
		}
		opts.ancestors = retryChain(opts.ParentDir)
		// Recorded in the parent first: a record that cannot be written
		// leaves no claim behind; a refused claim takes the record back.
		if err = parent.recordRetry(dir, start); err != nil {
			discardRun(dir, made)
			return "", nil, nil, unlock, err
		}
		if err = claim(ctx, opts, rf.claims(dir, start)); err != nil {
			discardRun(dir, made) // refused: nothing was done
			return "", nil, nil, unlock, errors.Join(err, parent.unrecordRetry(dir))
		}
	} else if err = claim(ctx, opts, rf.claims(dir, start)); err != nil {
		discardRun(dir, made) // refused: nothing was done
		return "", nil, nil, unlock, err
	}
	if opts.ParentDir != "" && len(inputs) == 1 {
		// Best effort: without it, a resume needs the report as it was.
		RunDir(dir).keepReportCopy(rf, inputs[0])
	}
	rp = &resumePoint{settled: make([]lineSet, len(inputs)), sending: make([]lineSet, len(inputs))}
	return dir, rf, rp, unlock, nil
}

// firstMissing is the outermost of dir and its ancestors that does not
// exist ("" when dir exists): the directory from which creating dir
// makes new ones.
func firstMissing(dir string) string {
	missing := ""
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			return missing
		}
		missing = d
		if filepath.Dir(d) == d {
			return missing
		}
	}
}

// discardRun removes a run directory that was refused before anything
// was done, and the directories made for it from made (firstMissing)
// down, when nothing else is in them: a load refused by the ledger left
// its --report-dir behind, empty.
func discardRun(dir, made string) {
	os.RemoveAll(dir)
	if made == "" {
		return
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		if os.Remove(d) != nil || d == made || filepath.Dir(d) == d {
			return
		}
	}
}

// countReportRows counts the rows of a report of dialect d (0 if it cannot be
// read).
func countReportRows(path string, d dialect) int {
	opts := SourceOptions{Format: "csv", Delimiter: string(d.comma)}
	if d.jsonl {
		opts = SourceOptions{Format: "jsonl"}
	}
	src, err := Open(path, opts)
	if err != nil {
		return 0
	}
	defer src.Close()
	n := 0
	for {
		rec, err := src.Next()
		if err != nil {
			return n
		}
		if !rec.Comment {
			n++
		}
	}
}
