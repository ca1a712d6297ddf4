package loader

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/crmload/crmload/mapping"
)

// Validate reads, maps and checks every row of the plan's files without
// sending anything, and writes the run directory as a load would: the
// failure report, a copy of the mapping and the summary. A returned error
// means the run could not start (nothing was written) or could not write
// its reports.
func Validate(ctx context.Context, plan *Plan) (*Summary, string, error) {
	start := time.Now()
	inputs, err := prepare(plan)
	if err != nil {
		return nil, "", err
	}
	defer closeInputs(inputs)
	name, err := newRunDirName(plan.ReportDir, start)
	if err != nil {
		return nil, "", err
	}
	spec, err := os.ReadFile(plan.SpecPath)
	if err != nil {
		return nil, "", err
	}
	dir := RunDir(name)
	if err := dir.create(nil, map[string][]byte{mappingName: spec}); err != nil {
		return nil, "", err
	}
	rep, err := openFailedReport(dir, inputs)
	if err != nil {
		return nil, name, err
	}
	sum := &Summary{RunID: filepath.Base(name), Command: "validate", Kind: string(inputs[0].mapper.Kind()),
		Engine: plan.Engine, Files: plan.Files, StartedAt: start.UTC(), ErrorsByCode: map[string]int{}}

	var werr error
	splits := splitWatch{files: plan.Files}
	fi := 0
	emit := func(it mapping.Item) {
		if len(inputs) > 1 {
			nameFile(it, inputs[fi].path)
		}
		splits.see(fi, it)
		if err := rep.write(sum, checked(it, fi)); err != nil && werr == nil {
			werr = err
		}
	}
	aborted := false
	for i, in := range inputs {
		fi = i
		for {
			if ctx.Err() != nil {
				aborted = true
				break
			}
			rec, err := in.src.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				rep.close()
				return nil, name, fmt.Errorf("read %s: %w", in.path, err)
			}
			sum.RowsRead++
			in.mapper.Push(rec, emit)
		}
		if aborted {
			break
		}
		in.mapper.Flush(emit)
		splits.endFile()
	}
	sum.Warnings = append(splits.warnings, expressionWarnings(inputs)...)
	if aborted {
		// Rows of an unfinished group were read but not settled: they are
		// reported as failed, so every row read is in the reports.
		for _, in := range inputs {
			in.mapper.Flush(func(it mapping.Item) {
				it.Event, it.Errs, it.Err = nil, nil, &mapping.RowError{Line: it.Records[0].Line, Code: "InterruptedException", Msg: "the run was interrupted before this row was checked"}
				emit(it)
			})
		}
	}
	if err := rep.close(); err != nil && werr == nil {
		werr = err
	}
	if werr != nil {
		return nil, name, fmt.Errorf("write %s: %w", rep.failed.path, werr)
	}
	sum.finish(time.Now(), sum.settledOutcome(aborted))
	if err := dir.writeSummary(sum); err != nil {
		return nil, name, err
	}
	return sum, name, nil
}
