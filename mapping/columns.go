package mapping

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A column has one type for the whole run: a string, unless the spec's
// columns: section declares it otherwise. Deciding cell by cell (a number
// when the cell looks like one) made an expression that works on one row
// fail on the next: InvoiceNo is 536365 on one line and C536379 on another.

// colKind is a declared column type.
type colKind int8

const (
	colString colKind = iota
	colDecimal
	colInteger
	colDate
)

// columnTypeNames are the types columns: accepts, as written there.
var columnTypeNames = []string{"string", "decimal", "integer", "date"}

// colType is the declared type of one column.
type colType struct {
	name   string // the column (CSV) or top-level key (JSONL)
	kind   colKind
	layout string // dates: the Go layout of the format; "" for the ISO forms
	format string // dates: the format as the spec writes it
	line   int    // in the spec
}

func (t colType) String() string {
	return columnTypeNames[t.kind]
}

// parse converts a cell into its value in expressions: a float64
// (decimal), an int (integer), a time.Time (date) or the string. An empty
// (or blank) cell is no value: nil.
func (t colType) parse(s string) (any, error) {
	if t.kind == colString {
		return s, nil
	}
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	switch t.kind {
	case colDecimal:
		n, err := normalizeNumber(s)
		if err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return nil, notANumber(s)
		}
		return f, nil
	case colInteger:
		n, err := normalizeNumber(s)
		if err != nil {
			return nil, err
		}
		whole, frac, _ := strings.Cut(n, ".")
		if strings.Trim(frac, "0") != "" {
			return nil, fmt.Errorf("is not a whole number")
		}
		i, err := strconv.Atoi(whole)
		if err != nil || i >= maxExactInt || i <= -maxExactInt {
			return nil, fmt.Errorf("is too large for an exact integer (more than 15 digits: declare the column a string)")
		}
		return i, nil
	case colDate:
		tm, err := parseTime(s, t.layout)
		if err != nil {
			return nil, err
		}
		if tm.Year() < 1 {
			return nil, fmt.Errorf("this date does not exist: there is no year 0000")
		}
		return tm, nil
	}
	return s, nil
}

