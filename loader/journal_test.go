package loader

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestReadJournal(t *testing.T) {
	dir := t.TempDir()
	content := `{"s":100,"f":50,"k":[[0,2],[0,3]],"x":1}
{"sending":[[1,7],[1,8]]}
{"unsent":[[1,8]]}
{"s":180,"f":50,"d":20,"k":[[1,2]]}
{"s":999,"f":999,"k":[[0,4]` // torn: the process died writing it
	if err := os.WriteFile(filepath.Join(dir, journalName), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	rp, err := readJournal(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !rp.found || rp.succeeded != 180 || rp.fails != 50 || rp.doubt != 20 || rp.rowsFailed != 1 {
		t.Errorf("resume point = %+v, want sizes 180/50/20 from the last complete line, 1 failed row", rp)
	}
	for _, c := range []struct {
		file, line int
		settled    bool
	}{{0, 2, true}, {0, 3, true}, {1, 2, true}, {0, 4, false}, {1, 7, false}} {
		if got := rp.settled[c.file].has(c.line); got != c.settled {
			t.Errorf("settled(%d:%d) = %v, want %v", c.file, c.line, got, c.settled)
		}
	}
	if !rp.sending[1].has(7) || rp.sending[1].has(8) {
		t.Error("sending: want 1:7 in flight, and 1:8 withdrawn by unsent")
	}
	if rp, err := readJournal(t.TempDir(), 1); err != nil || rp.found {
		t.Errorf("no journal = %+v, %v; want a fresh start", rp, err)
	}
	os.WriteFile(filepath.Join(dir, journalName), []byte("{\"k\":[[5,1]]}\n"), 0o644)
	if _, err := readJournal(dir, 2); err == nil {
		t.Error("a journal naming input 5 of a 2-input run was accepted")
	}
}

// FuzzAppendJournalEntry: a journal line is json.Marshal's, whichever
// fields are set, zero, negative, nil or empty (Keys is null when nil, the
// other lists are left out when empty).
func FuzzAppendJournalEntry(f *testing.F) {
	f.Add(int64(0), int64(0), int64(0), 0, []byte{}, uint8(0))
	f.Add(int64(123456), int64(-7), int64(9), 3, []byte{1, 2, 3, 4, 200, 255}, uint8(7))
	f.Add(int64(math.MaxInt64), int64(math.MinInt64), int64(1), -5, []byte{0, 0}, uint8(5))
	f.Add(int64(10), int64(20), int64(0), 2, []byte{3, 'A', 0xff}, uint8(9))
	f.Fuzz(func(t *testing.T, s, fl, d int64, x int, pairs []byte, which uint8) {
		list := func(bit uint8, scale int) [][2]int {
			if which&bit == 0 {
				return nil
			}
			out := [][2]int{}
			for i := 0; i+1 < len(pairs); i += 2 {
				out = append(out, [2]int{int(pairs[i]) * scale, int(pairs[i+1])*scale - 300})
			}
			return out
		}
		e := journalEntry{Succeeded: s, Failed: fl, Doubt: d, RowsFail: x, RowsOK: -x, EventsOK: x / 3, EventsFail: x % 5, RowsDoubt: x % 7, RowsFiltered: x % 11, Keys: list(1, 1), Sending: list(2, 1<<20), Unsent: list(4, -1)}
		if which&8 != 0 && len(pairs) > 0 {
			e.Codes = map[string]int{"NotFoundAPIValueException": int(pairs[0]), string(pairs) + "\u2028\"<": x}
		}
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJournalEntry([]byte("x"), &e); string(got) != "x"+string(want) {
			t.Fatalf("appendJournalEntry(%+v) = %s, want %s", e, got[1:], want)
		}
	})
}

// BenchmarkJournalLine: the line of a settled call of 1000 rows, by
// appendJournalEntry and by json.Marshal.
func BenchmarkJournalLine(b *testing.B) {
	e := journalEntry{Succeeded: 123456789, Failed: 4567}
	for i := range 1000 {
		e.Keys = append(e.Keys, [2]int{0, 1_000_000 + i})
	}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = appendJournalEntry(buf[:0], &e)
		}
	})
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(e)
		}
	})
}
