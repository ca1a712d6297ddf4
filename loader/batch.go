package loader

import "github.com/crmload/crmload/crm"

// batch groups events into calls of at most BatchSize events and about
// BatchBytes, with no request id twice in a call (results are matched by
// it).
func (r *run) batch(events <-chan event, batches chan<- []event) {
	var cur []event
	size := 0
	ids := map[string]bool{}
	flush := func() {
		if len(cur) > 0 {
			batches <- cur
			cur, size = nil, 0
			clear(ids)
		}
	}
	for ev := range events {
		if ids[ev.item.RequestID] || size+ev.size > r.opts.BatchBytes {
			flush()
		}
		cur = append(cur, ev)
		size += ev.size
		ids[ev.item.RequestID] = true
		if len(cur) == r.opts.BatchSize {
			flush()
		}
	}
	flush()
}

// approxSize estimates an event's size on the wire: enough to bound a call
// without encoding it.
func approxSize(ev *crm.Event) int {
	return 400 + len(ev.Description) + 160*len(ev.ProductsSet) + 120*len(ev.MeasuredKPIs)
}
