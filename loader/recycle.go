package loader

// recycled keeps for the next call the few slices of a whole batch's
// length that the pipeline makes for every call, its events (batcher)
// and their outcomes (match), once the call is settled: made anew, they
// were a fifth of a load's allocated bytes, and so of the collector's
// work. Only slices of capacity size are kept (a short call's are made to
// measure); a slice is cleared when it is given back, so that it holds
// nothing of its call alive. A nil recycled makes every slice.
type recycled[T any] struct {
	size int
	free chan []T
}

func newRecycled[T any](size, keep int) *recycled[T] {
	return &recycled[T]{size: size, free: make(chan []T, keep)}
}

// take returns n zero Ts: a kept slice (capacity size) when n <= size and
// one is free, else a new one of capacity max(n, minCap).
func (p *recycled[T]) take(n, minCap int) []T {
	if p != nil && n <= p.size {
		select {
		case s := <-p.free:
			return s[:n]
		default:
		}
	}
	return make([]T, n, max(n, minCap))
}

// give keeps s for a later take, if it is a batch's and room is left;
// the caller no longer uses it.
func (p *recycled[T]) give(s []T) {
	if p == nil || cap(s) != p.size {
		return
	}
	s = s[:cap(s)]
	clear(s)
	select {
	case p.free <- s:
	default:
	}
}
