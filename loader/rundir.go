package loader

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// RunDir is a run directory, <report-dir>/<run-id>/: the one place that
// knows what it holds and where. Commands ask it; they do not look for its
// files themselves.
//
// A load (or retry) run holds:
//
//	job.json          RunFile: how the run started (inputs, engine, store, settings)
//	mapping.yaml      the run's copy of the mapping spec
//	.lock, .owner     the process working on it (runlock.go)
//	journal.jsonl     what was settled, for --resume (journal.go)
//	succeeded.EXT     the reports, in the input's format (.csv, .tsv or .jsonl)
//	failed.EXT
//	in_doubt.EXT      only when a row is in doubt (remote engines)
//	summary.json      Summary, once the run ended (also when it stopped)
//	retried_by.jsonl  the runs that retried its failed rows
//
// A job run holds job.json, job.yaml (the JobFile as run) and one load run
// directory per source, NN-<mapping>. A validate run holds mapping.yaml,
// failed.EXT and summary.json.
type RunDir string

// Names of the files of a run directory.
const (
	runFileName   = "job.json"
	mappingName   = "mapping.yaml"
	summaryName   = "summary.json"
	journalName   = "journal.jsonl"
	lockName      = ".lock"
	ownerName     = ".owner" // who holds the lock, for the message of the refused
	partialMark   = ".partial-"
	retriedByName = "retried_by.jsonl" // the runs that retried its failed rows, a JSON line each
	jobFileName   = "job.yaml"         // a job run: the JobFile as run
)

// Reports of a run, named without the extension of their format.
const (
	SucceededReport = "succeeded"
	FailedReport    = "failed"
	InDoubtReport   = "in_doubt"
)

// reportExts are the extensions a report may have (dialect.ext).
var reportExts = []string{".csv", ".tsv", ".jsonl"}

func (d RunDir) String() string          { return string(d) }
func (d RunDir) file(name string) string { return filepath.Join(string(d), name) }

// MappingPath is the run's copy of its mapping spec.
func (d RunDir) MappingPath() string { return d.file(mappingName) }

// JobFilePath is a job run's copy of its job file.
func (d RunDir) JobFilePath() string { return d.file(jobFileName) }

// InJob reports whether d is a source of a job run (its directory holds it).
func (d RunDir) InJob() bool { return RunDir(filepath.Dir(filepath.Clean(string(d)))).IsJob() }

// IsJob reports whether d is the run of a job file (its sources are run
// directories inside it).
func (d RunDir) IsJob() bool {
	_, err := os.Stat(d.JobFilePath())
	return err == nil
}

// HasRunFile reports whether the run was started (its job.json exists).
func (d RunDir) HasRunFile() bool {
	_, err := os.Stat(d.file(runFileName))
	return err == nil
}

// RunFile reads the run's job.json.
func (d RunDir) RunFile() (*RunFile, error) {
	b, err := os.ReadFile(d.file(runFileName))
	if err != nil {
		return nil, fmt.Errorf("%s is not a crmload load run directory: %w", d, err)
	}
	var rf RunFile
	if err := json.Unmarshal(b, &rf); err != nil {
		return nil, fmt.Errorf("%s: %w", d.file(runFileName), err)
	}
	return &rf, nil
}

// Summary reads the run's summary.json. A run without one (never ended:
// killed, or running) is an error that wraps fs.ErrNotExist; one that
// cannot be read as a summary a *SummaryError.
func (d RunDir) Summary() (*Summary, error) {
	b, err := os.ReadFile(d.file(summaryName))
	if err != nil {
		return nil, err
	}
	s, err := decodeSummary(b)
	if err != nil {
		return nil, &SummaryError{Path: d.file(summaryName), Err: err}
	}
	return s, nil
}

// hasSummary reports whether the run has a summary.json (it ended).
func (d RunDir) hasSummary() bool {
	_, err := os.Stat(d.file(summaryName))
	return err == nil
}

// SummaryError is a summary.json that is not a summary.
type SummaryError struct {
	Path string
	Err  error
}

