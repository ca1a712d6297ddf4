package cmd

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/loader"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// One rule per kind of flag value, shared by every command, checked once
// every flag has its value (command line, environment or config file) and
// before the command does anything: a bad value exits 2.
//
//   - a number (float): finite and not negative (NaN is no "no limit");
//   - a duration: not negative;
//   - a byte size (byteSizeValue): 1 byte or more, with an optional unit;
//   - a choice among words (choiceFlag): one of them, exactly as spelled;
//   - a kind (kindFlag): one of the seven kinds, as in the API's URLs.

// annChoice is the flag annotation listing a choice flag's values.
const annChoice = "crmload/choice"

// annKind marks a flag whose value is a kind of events.
const annKind = "crmload/kind"

// annDate marks a flag whose value is a date: YYYY-MM-DD, or the API's
// YYYY-MM-DDTHH:MM:SS.
const annDate = "crmload/date"

// dateFlag says that flag name of c takes a date ("" allowed).
func dateFlag(c *cobra.Command, name string) {
	if err := c.Flags().SetAnnotation(name, annDate, []string{"true"}); err != nil {
		panic(err)
	}
}

// flagDate is the API date-time of a date flag's value: a date alone is
// its first second, or with endOfDay its last (an --until of a day takes
// the whole day).
func flagDate(v string, endOfDay bool) string {
	if len(v) == len("2006-01-02") {
		if endOfDay {
			return v + "T23:59:59"
		}
		return v + "T00:00:00"
	}
	return v
}

// choiceFlag says that flag name of c takes one of values.
func choiceFlag(c *cobra.Command, name string, values ...string) {
	if err := c.Flags().SetAnnotation(name, annChoice, values); err != nil {
		panic(err) // a typo in a flag name: a programming error
	}
}

// kindFlag says that flag name of c takes a kind of events ("" allowed:
// commands that require it say so).
func kindFlag(c *cobra.Command, name string) {
	if err := c.Flags().SetAnnotation(name, annKind, []string{"true"}); err != nil {
		panic(err)
	}
}

// checkFlags applies the rules above to every flag of cmd.
func checkFlags(cmd *cobra.Command) error {
	var errs []error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err := checkFlag(f); err != nil {
			errs = append(errs, fmt.Errorf("--%s %q: %v", f.Name, f.Value.String(), err))
		}
	})
	if len(errs) > 0 {
		return usage(errors.Join(errs...))
	}
	return nil
}

func checkFlag(f *pflag.Flag) error {
	switch f.Value.Type() {
	case "float64", "float32":
		v, err := strconv.ParseFloat(f.Value.String(), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return errors.New("want a finite number")
		}
		if v < 0 {
			return errors.New("cannot be negative")
		}
	case "duration":
		d, err := time.ParseDuration(f.Value.String())
		if err != nil {
			return errors.New("want a duration such as 30s or 5m")
		}
		if d < 0 {
			return errors.New("cannot be negative")
		}
	}
	if vals, ok := f.Annotations[annChoice]; ok && f.Value.String() != "" && !slices.Contains(vals, f.Value.String()) {
		return fmt.Errorf("want %s", orList(vals))
	}
	if _, ok := f.Annotations[annDate]; ok && f.Value.String() != "" {
		v := f.Value.String()
		if _, err := time.Parse("2006-01-02", v); err != nil && !crm.IsDate(v) {
			return errors.New("want a date, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS")
		}
	}
	if _, ok := f.Annotations[annKind]; ok && f.Value.String() != "" {
		if _, err := crm.ParseKind(f.Value.String()); err != nil {
			return err
		}
	}
	return nil
}

func orList(vals []string) string {
	switch len(vals) {
	case 0:
		return "nothing"
	case 1:
		return vals[0]
	}
	return strings.Join(vals[:len(vals)-1], ", ") + " or " + vals[len(vals)-1]
}

// byteSizeValue is a flag holding a size in bytes: 1048576, 512KiB, 16MiB,
// 1GiB (KB, MB, GB and k, m, g mean the same powers of 1024 here).
type byteSizeValue int

func newByteSize(p *int, def int) *byteSizeValue {
	*p = def
	return (*byteSizeValue)(p)
}

func (b *byteSizeValue) String() string { return strconv.Itoa(int(*b)) }
func (b *byteSizeValue) Type() string   { return "bytes" }

func (b *byteSizeValue) Set(s string) error {
	n, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b = byteSizeValue(n)
	return nil
}

func parseByteSize(s string) (int, error) {
	t := strings.TrimSpace(s)
	num := strings.TrimRightFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.ToLower(strings.TrimSpace(t[len(num):]))
	mult := 1
	switch unit {
	case "", "b":
	case "k", "kb", "kib":
		mult = 1 << 10
	case "m", "mb", "mib":
		mult = 1 << 20
	case "g", "gb", "gib":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("want a size such as 1048576, 512KiB, 16MiB or 1GiB")
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > math.MaxInt32/mult {
		return 0, fmt.Errorf("want a size from 1 byte to 2 GiB, such as 16MiB")
	}
	return n * mult, nil
}

// addLimitFlags declares --max-record-bytes and --max-field-bytes, which
// every command that reads inputs takes.
func addLimitFlags(c *cobra.Command, l *loader.Limits) {
	c.Flags().Var(newByteSize(&l.RecordBytes, loader.DefaultMaxRecordBytes), "max-record-bytes",
		"at most this many bytes in one record (a CSV record, a JSONL line), e.g. 16MiB; a longer one fails with its line and reading goes on")
	c.Flags().Var(newByteSize(&l.FieldBytes, loader.DefaultMaxFieldBytes), "max-field-bytes",
		"at most this many bytes in one CSV cell or JSONL string, e.g. 1MiB; a record with a longer one fails")
}
