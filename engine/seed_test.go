package engine

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func lookupOne(t *testing.T, e *Engine, ent *Entity, col, key string) *Ref {
	t.Helper()
	refs, err := e.store.Lookup(context.Background(), ent, col, []string{key})
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 {
		t.Fatalf("Lookup(%s %s=%s) = %d records, want 1", ent.name, col, key, len(refs))
	}
	return refs[0]
}

func TestSeedCSVDirectory(t *testing.T) { forStores(t, testSeedCSVDirectory) }

func testSeedCSVDirectory(t *testing.T, store string) {
	e := newStoreEngine(t, store)
	files, err := filepath.Glob("../testdata/seed/csv/*.csv")
	if err != nil {
		t.Fatal(err)
	}
	// Alphabetical order puts accounts before the payment medium types
	// they reference: Seed must order the files by entity.
	stats, err := e.Seed(context.Background(), files...)
	if err != nil {
		t.Fatalf("Seed: %v", err)
	}
	if stats["accounts_receivable"] != 2 || stats["rewards_participants"] != 2 {
		t.Errorf("Seed stats = %v", stats)
	}
	acc := lookupOne(t, e, entAccount, "number", "ACR0000000020")
	if got := acc.get(entAccount, "name"); got != "ACR0000000020 Andreas Petrou, Jr." {
		t.Errorf("quoted name = %q", got)
	}
	cc := lookupOne(t, e, entPaymentType, "alternative_code", "CC")
	csh := lookupOne(t, e, entPaymentType, "alternative_code", "CSH")
	if got, want := acc.get(entAccount, "payment_medium_types"), cc.ID+","+csh.ID; got != want {
		t.Errorf("payment_medium_types = %q, want %q", got, want)
	}
	// RP0000000004 is referred by a participant later in the same file.
	rp4 := lookupOne(t, e, entParticipant, "number", "RP0000000004")
	rp10 := lookupOne(t, e, entParticipant, "number", "RP0000000010")
	if got := rp4.get(entParticipant, "referred_by"); got != rp10.ID {
		t.Errorf("referred_by = %q, want RP0000000010's id %q", got, rp10.ID)
	}
	if unit := lookupOne(t, e, entUnit, "name", "Admin Unit"); unit.ID != "1" {
		t.Errorf("unit id = %q, want the given id 1", unit.ID)
	}
}

func TestSeedUpsert(t *testing.T) { forStores(t, testSeedUpsert) }

func testSeedUpsert(t *testing.T, store string) {
	e := newStoreEngine(t, store, "../testdata/seed/reference.yaml")
	ctx := context.Background()
	before := lookupOne(t, e, entParticipant, "number", "RP0000000004")
	dir := t.TempDir()
	// Re-seed: a new name, no id, and no referred_by: the id and the
	// referral must stay.
	f := writeFile(t, dir, "again.yaml", `
accounts_receivable:
  - {number: ACR0000000228, name: "ACR0000000228 Nikos Pavlou-Smith"}
rewards_participants:
  - {number: RP0000000004, accounts_receivable: ACR0000000077}
`)
	if _, err := e.Seed(ctx, f); err != nil {
		t.Fatal(err)
	}
	acc := lookupOne(t, e, entAccount, "number", "ACR0000000228")
	if got := acc.get(entAccount, "name"); got != "ACR0000000228 Nikos Pavlou-Smith" {
		t.Errorf("name after upsert = %q", got)
	}
	after := lookupOne(t, e, entParticipant, "number", "RP0000000004")
	if after.ID != before.ID {
		t.Errorf("id changed on upsert: %s -> %s", before.ID, after.ID)
	}
	if after.get(entParticipant, "referred_by") == "" {
		t.Error("referred_by was cleared by a re-seed that did not mention it")
	}
	acc77 := lookupOne(t, e, entAccount, "number", "ACR0000000077")
	if got := after.get(entParticipant, "accounts_receivable"); got != acc77.ID {
		t.Errorf("accounts_receivable = %q, want %q", got, acc77.ID)
	}
}