// columnTypes compiles the spec's columns: section, a mapping of column
// name to a type (string, decimal, integer, date) or to {date: FORMAT}.
// Each column must be in the CSV header; JSONL names are top-level keys.
func (c *compiler) columnTypes() ([]colType, error) {
	n := &c.spec.Columns
	if n.Kind == 0 {
		return nil, nil
	}
	valid := strings.Join(columnTypeNames, ", ") + `, or {date: "%d/%m/%Y %H:%M"}`
	if n.Kind != yaml.MappingNode {
		return nil, c.errf(n.Line, "columns: want a mapping of column: type (%s)", valid)
	}
	var out []colType
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		t := colType{name: k.Value, line: k.Line}
		if slices.ContainsFunc(out, func(o colType) bool { return o.name == k.Value }) {
			return nil, c.errf(k.Line, "columns: %s is declared twice", k.Value)
		}
		switch v.Kind {
		case yaml.ScalarNode:
			j := slices.Index(columnTypeNames, v.Value)
			if j < 0 {
				return nil, c.errf(v.Line, "columns: %s: unknown type %q (valid: %s)", k.Value, v.Value, valid)
			}
			t.kind = colKind(j)
		case yaml.MappingNode:
			if len(v.Content) != 2 || v.Content[0].Value != "date" || v.Content[1].Kind != yaml.ScalarNode {
				return nil, c.errf(v.Line, "columns: %s: a mapping here is {date: FORMAT}, e.g. {date: \"%%m/%%d/%%Y %%H:%%M\"} (valid types: %s)", k.Value, valid)
			}
			f := v.Content[1].Value
			layout, err := strftimeLayout(f)
			if err != nil {
				return nil, c.errf(v.Line, "columns: %s: %v", k.Value, err)
			}
			t.kind, t.layout, t.format = colDate, layout, f
		default:
			return nil, c.errf(v.Line, "columns: %s: want a type (%s)", k.Value, valid)
		}
		if c.header != nil {
			if _, ok := c.columns[k.Value]; !ok {
				return nil, c.errf(k.Line, "columns: %q is not in the header of %s (columns: %s)%s", k.Value, c.input, CutList(c.header, "columns"), delimiterHint(c.header))
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// dateLayoutOf is the format a column's declaration gives its dates, so
// that performed_on: InvoiceDate reads them without repeating it.
func (c *compiler) dateLayoutOf(column string) string {
	for _, t := range c.types {
		if t.name == column && t.kind == colDate {
			return t.layout
		}
	}
	return ""
}

// typedColumns holds the declared columns of a run and the values of the
// record they were last converted for: each cell is converted once per
// record, however many expressions read it.
type typedColumns struct {
	types []colType
	at    []int          // CSV: header index -> index in types, -1 if undeclared
	named map[string]int // name -> index in types
	col   []int          // CSV: index in types -> header index
	vals  []any          // the converted values of rec, parallel to types
	rec   *Record
}

func newTypedColumns(types []colType, header []string) *typedColumns {
	if len(types) == 0 {
		return nil
	}
	t := &typedColumns{types: types, named: map[string]int{}, vals: make([]any, len(types))}
	for i, ct := range types {
		t.named[ct.name] = i
	}
	if header != nil {
		t.at, t.col = make([]int, len(header)), make([]int, len(types))
		for i, h := range header {
			t.at[i] = -1
			if j, ok := t.named[h]; ok && !slices.Contains(header[:i], h) {
				t.at[i], t.col[j] = j, i
			}
		}
	}
	return t
}

// convert converts r's declared cells and returns the first that does not
// parse as its type, as a row error naming the column, the value and the
// line. Cells that do not parse are no value (nil) in expressions.
func (t *typedColumns) convert(r *Record) *RowError {
	t.rec = r
	var first *RowError
	for i, ct := range t.types {
		s, ok := t.cell(r, i)
		if !ok {
			t.vals[i] = nil
			continue
		}
		v, err := ct.parse(s)
		t.vals[i] = v
		if err != nil && first == nil {
			what, fix := "a "+ct.String(), "declare the column a string"
			switch {
			case ct.kind == colInteger:
				what = "an integer"
			case ct.format != "":
				// A date that does not parse is most often a format that
				// does not fit the file (another day/month order, ISO
				// dates): the format is named, and fixing it is the fix.
				what, fix = fmt.Sprintf("a date of the format %q", ct.format), "change the format"
			}
			first = &RowError{Line: r.Line, Column: "column " + ct.name, Value: s, Code: CodeInvalidInput,
				Msg: fmt.Sprintf("%v: the mapping's columns: declares %s %s (spec line %d); fix the cell, or %s", err, ct.name, what, ct.line, fix)}
		}
	}
	return first
}

func (t *typedColumns) cell(r *Record, i int) (string, bool) {
	if r.Object != nil {
		x, ok := r.Object[t.types[i].name]
		if !ok {
			return "", false
		}
		return scalarString(x)
	}
	if t.col == nil || t.col[i] >= len(r.Values) {
		return "", false
	}
	return r.Values[t.col[i]], true
}

// value is a declared column's value in r, converting r first if needed.
func (t *typedColumns) value(r *Record, j int) any {
	if t.rec != r {
		t.convert(r)
	}
	return t.vals[j]
}

// delimiterHint is a hint for a header read as one column that holds
// another delimiter (a report saved by a spreadsheet with ";"), or "".
func delimiterHint(header []string) string {
	if len(header) != 1 {
		return ""
	}
	for _, d := range []string{";", "\t", "|"} {
		if strings.Count(header[0], d) > 0 {
			return fmt.Sprintf(": the header was read as one column, and holds %q: if that is its delimiter, set input.delimiter: %q in the mapping", d, d)
		}
	}
	return ""
}
