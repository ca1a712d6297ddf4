// Command crmload loads CRM.COM customer events from CSV and JSONL files.
package main

import (
	"os"
	"runtime/debug"

	"github.com/crmload/crmload/cmd"
)

// memoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT
// sets one: past it the garbage collector runs more often instead of
// letting the heap grow to twice what is live, so a load's RSS stays flat
// (README, "Storage"). A live heap larger than this (a huge record) is
// not refused: the collector just works harder.
const memoryLimit = 108 << 20

// gcPercent is the collector's GOGC unless the environment sets one: the
// memory limit is what bounds RSS, so the heap may grow to four times
// what is live before that (at 100 a load collected every few MB while
// far below the limit). Measured: the 2M-row load 0.93x CPU, 0.94x wall,
// the same peak RSS; the 1M-row load 0.95x CPU (alternating runs).
const gcPercent = 300

// hugePageHeap is the heap adviseHugePages asks huge pages for: twice the
// memory limit, which covers the heap the limit lets a load grow to.
// Measured (whole process, alternating runs, against the build before):
// a 100k-row load 0.85x wall, 0.77x CPU (10 pairs; 4.3k page faults
// against 26k), 1M rows 0.99x wall, 0.96x CPU (6 pairs), two loads of
// 50k at once 0.81x wall, remote 100k 0.76x wall; the same peak RSS; a
// command's start ~6 ms more.
const hugePageHeap = 2 * memoryLimit

func main() {
	adviseHugePages(hugePageHeap)
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(cmd.Main())
}
