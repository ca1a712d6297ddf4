//go:build !linux

package main

// adviseHugePages does nothing where the kernel has no transparent huge
// pages to ask for (hugepages_linux.go).
func adviseHugePages(n int) int { return 0 }
