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

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	os.Exit(cmd.Main())
}
