package loader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/crmload/crmload/mapping"
	"go.yaml.in/yaml/v3"
)

// JobFile lists several sources loaded in one run with one summary, e.g.
// a night's purchases and web events:
//
//	sources:
//	  - mapping: purchases.yaml
//	    files: [purchases-1.csv, purchases-2.csv]
//	  - mapping: web.yaml
//	    files: [web.jsonl]
//
// Paths are relative to the job file. Each source loads into its own
// directory of the run (its reports keep their input's columns); the run's
// summary.json adds them up.
type JobFile struct {
	Sources []JobSource `yaml:"sources"`
	// MaxRecordLines is --max-record-lines for every source; kept in the
	// run's copy of the job file, so that a resume reads the same records.
	MaxRecordLines int `yaml:"max_record_lines,omitempty"`
	// Limits are --max-record-bytes and --max-field-bytes for every source.
	Limits Limits `yaml:"-"`
	path   string
}

// JobSource is one mapping and its files.
type JobSource struct {
	Mapping string   `yaml:"mapping"`
	Files   []string `yaml:"files"`
}

// ReadJobFile reads and checks a job file (strictly: an unknown key is an
// error naming its line).
func ReadJobFile(path string) (*JobFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("job file %s: no such file", path)
	} else if err != nil {
		return nil, fmt.Errorf("job file %s: %w", path, err)
	}
	if err := checkJobKeys(path, data); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	jf := &JobFile{path: path}
	if err := dec.Decode(jf); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(jf.Sources) == 0 {
		return nil, fmt.Errorf("%s: no sources (want sources: [{mapping: M.yaml, files: [F.csv]}, ...])", path)
	}
	base := filepath.Dir(path)
	for i := range jf.Sources {
		src := &jf.Sources[i]
		if src.Mapping == "" || len(src.Files) == 0 {
			return nil, fmt.Errorf("%s: source %d needs a mapping and at least one file", path, i+1)
		}
		src.Mapping = resolvePath(base, src.Mapping)
		for j, f := range src.Files {
			src.Files[j] = resolvePath(base, f)
		}
	}
	return jf, nil
}

// jobKeys are the keys of a job file, at the top and in a source.
var jobKeys = map[string][]string{"": {"sources", "max_record_lines"}, "sources": {"mapping", "files"}}

