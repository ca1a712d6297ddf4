package loader

import (
	"context"
	"sync"
)

// gate bounds the calls in flight, and adapts the bound to the engine:
// halved (down to 1) when the engine pushes back (429, 503), raised by one
// after four times as many successful calls in a row as the bound, up to
// max (additive increase, multiplicative decrease; the gentle increase
// keeps a full server from being probed every few calls).
type gate struct {
	mu       sync.Mutex
	cond     *sync.Cond
	max      int
	limit    int
	inFlight int
	streak   int // successes since the last change
}

func newGate(max int) *gate {
	g := &gate{max: max, limit: max}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// enter waits for a place; false when ctx ended first.
func (g *gate) enter(ctx context.Context) bool {
	stop := context.AfterFunc(ctx, func() {
		g.mu.Lock()
		g.cond.Broadcast()
		g.mu.Unlock()
	})
	defer stop()
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.inFlight >= g.limit {
		if ctx.Err() != nil {
			return false
		}
		g.cond.Wait()
	}
	g.inFlight++
	return true
}

// leave frees the place, saying whether the engine pushed back.
func (g *gate) leave(pushedBack bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight--
	switch {
	case pushedBack:
		g.limit = max(1, g.limit/2)
		g.streak = 0
	case g.limit < g.max:
		g.streak++
		if g.streak >= 4*g.limit {
			g.limit++
			g.streak = 0
		}
	}
	g.cond.Broadcast()
}

// calls is the number of calls in flight, for logs.
func (g *gate) calls() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight
}

// current is the bound now, for logs and tests.
func (g *gate) current() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limit
}
