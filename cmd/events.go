package cmd

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
	"github.com/crmload/crmload/mapping"
	"github.com/gocarina/gocsv"
	"github.com/spf13/cobra"
)

func newEventsCommand(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "events",
		Short: "List, show and cancel the embedded engine's events",
	}
	c.AddCommand(newEventsListCommand(g), newEventsShowCommand(g), newEventsCancelCommand(g))
	return c
}

type listOptions struct {
	db     string
	format string
	filter engine.Filter
}

func newEventsListCommand(g *globals) *cobra.Command {
	var opts listOptions
	c := &cobra.Command{
		Use:   "list [flags]",
		Short: "Stream the events that match the filters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.db = g.db
			return runEventsList(cmd.Context(), g, opts)
		},
	}
	f := c.Flags()
	f.StringVar(&opts.format, "format", "table", "output format: table, jsonl or csv")
	f.StringVar(&opts.filter.Kind, "kind", "", "only events of this kind (purchases, web, ...)")
	f.StringVar(&opts.filter.Account, "account", "", "only events of this accounts receivable number")
	f.StringVar(&opts.filter.Participant, "participant", "", "only events of this rewards participant number")
	f.StringVar(&opts.filter.Classification, "classification", "", "only events of this classification name")
	f.StringVar(&opts.filter.State, "state", "", "only events in this life cycle state (POSTED, CANCELLED)")
	f.StringVar(&opts.filter.Since, "since", "", "only events performed on or after this date (YYYY-MM-DDTHH:MM:SS)")
	f.StringVar(&opts.filter.Until, "until", "", "only events performed on or before this date (YYYY-MM-DDTHH:MM:SS)")
	f.IntVar(&opts.filter.Limit, "limit", 0, "at most this many events (0: all)")
	choiceFlag(c, "format", "table", "jsonl", "csv")
	dateFlag(c, "since")
	dateFlag(c, "until")
	kindFlag(c, "kind")
	return c
}

// eventStates are the life cycle states an event can be in.
var eventStates = []string{"POSTED", "CANCELLED"}

func runEventsList(ctx context.Context, g *globals, opts listOptions) error {
	// A date alone (checked with every flag) is its whole day.
	opts.filter.Since, opts.filter.Until = flagDate(opts.filter.Since, false), flagDate(opts.filter.Until, true)
	if s := opts.filter.State; s != "" && !slices.Contains(eventStates, s) {
		return usageErrorf("--state %q: want one of %s", s, strings.Join(eventStates, ", "))
	}
	for _, d := range []struct{ flag, v string }{{"--since", opts.filter.Since}, {"--until", opts.filter.Until}} {
		if d.v != "" && !crm.IsDate(d.v) {
			return usageErrorf("%s %q: want a date of the form YYYY-MM-DDTHH:MM:SS", d.flag, d.v)
		}
	}
	var w eventWriter
	switch opts.format {
	case "jsonl":
		w = &jsonlWriter{w: g.io.Out}
	case "csv":
		w = &csvWriter{w: csv.NewWriter(g.io.Out)}
	case "table":
		w = &tableWriter{w: tabwriter.NewWriter(g.io.Out, 0, 4, 2, ' ', 0)}
	default:
		return usageErrorf("--format %q: want table, jsonl or csv", opts.format)
	}
	ignoreBrokenPipe()
	e, err := engine.OpenReadOnly(ctx, opts.db)
	if err != nil {
		return usage(err)
	}
	defer e.Close()
	err = w.header()
	if err == nil {
		err = e.Events(ctx, opts.filter, w.write)
	}
	if ferr := w.flush(); err == nil {
		err = ferr
	}
	if errors.Is(err, syscall.EPIPE) {
		return nil // the reader of the output has had enough (| head)
	}
	return err
}

func newEventsShowCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID|NUMBER",
		Short: "Print one event as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEventsShow(cmd.Context(), g, args[0], false)
		},
	}
}

func newEventsCancelCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID|NUMBER",
		Short: "Cancel a posted event and print it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEventsShow(cmd.Context(), g, args[0], true)
		},
	}
}

func runEventsShow(ctx context.Context, g *globals, key string, cancel bool) error {
	open := engine.OpenReadOnly
	if cancel {
		open = engine.OpenExisting
	}
	e, err := open(ctx, g.db)
	if err != nil {
		return usage(err)
	}
	defer e.Close()
	var obj []byte
	if cancel {
		obj, err = e.Cancel(ctx, key)
	} else {
		obj, err = e.Event(ctx, key)
	}
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, obj, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = g.io.Out.Write(out.Bytes())
	return err
}

// eventWriter renders a stream of event objects.
type eventWriter interface {
	header() error
	write(obj []byte) error
	flush() error
}

type jsonlWriter struct{ w io.Writer }

func (j *jsonlWriter) header() error { return nil }
func (j *jsonlWriter) flush() error  { return nil }
func (j *jsonlWriter) write(obj []byte) error {
	if _, err := j.w.Write(obj); err != nil {
		return err
	}
	_, err := io.WriteString(j.w, "\n")
	return err
}

