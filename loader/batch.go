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
			cur, size = nil, 0 // the call keeps cur: a batch is never reused
			clear(ids)
		}
	}
	for ev := range events {
		if ids[ev.item.RequestID] || size+ev.size > r.opts.BatchBytes {
			flush()
		}
		if cur == nil {
			// Room for a whole batch at once: growing it by appends
			// copied each batch about twice.
			cur = make([]event, 0, r.opts.BatchSize)
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
