package cmd

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// runMeasured runs crmload with args in dir and returns its exit code,
// stderr and peak resident memory (the child's own, from wait4's rusage).
func runMeasured(t *testing.T, dir string, stdin []byte, args ...string) (code int, stderr string, peakMiB float64) {
	t.Helper()
	cmd := exec.Command(crmloadBinary(t), args...)
	cmd.Dir = dir
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return cmd.ProcessState.ExitCode(), errb.String(), float64(ru.Maxrss) / 1024 // Linux: KiB
}

// writeHuge writes head, then n bytes of fill, then tail.
func writeHuge(t *testing.T, path, head string, fill byte, n int64, tail string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(head)
	chunk := bytes.Repeat([]byte{fill}, 1<<20)
	for n > 0 {
		k := min(n, int64(len(chunk)))
		w.Write(chunk[:k])
		n -= k
	}
	w.WriteString(tail)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

const peakLimitMiB = 200

// TestHugeRecordsBoundedMemory is issue 17.1: a file of one 1 GiB line
// and a file with a 200 MB cell are loaded with peak RSS under 200 MB;
// the huge record fails with its line and the run goes on to the end.
func TestHugeRecordsBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1.2 GB of test files and reads them through crmload")
	}
	// Not parallel: a child's peak RSS (rusage) counts this process's
	// RSS when it was started (Linux starts children with CLONE_VM), so
	// the measure is only the child's before the parallel tests grow it.
	dir := t.TempDir()
	reference, _ := filepath.Abs("../testdata/seed/reference.yaml")
	web, _ := filepath.Abs("../testdata/web/mapping.yaml")
	webJSONL, _ := filepath.Abs("../testdata/web/mapping_jsonl.yaml")
	if code, errs, _ := runMeasured(t, dir, nil, "--db", "crm.db", "engine", "seed", reference); code != 0 {
		t.Fatalf("seed: exit %d: %s", code, errs)
	}

	t.Run("one 1 GiB JSONL line", func(t *testing.T) {
		path := filepath.Join(dir, "huge.jsonl")
		writeHuge(t, path, `{"visit": {"id": "w-1", "at": "2016-06-22T15:00:00"}, "customer": {"number": "ACR0000000077"}, "url": "`, 'x', 1<<30, `"}`)
		defer os.Remove(path)
		code, errs, peak := runMeasured(t, dir, nil, "--db", "crm.db", "load", "--quiet", "--report-dir", "r1", "-m", webJSONL, path)
		t.Logf("load of a 1 GiB line: exit %d, peak RSS %.1f MiB", code, peak)
		if code != 1 {
			t.Fatalf("exit %d, want 1 (the row failed): %s", code, errs)
		}
		if len(errs) > 4096 {
			t.Errorf("stderr is %d bytes: messages must stay short", len(errs))
		}
		run, s := readSummary(t, filepath.Join(dir, "r1"))
		if s.RowsRead != 1 || s.RowsFailed != 1 {
			t.Errorf("rows read %d, failed %d; want 1 and 1", s.RowsRead, s.RowsFailed)
		}
		failed, _ := os.ReadFile(filepath.Join(run, "failed.jsonl"))
		if !bytes.Contains(failed, []byte("line 1: the record is 1.0 GiB long, over the record limit of 16.0 MiB")) || len(failed) > 64<<10 {
			t.Errorf("failed.jsonl (%d bytes) does not name the line and the limit: %.500s", len(failed), failed)
		}
		if peak > peakLimitMiB {
			t.Errorf("peak RSS %.1f MiB, want under %d", peak, peakLimitMiB)
		}

		// init over a 1 GiB header: refused with a short message.
		csvPath := filepath.Join(dir, "huge.csv")
		writeHuge(t, csvPath, "", 'c', 1<<30, "")
		defer os.Remove(csvPath)
		code, errs, peak = runMeasured(t, dir, nil, "init", "--kind", "web", csvPath)
		t.Logf("init over a 1 GiB header: exit %d, peak RSS %.1f MiB: %s", code, peak, strings.TrimSpace(errs))
		if code != 2 || len(errs) > 4096 || !strings.Contains(errs, "--max-record-bytes") {
			t.Errorf("init: exit %d, stderr %d bytes %.300q; want 2 and a short message naming --max-record-bytes", code, len(errs), errs)
		}
		if peak > peakLimitMiB {
			t.Errorf("init: peak RSS %.1f MiB, want under %d", peak, peakLimitMiB)
		}
	})

	t.Run("a 200 MB cell", func(t *testing.T) {
		path := filepath.Join(dir, "cell.csv")
		head := "visit_id,participant,site,visited_on\nv1,RP0000000010,www.crm.com,2016-06-22 15:00\nv2,RP0000000010,"
		tail := ",2016-06-22 15:00\nv3,RP0000000010,www.crm.com/3,2016-06-22 15:00\n"
		writeHuge(t, path, head, 'y', 200_000_000, tail)
		defer os.Remove(path)
		code, errs, peak := runMeasured(t, dir, nil, "--db", "crm.db", "load", "--quiet", "--report-dir", "r2", "-m", web, path)
		t.Logf("load with a 200 MB cell: exit %d, peak RSS %.1f MiB", code, peak)
		if code != 1 {
			t.Fatalf("exit %d, want 1: %s", code, errs)
		}
		run, s := readSummary(t, filepath.Join(dir, "r2"))
		if s.RowsRead != 3 || s.RowsSucceeded != 2 || s.RowsFailed != 1 {
			t.Errorf("rows read %d, succeeded %d, failed %d; want 3, 2, 1", s.RowsRead, s.RowsSucceeded, s.RowsFailed)
		}
		if got := reportLines(t, filepath.Join(run, "failed.csv")); !got[3] || len(got) != 1 {
			t.Errorf("failed lines %v, want line 3", got)
		}
		if peak > peakLimitMiB {
			t.Errorf("peak RSS %.1f MiB, want under %d", peak, peakLimitMiB)
		}
	})

	t.Run("a 2 MiB cell within a record", func(t *testing.T) {
		path := filepath.Join(dir, "field.csv")
		head := "visit_id,participant,site,visited_on\nv1,RP0000000010,"
		writeHuge(t, path, head, 'z', 2<<20, ",2016-06-22 15:00\nv2,RP0000000010,www.crm.com,2016-06-22 15:00\n")
		code, errs, _ := runMeasured(t, dir, nil, "--db", "crm.db", "load", "--quiet", "--report-dir", "r3", "-m", web, path)
		if code != 1 {
			t.Fatalf("exit %d, want 1: %s", code, errs)
		}
		run, s := readSummary(t, filepath.Join(dir, "r3"))
		if s.RowsSucceeded != 1 || s.RowsFailed != 1 {
			t.Errorf("succeeded %d, failed %d; want 1 and 1", s.RowsSucceeded, s.RowsFailed)
		}
		failed, _ := os.ReadFile(filepath.Join(run, "failed.csv"))
		if !bytes.Contains(failed, []byte("column site is 2.0 MiB long, over the field limit of 1.0 MiB (--max-field-bytes)")) {
			t.Errorf("failed.csv does not say which column is too long: %.300s", failed[len(failed)-300:])
		}
		// A bigger bound, given as a flag, takes the cell.
		runMeasured(t, dir, nil, "--db", "crm.db", "load", "--quiet", "--again", "--report-dir", "r4", "--max-field-bytes", "4MiB", "-m", web, path)
		run, _ = readSummary(t, filepath.Join(dir, "r4"))
		if failed, _ := os.ReadFile(filepath.Join(run, "failed.csv")); bytes.Contains(failed, []byte("--max-field-bytes")) {
			t.Errorf("--max-field-bytes 4MiB did not raise the bound")
		}
		if code, errs, _ = runMeasured(t, dir, nil, "load", "--max-field-bytes", "lots", "-m", web, path); code != 2 || !strings.Contains(errs, "max-field-bytes") {
			t.Errorf("--max-field-bytes lots: exit %d, %s; want 2", code, errs)
		}
	})
}
