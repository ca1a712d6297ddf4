package loader

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/crmload/crmload/mapping"
)

// Plan is what one load (or validate) run reads: input files, the mapping
// spec they are read with, where the run directory goes and how records
// are bounded. How it is sent is LoadOptions; a job file (JobFile) of
// several sources runs one Plan per source; a run directory records its
// plan in job.json (RunFile).
type Plan struct {
	SpecPath  string
	Spec      *mapping.Spec
	Files     []string
	ReportDir string
	Engine    string // "embedded" or the API base URL, never credentials
	// Reports says the files are crmload reports (retry): they are read
	// as reports are written, UTF-8 without comment lines, whatever the
	// mapping's input.encoding and input.comment say.
	Reports bool
	// MaxRecordLines bounds the physical lines of one CSV record
	// (--max-record-lines); 0 means DefaultMaxRecordLines. A resume must
	// read with the value the run started with: records are keyed by line.
	MaxRecordLines int
	// Limits bound a record's and a field's bytes (zero: the defaults).
	Limits Limits
	// Stdin says an input is a copy of standard input: a resume of the
	// run is refused (the input cannot be read again).
	Stdin bool
}

// Limits bound what one record of an input may hold, so that no input
// (a file of one gigabyte line, a cell of 200 MB) makes memory grow past
// them: a record over a bound fails with its line and reading goes on.
type Limits struct {
	// RecordBytes bounds a CSV record (over all its lines) or a JSONL line
	// (--max-record-bytes); <= 0: DefaultMaxRecordBytes.
	RecordBytes int
	// FieldBytes bounds a CSV cell or a JSONL string (--max-field-bytes);
	// <= 0: DefaultMaxFieldBytes.
	FieldBytes int
}

// input is an input file opened and its mapping compiled.
type input struct {
	path   string
	src    Source
	mapper *mapping.Mapper
	format Format
	size   int64 // bytes on disk, for progress
	// dialect is how the input is written, and so its reports.
	dialect dialect
	// info is the file as this attempt found it when it started: the end
	// of the read is checked against it (a file still being written).
	info InputInfo
}

// rewritten says how the input's bytes, read to the end, differ from
// those hashed when the run started although its size and modification
// time are the same (changed sees those): a file rewritten in place under
// the run, its time restored (rsync --inplace -t). The rows read before
// its last came from either content. "" when they are the bytes hashed,
// or nothing was hashed (a resume, standard input).
func (in *input) rewritten() string {
	sum := in.src.ReadSHA256()
	if in.info.SHA256 == "" || sum == "" || sum == in.info.SHA256 {
		return ""
	}
	return fmt.Sprintf("%s changed while it was read: "+rewrittenWords+", though its size and modification time are "+
		"(rewritten in place, its time restored?); the run stopped before its last row; the rows it stored may be of either content: "+
		"compare succeeded.* with the file before loading the file again", in.path)
}

// rewrittenWords mark rewritten's reason, which a resume's summary keeps
// as a warning (earlierWarnings).
const rewrittenWords = "its bytes are not those hashed when the run started"

// earlierAttempt opens the warnings a resume keeps of an earlier attempt.
const earlierAttempt = "an earlier attempt of this run stopped: "

// earlierWarnings are the warnings a resume keeps of the summary it
// replaces: an earlier attempt's stop on an input rewritten under it,
// whose stored rows may be of either content, and those it kept itself.
func earlierWarnings(prev *Summary) []string {
	out := keptWarnings(prev.Warnings)
	if prev.Outcome() == OutcomeAborted && strings.Contains(prev.AbortReason, rewrittenWords) {
		out = append(out, earlierAttempt+prev.AbortReason)
	}
	return out
}

// keptWarnings are the warnings of ws an earlier attempt left, which a
// resume keeps and crmload summary notes.
func keptWarnings(ws []string) []string {
	var out []string
	for _, w := range ws {
		if strings.HasPrefix(w, earlierAttempt) {
			out = append(out, w)
		}
	}
	return out
}

// ErrNoInput is returned for a plan without files.
var ErrNoInput = errors.New("no input files given")

// Check opens every input and compiles the spec for it, as a load does
// before anything is read, sent or written, and closes them: for a
// command to check them before it does anything else (load --seed,
// which seeds the store first). An input that can be read once (IsPipe)
// is copied to a file before (cmd's spoolStdin): opening it here would
// consume it.
func (plan *Plan) Check() error {
	inputs, err := prepare(plan)
	if err == nil {
		closeInputs(inputs)
	}
	return err
}

// IsPipe reports whether the input at path is not a regular file (nor a
// directory): a pipe (<(zcat x.gz)), a FIFO, a device, which can be read
// once. A file that cannot be stat'ed is not: opening it says why.
func IsPipe(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.Mode().IsRegular() && !fi.IsDir()
}