func TestSeedErrors(t *testing.T) {
	tests := []struct {
		name, file, content string
		want                string // the error, with DIR for the folder
	}{
		{"unknown entity", "r.yaml", "currencies:\n  - {code: EUR}\ncustomers:\n  - {name: x}\n",
			`DIR/r.yaml:3: unknown entity "customers" (valid: currencies, units,`},
		{"unknown field", "r.yaml", "units:\n  - name: Admin Unit\n    colour: red\n",
			`DIR/r.yaml:3: units: unknown field "colour" (valid: id, name, alternative_code, currency)`},
		{"missing natural key", "r.yaml", "accounts_receivable:\n  - {name: nobody}\n",
			`DIR/r.yaml:2: accounts_receivable: number is required`},
		{"reference not found", "r.yaml", "units:\n  - {name: U, currency: EUR}\n",
			`DIR/r.yaml:2: units: currency: currencies "EUR" not found (seed it first, or in the same file)`},
		{"list reference not found", "r.yaml", "accounts_receivable:\n  - {number: A1, payment_medium_types: [CC]}\n",
			`DIR/r.yaml:2: accounts_receivable: payment_medium_types: payment_medium_types "CC" not found`},
		{"self reference not found", "r.yaml", "rewards_participants:\n  - {number: RP1}\n  - {number: RP2, referred_by: RP9}\n",
			`DIR/r.yaml:3: rewards_participants: referred_by: rewards_participants "RP9" not found`},
		{"bad classification type", "r.yaml", "classifications:\n  - {name: C, type: tweets}\n",
			`DIR/r.yaml:2: classifications: type: unknown kind "tweets"`},
		{"token without owner", "r.yaml", "access_tokens:\n  - {authentication_code: '1'}\n",
			`DIR/r.yaml:2: access_tokens: an access token identifies an accounts_receivable or a rewards_participant`},
		{"not a list", "r.yaml", "units: {name: U}\n", `DIR/r.yaml:1: units: want a list of records`},
		{"nested value", "r.yaml", "units:\n  - {name: U, currency: {code: EUR}}\n", `DIR/r.yaml:2: units: field currency: want a single value`},
		{"csv named after nothing", "customers.csv", "name\nx\n", `a CSV seed file is named after its entity, and "customers" is none`},
		{"csv unknown column", "units.csv", "name,colour\nU,red\n", `DIR/units.csv:1: units: column 2: unknown field "colour"`},
		{"csv bad quoting", "products.csv", "code,alternative_code\nA,B\n\"C,D\n", `DIR/products.csv:3: products:`},
		{"csv wrong field count", "products.csv", "code,alternative_code\nA,B\nC\n", `DIR/products.csv:3: products: record on line 3: wrong number of fields`},
		{"csv missing key", "products.csv", "code,alternative_code\nA,B\n,C\n", `DIR/products.csv:3: products: code is blank`},
		// Issue 16 point 14: blank natural keys were accepted.
		{"csv blank key", "accounts_receivable.csv", "number,name\nA1,x\n   ,y\n", `DIR/accounts_receivable.csv:3: accounts_receivable: number is blank`},
		// Issue 13 point 2: read through gocsv, errors still name file and line.
		{"csv line after a quoted field spanning lines", "accounts_receivable.csv", "number,name\nA1,\"two\nlines\"\n ,z\n", `DIR/accounts_receivable.csv:4: accounts_receivable: number is blank`},
		{"csv reference not found", "units.csv", "name,currency\nU1,\nU2,USD\n", `DIR/units.csv:3: units: currency: currencies "USD" not found`},
		{"csv list reference not found", "accounts_receivable.csv", "number,payment_medium_types\nA1,CC|XX\n", `DIR/accounts_receivable.csv:2: accounts_receivable: payment_medium_types: payment_medium_types "CC" not found`},
		{"csv bad classification type on a later line", "classifications.csv", "name,type\nA,achievements\nB,web\nC,tweets\n", `DIR/classifications.csv:4: classifications: type: unknown kind "tweets"`},
		{"csv the line column is not a field", "products.csv", "code,crmload_line\nA,7\n", `DIR/products.csv:1: products: column 2: unknown field "crmload_line"`},
		{"csv header only", "products.csv", "code\n", ``},
		{"yaml blank key", "r.yaml", "currencies:\n  - {code: EUR}\n  - {code: '  '}\n", `DIR/r.yaml:3: currencies: code is blank`},
		{"unknown file type", "r.txt", "x", `unknown file type ".txt"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t)
			dir := t.TempDir()
			f := writeFile(t, dir, tt.file, tt.content)
			_, err := e.Seed(context.Background(), f)
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if want == "" {
				if err != nil {
					t.Errorf("Seed() error = %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Seed() error = %v, want it to contain %q", err, want)
			}
		})
	}
}

func TestSeedErrorIsTyped(t *testing.T) { forStores(t, testSeedErrorIsTyped) }

func testSeedErrorIsTyped(t *testing.T, store string) {
	e := newStoreEngine(t, store)
	f := writeFile(t, t.TempDir(), "r.yaml", "units:\n  - {alternative_code: x}\n")
	_, err := e.Seed(context.Background(), f)
	var se *SeedError
	if !errors.As(err, &se) || se.Line != 2 || se.Entity != "units" {
		t.Errorf("Seed() error = %#v, want a *SeedError for units line 2", err)
	}
}

// TestSeedTrimsKeys guards issue 16 point 14: "NOK " and "ACR0000000300 "
// were stored with their spaces, so events naming NOK found nothing.
func TestSeedTrimsKeys(t *testing.T) {
	for _, tt := range []struct{ file, content string }{
		{"r.yaml", "currencies:\n  - {code: 'NOK '}\nunits:\n  - {name: ' Oslo', alternative_code: ' OSL ', currency: ' NOK'}\naccounts_receivable:\n  - {number: 'ACR0000000300 ', name: ' Kari Nordmann '}\n"},
		{"accounts_receivable.csv", "number,name\nACR0000000300 , Kari Nordmann \n"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			e := newTestEngine(t)
			if _, err := e.Seed(context.Background(), writeFile(t, t.TempDir(), tt.file, tt.content)); err != nil {
				t.Fatal(err)
			}
			lookupOne(t, e, entAccount, "number", "ACR0000000300")
			if tt.file == "r.yaml" {
				unit := lookupOne(t, e, entUnit, "name", "Oslo")
				lookupOne(t, e, entUnit, "alternative_code", "OSL")
				if got, want := unit.get(entUnit, "currency"), lookupOne(t, e, entCurrency, "code", "NOK").ID; got != want {
					t.Errorf("unit currency = %q, want NOK's id %q", got, want)
				}
			}
		})
	}
}

// TestSeedCSVStructs: each entity's gocsv struct has the entity's columns,
// in order, so that a column added to an entity cannot be silently
// dropped from CSV seeds.
func TestSeedCSVStructs(t *testing.T) {
	for _, ent := range entities {
		read, ok := seedCSVReaders[ent]
		if !ok {
			t.Errorf("%s: no CSV struct", ent.name)
			continue
		}
		// One record giving each column its own name as value.
		header := append([]string{"id"}, ent.cols...)
		body := strings.Join(header, ",") + "\n" + strings.Join(header, ",") + "\n"
		cr := csv.NewReader(strings.NewReader(body))
		h, _ := cr.Read()
		var got []string
		var line int
		var id string
		err := read(&lineDecoder{r: cr, header: h}, func(r seedCSVRow) error {
			got, line, id = r.values(), r.row().Line, r.row().ID
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", ent.name, err)
		}
		if !slices.Equal(got, ent.cols) || line != 2 || id != "id" {
			t.Errorf("%s: values = %q line %d id %q, want %q line 2 id \"id\"", ent.name, got, line, id, ent.cols)
		}
	}
}

// TestSeedCSVStopsEarly: an error on an early record of a large file stops
// the reading there (the decoder goroutine ends), naming the line.
func TestSeedCSVStopsEarly(t *testing.T) {
	var b strings.Builder
	b.WriteString("number,name\nA1,x\n  ,blank\n")
	for i := range 100_000 {
		fmt.Fprintf(&b, "A%d,n\n", i+2)
	}
	before := runtime.NumGoroutine()
	n := 0
	err := readCSVSeed("big.csv", entAccount, strings.NewReader(b.String()), func(SeedRecord) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if n != 100_002 {
		t.Errorf("records = %d, want 100002", n)
	}
	n = 0
	stop := errors.New("stop")
	err = readCSVSeed("big.csv", entAccount, strings.NewReader(b.String()), func(r SeedRecord) error {
		n++
		if n == 3 {
			return &SeedError{File: r.File, Line: r.Line, Entity: "accounts_receivable", Err: stop}
		}
		return nil
	})
	if !errors.Is(err, stop) || !strings.HasPrefix(err.Error(), "big.csv:4: ") {
		t.Errorf("error = %v, want big.csv:4: ...stop", err)
	}
	time.Sleep(50 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("goroutines %d -> %d: the decoder did not stop", before, after)
	}
}

// TestSeedKeepsIDs: a stored record keeps its id. A seed that gives it
// another one is refused (a unit would refer to a currency no longer
// there, and every row fail with "Currency (01A2...) Not Found"), as is
// a new record given the id of another; the same id again is an upsert.
func TestSeedKeepsIDs(t *testing.T) { forStores(t, testSeedKeepsIDs) }

func testSeedKeepsIDs(t *testing.T, store string) {
	e := newStoreEngine(t, store, "../testdata/seed/reference.yaml")
	ctx := context.Background()
	eur := lookupOne(t, e, entCurrency, "code", "EUR")
	dir := t.TempDir()
	for _, tc := range []struct{ name, seed, want string }{
		{"another id", `currencies: [{id: "2", code: EUR}]`, fmt.Sprintf(`again.yaml:1: currencies: code "EUR" has the id %q in the store, and a seed does not change it`, eur.ID)},
		{"the id of another", fmt.Sprintf(`currencies: [{id: %q, code: CHF}]`, eur.ID), fmt.Sprintf(`again.yaml:1: currencies: id %q is the id of code "EUR" in the store: give another id, or no id`, eur.ID)},
		{"the same id", fmt.Sprintf(`currencies: [{id: %q, code: EUR}]`, eur.ID), ""},
		{"no id", `currencies: [{code: EUR}]`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Seed(ctx, writeFile(t, dir, "again.yaml", tc.seed+"\n"))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Seed: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Seed = %v, want %s", err, tc.want)
			}
			if got := lookupOne(t, e, entCurrency, "code", "EUR"); got.ID != eur.ID {
				t.Errorf("EUR's id is %q, was %q", got.ID, eur.ID)
			}
			if unit := lookupOne(t, e, entUnit, "name", "Admin Unit"); unit.get(entUnit, "currency") != eur.ID {
				t.Errorf("Admin Unit's currency is %q, want EUR's id %q", unit.get(entUnit, "currency"), eur.ID)
			}
		})
	}
}
