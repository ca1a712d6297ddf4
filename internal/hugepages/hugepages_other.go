//go:build !linux

// Package hugepages asks the kernel for transparent huge pages where
// there are any (hugepages_linux.go); here there are none to ask for.
package hugepages

import "errors"

// Size is the huge page Advise and Map work in.
const Size = 2 << 20

// Advise asks nothing and returns 0.
func Advise(b []byte) int { return 0 }

// Map refuses: the caller allocates as it would without huge pages.
func Map(n int) (b []byte, unmap func() error, err error) {
	return nil, nil, errors.ErrUnsupported
}

// On reports false: there are no huge pages to ask for.
func On() bool { return false }

// Advised reports false: there are no huge pages to ask for.
func Advised(addr uintptr) (bool, error) { return false, nil }

// AdviseMapping asks nothing and returns 0.
func AdviseMapping(addr uintptr) (int, error) { return 0, nil }

// AdviseHeap asks nothing and returns 0.
func AdviseHeap(n int) int { return 0 }