func (e *SummaryError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *SummaryError) Unwrap() error { return e.Err }

// finishedSummary returns the summary of a run that ran to its end (not
// stopped part-way), or nil.
func (d RunDir) finishedSummary() (*Summary, error) {
	s, err := d.Summary()
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil || s.Outcome() == OutcomeAborted {
		return nil, err
	}
	return s, nil
}

// Sources are the run directories of a job run's sources that were
// started, in the job's order; none for another run.
func (d RunDir) Sources() ([]RunDir, error) {
	if !d.IsJob() {
		return nil, nil
	}
	jf, err := ReadJobFile(d.JobFilePath())
	if err != nil {
		return nil, err
	}
	var out []RunDir
	for i, src := range jf.Sources {
		if sub := d.source(i, src); sub.exists() {
			out = append(out, sub)
		}
	}
	return out, nil
}

// FailedSources are the directories of a job run's sources whose
// summaries count failed rows: a job is retried a source at a time.
func (d RunDir) FailedSources() []RunDir {
	sources, _ := d.Sources()
	var out []RunDir
	for _, src := range sources {
		if sum, err := src.Summary(); err == nil && sum.RowsFailedInAll() > 0 {
			out = append(out, src)
		}
	}
	return out
}

// source names a job source's directory in the run: its position and its
// mapping's name, so that the run directory reads in job order.
func (d RunDir) source(i int, src JobSource) RunDir {
	name := strings.TrimSuffix(filepath.Base(src.Mapping), filepath.Ext(src.Mapping))
	return RunDir(d.file(fmt.Sprintf("%02d-%s", i+1, name)))
}

func (d RunDir) exists() bool {
	fi, err := os.Stat(string(d))
	return err == nil && fi.IsDir()
}

// Report is the path of the named report (FailedReport, ...) in the
// format the run wrote it, "" when the run has none.
func (d RunDir) Report(name string) string {
	for _, ext := range reportExts {
		if p := d.file(name + ext); fileExists(p) {
			return p
		}
	}
	return ""
}

// AnyReport names the named report whatever its format, for a message:
// DIR/failed.*.
func (d RunDir) AnyReport(name string) string { return d.file(name + ".*") }

// report is the path of the named report written in dialect dl.
func (d RunDir) report(name string, dl dialect) string { return d.file(name + dl.ext()) }

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// newRunDirName names a new run's directory, <reportDir>/<run-id>. Run ids
// sort by start time (to the millisecond; `ls reports | tail -1` is the
// latest), and end in 32 random bits, so two runs never share one: a run
// id is also the run's key in the engine's load receipts.
func newRunDirName(reportDir string, start time.Time) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := start.UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(b[:])
	return filepath.Join(reportDir, id), nil
}

// create creates d with its run file (if any) and other files in one
// step: they are written to a hidden directory beside it, which is
// renamed, so that a run killed at any moment left either nothing or a
// whole directory.
func (d RunDir) create(rf *RunFile, files map[string][]byte) error {
	removeStalePartials(filepath.Dir(string(d)), time.Now())
	tmp := filepath.Join(filepath.Dir(string(d)), partialMark+filepath.Base(string(d)))
	err := os.MkdirAll(tmp, 0o755)
	for try := 0; errors.Is(err, fs.ErrNotExist) && try < 3; try++ {
		// A directory MkdirAll made was removed meanwhile, empty, by
		// another run refused at the same time (discardRun).
		err = os.MkdirAll(tmp, 0o755)
	}
	if err != nil {
		return fmt.Errorf("create the run directory: %w", err)
	}
	if rf != nil {
		err = rf.write(tmp)
	}
	for name, b := range files {
		if err == nil {
			err = os.WriteFile(filepath.Join(tmp, name), b, 0o644)
		}
	}
	if err == nil {
		failpoint("rundir-partial")
		err = os.Rename(tmp, string(d))
	}
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("create the run directory: %w", err)
	}
	return nil
}

