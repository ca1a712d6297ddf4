package cmd

import (
	"context"
	"fmt"
	"sort"

	"github.com/crmload/crmload/engine"
	"github.com/spf13/cobra"
)

func newEngineCommand(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "engine",
		Short: "The embedded CRM.COM engine: reference data, and serving it over HTTP",
	}
	c.AddCommand(newSeedCommand(g), newServeCommand(g))
	return c
}

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
	e, err := engine.Open(ctx, opts.db)
	if err != nil {
		return err
	}
	defer e.Close()
	stats, err := e.Seed(ctx, opts.files...)
	printSeedStats(g, stats, opts.db)
	return usageIfSeed(err)
}

func printSeedStats(g *globals, stats engine.SeedStats, db string) {
	names := make([]string, 0, len(stats))
	for n := range stats {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(g.io.Out, "%-28s %d\n", n, stats[n])
	}
	if len(names) > 0 {
		fmt.Fprintf(g.io.Out, "seeded into %s\n", db)
	}
}

// usageIfSeed makes bad reference data exit 2, like any bad input.
func usageIfSeed(err error) error {
	if _, ok := err.(*engine.SeedError); ok {
		return usage(err)
	}
	return err
}
