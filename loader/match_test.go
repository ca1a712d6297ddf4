package loader

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/crmload/crmload/mapping"
)

// TestEventFinderAgrees: the finder answers as a map of the call's request
// ids does, whatever the order of the engine's answer (in order, shuffled,
// with unknown ids and ids given twice).
func TestEventFinderAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 500 {
		n := r.IntN(40)
		b := make([]event, n)
		byID := map[string]int{}
		for i := range b {
			id := "R" + strconv.Itoa(r.IntN(1000)*1000+i) // distinct, as batch makes them
			b[i] = event{item: mapping.Item{RequestID: id}}
			byID[id] = i
		}
		var queries []string
		for i := range b {
			queries = append(queries, b[i].item.RequestID)
		}
		switch round % 4 {
		case 1:
			r.Shuffle(len(queries), func(i, j int) { queries[i], queries[j] = queries[j], queries[i] })
		case 2:
			queries = append(queries, "unknown", "")
			if n > 0 {
				queries = append(queries, queries[r.IntN(n)])
			}
			r.Shuffle(len(queries), func(i, j int) { queries[i], queries[j] = queries[j], queries[i] })
		case 3: // processed then unprocessed, each in order
			var odd, even []string
			for i, q := range queries {
				if r.IntN(3) == 0 {
					odd = append(odd, q)
				} else if i >= 0 {
					even = append(even, q)
				}
			}
			queries = append(even, odd...)
		}
		find := eventFinder(b)
		for _, q := range queries {
			i, ok := find(q)
			wi, wok := byID[q]
			if i != wi || ok != wok {
				t.Fatalf("round %d: find(%q) = %d, %v; the map says %d, %v", round, q, i, ok, wi, wok)
			}
		}
	}
}
