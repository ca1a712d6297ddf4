package loader

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/crmload/crmload/engine"
)

// genRow is one generated row of a web events CSV.
type genRow struct {
	text    string // as written, without the line break after it
	site    string // the website it stores when it loads
	first   int    // its first physical line
	lines   int    // physical lines it spans
	damaged bool
}

// damagedCSV writes rows of web events, some with quoted commas, doubled
// quotes or line breaks inside quotes, then damages it at random places: a
// stray quote, NUL bytes, a field too many or too few, a truncation. It
// returns the file's bytes, the rows and the line the file is cut on (0:
// not cut).
func damagedCSV(rng *rand.Rand, crlf bool) ([]byte, []*genRow, int) {
	eol := "\n"
	if crlf {
		eol = "\r\n"
	}
	n := 20 + rng.IntN(60)
	rows := make([]*genRow, n)
	quoted := []int{0, 2, 6, 30}[rng.IntN(4)] // in a hundred rows: few quotes let a stray one run far
	for i := range rows {
		site := fmt.Sprintf("www.r%d.com", i)
		field := site
		switch k := rng.IntN(100); {
		case k >= quoted:
		case k%3 == 0:
			site = fmt.Sprintf("www.r%d,x.com", i)
			field = `"` + site + `"`
		case k%3 == 1:
			site = fmt.Sprintf(`www."r%d".com`, i)
			field = `"` + strings.ReplaceAll(site, `"`, `""`) + `"`
		default:
			site = fmt.Sprintf("www.r%d%spart.com", i, eol)
			field = `"` + site + `"`
		}
		rows[i] = &genRow{text: fmt.Sprintf("v%d,RP0000000010,%s,2016-06-22 15:%02d", i, field, i%60), site: site}
	}
	for range 1 + rng.IntN(3) {
		r := rows[rng.IntN(n)]
		r.damaged = true
		pos := rng.IntN(len(r.text) + 1)
		switch rng.IntN(3) {
		case 0: // a stray quote, often opening a field (it runs on)
			if rng.IntN(2) == 0 {
				pos = strings.LastIndexByte(r.text[:pos], ',') + 1
			}
			r.text = r.text[:pos] + `"` + r.text[pos:]
		case 1: // NUL bytes
			r.text = r.text[:pos] + strings.Repeat("\x00", 1+rng.IntN(4)) + r.text[pos:]
		case 2: // a ragged row
			if rng.IntN(2) == 0 {
				r.text += ",extra"
			} else {
				r.text = r.text[:strings.LastIndexByte(r.text, ',')]
			}
		}
	}
	var b strings.Builder
	b.WriteString("visit_id,participant,site,visited_on" + eol)
	line := 2
	for _, r := range rows {
		if rng.IntN(10) == 0 { // blank lines are not rows
			b.WriteString(eol)
			line++
		}
		r.first, r.lines = line, 1+strings.Count(r.text, eol)
		line += r.lines
		b.WriteString(r.text + eol)
	}
	data := []byte(b.String())
	cutLine := 0
	if rng.IntN(3) == 0 { // truncated somewhere in the body
		header := len("visit_id,participant,site,visited_on" + eol)
		cut := header + rng.IntN(len(data)-header)
		cutLine = 1 + strings.Count(string(data[:cut]), "\n")
		data = data[:cut]
	}
	return data, rows, cutLine
}

// TestDamagedCSVProperty is issue 8's property test: random CSVs with
// random damage at random places, loaded into the real embedded engine.
// Every non-blank physical line is in exactly one report line's span (the
// accounting invariant holds), and every row far enough from the damage is
// stored, once.
func TestDamagedCSVProperty(t *testing.T) {
	const maxLines = 4
	iterations := 40
	if testing.Short() {
		iterations = 8
	}
	for seed := range iterations {
		t.Run(strconv.Itoa(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 8))
			crlf := rng.IntN(2) == 0
			data, rows, cutLine := damagedCSV(rng, crlf)
			path := filepath.Join(t.TempDir(), "web.csv")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			e := seededEngine(t)
			job := loadJob(t, filepath.Join("..", "testdata", "web", "mapping.yaml"), path)
			job.MaxRecordLines = maxLines
			sum, dir, err := Load(context.Background(), job, e, defaultOptions())
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !sum.Balanced() || sum.ExitCode == 3 {
				t.Fatalf("summary = %+v, want balanced, not aborted", sum)
			}

			// Every non-blank line in exactly one report line's span.
			spans := reportSpans(t, filepath.Join(dir, "succeeded.csv"))
			failed := reportSpans(t, filepath.Join(dir, "failed.csv"))
			if len(spans)+len(failed) != sum.RowsRead || sum.RowsSucceeded != len(spans) {
				t.Errorf("%d succeeded and %d failed report lines, summary %+v", len(spans), len(failed), sum)
			}
			owner := map[int]int{}
			for start, end := range mergeSpans(t, spans, failed) {
				for l := start; l <= end; l++ {
					owner[l] = start
				}
			}
			lines := strings.SplitAfter(string(data), "\n")
			for i, l := range lines {
				if strings.TrimRight(l, "\r\n") == "" || i == 0 {
					continue
				}
				if _, ok := owner[i+1]; !ok {
					t.Errorf("line %d %q is in no report line", i+1, l)
				}
			}

			// Rows far from the damage are stored, each once.
			stored := map[string]int{}
			err = e.Events(context.Background(), engine.Filter{}, func(obj []byte) error {
				var ev struct {
					Website string `json:"website"`
				}
				if err := json.Unmarshal(obj, &ev); err != nil {
					return err
				}
				stored[ev.Website]++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			events := 0
			for _, n := range stored {
				events += n
			}
			if events != sum.EventsSucceeded {
				t.Errorf("%d events stored, %d reported succeeded", events, sum.EventsSucceeded)
			}
			for _, r := range rows {
				if atRisk(r, rows, maxLines, cutLine) {
					continue
				}
				if _, ok := spans[r.first]; !ok || stored[r.site] != 1 {
					t.Errorf("clean row on line %d (%q) stored %d times, in succeeded.csv: %v", r.first, r.text, stored[r.site], ok)
				}
			}
			if t.Failed() {
				t.Logf("input:\n%s", data)
				b, _ := os.ReadFile(filepath.Join(dir, "failed.csv"))
				t.Logf("failed.csv:\n%s", b)
			}
		})
	}
}

