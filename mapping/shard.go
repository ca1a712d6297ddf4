package mapping

import "strconv"

// ShardKey is the key a load split among processes (load --shard K/N)
// shards an item by. The rows of one event share it, and it depends on
// the file's content only, never on its name (the same export may be
// called otherwise on each machine):
//   - the request id the mapping gives (so that two events with the same
//     one fall in the same shard, where the duplicate is seen);
//   - else the group_by key;
//   - else the first record's line (the default request id is the file's
//     name and that line);
//   - "" for an item with no record.
func ShardKey(it *Item) string {
	switch {
	case it.RequestID != "" && !it.defaultID:
		return "r:" + it.RequestID
	case it.Key != "":
		return "g:" + it.Key
	case len(it.Records) > 0:
		return "l:" + strconv.Itoa(it.Records[0].Line)
	}
	return ""
}

// SetShard makes the mapper skip the field mapping of the items keep
// refuses (by their ShardKey): they are emitted with their records, key
// and request id but no event, for the caller to leave out. Grouping runs
// as without it, so that every process of a split sees the same items.
func (m *Mapper) SetShard(keep func(key string) bool) { m.keep = keep }
