package cmd

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/loader"
	"github.com/crmload/crmload/mapping"
	"github.com/spf13/cobra"
)

type initOptions struct {
	kind     string
	encoding string
	file     string
	limits   loader.Limits
	format   string
}

func newInitCommand(g *globals) *cobra.Command {
	var opts initOptions
	c := &cobra.Command{
		Use:   "init --kind KIND FILE",
		Short: "Print a mapping template guessed from FILE's header or first object",
		Long: `Print a commented mapping spec for FILE: every column listed with its first
value, likely matches filled in (a date-looking column for performed_on, an
ACR...-looking one for the account number, ...), every mandatory parameter
of the kind present (FIXME where nothing matched), optional ones as comments.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.file = args[0]
			return runInit(cmd.Context(), g, opts)
		},
	}
	c.Flags().StringVar(&opts.kind, "kind", "", "the kind of events: achievements, purchases, referrals, social_media, web, financial_achievements, financial_statements")
	c.Flags().StringVar(&opts.encoding, "encoding", "", "the file's encoding (utf-8, latin1, windows-1252, ...)")
	addLimitFlags(c, &opts.limits)
	c.Flags().StringVar(&opts.format, "format", "", "the file's format, csv or jsonl, where no extension tells it (standard input: -)")
	choiceFlag(c, "format", "csv", "jsonl")
	kindFlag(c, "kind")
	c.MarkFlagRequired("kind")
	return c
}

func runInit(_ context.Context, g *globals, opts initOptions) error {
	kind, err := crm.ParseKind(opts.kind)
	if err != nil {
		return usageErrorf("--kind: %v", err)
	}
	sopts := loader.SourceOptions{Format: opts.format, Encoding: opts.encoding,
		MaxRecordBytes: opts.limits.RecordBytes, MaxFieldBytes: opts.limits.FieldBytes}
	var src loader.Source
	if opts.file == stdinName {
		// init reads the first rows only: standard input is read as it
		// comes, not copied.
		if opts.format == "" {
			return usageErrorf("standard input (-) has no extension to tell its format: give --format csv or jsonl")
		}
		src, err = loader.OpenReader("stdin."+opts.format, io.NopCloser(g.io.In), sopts)
	} else {
		if err := checkInput(opts.file); err != nil {
			return usage(err)
		}
		src, err = loader.Open(opts.file, sopts)
	}
	if err != nil {
		return usage(err)
	}
	defer src.Close()
	// The first rows (up to 100) give each column's samples.
	var recs []*mapping.Record
	for len(recs) < 100 {
		rec, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return usage(err)
		}
		if rec.Err == nil {
			recs = append(recs, rec)
		}
	}
	var cols []mapping.Column
	switch header := src.Header(); {
	case header != nil:
		for i, h := range header {
			c := mapping.Column{Name: h}
			for _, r := range recs {
				if i < len(r.Values) {
					c.Samples = append(c.Samples, r.Values[i])
					if c.Sample == "" {
						c.Sample = r.Values[i]
					}
				}
			}
			cols = append(cols, c)
		}
	case len(recs) > 0:
		cols = flatten("", recs[0].Object)
	default:
		return usageErrorf("%s: no readable record to learn the columns from", opts.file)
	}
	if len(cols) > maxTemplateColumns {
		names := make([]string, len(cols))
		for i, c := range cols {
			names[i] = c.Name
		}
		return usageErrorf("%s has %d columns, more than a mapping template lists (%d): is it the file you meant, with the right delimiter? (columns: %s)",
			opts.file, len(cols), maxTemplateColumns, mapping.CutList(names, "columns"))
	}
	for i := range cols {
		// A template shows a sample, not a cell of a megabyte.
		cols[i].Sample = mapping.CutText(cols[i].Sample, maxSample)
		for j, s := range cols[i].Samples {
			cols[i].Samples[j] = mapping.CutText(s, maxSample)
		}
	}
	name := filepath.Base(opts.file)
	if opts.file == stdinName {
		name = "stdin." + opts.format
	}
	_, err = fmt.Fprint(g.io.Out, mapping.Template(kind, name, src.Header() == nil, cols))
	return err
}

// maxTemplateColumns bounds the columns init lists: an export with more
// is most likely not a CSV file, or read with the wrong delimiter.
const maxTemplateColumns = 2000

// maxSample bounds a sample value in a template, in characters.
const maxSample = 60

// flatten lists the scalar paths of a JSON object (a.b.c), and arrays as
// themselves, with sample values.
func flatten(prefix string, obj map[string]any) []mapping.Column {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []mapping.Column
	for _, k := range keys {
		switch v := obj[k].(type) {
		case map[string]any:
			out = append(out, flatten(prefix+k+".", v)...)
		case []any:
			out = append(out, mapping.Column{Name: prefix + k, Sample: fmt.Sprintf("[%d items]", len(v))})
		case nil:
			out = append(out, mapping.Column{Name: prefix + k})
		default:
			out = append(out, mapping.Column{Name: prefix + k, Sample: fmt.Sprint(v)})
		}
	}
	return out
}
