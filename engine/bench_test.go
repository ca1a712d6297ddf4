package engine

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/crmload/crmload/crm"
)

// benchSize is the number of accounts and stored events the benchmarks
// use: 1M by default, CRMLOAD_BENCH_N to change it.
func benchSize() int {
	if n, err := strconv.Atoi(os.Getenv("CRMLOAD_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// writeAccountsCSV writes n accounts to dir/accounts_receivable.csv.
func writeAccountsCSV(tb testing.TB, dir string, n int) string {
	tb.Helper()
	p := filepath.Join(dir, "accounts_receivable.csv")
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "number,name,payment_medium_types")
	for i := range n {
		fmt.Fprintf(w, "ACR%010d,ACR%010d Customer %d,CC\n", i, i, i)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return p
}

const benchRef = `
currencies: [{code: EUR}]
units: [{name: Admin Unit, currency: EUR}]
payment_medium_types: [{name: CREDIT CARD, alternative_code: CC}]
products: [{code: Bronze}, {code: Silver}]
`

// BenchmarkSeedAccounts seeds benchSize() accounts from CSV into a fresh
// store; rows/s is the figure to quote.
func BenchmarkSeedAccounts(b *testing.B) {
	n := benchSize()
	dir := b.TempDir()
	ref := filepath.Join(dir, "ref.yaml")
	if err := os.WriteFile(ref, []byte(benchRef), 0o644); err != nil {
		b.Fatal(err)
	}
	accounts := writeAccountsCSV(b, dir, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e, err := Open(context.Background(), filepath.Join(dir, fmt.Sprintf("seed%d.db", i)))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.Seed(context.Background(), ref); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := e.Seed(context.Background(), accounts); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		e.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}

func benchPurchases(rng *rand.Rand, accounts, batch int, prefix string) []crm.Event {
	events := make([]crm.Event, batch)
	for i := range events {
		events[i] = crm.Event{
			RequestUniqueIdentifier: prefix + strconv.Itoa(i),
			AccountsReceivable:      &crm.AccountIdentifier{Number: fmt.Sprintf("ACR%010d", rng.IntN(accounts))},
			PerformedByUnit:         &crm.NamedIdentifier{Name: "Admin Unit"},
			PerformedOn:             "2016-06-22T15:00:00",
			ReferenceNumber:         prefix + strconv.Itoa(i),
			ProductsSet: []crm.PurchaseProduct{
				{Product: &crm.ProductIdentifier{Code: "Bronze"}, Quantity: "2", TotalAmount: "60", NetAmount: "50", VATAmount: "10"},
				{Product: &crm.ProductIdentifier{Code: "Silver"}, TotalAmount: "180.25", NetAmount: "160.20", VATAmount: "20.05"},
			},
		}
	}
	return events
}

var (
	fullStoreOnce sync.Once
	fullStore     *Engine
	fullStoreErr  error
)

// fullEngine returns an engine holding benchSize() accounts and as many
// events, built once per test binary run (it takes a while).
func fullEngine(b *testing.B) *Engine {
	fullStoreOnce.Do(func() {
		n := benchSize()
		dir, err := os.MkdirTemp("", "crmload-bench")
		if err != nil {
			fullStoreErr = err
			return
		}
		ctx := context.Background()
		e, err := Open(ctx, filepath.Join(dir, "full.db"))
		if err != nil {
			fullStoreErr = err
			return
		}
		ref := filepath.Join(dir, "ref.yaml")
		if err := os.WriteFile(ref, []byte(benchRef), 0o644); err != nil {
			fullStoreErr = err
			return
		}
		if _, err := e.Seed(ctx, ref, writeAccountsCSV(b, dir, n)); err != nil {
			fullStoreErr = err
			return
		}
		start := time.Now()
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < n; i += crm.MaxBulkEvents {
			res, err := e.CreateEvents(ctx, crm.BulkRequest{Kind: crm.Purchases, Events: benchPurchases(rng, n, min(crm.MaxBulkEvents, n-i), "f")})
			if err != nil {
				fullStoreErr = err
				return
			}
			if len(res.Unprocessed) > 0 {
				fullStoreErr = fmt.Errorf("fill: %+v", res.Unprocessed[0])
				return
			}
		}
		b.Logf("filled %d events in %v (%.0f events/s)", n, time.Since(start), float64(n)/time.Since(start).Seconds())
		fullStore = e
	})
	if fullStoreErr != nil {
		b.Fatal(fullStoreErr)
	}
	return fullStore
}

// BenchmarkCreateEvents1000 is one bulk call of 1000 purchases with two
// product lines each, against a store that already holds benchSize()
// events and accounts; accounts are picked at random, so most resolve
// outside the cache.
func BenchmarkCreateEvents1000(b *testing.B) {
	e := fullEngine(b)
	rng := rand.New(rand.NewPCG(3, 4))
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		events := benchPurchases(rng, benchSize(), crm.MaxBulkEvents, "b")
		b.StartTimer()
		res, err := e.CreateEvents(ctx, crm.BulkRequest{Kind: crm.Purchases, Events: events})
		if err != nil || len(res.Processed) != crm.MaxBulkEvents {
			b.Fatalf("CreateEvents = %d processed, %v", len(res.Processed), err)
		}
	}
	b.ReportMetric(float64(crm.MaxBulkEvents*b.N)/b.Elapsed().Seconds(), "events/s")
}
