package loader

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/mapping"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
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
	return strconv.Itoa(file) + ":" + strconv.Itoa(it.Records[0].Line)
}

// settled is what became of rows: an outcome for each item.
type settled struct {
	item      mapping.Item
	file      int
	id, num   string // created
	code, msg string // failed
	filtered  bool
	inDoubt   bool // sent, but whether the engine stored it is unknown
	dropped   bool // read but not sent: the run stopped first; a resume sends it
	batch     bool // the outcome of a call (counts a batch)
}

// Load reads, maps, batches and sends the job's rows to eng, and writes the
// run directory: succeeded and failed reports, the mapping, the summary.
// The returned error is for a run that could not start (nothing written)
// or could not write its reports; an aborted run returns its summary with
// exit code 3.
func Load(ctx context.Context, job *Job, eng Engine, opts LoadOptions) (*Summary, string, error) {
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
	inputs, err := prepare(job)
	if err != nil {
		return nil, "", err
	}
	defer closeInputs(inputs)
	dir, rf, rp, unlock, err := startRun(ctx, job, inputs, opts, start)
	if err != nil {
		return nil, dir, err
	}
	defer unlock()
	if opts.ParentDir != "" && opts.Resume == "" && !opts.DryRun { // a dry run stored nothing
		if err := recordRetry(opts.ParentDir, dir, start); err != nil {
			return nil, dir, err
		}
	}
	runKey := rf.key(dir)
	rep, err := openReports(dir, job, inputs, rp)
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
	sum := &Summary{RunID: filepath.Base(dir), Command: opts.Command, Parent: opts.Parent, Kind: string(inputs[0].mapper.Kind()),
		Engine: job.Engine, DB: rf.DB, Files: job.Files, Inputs: rf.Inputs, Again: rf.Again, DryRun: opts.DryRun, StartedAt: start.UTC(),
		Shard: opts.Shard.String(), ErrorsByCode: map[string]int{}, priorFailed: rp.rowsFailed}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 30 * time.Second
	}
	r := &run{job: job, eng: eng, opts: opts, inputs: inputs, rep: rep, sum: sum, start: start, key: runKey,
		journal: jr, resume: rp, receipts: receipts, journalSends: !hasReceipts}
	aborted, runErr := r.pipeline(ctx)
	if err := rep.close(); err != nil && runErr == nil {
		runErr = err
		r.abort("cannot write the reports: " + err.Error())
		aborted = true
	}
	sum.finish(time.Now(), sum.Outcome(aborted))
	sum.AbortReason = r.abortReason
	// An input that grew since the run started (rows appended, then
	// resumed) was loaded as it is now: the ledger and the summary get
	// its content as it is now too, so a later load of the whole file
	// is known.
	grown, err := grownInputs(rf, inputs, dir, start)
	if err != nil && runErr == nil {
		runErr = err
	}
	for _, g := range grown {
		for i := range sum.Inputs {
			if sum.Inputs[i].Path == g.Name {
				sum.Inputs[i] = InputInfo{Path: g.Name, Size: g.Size, Modified: g.modified, SHA256: g.Hash}
			}
		}
	}
	if err := writeSummary(dir, sum); err != nil {
		// The reports and journal are whole up to the last journal line:
		// a resume once there is room finishes the run and its summary.
		if sum.ExitCode != 3 {
			sum.ExitCode, sum.AbortReason = 3, "cannot write the summary: "+err.Error()
		}
		if runErr == nil {
			runErr = err
		}
	}
	if opts.Ledger != nil {
		if len(grown) > 0 {
			if _, err := opts.Ledger.ClaimInputs(context.WithoutCancel(ctx), grown, true); err != nil && runErr == nil {
				runErr = fmt.Errorf("record the run in the ledger: %w", err)
			}
		}
		state := ClaimLoaded
		if sum.ExitCode == 3 || runErr != nil {
			state = ClaimStopped
		}
		if err := opts.Ledger.FinishInputs(context.WithoutCancel(ctx), runKey, state); err != nil && runErr == nil {
			runErr = fmt.Errorf("record the run in the ledger: %w", err)
		}
	}
	return sum, dir, runErr
}

// grownInputs are the ledger claims of the run's inputs whose size is not
// the one the run started on (rows appended): their content as it is now.
func grownInputs(rf *RunFile, inputs []*input, dir string, start time.Time) ([]Claim, error) {
	var out []Claim
	base := rf.claims(dir, start)
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
			return nil, err
		}
		c := base[i]
		c.Hash, c.Size, c.modified = now.SHA256, now.Size, now.Modified
		out = append(out, c)
	}
	return out, nil
}

// RetriedByName is the file of a run directory that names the runs that
// retried its failed rows, one JSON line each.
const RetriedByName = "retried_by.jsonl"

