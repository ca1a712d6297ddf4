package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/crmload/crmload/crm"
)

// Stage benchmarks of the embedded engine on issue 11's workload
// (scripts/bench.sh): purchases of one product line, 20k accounts, 200
// products. Rules is validation and resolution (CreateEvents up to the
// commit), Commit is the store's commit of 1000 resolved events, alone and
// from four goroutines at once (group commit), List renders stored events.

// stageEngine returns an engine seeded with the workload's reference data.
func stageEngine(b *testing.B) *Engine {
	b.Helper()
	dir := b.TempDir()
	e, err := Open(context.Background(), filepath.Join(dir, "stage.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	ref := "currencies: [{code: GBP}]\nunits: [{name: Admin Unit, currency: GBP}]\nproducts: ["
	for i := range 200 {
		if i > 0 {
			ref += ", "
		}
		ref += fmt.Sprintf("{code: SKU%03d}", i)
	}
	ref += "]\naccounts_receivable: ["
	var accounts strings.Builder
	for i := range 20000 {
		if i > 0 {
			accounts.WriteString(", ")
		}
		fmt.Fprintf(&accounts, "{number: ACR%07d, name: Customer %d}", i, i)
	}
	ref += accounts.String() + "]\n"
	p := filepath.Join(dir, "ref.yaml")
	if err := os.WriteFile(p, []byte(ref), 0o644); err != nil {
		b.Fatal(err)
	}
	if _, err := e.Seed(context.Background(), p); err != nil {
		b.Fatal(err)
	}
	return e
}

// stageCall is a call of 1000 purchases of the workload, keyed as a load
// sends them.
func stageCall(call int) crm.BulkRequest {
	req := crm.BulkRequest{Kind: crm.Purchases, Run: "bench", Events: make([]crm.Event, crm.MaxBulkEvents), Keys: make([]string, crm.MaxBulkEvents)}
	for j := range req.Events {
		i := call*crm.MaxBulkEvents + j
		q := 1 + i%7
		req.Events[j] = crm.Event{
			RequestUniqueIdentifier: fmt.Sprintf("R%08d", i),
			AccountsReceivable:      &crm.AccountIdentifier{Number: fmt.Sprintf("ACR%07d", (i*7919)%20000)},
			PerformedByUnit:         &crm.NamedIdentifier{Name: "Admin Unit"},
			PerformedOn:             "2024-03-04T05:06:00",
			ReferenceNumber:         fmt.Sprintf("INV%08d", i),
			ProductsSet: []crm.PurchaseProduct{{Product: &crm.ProductIdentifier{Code: fmt.Sprintf("SKU%03d", i%200)},
				Quantity: json.Number(strconv.Itoa(q)), NetAmount: "10.00", VATAmount: "2.00", TotalAmount: "12.00"}},
		}
		req.Keys[j] = "0:" + strconv.Itoa(i+2)
	}
	return req
}

// BenchmarkRules1000: validation and resolution of a call (cache warm).
func BenchmarkRules1000(b *testing.B) {
	e := stageEngine(b)
	ctx := context.Background()
	req := stageCall(0)
	errs := make([]*crm.Error, len(req.Events))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(errs)
		schema := crm.SchemaFor(req.Kind, req.Version)
		for j := range req.Events {
			if err := crm.ValidateSchema(schema, &req.Events[j]); err != nil {
				b.Fatal(err)
			}
		}
		digests := make([]string, len(req.Events))
		for j := range req.Events {
			digests[j] = crm.Digest(req.Kind, &req.Events[j])
		}
		pending, err := e.resolveAll(ctx, req, digests, errs, newArena(len(req.Events)))
		if err != nil || pending[len(pending)-1] == nil {
			b.Fatalf("resolveAll: %v %v", err, errs[len(errs)-1])
		}
	}
	b.ReportMetric(float64(crm.MaxBulkEvents*b.N)/b.Elapsed().Seconds(), "events/s")
}

// stagePending resolves calls of the workload once, for the commit
// benchmarks.
func stagePending(b *testing.B, e *Engine, calls int) [][]*PendingEvent {
	out := make([][]*PendingEvent, calls)
	for c := range out {
		req := stageCall(c)
		errs := make([]*crm.Error, len(req.Events))
		digests := make([]string, len(req.Events))
		for j := range req.Events {
			digests[j] = crm.Digest(req.Kind, &req.Events[j])
		}
		pending, err := e.resolveAll(context.Background(), req, digests, errs, newArena(len(req.Events)))
		if err != nil {
			b.Fatal(err)
		}
		out[c] = pending
	}
	return out
}

// BenchmarkCommit1000: the store's commit of one call of 1000 resolved
// events (each iteration stores them again, under new numbers).
func BenchmarkCommit1000(b *testing.B) {
	e := stageEngine(b)
	rows := stagePending(b, e, 1)[0]
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Each iteration is the load's next call: its keys follow the
		// last call's (the same keys again would all land amid the index).
		for j, p := range rows {
			p.LoadKey = "0:" + strconv.Itoa(2+(i+1)*len(rows)+j)
		}
		if err := e.store.Commit(context.Background(), rows, CommitOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(crm.MaxBulkEvents*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkCommitConcurrent: four goroutines commit calls of 250 events
// at once; group commit makes them share transactions.
func BenchmarkCommitConcurrent(b *testing.B) {
	e := stageEngine(b)
	pending := stagePending(b, e, 4)
	b.ResetTimer()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows := pending[g][:250]
			for i := 0; i < b.N; i++ {
				if err := e.store.Commit(context.Background(), rows, CommitOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkListEvents: rendering stored events as list streams them
// (10000 events).
func BenchmarkListEvents(b *testing.B) {
	e := stageEngine(b)
	for _, rows := range stagePending(b, e, 10) {
		if err := e.store.Commit(context.Background(), rows, CommitOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		if err := e.Events(context.Background(), Filter{}, func([]byte) error { n++; return nil }); err != nil || n != 10000 {
			b.Fatalf("listed %d: %v", n, err)
		}
	}
	b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkCommitTwoStores: two stores open on one file (as two load
// processes are) commit calls of 1000 at once. Each takes the write lock
// after the other's commit, so each drops its page cache and reads the
// pages again: set against BenchmarkCommit1000, the cost of a second
// writer.
func BenchmarkCommitTwoStores(b *testing.B) {
	e := stageEngine(b)
	other, err := Open(context.Background(), e.store.(*sqliteStore).path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { other.Close() })
	pending := stagePending(b, e, 2)
	b.ResetTimer()
	var wg sync.WaitGroup
	for g, eng := range []*Engine{e, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows := pending[g]
			for i := 0; i < b.N; i++ {
				for j, p := range rows {
					p.LoadKey = strconv.Itoa(g) + ":" + strconv.Itoa(2+(i+1)*len(rows)+j)
				}
				if err := eng.store.Commit(context.Background(), rows, CommitOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(2*crm.MaxBulkEvents*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkOneEventCalls: calls of one event after a call of 1000 (engine
// serve's single create method, a load's short calls): the arena kept
// from the large call must not cost the small ones (arena.scrub clears
// what a call used, not the whole kept block).
func BenchmarkOneEventCalls(b *testing.B) {
	e := stageEngine(b)
	ctx := context.Background()
	if _, err := e.CreateEvents(ctx, stageCall(0)); err != nil {
		b.Fatal(err)
	}
	one := stageCall(1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(one.Events)
		req := crm.BulkRequest{Kind: crm.Purchases, Events: []crm.Event{one.Events[j]}}
		req.Events[0].RequestUniqueIdentifier = fmt.Sprintf("S%08d", i)
		if res, err := e.CreateEvents(ctx, req); err != nil || len(res.Processed) != 1 {
			b.Fatalf("CreateEvents: %+v %v", res, err)
		}
	}
}
