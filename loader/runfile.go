package loader

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/crmload/crmload/crm"
)

// RunFile is what a run directory records of how the run was started, so
// that --resume and retry can start it again from any directory: the
// inputs (absolute paths, with their size and hash), the engine and its
// store, the report directory, and the run's key in load receipts. It
// holds no credentials.
type RunFile struct {
	Files     []string    `json:"files"`
	Inputs    []InputInfo `json:"inputs,omitempty"`
	Engine    string      `json:"engine"`
	DB        string      `json:"db,omitempty"`
	ReportDir string      `json:"report_dir,omitempty"`
	// RunKey names the run in the engine's load receipts: unique to the
	// run and, in a job, to the source. Run directories of earlier
	// releases have none: their key was the directory's name.
	RunKey string `json:"run_key,omitempty"`
	Kind   string `json:"kind,omitempty"`
	Again  bool   `json:"again,omitempty"`
	// MaxRecordLines shapes which lines make a record: a resume reads with it.
	MaxRecordLines int `json:"max_record_lines,omitempty"`
	// Settings are the command's settings that shape the run (flag name
	// to value: max-errors, batch-size, ...; never a secret): a resume
	// goes on with them unless its command line says otherwise.
	Settings map[string]string `json:"settings,omitempty"`
	// Stdin: an input was standard input, which a resume cannot read again.
	Stdin bool `json:"stdin,omitempty"`
	// Shard is the run's part of its inputs (K/N; "" for all of them).
	Shard string `json:"shard,omitempty"`
	// Command is "retry" or "load" ("": a run of an earlier release), and
	// Parent the run whose failed rows it loads (a retry, or a load -m of
	// a run's failed.*): a resume goes on as the run it is (its summary's
	// command and parent_run; a retry's input read as the report it is).
	Command string `json:"command,omitempty"`
	Parent  string `json:"parent_run,omitempty"`
	// Copy is where the run kept a copy of its input, a failure report
	// of another run (a retry, a load -m of a run's failed.*): a report
	// is edited in place, and a resume after an edit reads the copy,
	// the bytes the run started on.
	Copy string `json:"copy,omitempty"`
}

// reportCopyDir is the run directory's folder of its copy of the failure
// report it loads.
const reportCopyDir = "input"

// ResumeFiles are the files a resume of the run reads: its inputs, or
// the copy of a failure report it loads once that report was edited (or
// removed) since the run started.
func (rf *RunFile) ResumeFiles() (files []string, fromCopy bool) {
	if rf.Copy == "" || len(rf.Files) != 1 || len(rf.Inputs) != 1 {
		return rf.Files, false
	}
	if _, err := rf.Inputs[0].sameStart(rf.Files[0]); err == nil {
		return rf.Files, false
	}
	if _, err := rf.Inputs[0].sameStart(rf.Copy); err != nil {
		return rf.Files, false
	}
	return []string{rf.Copy}, true
}

// keepReportCopy copies the failure report the run loads (in) into its
// run directory and records it in job.json, for a resume after the report
// is edited. A copy that is not the bytes the run started on (the report
// changed meanwhile) is not kept: the run's read-time check stops it.
func (d RunDir) keepReportCopy(rf *RunFile, in *input) error {
	dst, err := filepath.Abs(filepath.Join(string(d), reportCopyDir, filepath.Base(in.path)))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := copyFile(in.path, dst); err != nil {
		os.RemoveAll(filepath.Dir(dst))
		return err
	}
	if _, err := in.info.sameStart(dst); err != nil {
		os.RemoveAll(filepath.Dir(dst))
		return nil
	}
	rf.Copy = dst
	return d.writeRunFile(rf)
}

// writeRunFile replaces job.json whole (written aside, then renamed): a
// crash leaves the old one or the new one.
func (d RunDir) writeRunFile(rf *RunFile) error {
	b, err := json.MarshalIndent(rf, "", "  ")
	if err != nil {
		return err
	}
	tmp := d.file(runFileName + ".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, d.file(runFileName))
}

func newRunFile(plan *Plan, inputs []*input, opts LoadOptions) (*RunFile, error) {
	rf := &RunFile{Engine: plan.Engine, Kind: plan.Spec.Kind, MaxRecordLines: plan.MaxRecordLines, Settings: opts.Settings, Stdin: plan.Stdin, Shard: opts.Shard.String()}
	rf.Command, rf.Parent = opts.Command, opts.Parent
	if err := rf.setPaths(opts.DB, plan.ReportDir); err != nil {
		return nil, err
	}
	for _, in := range inputs {
		rf.Files = append(rf.Files, in.info.Path)
		rf.Inputs = append(rf.Inputs, in.info)
	}
	return rf, nil
}

// setPaths records the store and report directory, absolute.
func (rf *RunFile) setPaths(db, reportDir string) (err error) {
	if crm.IsDSN(db) {
		rf.DB = crm.RedactDSN(db) // a database, never its password
	} else if db != "" {
		rf.DB = absPath(db) // a file's absolute path, or a file: URI of it
	}
	if reportDir != "" {
		rf.ReportDir, err = filepath.Abs(reportDir)
	}
	return err
}

// absPath is a --db value as a run records it, for a resume or retry
// from any directory: a file by its absolute path, symlinks followed (the
// store the run loaded into, wherever a symlink points later); a file: URI by its
// absolute file, its parameters kept (a vfs= or nolock= that sets the
// locking must be every process's on the store), as a file: URI again
// (file:///abs/path?params; file:////server/share/... for a UNC path); a
// database without its password.
func absPath(p string) string {
	if p == "" {
		return ""
	}
	if crm.IsDSN(p) {
		return crm.RedactDSN(p)
	}
	// The file itself: a symlink pointed at another store since would
	// split the run across stores.
	abs := crm.StoreFileAbs(p)
	query := crm.StoreQuery(p)
	switch {
	case abs == "":
		return p // no file (refused before a run is made)
	case query == "":
		return abs // a path, or file:crm.db, which names the file, no more
	}
	slashed := filepath.ToSlash(abs)
	if !strings.HasPrefix(slashed, "/") {
		slashed = "/" + slashed // C:/crm.db: file:///C:/crm.db
	}
	return "file://" + (&url.URL{Path: slashed}).EscapedPath() + "?" + query
}

// key is the run's key in load receipts. A run's key is its directory's
// name (a time to the millisecond and random digits); a job source's is
// the job run's and the source's: two runs never share one.
func (rf *RunFile) key(dir string) string {
	if rf.RunKey == "" {
		return filepath.Base(dir) // an earlier release's run
	}
	return rf.RunKey
}

// runKeyOf is the key of a new run in dir; inJob: dir is a job source's.
func runKeyOf(dir string, inJob bool) string {
	if inJob {
		return filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir)
	}
	return filepath.Base(dir)
}