// RetriedBy returns the first run that retried the run in dir, if any.
func RetriedBy(dir string) (run, runDir string) {
	b, err := os.ReadFile(filepath.Join(dir, RetriedByName))
	if err != nil {
		return "", ""
	}
	var rec struct{ Run, Dir string }
	first, _, _ := strings.Cut(string(b), "\n")
	if json.Unmarshal([]byte(first), &rec) != nil {
		return "", ""
	}
	return rec.Run, rec.Dir
}

// recordRetry tells the parent run that the run in dir retries it.
func recordRetry(parentDir, dir string, at time.Time) error {
	abs, _ := filepath.Abs(dir)
	b, err := json.Marshal(struct {
		Run, Dir string
		At       time.Time
	}{filepath.Base(dir), abs, at.UTC()})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(parentDir, RetriedByName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("record the retry in %s: %w", parentDir, err)
	}
	_, err = f.Write(append(b, '\n'))
	return errors.Join(err, f.Close())
}

// fingerprint is the input's fingerprint, from hashed when the file has
// not changed since.
func (o LoadOptions) fingerprint(path string) (InputInfo, error) {
	if info, ok := o.hashed[path]; ok && info.changed(path) == "" {
		return info, nil
	}
	return fingerprint(path)
}

// claim records claims in the ledger (if any), refusing inputs another run
// loaded unless opts.Again.
func claim(ctx context.Context, opts LoadOptions, claims []Claim) error {
	if opts.Ledger == nil {
		return nil
	}
	earlier, err := opts.Ledger.ClaimInputs(ctx, claims, opts.Again)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if len(earlier) > 0 {
		given := map[string]string{}
		for _, c := range claims {
			given[c.Hash] = c.Name
		}
		return &AlreadyLoadedError{Earlier: earlier, Where: opts.LedgerName, Given: given}
	}
	return nil
}

// createRunDir creates dir with its run file and other files in one step:
// they are written to a hidden directory beside it, which is renamed.
func createRunDir(dir string, rf *RunFile, files map[string][]byte) error {
	tmp := filepath.Join(filepath.Dir(dir), ".partial-"+filepath.Base(dir))
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("create the run directory: %w", err)
	}
	err := rf.write(tmp)
	for name, b := range files {
		if err == nil {
			err = os.WriteFile(filepath.Join(tmp, name), b, 0o644)
		}
	}
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("create the run directory: %w", err)
	}
	return nil
}

// startRun creates the run directory of a new run (then claims its inputs
// in the ledger), or checks and reads that of a resumed one. Either way it
// holds the directory's lock until unlock.
func startRun(ctx context.Context, job *Job, inputs []*input, opts LoadOptions, start time.Time) (dir string, rf *RunFile, rp *resumePoint, unlock func(), err error) {
	defer func() {
		if err != nil && unlock != nil {
			unlock()
		}
	}()
	if opts.Resume != "" {
		dir = opts.Resume
		if rf, err = ReadRunFile(dir); err != nil {
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
	for _, in := range inputs {
		if in.info, err = opts.fingerprint(in.path); err != nil {
			return "", nil, nil, nil, err
		}
	}
	if rf, err = newRunFile(job, inputs, opts); err != nil {
		return "", nil, nil, nil, err
	}
	dir = opts.into
	if dir == "" {
		if dir, err = newRunDirName(job.ReportDir, start); err != nil {
			return "", nil, nil, nil, err
		}
	}
	rf.RunKey, rf.Again = runKeyOf(dir, opts.into != ""), opts.Again
	// The directory appears whole (job.json and the mapping), so that a
	// run killed at any moment left either nothing or a resumable run;
	// then its inputs are claimed, before anything is sent.
	spec, err := os.ReadFile(job.SpecPath)
	if err != nil {
		return "", nil, nil, nil, err
	}
	if err = createRunDir(dir, rf, map[string][]byte{"mapping.yaml": spec}); err != nil {
		return "", nil, nil, nil, err
	}
	if unlock, err = lockRun(dir); err != nil {
		return "", nil, nil, nil, err
	}
	if err = claim(ctx, opts, rf.claims(dir, start)); err != nil {
		os.RemoveAll(dir) // refused: nothing was done
		return "", nil, nil, unlock, err
	}
	rp = &resumePoint{settled: make([]lineSet, len(inputs)), sending: make([]lineSet, len(inputs))}
	return dir, rf, rp, unlock, nil
}

type run struct {
	job    *Job
	eng    Engine
	opts   LoadOptions
	inputs []*input
	rep    *reports
	sum    *Summary
	start  time.Time
	key    string // the run's key in load receipts: unique to this run and source

	mu          sync.Mutex // guards abortReason
	abortReason string
	stopRead    context.CancelFunc

	journal      *journal
	journalSends bool  // the engine keeps no receipts: journal calls before they go
	gate         *gate // calls in flight, fewer while the engine pushes back
	resume       *resumePoint
	receipts     map[string]receipt // read-only once the pipeline runs

	rowsRead atomic.Int64 // by the reader
	settled  atomic.Int64 // by the settler: rows in the reports
	retries  atomic.Int64 // by the senders
	waiting  atomic.Value // by the senders: what the last wait was for (string)
	resumed  int          // by the reader: rows an earlier attempt settled
	dropped  int          // by the settler: rows read but not sent
}

func (r *run) addRead()  { r.rowsRead.Add(1) }
func (r *run) addRetry() { r.retries.Add(1) }

// abort stops reading and sending new calls; the first reason stays.
func (r *run) abort(reason string) {
	r.mu.Lock()
	if r.abortReason == "" {
		r.abortReason = reason
	}
	r.mu.Unlock()
	r.stopRead()
}

func (r *run) aborted() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.abortReason != ""
}

// heartbeat logs a line every opts.Heartbeat while the run lives: what it
// has done and what it waits for, so that an operator reading the log of
// a stalled night sees a live process. The returned func stops it.
func (r *run) heartbeat() (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(r.opts.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				waiting, _ := r.waiting.Load().(string)
				r.opts.Logger.Info("still running", "rows_read", r.rowsRead.Load(), "rows_settled", r.settled.Load(),
					"calls_in_flight", r.gate.calls(), "retries", r.retries.Load(), "last_wait", waiting,
					"elapsed", time.Since(r.start).Round(time.Second).String())
			}
		}
	}()
	return func() { close(done); <-finished }
}

