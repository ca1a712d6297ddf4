package cmd

import (
	"fmt"
	"slices"

	"github.com/crmload/crmload/loader"
	"github.com/spf13/pflag"
)

// runSettings are the flags that shape a run, recorded in its job.json so
// that a resume goes on as the run started (a --max-errors 5% run stops
// again at 5%). The engine, store and --max-record-lines are recorded on
// their own; secrets never are.
var runSettings = []string{
	"max-errors", "batch-size", "concurrency", "rate", "retries", "timeout", "grace", "heartbeat",
	"username", "organisation", "unit", "dry-run", "on-duplicate-request-id",
	"max-record-bytes", "max-field-bytes", "deadline", // issue 17: the bounds shape which records fail
}

// retrySettings are those a retry takes from its parent run: who it
// logged in as, whether it was a dry run, and what a request id used
// twice in its input means (the rows a retry loads are rows of that
// input). The pace and error threshold of a retry are its own.
var retrySettings = []string{"username", "organisation", "unit", "dry-run", "on-duplicate-request-id"}

// recordSettings returns the values of the run settings, as flag values.
func recordSettings(fs *pflag.FlagSet) map[string]string {
	out := map[string]string{}
	for _, name := range runSettings {
		if f := fs.Lookup(name); f != nil {
			out[name] = f.Value.String()
		}
	}
	return out
}

// applyRunSettings sets the flags named in which to the values the run in
// dir recorded, except those given on the command line: these win, and
// the returned notes say so. The environment and the config file do not
// override a run's settings. A run of an earlier release recorded none.
func applyRunSettings(g *globals, fs *pflag.FlagSet, dir string, which []string) (notes []string, err error) {
	rf, err := loader.RunDir(dir).RunFile()
	if err != nil || len(rf.Settings) == 0 {
		return nil, nil // a job run of an earlier release, or none recorded
	}
	for _, name := range which {
		val, ok := rf.Settings[name]
		f := fs.Lookup(name)
		if !ok || f == nil {
			continue
		}
		if g.given[name] {
			if f.Value.String() != val {
				notes = append(notes, fmt.Sprintf("--%s %s given on the command line overrides the run's %s", name, f.Value.String(), shown(val)))
			}
			continue
		}
		if err := fs.Set(name, val); err != nil {
			return nil, usageErrorf("%s records %s: %q: %v", dir, name, val, err)
		}
	}
	slices.Sort(notes)
	return notes, nil
}

func shown(v string) string {
	if v == "" {
		return `""`
	}
	return v
}
