package loader

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/mapping"
)

// Shard is one of N loader processes' part of an input (load --shard
// K/N): the rows whose grouping key hashes to K. The zero Shard is the
// whole input.
//
// The key is the event's group_by value, else its request id, else (a
// row that failed before either was known) its file and line: so the rows
// of one event stay together, and every row belongs to exactly one shard
// of every process that reads the same input with the same mapping. The
// hash is FNV-1a (64 bits) of the key, modulo N: the same on every
// machine and release.
type Shard struct {
	K, N int
}

// ParseShard parses "K/N" (1 <= K <= N); "" is the whole input.
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	ks, ns, ok := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(strings.TrimSpace(ks))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	if !ok || err1 != nil || err2 != nil || n < 1 || k < 1 || k > n || n > 1024 {
		return Shard{}, fmt.Errorf("shard %q: want K/N with 1 <= K <= N <= 1024 (e.g. 1/2 and 2/2 for two loader processes)", s)
	}
	if n == 1 {
		return Shard{}, nil
	}
	return Shard{K: k, N: n}, nil
}

// String is "K/N", or "" for the whole input.
func (s Shard) String() string {
	if s.N <= 1 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.K, s.N)
}

// Set and Type make a Shard a command-line flag value.
func (s *Shard) Set(v string) (err error) { *s, err = ParseShard(v); return err }
func (s *Shard) Type() string             { return "K/N" }

// Whole reports whether s is the whole input.
func (s Shard) Whole() bool { return s.N <= 1 }

// ShardOf returns which shard (1..n) a key belongs to: FNV-1a, mixed
// (SplitMix64's finaliser) so that every bit of the key counts even when n
// is a power of two (FNV-1a's low bits depend on the low bits of the
// bytes alone: keys differing in case fell in one shard of 8).
func ShardOf(key string, n int) int {
	h := fnv.New64a()
	h.Write([]byte(key))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return int(x%uint64(n)) + 1
}

// shardMapper makes the mapper of a sharded run map only this shard's
// events: the others are read and grouped (so that every shard sees the
// same items) but not mapped, which is most of a row's cost.
func (r *run) shardMapper(m *mapping.Mapper) {
	if s := r.opts.Shard; !s.Whole() {
		m.SetShard(func(key string) bool { return ShardOf(key, s.N) == s.K })
	}
}

// otherShard reports whether the item belongs to another shard than the
// run's: then it is neither sent nor reported, only counted
// (rows_other_shards), and not counted as read.
func (r *run) otherShard(it *mapping.Item) bool {
	s := r.opts.Shard
	if s.Whole() || ShardOf(mapping.ShardKey(it), s.N) == s.K {
		return false
	}
	r.sum.RowsOtherShards += len(it.Records)
	r.rowsRead.Add(-int64(len(it.Records)))
	return true
}

// Add counts another run's summary into s (crmload summary), as a job
// counts its sources'.
func (s *Summary) Add(o *Summary) {
	if s.ErrorsByCode == nil {
		s.ErrorsByCode = map[string]int{}
	}
	s.add(o)
}

// claimKind is the kind the run's ledger claims name: its shard's, so that
// the shards of one input load side by side (crm.ClaimKindsOverlap).
func (rf *RunFile) claimKind() string {
	s, _ := ParseShard(rf.Shard)
	return crm.ShardKind(rf.Kind, s.K, s.N)
}