// errDeadline is the cause of a run's end at its --deadline.
var errDeadline = errors.New("deadline")

// pipeline runs the stages: read and map -> batch -> send (concurrently)
// -> settle (this goroutine, the only writer of the reports). An interrupt
// (ctx) stops reading and new calls; calls in flight get opts.Grace to
// finish. Rows read but not sent are not reported: a resume sends them.
func (r *run) pipeline(ctx context.Context) (aborted bool, err error) {
	if r.opts.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, r.opts.Deadline, errDeadline)
		defer cancel()
	}
	readCtx, stopRead := context.WithCancel(ctx)
	defer stopRead()
	r.stopRead = stopRead
	// Calls in flight outlive an interrupt by the grace period.
	sendCtx, stopSend := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSend()
	interrupted := func() {
		if context.Cause(ctx) == errDeadline {
			r.abort(fmt.Sprintf("the run's --deadline of %s passed", r.opts.Deadline))
		} else {
			r.abort("interrupted")
		}
	}
	go func() {
		select {
		case <-ctx.Done():
			interrupted()
			if r.opts.Grace > 0 {
				t := time.NewTimer(r.opts.Grace)
				defer t.Stop()
				select {
				case <-t.C:
				case <-sendCtx.Done():
				}
			}
			stopSend()
		case <-sendCtx.Done():
		}
	}()

	events := make(chan event, r.opts.BatchSize)
	batches := make(chan []event, r.opts.Concurrency)
	out := make(chan []settled, 2*r.opts.Concurrency+2)
	var limiter *rate.Limiter
	if r.opts.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(r.opts.Rate), 1)
	}
	r.gate = newGate(r.opts.Concurrency)

	g := new(errgroup.Group)
	g.Go(func() error { defer close(events); return r.read(readCtx, events, out) })
	g.Go(func() error { defer close(batches); return r.batch(events, batches) })
	var senders sync.WaitGroup
	for range r.opts.Concurrency {
		senders.Add(1)
		g.Go(func() error {
			defer senders.Done()
			for b := range batches {
				r.send(readCtx, sendCtx, limiter, b, out)
			}
			return nil
		})
	}
	done := make(chan error, 1)
	go func() { done <- g.Wait(); close(out) }()
	stopBeat := r.heartbeat()
	defer stopBeat()

	var werr error
	for outs := range out {
		if err := r.settle(outs); err != nil && werr == nil {
			werr = err
			r.abort("cannot write the reports: " + err.Error())
		}
	}
	if err := <-done; err != nil && werr == nil {
		werr = err
	}
	if ctx.Err() != nil {
		// Waits end at once on an interrupt, so the stages may all have
		// returned before the goroutine above has recorded why: a run
		// that was interrupted says so, whichever came first.
		interrupted()
	}
	r.sum.RowsRead = int(r.rowsRead.Load()) - r.dropped
	r.sum.RowsResumed = r.resumed
	r.sum.Retries = int(r.retries.Load())
	return r.aborted(), werr
}