// stalePartial is the age past which a hidden directory of a run being
// created is the leftover of a process killed before its rename: creating
// one takes milliseconds.
const stalePartial = time.Hour

// removeStalePartials removes, in parent, the leftovers of runs killed
// before their directory was renamed into place (they hold nothing but
// the run's settings), so that they do not pile up.
func removeStalePartials(parent string, now time.Time) {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), partialMark) {
			continue
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > stalePartial {
			os.RemoveAll(filepath.Join(parent, e.Name()))
		}
	}
}

// RetryOf returns the directory of the run whose failure report the run
// in d read, when d is a retry ("" if not).
func (d RunDir) RetryOf() string {
	rf, err := d.RunFile()
	if err != nil || len(rf.Inputs) != 1 || !strings.HasPrefix(filepath.Base(rf.Inputs[0].Path), FailedReport+".") {
		return ""
	}
	if up := RunDir(filepath.Dir(rf.Inputs[0].Path)); up.HasRunFile() {
		return string(up)
	}
	return ""
}

// RetriedBy returns the first run that retried the run in d, if any.
func (d RunDir) RetriedBy() (run, runDir string) {
	b, err := os.ReadFile(d.file(retriedByName))
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

// RecordedRetry reports whether the run in d recorded the run in dir as a
// retry of it (a retry of an earlier release, whose job.json does not say
// it is one).
func (d RunDir) RecordedRetry(dir string) bool {
	b, err := os.ReadFile(d.file(retriedByName))
	if err != nil {
		return false
	}
	abs, _ := filepath.Abs(dir)
	for line := range strings.Lines(string(b)) {
		var rec struct{ Run, Dir string }
		if json.Unmarshal([]byte(line), &rec) == nil && (rec.Dir == abs || rec.Run == filepath.Base(filepath.Clean(dir)) && rec.Dir == "") {
			return true
		}
	}
	return false
}

// recordRetry tells the run in d that the run in dir retries it.
func (d RunDir) recordRetry(dir string, at time.Time) error {
	abs, _ := filepath.Abs(dir)
	b, err := json.Marshal(struct {
		Run, Dir string
		At       time.Time
	}{filepath.Base(dir), abs, at.UTC()})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(d.file(retriedByName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("record the retry in %s: %w", d, err)
	}
	_, err = f.Write(append(b, '\n'))
	return errors.Join(err, f.Close())
}

// unrecordRetry takes back recordRetry's line of the retry in dir (its
// claim was refused: it retried nothing). The caller holds d's lock.
func (d RunDir) unrecordRetry(dir string) error {
	abs, _ := filepath.Abs(dir)
	b, err := os.ReadFile(d.file(retriedByName))
	if err != nil {
		return fmt.Errorf("take back the retry's record in %s: %w", d, err)
	}
	var keep []byte
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		var rec struct{ Dir string }
		if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &rec) == nil && rec.Dir == abs {
			continue
		}
		keep = append(keep, line...)
	}
	if len(keep) == 0 {
		return os.Remove(d.file(retriedByName))
	}
	tmp := d.file(retriedByName + ".tmp")
	if err := os.WriteFile(tmp, keep, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, d.file(retriedByName))
}

// writeSummary writes the run's summary.json.
func (d RunDir) writeSummary(s *Summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	// Written whole under another name, then renamed: a summary.json is
	// never half written; a failed write leaves no .tmp behind.
	tmp := d.file(summaryName + ".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = runDirWriter(f).Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, d.file(summaryName))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// FailedRows is the run's failure report, and whether it holds a row: a
// line after a CSV's header, or any line of JSONL. It is not the
// summary's rows_failed: a resumed run's counts only its last attempt's.
func (d RunDir) FailedRows() (path string, any bool) {
	path = d.Report(FailedReport)
	if path == "" {
		return "", false
	}
	f, err := os.Open(path)
	if err != nil {
		return path, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	lines := 0
	for sc.Scan() {
		if lines++; lines > 1 || strings.HasSuffix(path, ".jsonl") {
			return path, true
		}
	}
	return path, false
}