// StdinName is how the ledger and its messages name an input that came
// on standard input.
const StdinName = "standard input (-)"

// shownFiles are files as a summary names them: a copy of standard input
// as StdinName (the copy is gone when the run ends, or moved into the run
// directory when it stops).
func shownFiles(files []string) []string {
	out := slices.Clone(files)
	for i, f := range out {
		if isStdinCopy(f) {
			out[i] = StdinName
		}
	}
	return out
}

// shownInputs are inputs as a summary names them (shownFiles).
func shownInputs(inputs []InputInfo) []InputInfo {
	out := slices.Clone(inputs)
	for i := range out {
		if isStdinCopy(out[i].Path) {
			out[i].Path = StdinName
		}
	}
	return out
}

// StdinCopyDir is the prefix of the temporary directory a command copies
// standard input into, as stdin.csv or stdin.jsonl (a load hashes its
// inputs before it sends anything: it needs a file it can read twice).
const StdinCopyDir = "crmload-stdin-"

// isStdinCopy reports whether path is such a copy of standard input.
func isStdinCopy(path string) bool {
	return strings.HasPrefix(filepath.Base(filepath.Dir(path)), StdinCopyDir) && isStdinName(filepath.Base(path))
}

// isStdin reports whether path names standard input: its copy, or the
// name a reader of it is opened under (init reads it as it comes).
func isStdin(path string) bool { return isStdinCopy(path) || isStdinName(path) }

func isStdinName(name string) bool { return name == "stdin.csv" || name == "stdin.jsonl" }

// AdoptStdinCopy moves the copy of standard input a stopped run read into
// the run directory (stdin.csv or stdin.jsonl) and records it there as
// the run's input, so that a resume reads the same bytes again; before,
// the copy went with the process and the run could not be resumed.
func (d RunDir) AdoptStdinCopy() error {
	rf, err := d.RunFile()
	if err != nil || !rf.Stdin {
		return err
	}
	for i, f := range rf.Files {
		if !isStdinCopy(f) {
			continue
		}
		dst, err := filepath.Abs(d.file(filepath.Base(f)))
		if err != nil {
			return err
		}
		if err := moveFile(f, dst); err != nil {
			return fmt.Errorf("keep the copy of standard input in %s for a resume: %w", d, err)
		}
		rf.Files[i] = dst
		for j := range rf.Inputs {
			if rf.Inputs[j].Path == f {
				rf.Inputs[j].Path = dst
			}
		}
	}
	rf.Stdin = false
	return d.writeRunFile(rf)
}

// moveFile renames src to dst, or copies it (another file system) with
// its modification time, then removes src.
func moveFile(src, dst string) error {
	if os.Rename(src, dst) == nil {
		return nil
	}
	if err := copyFile(src, dst); err != nil {
		return err
	}
	return os.Remove(src)
}

// copyFile copies src to dst, synced, with src's modification time.
func copyFile(src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := errors.Join(out.Sync(), out.Close()); err != nil {
		return err
	}
	return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
}

func (rf *RunFile) write(dir string) error {
	b, err := json.MarshalIndent(rf, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, runFileName), append(b, '\n'), 0o644)
}

// claims are the ledger entries of the run's inputs.
func (rf *RunFile) claims(dir string, start time.Time) []Claim {
	abs, _ := filepath.Abs(dir)
	var out []Claim
	for _, in := range rf.Inputs {
		if rf.Stdin && isStdinCopy(in.Path) {
			in.Path = StdinName // the ledger names it as it was given, not by its copy
		}
		out = append(out, in.claims(Claim{Kind: rf.claimKind(), Run: rf.key(dir), RunDir: abs, StartedAt: start.UTC()})...)
	}
	return out
}

// checkInputs refuses a resume whose inputs are not the ones the run
// started on (a file replaced, edited or cut); a file with rows appended
// since is continued, unless the run is one shard of a split: the other
// shards' runs did not see the appended rows, and a new run of another
// shard on the grown file would store its shard's events again.
func (rf *RunFile) checkInputs(inputs []*input) error {
	for i, info := range rf.Inputs {
		if i >= len(inputs) {
			break
		}
		grown, err := info.sameStart(inputs[i].path)
		if err != nil {
			return err
		}
		if grown && rf.Shard != "" {
			return fmt.Errorf("%s grew since the run started (it was %d bytes): this run is shard %s of a split, which the other shards' runs made of the file as it was; "+
				"resume it with the file as it was, and load the appended rows as a new file (all its shards)", inputs[i].path, info.Size, rf.Shard)
		}
	}
	return nil
}
