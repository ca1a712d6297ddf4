package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadFlagsExit2 is issue 17.12: one rule per kind of flag value,
// shared by every command; a bad value exits 2 before anything happens
// (no store, no run directory, no input read).
func TestBadFlagsExit2(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "never.db")
	reports := filepath.Join(dir, "never-reports")
	mapping, _ := filepath.Abs("../testdata/web/mapping.yaml")
	data, _ := filepath.Abs("../testdata/web/web.csv")
	load := func(args ...string) []string {
		return append(append([]string{"--db", db, "load", "--report-dir", reports}, args...), "-m", mapping, data)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{load("--rate", "NaN"), `--rate "NaN": want a finite number`},
		{load("--rate", "-1"), `--rate "-1": cannot be negative`},
		{load("--grace", "-1s"), `--grace "-1s": cannot be negative`},
		{load("--timeout", "-5s"), `--timeout "-5s": cannot be negative`},
		{load("--deadline", "-1h"), `--deadline "-1h0m0s": cannot be negative`},
		{load("--log-format", "xml"), `--log-format "xml": want text or json`},
		{load("--progress", "sometimes"), `--progress "sometimes": want auto, always or never`},
		{load("--max-record-bytes", "0"), `--max-record-bytes`},
		{load("--format", "xml"), `--format "xml": want csv or jsonl`},
		{[]string{"--db", db, "engine", "serve", "--log-format", "xml", "--no-auth"}, `--log-format "xml": want text or json`},
		{[]string{"--db", db, "engine", "serve", "--client-rate", "Inf", "--no-auth"}, `--client-rate "+Inf": want a finite number`},
		{[]string{"--db", db, "events", "list", "--kind", "PURCHASES"}, `--kind "PURCHASES": unknown kind "PURCHASES"`},
		{[]string{"--db", db, "events", "list", "--since", "2016-13-01"}, `--since "2016-13-01": want a date`},
		{[]string{"--db", db, "events", "list", "--format", "xml"}, `--format "xml": want table, jsonl or csv`},
		{[]string{"init", "--kind", "tweets", data}, `--kind "tweets"`},
		{[]string{"validate", "--report-dir", reports, "--max-field-bytes", "-3", "-m", mapping, data}, `--max-field-bytes`},
	} {
		t.Setenv("CRMLOAD_CONFIG", "")
		code, _, errs := runWithStdin(t, nil, c.args...)
		if code != ExitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, errs, c.want)
		}
	}
	for _, p := range []string{db, reports} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a bad flag left %s behind", p)
		}
	}
	// The same rules hold for values from the environment.
	t.Setenv("CRMLOAD_RATE", "NaN")
	if code, _, errs := runWithStdin(t, nil, load()...); code != ExitUsage || !strings.Contains(errs, `--rate "NaN"`) {
		t.Errorf("CRMLOAD_RATE=NaN: exit %d, %s", code, errs)
	}
}

// TestDateOnlyFlags: events list takes a date alone, as its whole day.
func TestDateOnlyFlags(t *testing.T) {
	db := newStore(t)
	for _, args := range [][]string{{"--since", "2016-01-01"}, {"--until", "2016-01-01"}, {"--since", "2016-01-01T10:00:00"}} {
		if code, _, errs := runWithStdin(t, nil, append([]string{"--db", db, "events", "list"}, args...)...); code != 0 {
			t.Errorf("%v: exit %d %s", args, code, errs)
		}
	}
	if got := flagDate("2016-01-01", true); got != "2016-01-01T23:59:59" {
		t.Errorf("until a day: %s", got)
	}
}
