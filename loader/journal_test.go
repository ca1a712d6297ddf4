package loader

import (
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
