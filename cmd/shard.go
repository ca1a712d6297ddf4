package cmd

import (
	"slices"
	"strings"

	"github.com/crmload/crmload/loader"
	"github.com/spf13/cobra"
)

// addShardFlag declares load --shard.
func addShardFlag(c *cobra.Command, opts *loadOptions) {
	c.Flags().Var(&opts.load.Shard, "shard", "load only shard K of N of the input (e.g. 1/2 on one machine, 2/2 on another): rows are split by a hash of their event's group_by key, else its request id; each shard has its own run directory and --resume")
}

// followShard gives a resume its run's shard: a resume loads the part of
// the input its run started on, never another.
func followShard(g *globals, opts *loadOptions, rf *loader.RunFile) error {
	run, err := loader.ParseShard(rf.Shard)
	if err != nil {
		return usage(err)
	}
	if g.given["shard"] && opts.load.Shard != run {
		was := rf.Shard
		if was == "" {
			was = "the whole input"
		}
		return usageErrorf("--resume %s loads shard %s, not --shard %s: give no --shard (a run is never split differently)", opts.resume, was, opts.load.Shard)
	}
	opts.load.Shard = run
	return nil
}

// checkShard refuses --shard where it is not supported.
func checkShard(opts *loadOptions) error {
	if !opts.load.Shard.Whole() && opts.job != "" {
		return usageErrorf("--shard splits the input of a plain load (-m MAPPING FILE...), not a --job: run one load per source with --shard")
	}
	if !opts.load.Shard.Whole() && slices.Contains(opts.files, "-") {
		return usageErrorf("--shard needs an input file that each shard reads in full, not standard input")
	}
	for _, f := range opts.files {
		// A FIFO the shards share gives each a part of the stream; a
		// <(...) of each process's own (/dev/fd/N) gives each all of it.
		if !opts.load.Shard.Whole() && loader.IsPipe(f) && !strings.HasPrefix(f, "/dev/fd/") && !strings.HasPrefix(f, "/proc/") {
			return usageErrorf("--shard needs an input file that each shard reads in full, not the pipe %s (the shards would share its stream)", f)
		}
	}
	return nil
}
