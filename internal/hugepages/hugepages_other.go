//go:build !linux

// Package hugepages asks the kernel for transparent huge pages where
// there are any (hugepages_linux.go); here there are none to ask for.
package hugepages

import "errors"

// Map refuses: the caller allocates as it would without huge pages.
func Map(n int) (b []byte, unmap func() error, err error) {
	return nil, nil, errors.ErrUnsupported
}

// On reports false: there are no huge pages to ask for.
func On() bool { return false }

// Advised reports false: there are no huge pages to ask for.
func Advised(addr uintptr) (bool, error) { return false, nil }

// AdviseHeap asks nothing and returns 0.
func AdviseHeap(n int) int { return 0 }
