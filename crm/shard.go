package crm

import (
	"fmt"
	"strconv"
	"strings"
)

// ShardKind is the kind a ledger claim of shard k of n of an input names:
// "web_events shard 1/2". A whole input's claim names the kind alone.
func ShardKind(kind string, k, n int) string {
	if n <= 1 {
		return kind
	}
	return fmt.Sprintf("%s shard %d/%d", kind, k, n)
}

// parseShardKind splits a claim's kind into the events' kind and its
// shard (0/1 for a whole input).
func parseShardKind(s string) (kind string, k, n int) {
	base, shard, ok := strings.Cut(s, " shard ")
	if !ok {
		return s, 0, 1
	}
	ks, ns, ok := strings.Cut(shard, "/")
	k, err1 := strconv.Atoi(ks)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 {
		return s, 0, 1
	}
	return base, k, n
}

// ValidClaimKind reports whether s is a kind a load claims: an event kind,
// alone or with a shard k/n (1 <= k <= n, n >= 2).
func ValidClaimKind(s string) bool {
	base, shard, sharded := strings.Cut(s, " shard ")
	if _, err := ParseKind(base); err != nil {
		return false
	}
	if !sharded {
		return true
	}
	ks, ns, ok := strings.Cut(shard, "/")
	k, err1 := strconv.Atoi(ks)
	n, err2 := strconv.Atoi(ns)
	return ok && err1 == nil && err2 == nil && n >= 2 && k >= 1 && k <= n && ShardKind(base, k, n) == s
}

// ClaimKindsOverlap reports whether two claims of one input's content load
// some of the same rows: the same kind of events, and either one is the
// whole input, or both are the same shard, or they split it differently.
// Only different shards of one split (1/2 and 2/2) are loaded side by side.
func ClaimKindsOverlap(a, b string) bool {
	ka, i, n := parseShardKind(a)
	kb, j, m := parseShardKind(b)
	if ka != kb {
		return false
	}
	return n == 1 || m == 1 || n != m || i == j
}
