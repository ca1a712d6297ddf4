package loader

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmload/crmload/engine"
)

// The round-trip property (issue 16, Done when): random valid rows loaded
// into the embedded engine and read back through its list API (what
// `events list --format jsonl` prints) are stored exactly as the row and
// the mapping say, and every group is stored whole or not at all. Rows
// carry random text in several scripts, decimals with many digits (some
// written with an exponent), dates in several forms, empty cells, groups
// of random sizes, rows with an empty key, filtered rows, groups with a
// bad row, and a random split of the rows into files.

const roundTripSpec = `kind: purchases
filter: 'Skip != "y"'
group_by: InvoiceNo
fields:
  accounts_receivable_identifier: { number: Account }
  performed_by_unit_identifier: { name: { const: Admin Unit } }
  performed_on: When
  reference_number: Ref
  description: Desc
  udf_string_1: Note
  udf_string_2: Tag
  udf_float_1: Score
  udf_date_1: Day
products_set:
  product_identifier: { alternative_code: Product }
  quantity: Qty
  net_amount: Net
  vat_amount: Vat
  total_amount: Total
`

var roundTripHeader = []string{"InvoiceNo", "Tag", "Skip", "Account", "When", "Ref", "Desc", "Note", "Score", "Day", "Product", "Qty", "Net", "Vat", "Total"}

// rtRow is one generated row: the cells as written, and what each mapped
// cell must be stored as ("" for a cell that is not sent).
type rtRow struct {
	cells map[string]string
	want  map[string]string
	bad   bool // a cell no mapping can convert: the row fails, and its group
	skip  bool // the filter drops it
}

type rtGen struct{ r *rand.Rand }

var scripts = [][2]rune{
	{'a', 'z'}, {'A', 'Z'}, {'0', '9'}, {0xE0, 0xFF}, // Latin-1 letters
	{0x391, 0x3C9},     // Greek
	{0x410, 0x44F},     // Cyrillic
	{0x5D0, 0x5EA},     // Hebrew
	{0x627, 0x64A},     // Arabic
	{0x4E00, 0x4FFF},   // CJK
	{0x3041, 0x3096},   // Hiragana
	{0x1F600, 0x1F64F}, // emoji
}

// text is random text of 1 to 12 characters, with the characters CSV and
// JSON must escape (quote, comma, LF, CR, CRLF, backslash) and inner spaces.
func (g rtGen) text() string {
	n := 1 + g.r.IntN(12)
	var b strings.Builder
	for i := 0; i < n; i++ {
		switch g.r.IntN(12) {
		case 0:
			b.WriteByte((`",\ ;'` + "\n\r")[g.r.IntN(8)])
		case 1:
			b.WriteString("\r\n")
		default:
			s := scripts[g.r.IntN(len(scripts))]
			b.WriteRune(s[0] + rune(g.r.IntN(int(s[1]-s[0]+1))))
		}
	}
	// Spaces and newlines at the ends would be kept too, but keep the
	// first and last character visible so failures read well.
	return "‹" + b.String() + "›"
}

// decimal returns a decimal as written and the exact literal it must be
// stored as: up to 18 integer digits and 20 fraction digits, sometimes
// with a plus sign, leading zeros or an exponent.
func (g rtGen) decimal() (written, want string) {
	ip := strconv.FormatUint(g.r.Uint64N(1_000_000_000_000_000_000)>>uint(g.r.IntN(60)), 10)
	frac := ""
	if g.r.IntN(3) > 0 {
		for range 1 + g.r.IntN(20) {
			frac += strconv.Itoa(g.r.IntN(10))
		}
	}
	neg := g.r.IntN(4) == 0
	want = ip
	if frac != "" {
		want += "." + frac
	}
	written = want
	switch g.r.IntN(5) {
	case 0: // an exponent: all digits, the point moved by it
		written = ip + frac + "e-" + strconv.Itoa(len(frac))
		if g.r.IntN(2) == 0 {
			written = strings.Replace(written, "e", "E", 1)
		}
	case 1:
		written = "+" + want
	case 2:
		written = "00" + want
	}
	if neg {
		written, want = "-"+strings.TrimPrefix(written, "+"), "-"+want
	}
	return written, want
}

// date returns a date as written and as the API form.
func (g rtGen) date() (written, want string) {
	t := time.Date(1900+g.r.IntN(200), time.Month(1+g.r.IntN(12)), 1+g.r.IntN(28), g.r.IntN(24), g.r.IntN(60), g.r.IntN(60), 0, time.UTC)
	want = t.Format("2006-01-02T15:04:05")
	switch g.r.IntN(4) {
	case 0:
		t = t.Truncate(24 * time.Hour)
		return t.Format("2006-01-02"), t.Format("2006-01-02T15:04:05")
	case 1:
		return t.Format("2006-01-02 15:04:05"), want
	case 2:
		return want + "+02:00", want // an offset is read and dropped
	}
	return want, want
}