// prepare opens every input and compiles the spec for it, so that a bad
// mapping, an unreadable file or a header that lacks a mapped column stops
// the run before anything is read, sent or written.
func prepare(plan *Plan) ([]*input, error) {
	if len(plan.Files) == 0 {
		return nil, ErrNoInput
	}
	var inputs []*input
	fail := func(err error) ([]*input, error) {
		closeInputs(inputs)
		return nil, err
	}
	opts := plan.sourceOptions()
	for _, path := range plan.Files {
		format, err := DetectFormat(path, opts.Format)
		if err != nil {
			return fail(err)
		}
		src, err := Open(path, opts)
		if err != nil {
			return fail(err)
		}
		in := &input{path: path, src: src, format: format, dialect: dialect{jsonl: format == JSONL}}
		if !in.dialect.jsonl {
			in.dialect.comma, in.dialect.comment, _ = csvDialect(path, opts) // checked by Open
		}
		if fi, err := os.Stat(path); err == nil {
			in.size = fi.Size()
		}
		inputs = append(inputs, in)
		if format == CSV {
			if err := uniqueHeader(path, src.Header()); err != nil {
				return fail(err)
			}
			if err := reportColumnsKept(path, src.Header(), plan.Reports); err != nil {
				return fail(err)
			}
		}
		if in.mapper, err = mapping.Compile(plan.Spec, mapping.Options{File: path, Header: src.Header()}); err != nil {
			return fail(err)
		}
		if plan.Spec.GroupBy.Kind != 0 && !IsPipe(path) && isReport(path, headerOf(src, format)) {
			if err := groupsApart(path, plan, opts); err != nil {
				return fail(err)
			}
		}
		first := inputs[0]
		if format != first.format {
			return fail(fmt.Errorf("%s is %s but %s is %s: the inputs of one run share a format (their reports are one file)", path, format, first.path, first.format))
		}
		if format == CSV && !slices.Equal(src.Header(), first.src.Header()) {
			return fail(fmt.Errorf("%s has another header than %s: the CSV inputs of one run share a header (their reports are one file)", path, first.path))
		}
	}
	return inputs, nil
}

// headerOf is a CSV source's header, nil for JSONL.
func headerOf(src Source, format Format) []string {
	if format == CSV {
		return src.Header()
	}
	return nil
}

// sourceOptions are how the plan's inputs are read.
func (plan *Plan) sourceOptions() SourceOptions {
	opts := SourceOptions{Format: plan.Spec.Input.Format, Delimiter: plan.Spec.Input.Delimiter,
		Encoding: plan.Spec.Input.Encoding, Comment: plan.Spec.Input.Comment, MaxRecordLines: plan.MaxRecordLines,
		MaxRecordBytes: plan.Limits.RecordBytes, MaxFieldBytes: plan.Limits.FieldBytes}
	if plan.Reports {
		opts.Encoding, opts.Comment = "", ""
	}
	return opts
}

// noRows reports whether the input at path, read with opts, holds no
// row: a CSV export of its header alone (a night without sales), blank
// lines, comment lines (input.comment), an empty JSONL file. Such an
// input stores nothing, so the ledger never refuses it as loaded before,
// nor two of them in one run as the same rows given twice. Anything else
// (a row, a damaged file, an unreadable one) is an input with rows: the
// ledger's refusal stands. info is the input as it was hashed: a file
// changed since is an input with rows too (its hash may be of rows).
func noRows(path string, opts SourceOptions, info InputInfo) bool {
	src, err := Open(path, opts)
	if err != nil {
		return false
	}
	defer src.Close()
	for {
		rec, err := src.Next()
		switch {
		case err == io.EOF:
			return info.changed(path) == ""
		case err != nil || !rec.Comment:
			return false
		}
	}
}

// uniqueHeader refuses a CSV header that names a column twice: a mapping
// would read the first and silently ignore the other. Empty names (the
// trailing commas of a spreadsheet export) are no names, so not compared.
func uniqueHeader(path string, header []string) error {
	seen := make(map[string]int, len(header))
	for i, name := range header {
		if name == "" {
			continue
		}
		if j, dup := seen[name]; dup {
			return fmt.Errorf("%s: the header names column %q twice (columns %d and %d): a mapping cannot tell them apart; rename one", path, name, j+1, i+1)
		}
		seen[name] = i
	}
	return nil
}

// expressionWarnings warns, once per expression of the spec (whatever the
// number of files), about an expression that failed on every row it ran
// on: a mistake in the mapping (a column used as a number but not
// declared one), not in the data.
func expressionWarnings(inputs []*input) []string {
	ms := make([]*mapping.Mapper, 0, len(inputs))
	for _, in := range inputs {
		ms = append(ms, in.mapper)
	}
	return mapping.ExpressionWarnings(ms...)
}

func closeInputs(inputs []*input) {
	for _, in := range inputs {
		in.src.Close()
	}
}
