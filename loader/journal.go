package loader

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

type journalEntry struct {
	Succeeded int64    `json:"s"`           // size of the succeeded report
	Failed    int64    `json:"f"`           // size of the failed report
	Doubt     int64    `json:"d,omitempty"` // size of the in-doubt report
	Keys      [][2]int `json:"k"`           // [file index, first line] of each settled item
	RowsFail  int      `json:"x,omitempty"`
	RowsOK    int      `json:"o,omitempty"` // rows this line's items succeeded
	// EventsOK and EventsFail are the events this line's items stored and
	// failed (a group of rows is one event), for a resumed run's summary.
	EventsOK   int `json:"e,omitempty"`
	EventsFail int `json:"y,omitempty"`
	// RowsDoubt are the rows this line's items left in doubt, RowsFiltered
	// those they filtered out.
	RowsDoubt    int `json:"q,omitempty"`
	RowsFiltered int `json:"z,omitempty"`
	// Codes are the error codes of the rows this line's items failed
	// (code -> rows), so that a resumed run's errors_by_code covers every
	// row of its failure report.
	Codes map[string]int `json:"c,omitempty"`
	// Sending, on its own line, names the items of a call about to go to
	// an engine without receipts (a remote one): after a crash, those not
	// settled since are in doubt.
	Sending [][2]int `json:"sending,omitempty"`
	// Unsent, on its own line, withdraws Sending: the call surely did not
	// reach the engine (the run stopped first, or no connection).
	Unsent [][2]int `json:"unsent,omitempty"`
}

type journal struct {
	mu  sync.Mutex // the settler and, for remote engines, the senders write
	f   *os.File
	w   *bufio.Writer
	buf []byte // record's line, reused
	// index is the journal's place among those the process opened, lines
	// the lines it wrote: for the tests' journalFailpoint.
	index, lines int64
}

// openJournal opens a run's journal for appending. keep, when not
// negative, is the size of its complete lines (readJournal's): a torn
// last line (a crash, a full disk while it was written) is cut first, or
// the next line would be glued to it and the journal unreadable.
func openJournal(dir string, keep int64) (*journal, error) {
	f, err := os.OpenFile(filepath.Join(dir, journalName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if keep >= 0 {
		if err := f.Truncate(keep); err != nil {
			f.Close()
			return nil, err
		}
	}
	return &journal{f: f, w: bufio.NewWriterSize(runDirWriter(f), 64<<10), index: journalsOpened.Add(1)}, nil
}

func (j *journal) record(e journalEntry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf = append(appendJournalEntry(j.buf[:0], &e), '\n')
	j.w.Write(j.buf)
	err := j.w.Flush()
	j.lines++
	journalFailpoint(j.index, j.lines)
	return err
}

// appendCount appends an omitempty number member, key its `,"name":`.
func appendCount(b []byte, key string, n int64) []byte {
	if n == 0 {
		return b
	}
	return strconv.AppendInt(append(b, key...), n, 10)
}

// appendJournalEntry appends e as json.Marshal writes it (tested against
// it): a line for every call settled, whose thousand keys encoding/json
// wrote by reflection.
func appendJournalEntry(b []byte, e *journalEntry) []byte {
	b = append(b, `{"s":`...)
	b = strconv.AppendInt(b, e.Succeeded, 10)
	b = append(b, `,"f":`...)
	b = strconv.AppendInt(b, e.Failed, 10)
	b = appendCount(b, `,"d":`, e.Doubt)
	b = append(b, `,"k":`...)
	b = appendLinePairs(b, e.Keys)
	b = appendCount(b, `,"x":`, int64(e.RowsFail))
	b = appendCount(b, `,"o":`, int64(e.RowsOK))
	b = appendCount(b, `,"e":`, int64(e.EventsOK))
	b = appendCount(b, `,"y":`, int64(e.EventsFail))
	b = appendCount(b, `,"q":`, int64(e.RowsDoubt))
	b = appendCount(b, `,"z":`, int64(e.RowsFiltered))
	if len(e.Codes) > 0 { // rare: lines that failed rows
		c, _ := json.Marshal(e.Codes) // keys sorted, as json.Marshal of e
		b = append(b, `,"c":`...)
		b = append(b, c...)
	}
	if len(e.Sending) > 0 {
		b = append(b, `,"sending":`...)
		b = appendLinePairs(b, e.Sending)
	}
	if len(e.Unsent) > 0 {
		b = append(b, `,"unsent":`...)
		b = appendLinePairs(b, e.Unsent)
	}
	return append(b, '}')
}

// appendLinePairs appends ps as json.Marshal writes a [][2]int (null when
// nil).
func appendLinePairs(b []byte, ps [][2]int) []byte {
	if ps == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, p := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(p[0]), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(p[1]), 10)
		b = append(b, ']')
	}
	return append(b, ']')
}

