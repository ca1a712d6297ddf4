// Package block cuts many small values from one allocation: the loader,
// the mapping and the engine make the same few small values for every row
// or event, and one allocation for many of them cuts the allocator's and
// the collector's work. A block lives as long as any value cut from it.
package block

// Cut returns n zero values cut off the front of *free, with a capacity of
// n exactly (an append past it copies, never writes over the next cut),
// first making a new block of max(n, size, 1) values when *free holds
// fewer than n.
func Cut[T any](free *[]T, n, size int) []T {
	if len(*free) < n {
		*free = make([]T, max(n, size, 1))
	}
	out := (*free)[:n:n]
	*free = (*free)[n:]
	return out
}