// columns are the event attributes the csv and table formats show.
var columns = []string{"number", "id", "type", "life_cycle_state", "performed_on", "accounts_receivable", "rewards_participant",
	"classification", "performed_by_unit", "reference_number", "total_amount", "description"}

// eventCSV is one line of events list --format csv (and of the table):
// a fixed shape, written with gocarina/gocsv. Its tags are columns.
type eventCSV struct {
	Number             string `csv:"number"`
	ID                 string `csv:"id"`
	Type               string `csv:"type"`
	LifeCycleState     string `csv:"life_cycle_state"`
	PerformedOn        string `csv:"performed_on"`
	AccountsReceivable string `csv:"accounts_receivable"`
	RewardsParticipant string `csv:"rewards_participant"`
	Classification     string `csv:"classification"`
	PerformedByUnit    string `csv:"performed_by_unit"`
	ReferenceNumber    string `csv:"reference_number"`
	TotalAmount        string `csv:"total_amount"`
	Description        string `csv:"description"`
}

func row(obj []byte) ([]string, error) {
	r, err := eventRow(obj)
	if err != nil {
		return nil, err
	}
	return []string{r.Number, r.ID, r.Type, r.LifeCycleState, r.PerformedOn, r.AccountsReceivable, r.RewardsParticipant,
		r.Classification, r.PerformedByUnit, r.ReferenceNumber, r.TotalAmount, r.Description}, nil
}

func eventRow(obj []byte) (*eventCSV, error) {
	var ev engine.EventObject
	if err := json.Unmarshal(obj, &ev); err != nil {
		return nil, fmt.Errorf("decode stored event: %w", err)
	}
	ref := func(r *engine.RefObject, name bool) string {
		switch {
		case r == nil:
			return ""
		case name && r.Name != "":
			return r.Name
		case r.Number != "":
			return r.Number
		}
		return r.ID
	}
	return &eventCSV{Number: ev.Number, ID: ev.ID, Type: ev.Type, LifeCycleState: ev.LifeCycleState, PerformedOn: ev.PerformedOn,
		AccountsReceivable: ref(ev.AccountsReceivable, false), RewardsParticipant: ref(ev.RewardsParticipant, false),
		Classification: ref(ev.Classification, true), PerformedByUnit: ref(ev.PerformedByUnit, true),
		ReferenceNumber: ev.ReferenceNumber, TotalAmount: totalAmount(&ev), Description: ev.Description}, nil
}

// totalAmount is a purchase's total over its products, the amount of a
// financial achievement, and empty otherwise. Sums are added as decimals
// so that no digit is lost.
func totalAmount(ev *engine.EventObject) string {
	if ev.Amount != "" {
		return string(ev.Amount)
	}
	if len(ev.ProductsSet) == 0 {
		return ""
	}
	parts := make([]string, len(ev.ProductsSet))
	for i, p := range ev.ProductsSet {
		parts[i] = string(p.TotalAmount)
	}
	return sumDecimals(parts)
}

// csvWriter writes events with gocsv, a batch of rows at a time (gocsv
// flushes after each call).
type csvWriter struct {
	w   *csv.Writer
	buf []*eventCSV
}

func (c *csvWriter) header() error { return gocsv.MarshalCSV([]*eventCSV{}, c.w) }
func (c *csvWriter) flush() error {
	if len(c.buf) > 0 {
		if err := gocsv.MarshalCSVWithoutHeaders(c.buf, c.w); err != nil {
			return err
		}
		c.buf = c.buf[:0]
	}
	c.w.Flush()
	return c.w.Error()
}
func (c *csvWriter) write(obj []byte) error {
	r, err := eventRow(obj)
	if err != nil {
		return err
	}
	c.buf = append(c.buf, r)
	if len(c.buf) == 1000 {
		return c.flush()
	}
	return nil
}

// tableWriter aligns the table a block of tableBlock rows at a time: a
// tabwriter holds every row until it is flushed, so a list of millions of
// events held them all (336 MB for 600k events).
type tableWriter struct {
	w    *tabwriter.Writer
	rows int
}

const tableBlock = 1000

func (t *tableWriter) header() error {
	_, err := fmt.Fprintln(t.w, strings.ToUpper(strings.Join(columns[:11], "\t")))
	return err
}
func (t *tableWriter) flush() error { return t.w.Flush() }
func (t *tableWriter) write(obj []byte) error {
	r, err := row(obj)
	if err != nil {
		return err
	}
	for i := range r[:11] {
		// A cell cannot move the cursor, retitle the terminal or break
		// the table: control characters (tabs and line breaks too) are
		// shown escaped.
		r[i] = mapping.EscapeControl(r[i])
	}
	if _, err = fmt.Fprintln(t.w, strings.Join(r[:11], "\t")); err != nil {
		return err
	}
	if t.rows++; t.rows%tableBlock == 0 {
		return t.w.Flush()
	}
	return nil
}
