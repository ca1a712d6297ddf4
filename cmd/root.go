package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"syscall"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
	"github.com/crmload/crmload/mapping"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Main runs crmload with the process's arguments and streams and returns
// its exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	// For performance work: CRMLOAD_CPUPROFILE=FILE writes a CPU profile
	// of the run (go tool pprof FILE), CRMLOAD_TRACE=FILE an execution
	// trace (go tool trace FILE: where each goroutine ran and waited),
	// CRMLOAD_MEMPROFILE=FILE a heap profile as the run ends (what the
	// last collection found live, and all that was allocated).
	defer record("CRMLOAD_CPUPROFILE", os.Stderr, pprof.StartCPUProfile, pprof.StopCPUProfile)()
	defer record("CRMLOAD_TRACE", os.Stderr, trace.Start, trace.Stop)()
	startHeap, stopHeap := heapProfile(os.Stderr)
	defer record("CRMLOAD_MEMPROFILE", os.Stderr, startHeap, stopHeap)()
	return Run(ctx, System(), os.Args[1:])
}

// heapProfile is the start and stop of CRMLOAD_MEMPROFILE's recording:
// the heap profile is written as it stops; a failed write is said on
// errOut.
func heapProfile(errOut io.Writer) (start func(io.Writer) error, stop func()) {
	var heap io.Writer
	return func(w io.Writer) error { heap = w; return nil }, func() {
		if err := pprof.Lookup("heap").WriteTo(heap, 0); err != nil {
			fmt.Fprintf(errOut, "crmload: CRMLOAD_MEMPROFILE: %v\n", err)
		}
	}
}

// record starts a recording into the file the environment variable env
// names, if it names one, and returns what stops it and closes the file.
// A file it cannot make or a recording it cannot start is said on
// errOut; the run goes on.
func record(env string, errOut io.Writer, start func(io.Writer) error, stop func()) func() {
	path := os.Getenv(env)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		if err = start(f); err == nil {
			return func() {
				stop()
				f.Close()
			}
		}
		f.Close()
	}
	fmt.Fprintf(errOut, "crmload: %s: %v\n", env, err)
	return func() {}
}

// Run runs crmload with args and returns the exit code. Errors are printed
// to io.ErrOut, prefixed with the program name.
func Run(ctx context.Context, io *IOStreams, args []string) int {
	g := &globals{io: io}
	root := newRootCommand(g)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	code := exitCode(err, g.started)
	var msg string
	if err != nil {
		msg = scrubSecrets(err.Error(), g.db, crm.RedactDSN(g.db))
	}
	switch {
	case err != nil && g.jsonLog:
		// --log-format json: the final error is a log line like the
		// others, with the exit code, for collectors that parse them.
		slog.New(slog.NewJSONHandler(io.ErrOut, nil)).Error(msg, "exit_code", code)
	case err != nil:
		// Messages quote data (a column name, a cell, a path): its control
		// characters are shown escaped, never sent to the terminal.
		fmt.Fprintf(io.ErrOut, "crmload: %s\n", mapping.EscapeTerminal(msg))
	}
	return code
}

// scrubSecrets is msg with raw, a --db as given, written as shown (its
// password cut) wherever an error quoted it whole: a last net under the
// messages that name the store, for a DSN that reads as a file's path
// (postgres:/u:pw@h) and is quoted by code that does not know it is one.
func scrubSecrets(msg, raw, shown string) string {
	if raw == "" || raw == shown {
		return msg
	}
	return strings.ReplaceAll(msg, raw, shown)
}

// globals are the options every command shares.
type globals struct {
	io      *IOStreams
	config  string
	db      string
	started bool // the command's own code ran (see exitCode)
	jsonLog bool // --log-format json: the final error is a JSON line too
	// given holds the flags given on the command line (not from the
	// environment or the config file): a resume or retry follows its
	// run's store and engine unless told otherwise here.
	given map[string]bool
	// secretsOnFlags names the secret flags given on the command line.
	secretsOnFlags []string
}

