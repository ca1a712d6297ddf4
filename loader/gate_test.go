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

// TestDefaultRetriesWaitTenMinutes: a server that answers 503 for ten
// minutes (a restart, a maintenance window) is waited out by default, even
// with the shortest jitter.
func TestDefaultRetriesWaitTenMinutes(t *testing.T) {
	var least time.Duration
	for attempt := range DefaultRetries {
		d := 200 * time.Millisecond << min(attempt, 8)
		least += min(d, 30*time.Second) / 2 // backoff's shortest draw
	}
	if least < 10*time.Minute {
		t.Errorf("the default retries wait at least %v, want 10 minutes", least)
	}
	for attempt := range 50 {
		if b := Backoff(attempt); b <= 0 || b > 30*time.Second {
			t.Errorf("backoff(%d) = %v, want (0, 30s]", attempt, b)
		}
	}
}
