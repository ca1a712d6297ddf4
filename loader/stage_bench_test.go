package loader

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
	"github.com/crmload/crmload/mapping"
)

// Stage benchmarks on issue 11's workload (scripts/bench.sh): a 9-column
// purchases CSV, one product line a row, 20k accounts, 200 products, a
// plain column mapping. With BenchmarkReadAndMapPurchases they split a
// load's time: read + map, then + batch, settle and reports (a null
// engine), then + the embedded engine (rules and commit).

// stageSpec is the workload's mapping (testdata/bench/mapping.yaml).
var stageSpec = func() string {
	b, err := os.ReadFile("../testdata/bench/mapping.yaml")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

var (
	stageOnce sync.Once
	stageDir  string
)

// stageFiles writes, once per test binary run, the purchases CSV
// (benchRows() rows), the mapping, and the reference data.
func stageFiles(b *testing.B) (csvPath, specPath, units, accounts, products string) {
	stageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "crmload-stage")
		if err != nil {
			b.Fatal(err)
		}
		stageDir = dir
		write := func(name string, fill func(w *bufio.Writer)) {
			f, err := os.Create(filepath.Join(dir, name))
			if err != nil {
				b.Fatal(err)
			}
			w := bufio.NewWriter(f)
			fill(w)
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		write("purchases.csv", func(w *bufio.Writer) {
			fmt.Fprintln(w, "id,account,performed_on,reference,product,quantity,net,vat,total")
			for i := range benchRows() {
				q, p := 1+i%7, 1+i%20
				net := q * p
				fmt.Fprintf(w, "R%08d,ACR%07d,2024-%02d-%02dT%02d:%02d:00,INV%08d,SKU%03d,%d,%d.00,%.2f,%.2f\n",
					i, (i*7919)%20000, 1+i%12, 1+i%28, i%24, i%60, i, i%200, q, net, float64(net)*0.2, float64(net)*1.2)
			}
		})
		write("mapping.yaml", func(w *bufio.Writer) { w.WriteString(stageSpec) })
		write("units.yaml", func(w *bufio.Writer) {
			w.WriteString("currencies: [{code: GBP}]\nunits: [{name: Admin Unit, currency: GBP}]\n")
		})
		write("accounts_receivable.csv", func(w *bufio.Writer) {
			fmt.Fprintln(w, "number,name")
			for i := range 20000 {
				fmt.Fprintf(w, "ACR%07d,Customer %d\n", i, i)
			}
		})
		write("products.csv", func(w *bufio.Writer) {
			fmt.Fprintln(w, "code,alternative_code")
			for i := range 200 {
				fmt.Fprintf(w, "SKU%03d,S%d\n", i, i)
			}
		})
	})
	j := func(n string) string { return filepath.Join(stageDir, n) }
	return j("purchases.csv"), j("mapping.yaml"), j("units.yaml"), j("accounts_receivable.csv"), j("products.csv")
}

// BenchmarkReadAndMapPurchases: the read and map stages alone.
func BenchmarkReadAndMapPurchases(b *testing.B) {
	csvPath, _, _, _, _ := stageFiles(b)
	benchReadAndMapFile(b, csvPath, stageSpec)
}

// nullEngine answers every event processed, storing nothing.
type nullEngine struct{}

func (nullEngine) CreateEvents(_ context.Context, req crm.BulkRequest) (crm.BulkResult, error) {
	res := crm.BulkResult{Processed: make([]crm.Processed, len(req.Events)), Unprocessed: []crm.Unprocessed{}}
	for i := range req.Events {
		res.Processed[i] = crm.Processed{Number: strconv.Itoa(i + 1), ID: fmt.Sprintf("%032X", i+1), RequestUniqueIdentifier: req.Events[i].RequestUniqueIdentifier}
	}
	return res, nil
}

// BenchmarkLoadNullEngine: a whole load but the engine: read, map, batch,
// settle, reports and journal.
func BenchmarkLoadNullEngine(b *testing.B) {
	csvPath, specPath, _, _, _ := stageFiles(b)
	benchLoad(b, csvPath, specPath, func(b *testing.B) Engine { return nullEngine{} })
}

// BenchmarkLoadEmbedded: a whole load into a freshly seeded embedded
// engine (each iteration a new store).
func BenchmarkLoadEmbedded(b *testing.B) {
	csvPath, specPath, units, accounts, products := stageFiles(b)
	benchLoad(b, csvPath, specPath, func(b *testing.B) Engine {
		e, err := engine.Open(context.Background(), filepath.Join(b.TempDir(), "engine.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { e.Close() })
		if _, err := e.Seed(context.Background(), units, accounts, products); err != nil {
			b.Fatal(err)
		}
		return e
	})
}

func benchLoad(b *testing.B, csvPath, specPath string, newEngine func(b *testing.B) Engine) {
	spec, err := mapping.ReadSpec(specPath)
	if err != nil {
		b.Fatal(err)
	}
	opts := LoadOptions{Command: "load", BatchSize: 1000, Concurrency: 4, Retries: 2}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		eng := newEngine(b)
		job := &Plan{SpecPath: specPath, Spec: spec, Files: []string{csvPath}, ReportDir: b.TempDir(), Engine: "embedded"}
		b.StartTimer()
		sum, _, err := Load(context.Background(), job, eng, opts)
		if err != nil {
			b.Fatal(err)
		}
		if sum.RowsSucceeded != benchRows() {
			b.Fatalf("%d rows succeeded, want %d", sum.RowsSucceeded, benchRows())
		}
	}
	b.ReportMetric(float64(benchRows()*b.N)/b.Elapsed().Seconds(), "rows/s")
}
