package cmd

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmload/crmload/loader"
)

func runWithStdin(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	io, out, errOut := Test()
	io.In = bytes.NewReader(stdin)
	code := Run(context.Background(), io, args)
	return code, out.String(), errOut.String()
}

// TestStandardInput is issue 17.9: "-" reads standard input in load,
// validate and init, with --format where no extension tells; a resume of
// such a run is refused with the reason.
func TestStandardInput(t *testing.T) {
	dir := t.TempDir()
	web, _ := os.ReadFile("../testdata/web/web.csv")
	webJSONL, _ := os.ReadFile("../testdata/web/web.jsonl")
	mapping, _ := filepath.Abs("../testdata/web/mapping.yaml")
	mappingJSONL, _ := filepath.Abs("../testdata/web/mapping_jsonl.yaml")
	db := filepath.Join(dir, "crm.db")
	if code, _, errs := runWithStdin(t, nil, "--db", db, "engine", "seed", "../testdata/seed/reference.yaml"); code != 0 {
		t.Fatalf("seed: %d %s", code, errs)
	}

	code, out, errs := runWithStdin(t, web, "init", "--kind", "web", "--format", "csv", "-")
	if code != 0 || !strings.Contains(out, "visit_id") || !strings.Contains(out, "stdin.csv") {
		t.Errorf("init - : exit %d, %s\n%s", code, errs, out)
	}
	if code, _, errs = runWithStdin(t, web, "init", "--kind", "web", "-"); code != ExitUsage || !strings.Contains(errs, "give --format csv or jsonl") {
		t.Errorf("init - without --format: exit %d, %s", code, errs)
	}
	if code, _, errs = runWithStdin(t, web, "init", "--kind", "web", "--format", "xml", "-"); code != ExitUsage || !strings.Contains(errs, `--format "xml": want csv or jsonl`) {
		t.Errorf("init --format xml: exit %d, %s", code, errs)
	}

	code, _, errs = runWithStdin(t, web, "validate", "--report-dir", filepath.Join(dir, "v"), "--format", "csv", "-m", mapping, "-")
	if code == ExitUsage || !strings.Contains(errs, "validated") {
		t.Errorf("validate - : exit %d, %s", code, errs)
	}

	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(web)
	zw.Close()
	if code, _, errs = runWithStdin(t, zipped.Bytes(), "--db", db, "load", "--report-dir", filepath.Join(dir, "z"), "--format", "csv", "-m", mapping, "-"); code != ExitUsage ||
		!strings.Contains(errs, "standard input (-) is gzip-compressed data: pipe it through gzip -dc") || strings.Contains(errs, "crmload-stdin-") {
		t.Errorf("load - of gzip data: exit %d, %s", code, errs)
	}

	reports := filepath.Join(dir, "r")
	code, _, errs = runWithStdin(t, web, "--db", db, "load", "--quiet", "--report-dir", reports, "--format", "csv", "-m", mapping, "-")
	if code == ExitUsage || code == ExitAborted {
		t.Fatalf("load - : exit %d, %s", code, errs)
	}
	run, s := readSummary(t, reports)
	if want := bytes.Count(web, []byte("\n")) - 1; s.RowsRead != want {
		t.Errorf("load - read %d rows, want %d", s.RowsRead, want)
	}
	if len(s.Files) != 1 || s.Files[0] != loader.StdinName || len(s.Inputs) != 1 || s.Inputs[0].Path != loader.StdinName {
		t.Errorf("the summary of load - names its input %q, %+v; want %q (its temporary copy is gone)", s.Files, s.Inputs, loader.StdinName)
	}
	// As if it had stopped part-way (a finished run has nothing to resume).
	sumPath := filepath.Join(run, "summary.json")
	var sum map[string]any
	b, _ := os.ReadFile(sumPath)
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	sum["exit_code"] = ExitAborted
	b, _ = json.Marshal(sum)
	os.WriteFile(sumPath, b, 0o644)
	code, _, errs = runWithStdin(t, nil, "load", "--resume", run)
	if code != ExitUsage || !strings.Contains(errs, "standard input, which cannot be read again") {
		t.Errorf("resume of a standard input run: exit %d, %s", code, errs)
	}
	// The mapping's input.format tells JSONL.
	code, _, errs = runWithStdin(t, webJSONL, "--db", db, "load", "--quiet", "--report-dir", filepath.Join(dir, "j"), "-m", mappingJSONL, "-")
	if code == ExitUsage || code == ExitAborted {
		t.Errorf("load - of JSONL: exit %d, %s", code, errs)
	}
	if code, _, errs = runWithStdin(t, web, "--db", db, "load", "-m", mapping, "-"); code != ExitUsage || !strings.Contains(errs, "give --format csv or jsonl") {
		t.Errorf("load - without a format: exit %d, %s", code, errs)
	}
	// A run from standard input that stops part-way keeps the copy it read
	// in its directory: the resume its message names reads it again.
	bad := append(bytes.Clone(web), []byte("z1,RP9999999999,www.z1.com,2016-06-22 15:00\nz2,RP9999999999,www.z2.com,2016-06-22 15:00\nz3,RP0000000010,www.z3.com,2016-06-22 15:00\n")...)
	stopped := filepath.Join(dir, "s")
	code, _, errs = runWithStdin(t, bad, "--db", db, "load", "--report-dir", stopped, "--format", "csv", "--max-errors", "1", "--batch-size", "1", "--concurrency", "1", "-m", mapping, "-")
	if code != ExitAborted || !strings.Contains(errs, "continue it with: crmload load --resume") {
		t.Fatalf("a stdin run stopped by --max-errors: exit %d, %s", code, errs)
	}
	srun, _ := readSummary(t, stopped)
	if _, err := os.Stat(filepath.Join(srun, "stdin.csv")); err != nil {
		t.Fatalf("the stopped run keeps no copy of its input: %v", err)
	}
	code, _, errs = runWithStdin(t, nil, "load", "--resume", srun, "--max-errors", "0")
	if code != ExitFailed || !strings.Contains(errs, "settled by the earlier attempt") {
		t.Errorf("resume of a stopped stdin run: exit %d, %s", code, errs)
	}

	// The ledger knows what came on standard input as that, not as its
	// temporary copy: the same file given by name is refused naming it.
	code, _, errs = runWithStdin(t, nil, "--db", db, "load", "--report-dir", filepath.Join(dir, "n"), "-m", mapping, "../testdata/web/web.csv")
	if code != ExitUsage || !strings.Contains(errs, "has the same content as standard input (-) (web)") || strings.Contains(errs, "crmload-stdin-") {
		t.Errorf("the stdin's content again, by name: exit %d, %s", code, errs)
	}
}
