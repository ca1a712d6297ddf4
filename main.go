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
// not refused: the collector just works harder. 100 MiB, not 108 as
// before: a 2M-row load, whose heap reaches the limit (the duplicate-id
// watch holds ~32 MiB), peaked at 131-134 MiB of RSS against 107-118 for
// a 100k-row load, whose heap does not (GOGC bounds it), 1.23x; at 100
// MiB 122-124 (1.14x) for ~2% more CPU (four pairs, busy machine).
const memoryLimit = 100 << 20

// gcPercent is the collector's GOGC unless the environment sets one: the
// memory limit is what bounds RSS, so the heap may grow to four times
// what is live before that (at 100 a load collected every few MB while
// far below the limit). Measured: the 2M-row load 0.93x CPU, 0.94x wall,
// the same peak RSS; the 1M-row load 0.95x CPU (alternating runs).
const gcPercent = 300

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(cmd.Main())
}