// atRisk reports whether a row may fairly be lost to the damage: it is
// damaged, cut by the truncation, or starts within reach of a damaged row
// (a stray quote's span of maxLines lines, then the rest of a multi-line
// row that span ended in).
func atRisk(r *genRow, rows []*genRow, maxLines, cutLine int) bool {
	if r.damaged || (cutLine > 0 && r.first+r.lines > cutLine) {
		return true
	}
	for _, d := range rows {
		if d.damaged && d.first <= r.first && r.first <= d.first+maxLines+2 {
			return true
		}
	}
	return false
}

var linesRE = regexp.MustCompile(`\(lines (\d+)-(\d+)\)`)

// reportSpans reads a CSV report: each row's first line, and its last,
// from its text (crmload_raw, or its columns), which must agree with the
// line range its error names.
func reportSpans(t *testing.T, path string) map[int]int {
	t.Helper()
	rows := readReport(t, path)
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	out := map[int]int{}
	for _, r := range rows[1:] {
		start, err := strconv.Atoi(r[col["crmload_line"]])
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := out[start]; dup {
			t.Errorf("%s reports line %d twice", filepath.Base(path), start)
		}
		text := strings.Join(r[:4], ",")
		if i, ok := col[rawColumn]; ok && r[i] != "" {
			text = r[i]
		}
		end := start + strings.Count(text, "\n") // encoding/csv reads CRLF in a field as LF
		if i, ok := col["error_description"]; ok {
			if m := linesRE.FindStringSubmatch(r[i]); m != nil {
				a, _ := strconv.Atoi(m[1])
				b, _ := strconv.Atoi(m[2])
				if a != start || b != end {
					t.Errorf("%s line %d: error names lines %d-%d, its text spans %d-%d", filepath.Base(path), start, a, b, start, end)
				}
			}
		}
		out[start] = end
	}
	return out
}

// mergeSpans puts two reports' spans together; they must not overlap.
func mergeSpans(t *testing.T, a, b map[int]int) map[int]int {
	t.Helper()
	all := map[int]int{}
	seen := map[int]int{}
	for _, m := range []map[int]int{a, b} {
		for start, end := range m {
			for l := start; l <= end; l++ {
				if s, dup := seen[l]; dup {
					t.Errorf("line %d is in the report lines of line %d and of line %d", l, s, start)
				}
				seen[l] = start
			}
			all[start] = end
		}
	}
	return all
}

// TestStrayQuoteIssue8 is issue 8's report: a 10,000-row web CSV whose
// line 6 has "www.4.com (no closing quote) and line 5002 "www.q.com" lost
// the 4,996 rows between without a trace. Now lines 6-25 (the default
// --max-record-lines) are one failed row, and every other row loads.
func TestStrayQuoteIssue8(t *testing.T) {
	var b strings.Builder
	b.WriteString("visit_id,participant,site,visited_on\n")
	for i := 2; i <= 10001; i++ {
		site := fmt.Sprintf("www.%d.com", i)
		switch i {
		case 6:
			site = `"www.4.com`
		case 5002:
			site = `"www.q.com"`
		}
		fmt.Fprintf(&b, "v%d,RP0000000010,%s,2016-06-22 15:00\n", i, site)
	}
	path := filepath.Join(t.TempDir(), "web.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	e := seededEngine(t)
	job := loadJob(t, filepath.Join("..", "testdata", "web", "mapping.yaml"), path)
	sum, dir, err := Load(context.Background(), job, e, defaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	span := DefaultMaxRecordLines
	if sum.RowsRead != 10000-span+1 || sum.RowsFailed != 1 || sum.RowsSucceeded != 10000-span || sum.ExitCode != 1 || !sum.Balanced() {
		t.Errorf("summary = %+v, want %d read, 1 failed (lines 6-%d), exit 1", sum, 10000-span+1, 5+span)
	}
	failed := reportSpans(t, filepath.Join(dir, "failed.csv"))
	if end, ok := failed[6]; !ok || end != 5+span || len(failed) != 1 {
		t.Errorf("failed.csv spans %v, want lines 6-%d", failed, 5+span)
	}
	if n := countEvents(t, e); n != sum.RowsSucceeded {
		t.Errorf("%d events stored, want %d", n, sum.RowsSucceeded)
	}
}