func newRootCommand(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "crmload",
		Short: "Load CRM.COM customer events from CSV and JSONL files",
		Long: `crmload loads CRM.COM customer events (purchases, referrals, social media,
web, achievements, financial achievements, financial statements) from CSV and
JSONL files into an embedded CRM.COM engine or a remote CRM.COM Web API.

Every flag can also be set in the environment as CRMLOAD_<FLAG> (dashes as
underscores) or in the config file (--config, default ./crmload.yaml).
Precedence: flag > environment > config file > default.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			// Before the environment and the config file set flags: what
			// the command line gave, and the secrets on it, which ps shows.
			g.given = map[string]bool{}
			cmd.Flags().Visit(func(f *pflag.Flag) {
				g.given[f.Name] = true
				if secretFlags[f.Name] {
					g.secretsOnFlags = append(g.secretsOnFlags, f.Name)
				}
			})
			if err := bindConfig(cmd, g.config); err != nil {
				return usage(err)
			}
			if err := checkFlags(cmd); err != nil {
				return err
			}
			g.db = strings.TrimSpace(g.db) // " postgres://..." from a quoted config line is that URL
			if g.given["db"] {
				// postgrs://, mysql://: before any command looks for
				// the store (it would say "seed it first"). One from the
				// environment or config file is checked where a store is
				// opened (openEngine, engine.Open): version, validate, a
				// remote load and a run's resume, which follows the run's
				// store, never use it.
				if err := engine.CheckStorePath(g.db); err != nil {
					return usage(err)
				}
			}
			g.started = true
			return nil
		},
	}
	// --version prints what the version command prints.
	root.Version = "x" // any value: cobra adds --version; the template prints the line
	root.SetVersionTemplate(versionLine() + "\n")
	root.SetOut(g.io.Out)
	root.SetErr(g.io.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usage(suggestFlag(c, err)) })
	pf := root.PersistentFlags()
	pf.StringVar(&g.config, "config", "", "config file (default ./crmload.yaml if present)")
	pf.StringVar(&g.db, "db", "crmload.db", "embedded engine store: an SQLite file, or a PostgreSQL database (postgres://user@host:5432/db)")

	root.AddCommand(
		newVersionCommand(g),
		newEngineCommand(g),
		newEventsCommand(g),
		newValidateCommand(g),
		newInitCommand(g),
		newLoadCommand(g),
		newRetryCommand(g),
		newSummaryCommand(g),
	)
	return root
}

// secretFlags are the flags whose value is a secret.
var secretFlags = map[string]bool{"password": true, "api-key": true, "user": true}

// bindConfig fills every flag of cmd that was not given on the command
// line from the environment (CRMLOAD_<FLAG>) or the config file, in that
// order. It is the only place that uses viper. A config file key that no
// command has is an error; an unknown CRMLOAD_ variable is not (the
// environment holds other programs' variables, and viper only looks up
// the names of flags).
func bindConfig(cmd *cobra.Command, configFile string) error {
	v := viper.New()
	v.SetEnvPrefix("CRMLOAD")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if configFile == "" {
		if env := os.Getenv("CRMLOAD_CONFIG"); env != "" {
			configFile = env
		} else if _, err := os.Stat("crmload.yaml"); err == nil {
			configFile = "crmload.yaml"
		}
	}
	if configFile != "" {
		v.SetConfigFile(configFile)
		if err := v.ReadInConfig(); err != nil {
			return configReadError(configFile, err)
		}
		if err := checkConfigKeys(cmd.Root(), configFile, v.AllKeys()); err != nil {
			return err
		}
	}
	var errs []error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "config" || !v.IsSet(f.Name) {
			return
		}
		_, isSlice := f.Value.(pflag.SliceValue)
		switch v.Get(f.Name).(type) {
		case []any:
			if !isSlice {
				// Not read as "": a password: [x] was "no password".
				errs = append(errs, fmt.Errorf("config file %s: %s must be one value (key: value), not a list or a mapping", configFile, f.Name))
				return
			}
		case map[string]any:
			what := "one value (key: value)"
			if isSlice {
				what = "a list (key: [a, b])"
			}
			errs = append(errs, fmt.Errorf("config file %s: %s must be %s, not a mapping", configFile, f.Name, what))
			return
		}
		vals := []string{v.GetString(f.Name)}
		if isSlice {
			// A list is a YAML list in the config file, and comma
			// separated in the environment (viper would split on spaces).
			if s, isString := v.Get(f.Name).(string); isString {
				vals = strings.Split(s, ",")
			} else {
				vals = v.GetStringSlice(f.Name)
			}
		}
		for _, val := range vals {
			if err := cmd.Flags().Set(f.Name, val); err != nil {
				errs = append(errs, fmt.Errorf("%s (from environment or config file): %w", f.Name, err))
			}
		}
	})
	return errors.Join(errs...)
}

// configReadError is the error of a config file that could not be read
// or parsed. A parser's own message quotes the text it could not read
// (cannot unmarshal !!str `Tops3cr...`), which may be a password written
// in the wrong place: only the line is kept.
func configReadError(path string, err error) error {
	var parse viper.ConfigParseError
	if !errors.As(err, &parse) {
		return fmt.Errorf("read config file %s: %w", path, err)
	}
	where := path
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		where += " line " + m[1]
	}
	return fmt.Errorf("config file %s: cannot be read as `key: value` lines (the parser's message is not shown: it quotes the file's text, which may hold a secret)", where)
}

// yamlLine finds the line a YAML parser's error names.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// newEngineCommand groups the commands of the embedded engine.
func newEngineCommand(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "engine",
		Short: "The embedded CRM.COM engine: reference data, and serving it over HTTP",
	}
	c.AddCommand(newSeedCommand(g), newServeCommand(g))
	return c
}
