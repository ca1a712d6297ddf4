package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

// TestControlCharactersEscaped is issue 17.10: a reference number holding
// a terminal escape (ESC ] 0 ; ... BEL retitles a terminal) is shown
// escaped in events list's table.
func TestControlCharactersEscaped(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "crm.db")
	if code, _, errs := runWithStdin(t, nil, "--db", db, "engine", "seed", "../testdata/seed/reference.yaml"); code != 0 {
		t.Fatalf("seed: %s", errs)
	}
	mapping, _ := filepath.Abs("../testdata/purchases/mapping.yaml")
	csv := "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n" +
		"\"R\x1b]0;pwned\x07\",BRZ,x,6,12/1/2010 8:26,2.55,77.0,United Kingdom\n"
	in := filepath.Join(dir, "esc.csv")
	os.WriteFile(in, []byte(csv), 0o644)
	if code, _, errs := runWithStdin(t, nil, "--db", db, "load", "--quiet", "--report-dir", filepath.Join(dir, "r"), "-m", mapping, in); code != 0 {
		t.Fatalf("load: exit %d %s", code, errs)
	}
	code, out, errs := runWithStdin(t, nil, "--db", db, "events", "list")
	if code != 0 {
		t.Fatalf("events list: %d %s", code, errs)
	}
	if strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, `R\x1b]0;pwned\x07`) {
		t.Errorf("the table prints control characters raw, or not at all:\n%q", out)
	}
}

// TestUTF16WithoutBOM is issue 17.10: a UTF-16 file without a byte order
// mark is named as such, with the encoding to declare; no NUL byte
// reaches the terminal.
func TestUTF16WithoutBOM(t *testing.T) {
	dir := t.TempDir()
	text := "visit_id,participant,site,visited_on\n06,RP0000000010,www.crm.com,2016-06-22 15:00\n"
	var b []byte
	for _, u := range utf16.Encode([]rune(text)) {
		b = append(b, byte(u), byte(u>>8))
	}
	in := filepath.Join(dir, "u16.csv")
	os.WriteFile(in, b, 0o644)
	mapping, _ := filepath.Abs("../testdata/web/mapping.yaml")
	code, _, errs := runWithStdin(t, nil, "validate", "--report-dir", filepath.Join(dir, "r"), "-m", mapping, in)
	if code != ExitUsage || !strings.Contains(errs, "UTF-16 (little-endian) without a byte order mark; set input.encoding: utf-16le") || strings.ContainsRune(errs, 0) {
		t.Errorf("exit %d, %q", code, errs)
	}
	// With the encoding declared, it reads.
	spec, _ := os.ReadFile(mapping)
	fixed := filepath.Join(dir, "m.yaml")
	os.WriteFile(fixed, []byte(strings.Replace(string(spec), "kind: web\n", "kind: web\ninput: {encoding: utf-16le}\n", 1)), 0o644)
	if code, _, errs := runWithStdin(t, nil, "validate", "--report-dir", filepath.Join(dir, "r2"), "-m", fixed, in); code != 0 {
		t.Errorf("with input.encoding: utf-16le: exit %d %s", code, errs)
	}
}
