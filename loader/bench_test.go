package loader

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/crmload/crmload/mapping"
)

func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("CRMLOAD_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

var (
	benchFileOnce sync.Once
	benchFile     string
)

// retailCSV writes benchRows() purchase lines, three lines an invoice, in
// the Online Retail layout (8 columns), once per test binary run.
func retailCSV(b *testing.B) string {
	benchFileOnce.Do(func() {
		dir, err := os.MkdirTemp("", "crmload-bench")
		if err != nil {
			b.Fatal(err)
		}
		benchFile = filepath.Join(dir, "retail.csv")
		f, err := os.Create(benchFile)
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriter(f)
		fmt.Fprintln(w, "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country")
		for i := range benchRows() {
			fmt.Fprintf(w, "%d,SKU%d,\"ITEM %d, BLUE\",%d,12/%d/2010 8:%02d,%d.%02d,%d.0,United Kingdom\n",
				500000+i/3, i%500, i%500, 1+i%7, 1+i%28, i%60, 1+i%20, i%100, 10000+i%50000)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	})
	return benchFile
}

const benchSpec = `kind: purchases
columns: { Quantity: decimal, UnitPrice: decimal }
request_id: InvoiceNo
filter: "Quantity > 0"
group_by: InvoiceNo
fields:
  accounts_receivable_identifier: { number: { expr: '"ACR" + lpad(int(CustomerID), 10, "0")' } }
  performed_by_unit_identifier: { name: { const: Admin Unit } }
  performed_on: { column: InvoiceDate, format: "%m/%d/%Y %H:%M" }
  reference_number: InvoiceNo
  udf_string_1: Country
products_set:
  product_identifier: { code: StockCode }
  quantity: Quantity
  total_amount: { expr: "round(Quantity * UnitPrice, 2)" }
  net_amount: { expr: "round(Quantity * UnitPrice / 1.2, 2)" }
  vat_amount: { expr: "round(Quantity * UnitPrice - Quantity * UnitPrice / 1.2, 2)" }
`

// peakHeap samples the heap in use until stop is closed.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// BenchmarkReadRawCSV is the floor: encoding/csv with ReuseRecord.
func BenchmarkReadRawCSV(b *testing.B) {
	path := retailCSV(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		r := csv.NewReader(bufio.NewReaderSize(f, 256<<10))
		r.ReuseRecord = true
		n := 0
		for {
			_, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		f.Close()
	}
	b.ReportMetric(float64(benchRows()*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// benchColumnsSpec maps the same file with columns only: no expressions,
// no filter, to tell the cost of mapping from the cost of expressions.
const benchColumnsSpec = `kind: purchases
request_id: InvoiceNo
group_by: InvoiceNo
fields:
  accounts_receivable_identifier: { number: CustomerID }
  performed_by_unit_identifier: { name: { const: Admin Unit } }
  performed_on: { column: InvoiceDate, format: "%m/%d/%Y %H:%M" }
  reference_number: InvoiceNo
  udf_string_1: Country
products_set:
  product_identifier: { code: StockCode }
  quantity: Quantity
  total_amount: UnitPrice
  net_amount: UnitPrice
  vat_amount: { const: 0 }
`

// BenchmarkReadAndMap reads the same file through a Source and maps every
// row into purchase events (three lines an invoice, expressions for the
// amounts, a date format, a filter).
func BenchmarkReadAndMap(b *testing.B) { benchReadAndMap(b, benchSpec) }

// BenchmarkReadAndMapColumns is the same without expressions.
func BenchmarkReadAndMapColumns(b *testing.B) { benchReadAndMap(b, benchColumnsSpec) }

func benchReadAndMap(b *testing.B, src string) { benchReadAndMapFile(b, retailCSV(b), src) }

// benchReadAndMapFile reads and maps path with the mapping src.
func benchReadAndMapFile(b *testing.B, path, src string) {
	spec, err := mapping.ParseSpec("bench.yaml", []byte(src))
	if err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	peak := peakHeap(stop)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src, err := Open(path, SourceOptions{})
		if err != nil {
			b.Fatal(err)
		}
		m, err := mapping.Compile(spec, mapping.Options{File: path, Header: src.Header()})
		if err != nil {
			b.Fatal(err)
		}
		events, failed := 0, 0
		emit := func(it mapping.Item) {
			if it.Event != nil {
				events++
			} else if it.Err != nil {
				failed++
				if failed == 1 {
					b.Log(it.Err)
				}
			}
		}
		for {
			rec, err := src.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			m.Push(rec, emit)
		}
		m.Flush(emit)
		src.Close()
		if failed > 0 || events == 0 {
			b.Fatalf("%d events, %d failed", events, failed)
		}
	}
	b.StopTimer()
	close(stop)
	b.ReportMetric(float64(benchRows()*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(<-peak)/(1<<20), "peak-heap-MiB")
}

// BenchmarkReadSource reads the same file through Open and Source.Next:
// the reader the pipeline uses, to compare with the encoding/csv floor.
func BenchmarkReadSource(b *testing.B) {
	path := retailCSV(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src, err := Open(path, SourceOptions{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			rec, err := src.Next()
			if err == io.EOF {
				break
			}
			if err != nil || rec.Err != nil {
				b.Fatal(err, rec.Err)
			}
			n++
		}
		src.Close()
		if n != benchRows() {
			b.Fatalf("%d rows, want %d", n, benchRows())
		}
	}
	b.ReportMetric(float64(benchRows()*b.N)/b.Elapsed().Seconds(), "rows/s")
}