func (g rtGen) maybe(f func() (string, string)) (string, string) {
	if g.r.IntN(4) == 0 {
		return "", ""
	}
	return f()
}

var rtAccounts = []string{"ACR0000000020", "ACR0000000050", "ACR0000000077", "ACR0000000164", "ACR0000000226"}
var rtProducts = map[string]string{"BRZ": "Bronze", "SLV": "Silver", "SRD": "Serendipity"}

func (g rtGen) row(key string, tag int) *rtRow {
	r := &rtRow{cells: map[string]string{}, want: map[string]string{}}
	set := func(col, written, want string) { r.cells[col], r.want[col] = written, want }
	set("InvoiceNo", key, key)
	set("Tag", "T"+strconv.Itoa(tag), "T"+strconv.Itoa(tag))
	acc := rtAccounts[g.r.IntN(len(rtAccounts))]
	set("Account", acc, acc)
	w, d := g.date()
	set("When", w, d)
	t := g.text()
	set("Ref", t, t)
	text := func() (string, string) { t := g.text(); return t, t }
	for col, f := range map[string]func() (string, string){"Desc": text, "Note": text, "Score": g.decimal, "Day": g.date} {
		w, d := g.maybe(f)
		set(col, w, d)
	}
	codes := []string{"BRZ", "SLV", "SRD"}
	p := codes[g.r.IntN(3)]
	set("Product", p, rtProducts[p])
	for _, c := range []string{"Qty", "Net", "Vat", "Total"} {
		w, d := g.decimal()
		set(c, w, d)
	}
	if g.r.IntN(12) == 0 {
		r.skip = true
		set("Skip", "y", "")
	}
	if g.r.IntN(15) == 0 {
		// A value that looks like a number to a careless reader.
		r.bad = true
		set("Qty", []string{".", "-.", "+-1", "1,5", "1e"}[g.r.IntN(5)], "")
	}
	return r
}

// rtGroup is the rows of one intended group; key "" makes each row its
// own event.
type rtGroup struct {
	key  string
	rows []*rtRow
}

func TestRoundTrip(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { roundTrip(t, seed) })
	}
}

