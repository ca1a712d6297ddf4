package loader

import (
	"errors"
	"os"
	"slices"
	"strconv"
)

// reports are the outcome files of a run: every row settled is written to
// one of them and counted in the summary (write). inDoubt is created when
// the first row is in doubt (remote engines only); a validate run has no
// succeeded report (its valid rows are only counted).
type reports struct {
	succeeded, failed, inDoubt *rowReport
	dir                        RunDir
	header                     []string
	dialect                    dialect
	doubtAt                    int64 // a resume: the in-doubt report's journaled size
	// dryRun: nothing was stored, the succeeded report leaves ids and
	// numbers blank (they name no event).
	dryRun bool
	// files names the inputs, by index, when there are several: the
	// engine's answers and the loader's own (a duplicate request id, an
	// in-doubt row) then start with the file of their row, as a failure
	// found reading or mapping it does (RowError.File), since a line
	// number alone is ambiguous.
	files []string
}

// fileNames is reports.files for inputs.
func fileNames(inputs []*input) []string {
	if len(inputs) < 2 {
		return nil
	}
	names := make([]string, len(inputs))
	for i, in := range inputs {
		names[i] = in.path
	}
	return names
}

// ofFile is msg, a failure of a row of input fi that names no file,
// starting with that file's name when the run has several inputs.
func (r *reports) ofFile(fi int, msg string) string {
	if fi < 0 || fi >= len(r.files) {
		return msg
	}
	return r.files[fi] + ": " + msg
}

var (
	succeededColumns = []string{"crmload_line", "crmload_request_id", "crm_id", "crm_number"}
	failedColumns    = []string{"crmload_line", "crmload_request_id", "error_code", "error_description"}
	inDoubtColumns   = []string{"crmload_line", "crmload_request_id", "error_description"}
)

// failedReportColumns are the columns a failure report adds: a CSV one
// ends with crmload_raw, the text of a record that could not be read as
// fields (a JSONL one keeps such a line under crmload_raw already).
func failedReportColumns(jsonl bool) []string {
	if jsonl {
		return failedColumns
	}
	return append(slices.Clip(failedColumns), rawColumn)
}

// openReports opens the reports of a load run in dir: new ones, or with
// rp found (a resume) those of the earlier attempt cut to what its
// journal vouches for.
func openReports(dir RunDir, inputs []*input, rp *resumePoint, dryRun bool) (*reports, error) {
	succeededAt, failedAt := int64(-1), int64(-1)
	if rp.found {
		succeededAt, failedAt = rp.succeeded, rp.fails
	}
	d := inputs[0].dialect
	header := inputs[0].src.Header()
	ok, err := openRowReport(dir.report(SucceededReport, d), header, d, succeededColumns, succeededAt)
	if err != nil {
		return nil, err
	}
	failed, err := openRowReport(dir.report(FailedReport, d), header, d, failedReportColumns(d.jsonl), failedAt)
	if err != nil {
		ok.Close()
		return nil, err
	}
	rep := &reports{succeeded: ok, failed: failed, dir: dir, header: header, dialect: d, doubtAt: rp.doubt, dryRun: dryRun, files: fileNames(inputs)}
	if rp.found && rp.doubt > 0 {
		// Cut a torn tail now, so the file is right even if no row of
		// this attempt is in doubt.
		if err := truncateTo(dir.report(InDoubtReport, d), rp.doubt); err != nil {
			return nil, err
		}
	} else if rp.found {
		os.Remove(dir.report(InDoubtReport, d)) // nothing of it was journaled
	}
	return rep, nil
}

// openFailedReport opens the one report of a validate run in dir.
func openFailedReport(dir RunDir, inputs []*input) (*reports, error) {
	d := inputs[0].dialect
	header := inputs[0].src.Header()
	failed, err := openRowReport(dir.report(FailedReport, d), header, d, failedReportColumns(d.jsonl), -1)
	if err != nil {
		return nil, err
	}
	return &reports{failed: failed, dir: dir, header: header, dialect: d, files: fileNames(inputs)}, nil
}

// doubt returns the in-doubt report, creating (or reopening) it.
func (r *reports) doubt() (*rowReport, error) {
	if r.inDoubt != nil {
		return r.inDoubt, nil
	}
	path := r.dir.report(InDoubtReport, r.dialect)
	at := int64(-1)
	if _, err := os.Stat(path); err == nil && r.doubtAt > 0 {
		at = r.doubtAt // a resumed run appends to what was journaled
	}
	rr, err := openRowReport(path, r.header, r.dialect, inDoubtColumns, at)
	r.inDoubt = rr
	return rr, err
}

// write writes the rows of one outcome to their report and counts them
// in s. It is the only writer of outcome rows: the pipeline's settle and
// Validate call it, from one goroutine.
func (r *reports) write(s *Summary, o settled) error { return r.writeCounting(s, o, nil) }

// writeCounting is write that also counts the failed rows' codes in codes
// (when not nil): what the journal line of these outcomes keeps.
func (r *reports) writeCounting(s *Summary, o settled, codes map[string]int) error {
	n := len(o.item.Records)
	switch {
	case o.filtered:
		s.RowsFiltered += n
	case o.inDoubt:
		s.RowsInDoubt += n
		rep, err := r.doubt()
		if err != nil {
			return err
		}
		msg := r.ofFile(o.file, o.msg)
		for i, rec := range o.item.Records {
			if err := rep.write(rec, strconv.Itoa(rec.Line), o.item.RequestIDOf(i), msg); err != nil {
				return err
			}
		}
	case o.failed():
		s.RowsFailed += n
		s.EventsFailed++
		for i, rec := range o.item.Records {
			code, msg := o.failure(i)
			if o.item.Err == nil { // the engine's answer or the loader's: no file named yet
				msg = r.ofFile(o.file, msg)
			}
			s.ErrorsByCode[code]++
			if codes != nil {
				codes[code]++
			}
			if err := r.failed.write(rec, strconv.Itoa(rec.Line), o.item.RequestIDOf(i), code, msg); err != nil {
				return err
			}
		}
	default:
		s.RowsSucceeded += n
		s.EventsSucceeded++
		if o.found {
			s.EventsFound++
		}
		if r.succeeded == nil {
			return nil // a validate run: valid rows are counted
		}
		id, num := o.id, o.num
		if r.dryRun {
			id, num = "", "" // rolled back: they name no event
		}
		for _, rec := range o.item.Records {
			if err := r.succeeded.write(rec, strconv.Itoa(rec.Line), o.item.RequestID, id, num); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush writes what the reports buffer to their files and returns their
// sizes, for the journal line that vouches for them.
func (r *reports) flush() (succeeded, failed, inDoubt int64, err error) {
	if succeeded, err = r.succeeded.flush(); err != nil {
		return
	}
	if failed, err = r.failed.flush(); err != nil {
		return
	}
	if r.inDoubt == nil {
		return succeeded, failed, r.doubtAt, nil
	}
	inDoubt, err = r.inDoubt.flush()
	return
}

// close flushes the reports; it blocks until they are on disk.
func (r *reports) close() error {
	var err error
	for _, rr := range []*rowReport{r.succeeded, r.failed, r.inDoubt} {
		if rr != nil {
			err = errors.Join(err, rr.Close())
		}
	}
	return err
}
