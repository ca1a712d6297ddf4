package loader

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// FailpointEnv names the environment variable of the test failpoints: a
// point's name, or name@n for the n-th time the process reaches it. A
// process that reaches it says so on stderr ("crmload: failpoint NAME
// reached") and stops there, so that a test can kill or interrupt it at
// that exact instant instead of after a sleep: SIGKILL ends it there; on
// SIGINT, SIGTERM or SIGHUP it goes on from there, handling the signal as
// it would have anywhere else. Read once; unset, the points do nothing.
// The points:
//
//	rundir-partial   a run directory's files are written under its hidden
//	                 .partial- name, not yet renamed into place
//	before-reports   the run directory is in place (and locked, its inputs
//	                 claimed), no report or journal byte written yet
//	job-next-source  a job's source finished, the next not yet started
//	journal:K        the K-th journal the process opened (a job's K-th
//	                 source) has just had its n-th line written (name@n
//	                 counts that journal's lines, not the reachings)
const FailpointEnv = "CRMLOAD_FAILPOINT"

var failpointName, failpointAt = parseFailpoint(os.Getenv(FailpointEnv))

var failpointSeen atomic.Int64

func parseFailpoint(v string) (string, int64) {
	name, n, ok := strings.Cut(v, "@")
	at, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil || at < 1 {
		at = 1
	}
	return name, at
}

// failpoint stops the process at the point name when the test failpoint
// names it (see FailpointEnv).
func failpoint(name string) {
	if failpointName == "" || name != failpointName || failpointSeen.Add(1) != failpointAt {
		return
	}
	stopAtFailpoint(name)
}

// journalFailpoint stops the process when the test failpoint is
// journal:K@n, this is the K-th journal the process opened and it has just
// had its n-th line written.
func journalFailpoint(journal, lines int64) {
	if failpointName == "" || lines != failpointAt {
		return
	}
	if name := fmt.Sprintf("journal:%d", journal); name == failpointName {
		stopAtFailpoint(name)
	}
}

// journalsOpened counts the journals the process opened (journalFailpoint).
var journalsOpened atomic.Int64

// failpointSignals receives, in a process given a failpoint, the signals
// that end a wait at it: from the start, so that one that came before the
// point was reached ends the wait at once instead of being missed (the
// command's own handler gets each signal too).
var failpointSignals = watchSignals(failpointName != "")

func watchSignals(on bool) chan os.Signal {
	if !on {
		return nil
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	return c
}

// stopAtFailpoint waits at the point until the process is signalled (or
// was, on its way there) or killed.
func stopAtFailpoint(name string) {
	fmt.Fprintf(os.Stderr, "crmload: failpoint %s reached\n", name)
	<-failpointSignals
}