// checkJobKeys names a key of the job file that is none of jobKeys, with
// its line and the valid keys there (yaml's own message names a Go type).
func checkJobKeys(path string, data []byte) error {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return nil // the decoder says what is wrong
	}
	check := func(m *yaml.Node, where string) error {
		if m.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			k := m.Content[i]
			if k.Tag == "!!merge" || k.Value == "<<" {
				continue // a merge of an anchored mapping: its keys are checked where it is written
			}
			if v := m.Content[i+1]; k.Value == "files" && where == "sources" && v.Kind == yaml.ScalarNode {
				return fmt.Errorf("%s:%d: files: want a list of files, e.g. files: [%s]", path, v.Line, v.Value)
			}
			if !slices.Contains(jobKeys[where], k.Value) {
				in := "at the top"
				if where != "" {
					in = "in a source"
				}
				return fmt.Errorf("%s:%d: unknown key %q %s (valid there: %s)", path, k.Line, k.Value, in, strings.Join(jobKeys[where], ", "))
			}
		}
		return nil
	}
	top := doc.Content[0]
	if err := check(top, ""); err != nil {
		return err
	}
	for i := 0; top.Kind == yaml.MappingNode && i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "sources" && top.Content[i+1].Kind == yaml.SequenceNode {
			for _, src := range top.Content[i+1].Content {
				if err := check(src, "sources"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func resolvePath(base, p string) string {
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// Check reads every source's mapping and opens its inputs, as a job's
// load does before anything is sent, and closes them: for a command to
// check them before it does anything else (load --seed, which seeds the
// store first).
func (jf *JobFile) Check() error {
	_, err := jf.plans("", "", "") // refuses a pipe
	return err
}

// plans reads every source's mapping (with resume, the ones the job
// started with) and checks it against the source's inputs, which it opens
// and closes.
func (jf *JobFile) plans(reportDir, engineName, resume string) ([]*Plan, error) {
	plans := make([]*Plan, len(jf.Sources))
	for i, src := range jf.Sources {
		specPath := src.Mapping
		if resume != "" {
			// A resume maps with the mappings the job started with, as
			// a run's resume does: a source's own copy once it started,
			// else the job's (none in a job run of an earlier release).
			run := RunDir(resume)
			if sub := run.source(i, src); sub.HasRunFile() {
				specPath = sub.MappingPath()
			} else if p := run.jobMappingPath(i, src); fileExists(p) {
				specPath = p
			}
		}
		for _, f := range src.Files {
			if IsPipe(f) {
				return nil, fmt.Errorf("%s: source %d: %s is a pipe, which can be read once, and a job reads its inputs more than once (the checks, the ledger's hash, the load): give a file, or load it alone (load -m MAPPING %s)", jf.path, i+1, f, f)
			}
		}
		spec, err := mapping.ReadSpec(specPath)
		if err != nil {
			return nil, fmt.Errorf("%s: source %d: %w", jf.path, i+1, err)
		}
		plans[i] = &Plan{SpecPath: specPath, Spec: spec, Files: src.Files, ReportDir: reportDir, Engine: engineName, MaxRecordLines: jf.MaxRecordLines, Limits: jf.Limits}
		inputs, err := prepare(plans[i]) // checks mapping and inputs now
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: source %d (%s): %w (paths in a job file are relative to it)", jf.path, i+1, filepath.Base(src.Mapping), err)
		} else if err != nil {
			return nil, fmt.Errorf("%s: source %d (%s): %w", jf.path, i+1, filepath.Base(src.Mapping), err)
		}
		closeInputs(inputs)
	}
	return plans, nil
}

// LoadJobFile loads every source of jf in order, into one run directory
// (or, with opts.Resume, continues that run: finished sources are kept,
// the others resumed or started). A source that stops the run
// (OutcomeAborted) stops the job. Every mapping and input is checked
// before anything is sent.
func LoadJobFile(ctx context.Context, jf *JobFile, reportDir, engineName string, eng Engine, opts LoadOptions) (*Summary, string, error) {
	start := time.Now()
	plans, err := jf.plans(reportDir, engineName, opts.Resume)
	if err != nil {
		return nil, "", err
	}
	dir := opts.Resume
	if dir != "" {
		unlock, err := lockRun(dir)
		if err != nil {
			return nil, "", err
		}
		defer unlock()
	} else {
		var err error
		if dir, err = newRunDirName(reportDir, start); err != nil {
			return nil, "", err
		}
		// The job as run, with absolute paths, and its engine and
		// store, for --resume; then every source's inputs are claimed,
		// so that a job run twice is refused before anything is sent.
		rf := &RunFile{Engine: engineName, Again: opts.Again, Settings: opts.Settings}
		if err := rf.setPaths(opts.DB, reportDir); err != nil {
			return nil, "", err
		}
		// Every source's inputs are hashed now, recorded in the job's
		// run file and claimed: a source that starts only in a resume
		// must find its inputs as they were when the job started.
		opts.hashed = map[string]InputInfo{}
		byKind := map[string][]InputInfo{}
		for _, p := range plans {
			rf.Files = append(rf.Files, p.Files...)
			for _, f := range p.Files {
				info, err := fingerprint(f)
				if err != nil {
					return nil, "", err
				}
				// Without rows only if so for every source that reads it.
				prev, seen := opts.hashed[f]
				info.noRows = noRows(f, p.sourceOptions(), info) && (!seen || prev.noRows)
				opts.hashed[f] = info
				rf.Inputs = append(rf.Inputs, info)
				byKind[p.Spec.Kind] = append(byKind[p.Spec.Kind], info)
			}
		}
		// Two sources of one kind given the same rows would claim them
		// twice in the ledger: the second source refused by the first's
		// claim, the job stopped part-way with its claims held.
		for kind, infos := range byKind {
			if err := sameContentTwice(infos, kind); err != nil {
				return nil, "", fmt.Errorf("%s: %w", jf.path, err)
			}
		}
		b, err := yaml.Marshal(jf)
		if err != nil {
			return nil, "", err
		}
		files := map[string][]byte{jobFileName: b}
		for i, src := range jf.Sources {
			// Each source's mapping as the job starts: a source that
			// starts only in a resume maps with it, whatever the file
			// says by then.
			spec, err := os.ReadFile(src.Mapping)
			if err != nil {
				return nil, "", err
			}
			files[filepath.Base(RunDir(dir).jobMappingPath(i, src))] = spec
		}
		made := firstMissing(filepath.Dir(dir))
		if err := RunDir(dir).create(rf, files); err != nil {
			return nil, "", err
		}
		// Every source maps with the job's copy, read now: the mapping it
		// is parsed from and the copy its run keeps are the same bytes,
		// whatever happens to the file while earlier sources load.
		for i, src := range jf.Sources {
			p := RunDir(dir).jobMappingPath(i, src)
			spec, err := mapping.ReadSpec(p)
			if err != nil {
				discardRun(dir, made)
				return nil, "", fmt.Errorf("%s: source %d: %w", jf.path, i+1, err)
			}
			plans[i].SpecPath, plans[i].Spec = p, spec
		}
		unlock, err := lockRun(dir)
		if err != nil {
			return nil, "", err
		}
		defer unlock()
		if err := claimJob(ctx, jf, plans, dir, start, &opts); err != nil {
			discardRun(dir, made)
			return nil, "", err
		}
	}
	total := &Summary{RunID: filepath.Base(dir), Command: opts.Command, Kind: "job", Engine: engineName, DB: absPath(opts.DB), DryRun: opts.DryRun,
		StartedAt: start.UTC(), ErrorsByCode: map[string]int{}}
	// A resume starts the sources not started yet on the inputs the job
	// started on (recorded in its run file; none for a run of an earlier
	// release): checked before anything of the resume is sent.
	if opts.Resume != "" {
		started := map[string]InputInfo{}
		if jrf, err := RunDir(dir).RunFile(); err == nil {
			for _, in := range jrf.Inputs {
				started[in.Path] = in
			}
		}
		for i, src := range jf.Sources {
			if sub := RunDir(dir).source(i, src); sub.HasRunFile() {
				continue // started: its own resume checks its inputs
			}
			if err := startedSame(started, plans[i].Files); err != nil {
				return nil, "", fmt.Errorf("source %d (%s): resume %s: %w", i+1, src.Mapping, dir, err)
			}
		}
	}
	var errs []error
	ran := false       // a source ran in this attempt
	worst := OutcomeOK // the gravest outcome of the sources
	for i, src := range jf.Sources {
		if i > 0 {
			failpoint("job-next-source")
		}
		sub := RunDir(dir).source(i, src)
		o := opts
		o.Resume, o.into = "", string(sub)
		if done, err := sub.finishedSummary(); err != nil {
			return nil, dir, err
		} else if done != nil {
			total.add(done) // finished in an earlier attempt
			worst = max(worst, done.Outcome())
			continue
		} else if sub.HasRunFile() {
			o.Resume, o.into = string(sub), ""
		}
		sum, subDir, err := Load(ctx, plans[i], eng, o)
		if err != nil {
			err = fmt.Errorf("source %d (%s): %w", i+1, src.Mapping, err)
			if sum == nil && subDir == "" && !ran && opts.Resume != "" {
				// Refused before it sent anything (an input changed
				// since the run started), and nothing else ran in this
				// attempt: the resume is refused, the run left as it was
				// (no run directory returned: nothing was sent).
				return nil, "", err
			}
			errs = append(errs, err)
			if sum != nil { // it ran, then could not write its reports
				total.add(sum)
				total.AbortReason = fmt.Sprintf("source %d (%s): %s", i+1, filepath.Base(src.Mapping), sum.AbortReason)
			} else {
				total.AbortReason = err.Error()
			}
			break
		}
		ran = true
		total.add(sum)
		worst = max(worst, sum.Outcome())
		if sum.Outcome() == OutcomeAborted {
			total.AbortReason = fmt.Sprintf("source %d (%s): %s", i+1, filepath.Base(src.Mapping), sum.AbortReason)
			break
		}
	}
	if total.AbortReason != "" || len(errs) > 0 {
		worst = OutcomeAborted
	}
	total.finish(time.Now(), worst)
	if err := RunDir(dir).writeSummary(total); err != nil {
		errs = append(errs, err)
	}
	return total, dir, errors.Join(errs...)
}

// jobMappingPath is the job run's copy of source i's mapping, taken when
// the job started.
func (d RunDir) jobMappingPath(i int, src JobSource) string {
	return string(d.source(i, src)) + ".mapping.yaml"
}

// startedSame checks that files, a job source's that starts in a resume,
// begin with the bytes the job recorded when it started (rows appended
// since are loaded; a file replaced or edited is refused).
func startedSame(started map[string]InputInfo, files []string) error {
	for _, f := range files {
		abs, _ := filepath.Abs(f)
		if info, ok := started[abs]; ok {
			if _, err := info.sameStart(f); err != nil {
				return err
			}
		}
	}
	return nil
}

// claimJob claims the inputs of every source of a new job run in the
// ledger, each under its source's run key (a source's own Load finds its
// claims and goes on).
func claimJob(ctx context.Context, jf *JobFile, plans []*Plan, dir string, start time.Time, opts *LoadOptions) error {
	if opts.Ledger == nil {
		return nil
	}
	var claims []Claim
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for i, src := range jf.Sources {
		sub := string(RunDir(abs).source(i, src))
		for _, f := range plans[i].Files {
			info, err := opts.fingerprint(f, plans[i].sourceOptions())
			if err != nil {
				return err
			}
			claims = append(claims, info.claims(Claim{Kind: plans[i].Spec.Kind, Run: runKeyOf(sub, true), RunDir: sub, StartedAt: start.UTC()})...)
		}
	}
	return claim(ctx, *opts, claims)
}