func (j *journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return errors.Join(j.w.Flush(), j.f.Close())
}

// lineSet is a set of line numbers: a bitmap, so that a resume of a run of
// millions of rows stays small (125 KB a million lines).
type lineSet struct{ bits []uint64 }

func (s *lineSet) add(line int) {
	i := line / 64
	for len(s.bits) <= i {
		s.bits = append(s.bits, 0)
	}
	s.bits[i] |= 1 << (line % 64)
}

func (s *lineSet) remove(line int) {
	if i := line / 64; i < len(s.bits) {
		s.bits[i] &^= 1 << (line % 64)
	}
}

func (s *lineSet) has(line int) bool {
	i := line / 64
	return i < len(s.bits) && s.bits[i]&(1<<(line%64)) != 0
}

// resumePoint is what a previous attempt of a run left: the settled rows
// per input file, the reports' sizes, and how many rows failed.
type resumePoint struct {
	settled                 []lineSet
	sending                 []lineSet // in flight to an engine without receipts
	succeeded, fails, doubt int64
	rowsFailed              int
	rowsSucceeded           int
	rowsDoubt               int
	rowsFiltered            int
	eventsOK, eventsFail    int
	codes                   map[string]int // of the rows earlier attempts failed
	found                   bool
	journalSize             int64 // bytes of complete journal lines
}

// readJournal reads a run's journal, streaming (a journal of a 5 GB input
// is large; what it keeps is a bitmap per input). A torn last line (a
// crash while it was written) is ignored: the rows it names were not
// settled.
func readJournal(dir string, files int) (*resumePoint, error) {
	rp := &resumePoint{settled: make([]lineSet, files), sending: make([]lineSet, files)}
	f, err := os.Open(filepath.Join(dir, journalName))
	if errors.Is(err, os.ErrNotExist) {
		return rp, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			return rp, nil // a line without its newline is torn
		}
		if err != nil {
			return nil, err
		}
		rp.journalSize += int64(len(line))
		var e journalEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("%s: %v", journalName, err)
		}
		if len(e.Sending) > 0 || len(e.Unsent) > 0 {
			for _, k := range e.Sending {
				if k[0] >= 0 && k[0] < files {
					rp.sending[k[0]].add(k[1])
				}
			}
			for _, k := range e.Unsent {
				if k[0] >= 0 && k[0] < files {
					rp.sending[k[0]].remove(k[1])
				}
			}
			continue
		}
		for _, k := range e.Keys {
			if k[0] < 0 || k[0] >= files {
				return nil, fmt.Errorf("%s names input %d of a run of %d files", journalName, k[0], files)
			}
			rp.settled[k[0]].add(k[1])
		}
		rp.succeeded, rp.fails, rp.doubt, rp.found = e.Succeeded, e.Failed, e.Doubt, true
		rp.rowsFailed += e.RowsFail
		rp.rowsSucceeded += e.RowsOK
		rp.rowsDoubt += e.RowsDoubt
		rp.rowsFiltered += e.RowsFiltered
		rp.eventsOK += e.EventsOK
		rp.eventsFail += e.EventsFail
		for code, n := range e.Codes {
			if rp.codes == nil {
				rp.codes = map[string]int{}
			}
			rp.codes[code] += n
		}
	}
}

// truncateTo cuts path to size: what a crash wrote after the last journal
// line goes.
func truncateTo(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	_, err = f.Seek(0, io.SeekEnd)
	return err
}
