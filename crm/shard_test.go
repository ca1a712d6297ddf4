package crm

import "testing"

func TestClaimKindsOverlap(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"web", "web", true},
		{"web", "purchases", false},
		{ShardKind("web", 1, 2), ShardKind("web", 2, 2), false}, // a split's shards load side by side
		{ShardKind("web", 1, 2), ShardKind("web", 1, 2), true},  // the same shard twice
		{"web", ShardKind("web", 2, 2), true},                   // the whole and a shard
		{ShardKind("web", 1, 2), ShardKind("web", 3, 3), true},  // two different splits
		{ShardKind("web", 1, 2), ShardKind("purchases", 1, 2), false},
		{ShardKind("web", 1, 1), "web", true},
	} {
		if got := ClaimKindsOverlap(tt.a, tt.b); got != tt.want {
			t.Errorf("ClaimKindsOverlap(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