func roundTrip(t *testing.T, seed uint64) {
	g := rtGen{rand.New(rand.NewPCG(seed, 16))}
	var rows []*rtRow
	tag := 0
	for i := range 40 + g.r.IntN(40) {
		key := ""
		if g.r.IntN(5) > 0 {
			key = fmt.Sprintf("INV-%d-%d", seed, i)
		}
		n := 1 + g.r.IntN(5)
		for range n {
			tag++
			rows = append(rows, g.row(key, tag))
		}
	}
	// Random file splits: cut points anywhere, inside groups too.
	files := [][]*rtRow{rows}
	for range g.r.IntN(3) {
		last := files[len(files)-1]
		if len(last) < 2 {
			break
		}
		cut := 1 + g.r.IntN(len(last)-1)
		files = append(files[:len(files)-1], last[:cut], last[cut:])
	}

	dir := t.TempDir()
	specPath := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(specPath, []byte(roundTripSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for i, fr := range files {
		p := filepath.Join(dir, fmt.Sprintf("part%d.csv", i+1))
		paths = append(paths, p)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		w := csv.NewWriter(f)
		w.Write(roundTripHeader)
		for _, r := range fr {
			rec := make([]string, len(roundTripHeader))
			for i, h := range roundTripHeader {
				rec[i] = r.cells[h]
			}
			w.Write(rec)
		}
		w.Flush()
		if err := errorsJoin(w.Error(), f.Close()); err != nil {
			t.Fatal(err)
		}
	}

	// The model: per file, consecutive rows with one non-empty key make a
	// group; filtered rows leave it; a bad row fails all of it.
	type wantEvent struct{ rows []*rtRow }
	wantEvents := map[string]wantEvent{} // by the first row's tag
	wantFailed := map[string]bool{}
	filtered := 0
	for _, fr := range files {
		var cur []*rtRow
		finish := func() {
			var kept []*rtRow
			bad := false
			for _, r := range cur {
				if r.skip {
					continue
				}
				kept = append(kept, r)
				bad = bad || r.bad
			}
			if len(kept) > 0 {
				if bad {
					for _, r := range kept {
						wantFailed[r.want["Tag"]] = true
					}
				} else {
					wantEvents[kept[0].want["Tag"]] = wantEvent{kept}
				}
			}
			cur = nil
		}
		for _, r := range fr {
			if r.skip {
				filtered++
			}
			key := r.cells["InvoiceNo"]
			if len(cur) > 0 && (key == "" || key != cur[0].cells["InvoiceNo"]) {
				finish()
			}
			cur = append(cur, r)
			if key == "" {
				finish()
			}
		}
		finish()
	}

	e := seededEngine(t)
	opts := defaultOptions()
	opts.BatchSize = 1 + g.r.IntN(20) // several calls, concurrently
	sum, run, err := Load(context.Background(), loadJob(t, specPath, paths...), e, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Balanced() || sum.RowsRead != len(rows) || sum.RowsFiltered != filtered || sum.RowsFailed != len(wantFailed) || sum.EventsSucceeded != len(wantEvents) {
		t.Errorf("summary: read %d, filtered %d, failed %d, events %d; want %d, %d, %d, %d (balanced %v)",
			sum.RowsRead, sum.RowsFiltered, sum.RowsFailed, sum.EventsSucceeded, len(rows), filtered, len(wantFailed), len(wantEvents), sum.Balanced())
	}

	// The failure report holds exactly the failed rows, their cells as
	// written.
	// Read with crmload's own reader: encoding/csv would turn a CRLF in a
	// quoted field into LF.
	_, failedRecs := readAll(t, filepath.Join(run, "failed.csv"), SourceOptions{})
	recs := [][]string{nil}
	for _, r := range failedRecs {
		if r.Err != nil {
			t.Fatalf("failed.csv line %d: %v", r.Line, r.Err)
		}
		recs = append(recs, r.Values)
	}
	gotFailed := map[string]bool{}
	byTag := map[string]*rtRow{}
	for _, r := range rows {
		byTag[r.want["Tag"]] = r
	}
	for _, rec := range recs[1:] {
		gotFailed[rec[1]] = true
		if !wantFailed[rec[1]] {
			t.Errorf("row %s failed: %s", rec[1], rec[len(rec)-1])
		}
		r := byTag[rec[1]]
		for i, h := range roundTripHeader {
			if r != nil && rec[i] != r.cells[h] {
				t.Errorf("failed.csv row %s column %s = %q, want %q as written", rec[1], h, rec[i], r.cells[h])
			}
		}
	}
	if !mapsEqual(gotFailed, wantFailed) {
		t.Errorf("failed rows = %v\nwant %v", keys(gotFailed), keys(wantFailed))
	}

	// Every stored event is one expected group, whole, as written.
	type product struct {
		Product struct {
			Code string `json:"code"`
		} `json:"product"`
		Quantity    json.Number `json:"quantity"`
		NetAmount   json.Number `json:"net_amount"`
		VATAmount   json.Number `json:"vat_amount"`
		TotalAmount json.Number `json:"total_amount"`
	}
	type stored struct {
		PerformedOn        string `json:"performed_on"`
		AccountsReceivable struct {
			Number string `json:"number"`
		} `json:"accounts_receivable"`
		ReferenceNumber string      `json:"reference_number"`
		Description     string      `json:"description"`
		UDFString1      string      `json:"udf_string_1"`
		UDFString2      string      `json:"udf_string_2"`
		UDFFloat1       json.Number `json:"udf_float_1"`
		UDFDate1        string      `json:"udf_date_1"`
		ProductsSet     []product   `json:"products_set"`
	}
	seen := map[string]bool{}
	err = e.Events(context.Background(), engine.Filter{}, func(obj []byte) error {
		dec := json.NewDecoder(strings.NewReader(string(obj)))
		dec.UseNumber()
		var ev stored
		if err := dec.Decode(&ev); err != nil {
			return err
		}
		we, ok := wantEvents[ev.UDFString2]
		if !ok || seen[ev.UDFString2] {
			t.Errorf("stored event for row %s: not an expected group, or stored twice: %s", ev.UDFString2, obj)
			return nil
		}
		seen[ev.UDFString2] = true
		first := we.rows[0].want
		got := []string{ev.AccountsReceivable.Number, ev.PerformedOn, ev.ReferenceNumber, ev.Description, ev.UDFString1, string(ev.UDFFloat1), ev.UDFDate1}
		// Numbers come back as the API pages print them (engine.PageNumber:
		// 11.50 is 11.5), every significant digit kept.
		want := []string{first["Account"], first["When"], first["Ref"], first["Desc"], first["Note"], engine.PageNumber(first["Score"]), first["Day"]}
		if !slices.Equal(got, want) {
			t.Errorf("event of row %s: fields %q\nwant %q", ev.UDFString2, got, want)
		}
		var gotLines, wantLines []string
		for _, p := range ev.ProductsSet {
			gotLines = append(gotLines, strings.Join([]string{p.Product.Code, string(p.Quantity), string(p.NetAmount), string(p.VATAmount), string(p.TotalAmount)}, " "))
		}
		for _, r := range we.rows {
			wantLines = append(wantLines, strings.Join([]string{r.want["Product"], engine.PageNumber(r.want["Qty"]), engine.PageNumber(r.want["Net"]),
				engine.PageNumber(r.want["Vat"]), engine.PageNumber(r.want["Total"])}, " "))
		}
		if !slices.Equal(gotLines, wantLines) {
			t.Errorf("event of row %s: products_set\n%s\nwant\n%s", ev.UDFString2, strings.Join(gotLines, "\n"), strings.Join(wantLines, "\n"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for tag := range wantEvents {
		if !seen[tag] {
			t.Errorf("the group starting at row %s was not stored", tag)
		}
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func errorsJoin(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
