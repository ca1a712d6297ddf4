package mapping

// ShardKey is the key a load split among processes (load --shard K/N)
// shards an item by: its group_by key, else its request id ("" when it
// has neither: a comment, or a record unreadable before either was known).
// The rows of one event share it.
func ShardKey(it *Item) string {
	switch {
	case it.Key != "":
		return "g:" + it.Key
	case it.RequestID != "":
		return "r:" + it.RequestID
	}
	return ""
}

// SetShard makes the mapper skip the field mapping of the items keep
// refuses (by their ShardKey): they are emitted with their records, key
// and request id but no event, for the caller to leave out. Grouping runs
// as without it, so that every process of a split sees the same items.
func (m *Mapper) SetShard(keep func(key string) bool) { m.keep = keep }
