package loader

import (
	"context"
	"testing"
	"time"
)

func TestGateAdapts(t *testing.T) {
	g := newGate(8)
	ctx := context.Background()
	steps := []struct {
		pushedBack bool
		want       int
	}{
		{true, 4}, {true, 2}, {true, 1}, {true, 1}, // halved, down to 1
		{false, 1}, {false, 1}, {false, 1}, {false, 2}, // 4 successes at limit 1: up
		{false, 2}, {false, 2}, {false, 2}, {false, 2},
		{false, 2}, {false, 2}, {false, 2}, {false, 3}, // 8 at limit 2: up
		{true, 1}, // 3 halved
	}
	for i, s := range steps {
		if !g.enter(ctx) {
			t.Fatal("enter failed")
		}
		g.leave(s.pushedBack)
		if got := g.current(); got != s.want {
			t.Errorf("step %d (pushed back %v): limit %d, want %d", i, s.pushedBack, got, s.want)
		}
	}
}

func TestGateBoundsAndCancels(t *testing.T) {
	g := newGate(2)
	ctx := context.Background()
	g.enter(ctx)
	g.enter(ctx)
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if g.enter(cctx) {
		t.Fatal("a third call entered a gate of 2")
	}
	done := make(chan bool)
	go func() { done <- g.enter(ctx) }()
	time.Sleep(20 * time.Millisecond)
	g.leave(false)
	if !<-done {
		t.Error("a waiting call did not enter when a place freed")
	}
}
