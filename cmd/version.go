package cmd

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Stamped at build time by the release build (.goreleaser.yaml):
// -ldflags "-X github.com/crmload/crmload/cmd.version=... -X ...commit=... -X ...date=..."
// date is the build's time; without it, the commit's time (from the Go
// toolchain's VCS stamp) is shown as such, never as a build date.
var (
	version = "dev"
	commit  = ""
	date    = ""
)

func newVersionCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(g.io.Out, versionLine())
			return nil
		},
	}
}

// versionLine is what version and --version print.
func versionLine() string {
	b := readBuildInfo()
	var parts []string
	if b.commit != "" {
		c := "commit " + b.commit
		if b.modified {
			c += " (with uncommitted changes)"
		}
		parts = append(parts, c)
	} else {
		parts = append(parts, "commit unknown (no version control information in this build)")
	}
	switch {
	case b.built != "":
		parts = append(parts, "built "+b.built)
	case b.committed != "":
		parts = append(parts, "committed "+b.committed)
	}
	return fmt.Sprintf("crmload %s (%s; %s %s/%s)", b.version, strings.Join(parts, ", "), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

type buildInfo struct {
	version, commit, built, committed string
	modified                          bool
}

// readBuildInfo returns the stamped version, commit and build date,
// falling back to what the Go toolchain recorded (go install, go build
// from a checkout): its time is the commit's, so it is labelled so.
func readBuildInfo() buildInfo {
	b := buildInfo{version: version, commit: commit, built: date}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && b.commit == "":
				b.commit = s.Value
			case s.Key == "vcs.time":
				b.committed = s.Value
			case s.Key == "vcs.modified" && commit == "":
				b.modified = s.Value == "true"
			}
		}
	}
	return b
}
