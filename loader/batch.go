package loader

import "github.com/crmload/crmload/crm"

// batch is the events of one call: evs, with their rows, and events,
// their crm.Events in order, which the call sends as they are (see
// batcher). events is nil when the events were not gathered in one place:
// newBulkCall copies them then.
type batch struct {
	evs    []event
	events []crm.Event
}

// halves splits b in two calls (a refused call is split to find the
// events that cause it).
func (b batch) halves() (batch, batch) {
	h := len(b.evs) / 2
	lo, hi := batch{evs: b.evs[:h]}, batch{evs: b.evs[h:]}
	if len(b.events) == len(b.evs) {
		lo.events, hi.events = b.events[:h:h], b.events[h:]
	}
	return lo, hi
}

// batcher groups events into calls of at most size events and about
// maxBytes, with no request id twice in a call (results are matched by
// it). It runs in the reader, and is also where the mapper writes each
// event (alloc): in the next place of the call's Events, so that an
// event of ~750 bytes is made once and sent as it is, rather than made in
// the mapper and copied into the call (that copy was half a load's
// allocated bytes, and so half the collector's work).
type batcher struct {
	size, maxBytes int
	out            chan<- batch
	cur            []event
	bytes          int
	ids            map[string]bool
	// arr holds the current batch's Events, arr[:len(cur)], and room
	// after them; arr[len(cur)] is the next event's place. A batch sent
	// leaves the rest of arr to the next one: a call's Events are never
	// written after it is sent.
	arr []crm.Event
	// dirty: arr[len(cur)] was handed out by alloc and not added (its
	// item failed, was filtered or was settled without a call): it is
	// cleared before it is handed out again.
	dirty  bool
	lists  *recycled[event]     // where cur comes from
	arrays *recycled[crm.Event] // where arr comes from
}

func newBatcher(size, maxBytes int, out chan<- batch, lists *recycled[event], arrays *recycled[crm.Event]) *batcher {
	return &batcher{size: size, maxBytes: maxBytes, out: out, ids: map[string]bool{}, lists: lists, arrays: arrays}
}

// alloc returns a zero Event in the next event's place (the mapper's
// SetEventAlloc).
func (b *batcher) alloc() *crm.Event {
	n := len(b.cur)
	if n == len(b.arr) {
		b.regrow()
	}
	p := &b.arr[n]
	if b.dirty {
		*p = crm.Event{}
	}
	b.dirty = true
	return p
}

// regrow gives arr room for a whole batch: a new array (or one a call
// that filled it gave back once it returned: recycled), into which the
// current batch's events move (none when batches fill their arrays
// exactly: the usual case, calls of size events). Only an array a call
// had whole is given back: a batch that left part of its array to the
// next one never is.
func (b *batcher) regrow() {
	arr := b.arrays.take(max(b.size, len(b.cur)+1), 0)
	copy(arr, b.arr[:len(b.cur)])
	for i := range b.cur {
		b.cur[i].item.Event = &arr[i]
	}
	b.arr, b.dirty = arr, false
}

// add puts ev in the current batch, sending that batch first when ev's
// request id is in it or ev would take it past maxBytes, and after when
// it is full. An event not made by alloc is copied into its place.
func (b *batcher) add(ev event) {
	if b.ids[ev.item.RequestID] || b.bytes+ev.size > b.maxBytes {
		b.flush()
	}
	n := len(b.cur)
	if n == len(b.arr) || ev.item.Event != &b.arr[n] {
		if n == len(b.arr) {
			b.regrow()
		}
		b.arr[n] = *ev.item.Event
		ev.item.Event = &b.arr[n]
	}
	b.dirty = false
	if b.cur == nil {
		// Room for a whole batch at once: growing it by appends
		// copied each batch about twice.
		b.cur = b.lists.take(0, b.size)
	}
	b.cur = append(b.cur, ev)
	b.bytes += ev.size
	b.ids[ev.item.RequestID] = true
	if len(b.cur) == b.size {
		b.flush()
	}
}

// flush sends the current batch, if any.
func (b *batcher) flush() {
	n := len(b.cur)
	if n == 0 {
		return
	}
	b.out <- batch{evs: b.cur, events: b.arr[:n:n]}
	b.arr = b.arr[n:]
	b.cur, b.bytes = nil, 0 // the call keeps cur: a batch is never reused
	clear(b.ids)
}

// approxSize estimates an event's size on the wire: enough to bound a call
// without encoding it.
func approxSize(ev *crm.Event) int {
	return 400 + len(ev.Description) + 160*len(ev.ProductsSet) + 120*len(ev.MeasuredKPIs)
}
