package cmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/crmload/crmload/engine"
	"github.com/spf13/cobra"
)

type seedOptions struct {
	db    string
	files []string
}

func newSeedCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "seed [--db PATH] FILE...",
		Short: "Import reference data into the embedded engine",
		Long: `Import reference data (units, accounts, participants, classifications,
products, ...) into the embedded engine. A FILE is either YAML with one list
per entity, or a CSV file named after one entity (units.csv,
accounts_receivable.csv, ...) with the entity's fields as its header.
Re-seeding upserts by natural key and changes only the fields a file gives.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSeed(cmd.Context(), g, seedOptions{db: g.db, files: args})
		},
	}
}

func runSeed(ctx context.Context, g *globals, opts seedOptions) error {
	// A seed that fails before storing anything leaves no store it
	// created: a later load would take the empty store for a seeded one,
	// and not say "seed it first". One that stored records keeps them
	// and says so (seedFailed): re-seeding upserts.
	if err := checkSeedFiles(opts.files); err != nil {
		return err
	}
	created := storeMissing(opts.db)
	ctx = engine.WithUpgradeNotice(ctx, func(path string, from, to int64) {
		fmt.Fprintf(g.io.ErrOut, "upgrading the store %s from schema %d to %d %s\n", shownDB(path), from, to, upgradeTakes)
	})
	e, err := engine.Open(ctx, opts.db)
	if err != nil {
		if created {
			removeStore(opts.db)
		}
		return usage(err) // nothing was stored: a wrong password, an unreachable host, a bad DSN, not a store
	}
	stats, err := e.Seed(ctx, opts.files...)
	if err != nil {
		e.Close()
		if created && seededCount(stats) == 0 {
			return usageIfSeed(fmt.Errorf("%w (%s)", err, removedNote(opts.db, removeStore(opts.db))))
		}
		return seedFailed(err, stats, shownDB(opts.db))
	}
	if err := e.Close(); err != nil {
		return err
	}
	printSeedStats(g, stats, shownDB(opts.db))
	return nil
}

// checkSeedFiles refuses, before any store is opened or created, seed
// files that cannot be read: exit 2, as any bad argument (it was exit 1,
// after the store had been made and removed again).
func checkSeedFiles(files []string) error {
	for _, f := range files {
		r, err := os.Open(f)
		if errors.Is(err, fs.ErrNotExist) {
			return usageErrorf("seed file %s: no such file", f)
		}
		if err != nil {
			return usage(fmt.Errorf("seed file %s: %w", f, errors.Unwrap(err)))
		}
		fi, err := r.Stat()
		r.Close()
		if err == nil && fi.IsDir() {
			return usageErrorf("seed file %s is a directory: give the files in it", f)
		}
	}
	return nil
}

// removedNote says what became of a store this seed created and stored
// nothing in.
func removedNote(db string, removed bool) string {
	if removed {
		return fmt.Sprintf("nothing was stored: %s did not exist before this seed and was removed", shownDB(db))
	}
	return fmt.Sprintf("nothing was stored by this seed: %s did not exist before it, and is kept: it could not be removed as empty and unused (another process has it open, or has stored in it since)", shownDB(db))
}

// removeStore removes an SQLite store this process created and stored
// nothing in, unless another process has it open or stored in it since
// (engine.RemoveNewStore); it says whether it did.
func removeStore(db string) bool { return engine.RemoveNewStore(db) }

func printSeedStats(g *globals, stats engine.SeedStats, db string) {
	for _, n := range seedNames(stats) {
		fmt.Fprintf(g.io.Out, "%-28s %d\n", n, stats[n])
	}
	if len(stats) > 0 {
		fmt.Fprintf(g.io.Out, "seeded into %s\n", db)
	}
}

func seedNames(stats engine.SeedStats) []string {
	names := make([]string, 0, len(stats))
	for n := range stats {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// seedFailed is the error of a seed that stopped at err: it says exactly
// what was stored before (the records of the entities and chunks before
// the bad one are committed: seeding is an upsert by natural key, so
// seeding the fixed files again is safe), so that "exit 2" is never read
// as "nothing changed" when something did.
func seedFailed(err error, stats engine.SeedStats, db string) error {
	var done []string
	for _, n := range seedNames(stats) {
		if stats[n] > 0 {
			done = append(done, fmt.Sprintf("%d %s", stats[n], n))
		}
	}
	if len(done) == 0 {
		return usageIfSeed(fmt.Errorf("%w (nothing was stored in %s)", err, db))
	}
	return usageIfSeed(fmt.Errorf("%w; stored in %s before this error, and kept: %s; fix the file and seed again (re-seeding upserts by natural key)",
		err, db, strings.Join(done, ", ")))
}

// usageIfSeed makes bad reference data exit 2, like any bad input.
func usageIfSeed(err error) error {
	var se *engine.SeedError
	if errors.As(err, &se) {
		return usage(err)
	}
	return err
}

// seededCount is how many records a seed wrote, over all entities.
func seededCount(stats engine.SeedStats) int {
	n := 0
	for _, v := range stats {
		n += v
	}
	return n
}
