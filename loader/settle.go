package loader

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// reports are the outcome files of a run. inDoubt is created when the
// first row is in doubt (remote engines only).
type reports struct {
	succeeded, failed, inDoubt *rowReport
	dir                        string
	header                     []string
	dialect                    dialect
	doubtAt                    int64 // a resume: the in-doubt report's journaled size
}

var inDoubtColumns = []string{"crmload_line", "crmload_request_id", "error_description"}

// doubt returns the in-doubt report, creating (or reopening) it.
func (r *reports) doubt() (*rowReport, error) {
	if r.inDoubt != nil {
		return r.inDoubt, nil
	}
	path := filepath.Join(r.dir, "in_doubt"+r.dialect.ext())
	at := int64(-1)
	if _, err := os.Stat(path); err == nil && r.doubtAt > 0 {
		at = r.doubtAt // a resumed run appends to what was journaled
	}
	rr, err := openRowReport(path, r.header, r.dialect, inDoubtColumns, at)
	r.inDoubt = rr
	return rr, err
}

var (
	succeededColumns = []string{"crmload_line", "crmload_request_id", "crm_id", "crm_number"}
	failedColumns    = []string{"crmload_line", "crmload_request_id", "error_code", "error_description"}
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

func openReports(dir string, job *Job, inputs []*input, rp *resumePoint) (*reports, error) {
	succeededAt, failedAt := int64(-1), int64(-1)
	if rp.found {
		succeededAt, failedAt = rp.succeeded, rp.fails
	}
	d := inputs[0].dialect
	ext := d.ext()
	header := inputs[0].src.Header()
	ok, err := openRowReport(filepath.Join(dir, "succeeded"+ext), header, d, succeededColumns, succeededAt)
	if err != nil {
		return nil, err
	}
	failed, err := openRowReport(filepath.Join(dir, "failed"+ext), header, d, failedReportColumns(d.jsonl), failedAt)
	if err != nil {
		ok.Close()
		return nil, err
	}
	rep := &reports{succeeded: ok, failed: failed, dir: dir, header: header, dialect: d, doubtAt: rp.doubt}
	if rp.found && rp.doubt > 0 {
		// Cut a torn tail now, so the file is right even if no row of
		// this attempt is in doubt.
		if err := truncateTo(filepath.Join(dir, "in_doubt"+ext), rp.doubt); err != nil {
			return nil, err
		}
	} else if rp.found {
		os.Remove(filepath.Join(dir, "in_doubt"+ext)) // nothing of it was journaled
	}
	return rep, nil
}

// close flushes the reports; it blocks until they are on disk.
func (r *reports) close() error {
	err := errors.Join(r.succeeded.Close(), r.failed.Close())
	if r.inDoubt != nil {
		err = errors.Join(err, r.inDoubt.Close())
	}
	return err
}

// settle writes the outcome of items to the reports and counts them. It
// runs on one goroutine, the reports' only writer.
func (r *run) settle(outs []settled) error {
	s := r.sum
	batch := false
	var keys [][2]int
	failedBefore := s.RowsFailed
	for _, o := range outs {
		n := len(o.item.Records)
		batch = batch || o.batch
		if o.dropped {
			r.dropped += n
			continue
		}
		keys = append(keys, [2]int{o.file, o.item.Records[0].Line})
		switch {
		case o.filtered:
			s.RowsFiltered += n
		case o.inDoubt:
			s.RowsInDoubt += n
			rep, err := r.rep.doubt()
			if err != nil {
				return err
			}
			for _, rec := range o.item.Records {
				if err := rep.write(rec, itoa(rec.Line), o.item.RequestID, o.msg); err != nil {
					return err
				}
			}
		case o.code != "":
			s.RowsFailed += n
			s.EventsFailed++
			for i, rec := range o.item.Records {
				code, msg := o.failure(i)
				s.ErrorsByCode[code]++
				if err := r.rep.failed.write(rec, itoa(rec.Line), o.item.RequestID, code, msg); err != nil {
					return err
				}
			}
		default:
			s.RowsSucceeded += n
			s.EventsSucceeded++
			id, num := o.id, o.num
			if r.opts.DryRun {
				id, num = "", "" // rolled back: they name no event
			}
			for _, rec := range o.item.Records {
				if err := r.rep.succeeded.write(rec, itoa(rec.Line), o.item.RequestID, id, num); err != nil {
					return err
				}
			}
		}
	}
	if batch {
		s.Batches++
	}
	r.settled.Store(int64(s.RowsFailed + s.RowsSucceeded + s.RowsFiltered + s.RowsInDoubt))
	if len(keys) > 0 {
		// The reports first, then the journal line that vouches for them.
		sOff, err := r.rep.succeeded.flush()
		if err != nil {
			return err
		}
		fOff, err := r.rep.failed.flush()
		if err != nil {
			return err
		}
		var dOff int64
		if r.rep.inDoubt != nil {
			if dOff, err = r.rep.inDoubt.flush(); err != nil {
				return err
			}
		} else {
			dOff = r.rep.doubtAt
		}
		if err := r.journal.record(journalEntry{Succeeded: sOff, Failed: fOff, Doubt: dOff, Keys: keys, RowsFail: s.RowsFailed - failedBefore}); err != nil {
			return err
		}
	}
	if r.opts.MaxErrors > 0 && s.RowsFailed >= r.opts.MaxErrors && !r.aborted() {
		r.abort("--max-errors reached: " + itoa(s.RowsFailed) + " rows failed")
	}
	if settledRows := s.RowsFailed + s.RowsSucceeded + s.RowsFiltered; r.opts.MaxErrorPct > 0 && settledRows >= 100 &&
		float64(s.RowsFailed) >= r.opts.MaxErrorPct/100*float64(settledRows) && !r.aborted() {
		r.abort("--max-errors reached: " + itoa(s.RowsFailed) + " of " + itoa(settledRows) + " rows failed")
	}
	if r.opts.Progress != nil {
		var read, total int64
		for _, in := range r.inputs {
			read += in.src.BytesRead()
			total += in.size
		}
		r.opts.Progress(Progress{
			RowsRead: int(r.rowsRead.Load()), RowsSettled: s.RowsFailed + s.RowsSucceeded + s.RowsFiltered, RowsFailed: s.RowsFailed,
			BytesRead: read, BytesTotal: total, Elapsed: time.Since(r.start),
		})
	}
	return nil
}
