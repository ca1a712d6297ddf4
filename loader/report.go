package loader

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/crmload/crmload/mapping"
)

// reportColumns are the columns a report adds after the input's own. When
// an input is itself a report (a failed.csv loaded again), its trailing
// report columns are not carried over twice.
var reportColumns = []string{"crmload_line", "crmload_request_id", "crm_id", "crm_number", "error_code", "error_description", rawColumn}

// originalColumns is how many leading columns of header are the input's
// own: all of them, unless the header ends with report columns.
func originalColumns(header []string) int {
	n := len(header)
	for n > 0 && slices.Contains(reportColumns, header[n-1]) {
		n--
	}
	return n
}

// NewRunDir creates <reportDir>/<run-id>/. Run ids sort by start time.
func NewRunDir(reportDir string, start time.Time) (string, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := start.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
	dir := filepath.Join(reportDir, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create report directory: %w", err)
	}
	return dir, nil
}

// rowReport writes one outcome file (succeeded or failed) in the input's
// format: CSV with the original columns then the added ones, or JSONL with
// the original object and the added keys. Rows go out as they settle.
type rowReport struct {
	path   string
	f      *os.File
	w      *bufio.Writer
	csv    *csv.Writer
	header []string // CSV: the input header; nil for JSONL
	keep   int      // leading columns of header to copy
	added  []string
	raw    bool // CSV: the last added column is crmload_raw, from the record
	rows   int
}

func newRowReport(path string, header []string, jsonl bool, added []string) (*rowReport, error) {
	return openRowReport(path, header, jsonl, added, -1)
}

// openRowReport creates the report, or with resumeAt >= 0 reopens it cut
// to resumeAt bytes (a resumed run appends to what was journaled).
func openRowReport(path string, header []string, jsonl bool, added []string, resumeAt int64) (*rowReport, error) {
	var f *os.File
	var err error
	if resumeAt > 0 {
		if err := truncateTo(path, resumeAt); err != nil {
			return nil, err
		}
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	} else {
		f, err = os.Create(path)
	}
	if err != nil {
		return nil, err
	}
	r := &rowReport{path: path, f: f, w: bufio.NewWriterSize(f, 64<<10), added: added}
	if !jsonl {
		r.header, r.keep = header, originalColumns(header)
		r.raw = len(added) > 0 && added[len(added)-1] == rawColumn
		r.csv = csv.NewWriter(r.w)
		if resumeAt <= 0 {
			if err := r.csv.Write(append(slices.Clone(header[:r.keep]), added...)); err != nil {
				f.Close()
				return nil, err
			}
		}
	}
	return r, nil
}

// flush writes what is buffered to the file and returns the file's size.
func (r *rowReport) flush() (int64, error) {
	if r.csv != nil {
		r.csv.Flush()
		if err := r.csv.Error(); err != nil {
			return 0, err
		}
	}
	if err := r.w.Flush(); err != nil {
		return 0, err
	}
	return r.f.Seek(0, io.SeekEnd)
}

// write adds one input record with the values of the added columns (but
// crmload_raw, which is the record's own raw text).
func (r *rowReport) write(rec *mapping.Record, vals ...string) error {
	r.rows++
	if r.csv != nil {
		row := make([]string, 0, r.keep+len(vals))
		for i := 0; i < r.keep; i++ {
			if i < len(rec.Values) {
				row = append(row, rec.Values[i])
			} else {
				row = append(row, "")
			}
		}
		row = append(row, vals...)
		if r.raw {
			row = append(row, string(rec.Raw))
		}
		return r.csv.Write(row)
	}
	return r.writeJSON(rec, vals)
}

// writeJSON splices the added keys into the original line, so the object's
// keys, their order and its numbers' digits are as they were. A line that
// was not a JSON object is kept whole under crmload_raw.
func (r *rowReport) writeJSON(rec *mapping.Record, vals []string) error {
	var b bytes.Buffer
	raw := bytes.TrimSpace(rec.Raw)
	if rec.Object != nil && len(raw) > 1 && raw[len(raw)-1] == '}' {
		body := bytes.TrimSpace(raw[:len(raw)-1])
		b.Write(body)
		if len(body) > 1 { // not "{"
			b.WriteByte(',')
		}
	} else {
		b.WriteString(`{"crmload_raw":`)
		q, _ := json.Marshal(string(rec.Raw))
		b.Write(q)
		b.WriteByte(',')
	}
	for i, k := range r.added {
		if i > 0 {
			b.WriteByte(',')
		}
		kq, _ := json.Marshal(k)
		b.Write(kq)
		b.WriteByte(':')
		if k == "crmload_line" {
			b.WriteString(vals[i])
			continue
		}
		vq, _ := json.Marshal(vals[i])
		b.Write(vq)
	}
	b.WriteString("}\n")
	_, err := r.w.Write(b.Bytes())
	return err
}

// Close flushes and closes the file; it blocks until the data is written.
func (r *rowReport) Close() error {
	if r.csv != nil {
		r.csv.Flush()
		if err := r.csv.Error(); err != nil {
			r.f.Close()
			return err
		}
	}
	if err := r.w.Flush(); err != nil {
		r.f.Close()
		return err
	}
	if err := r.f.Sync(); err != nil {
		r.f.Close()
		return err
	}
	return r.f.Close()
}

// Summary is summary.json: the run's counts. The accounting invariant
// rows_read = rows_resumed + rows_filtered + rows_succeeded + rows_failed +
// rows_in_doubt holds in every summary.
type Summary struct {
	RunID           string         `json:"run_id"`
	Command         string         `json:"command"`
	Parent          string         `json:"parent_run,omitempty"`
	DB              string         `json:"db,omitempty"`
	Kind            string         `json:"kind"`
	Engine          string         `json:"engine"`
	Files           []string       `json:"files"`
	StartedAt       time.Time      `json:"started_at"`
	FinishedAt      time.Time      `json:"finished_at"`
	RowsRead        int            `json:"rows_read"`
	RowsFiltered    int            `json:"rows_filtered"`
	RowsSucceeded   int            `json:"rows_succeeded"`
	RowsFailed      int            `json:"rows_failed"`
	RowsInDoubt     int            `json:"rows_in_doubt"`
	RowsResumed     int            `json:"rows_resumed"`
	EventsSucceeded int            `json:"events_succeeded"`
	EventsFailed    int            `json:"events_failed"`
	Batches         int            `json:"batches"`
	Retries         int            `json:"retries"`
	ErrorsByCode    map[string]int `json:"errors_by_code"`
	ExitCode        int            `json:"exit_code"`
	AbortReason     string         `json:"abort_reason,omitempty"`

	priorFailed int // rows earlier attempts of a resumed run failed
}

// Balanced reports whether the accounting invariant holds.
func (s *Summary) Balanced() bool {
	return s.RowsRead == s.RowsResumed+s.RowsFiltered+s.RowsSucceeded+s.RowsFailed+s.RowsInDoubt
}

func writeSummary(dir string, s *Summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "summary.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "summary.json"))
}

func itoa(n int) string { return strconv.Itoa(n) }

func decodeSummary(b []byte) (*Summary, error) {
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if s.ErrorsByCode == nil {
		s.ErrorsByCode = map[string]int{}
	}
	return &s, nil
}
