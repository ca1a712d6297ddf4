package mapping

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/crmload/crmload/crm"
)

// Column is an input column (a CSV header name or a JSONL path) with a
// sample value, for Template.
type Column struct {
	Name    string
	Sample  string   // the first non-empty value
	Samples []string // values of the first rows, to tell a date's day/month order
}

// guess says how a parameter is recognised: by words in a column's name,
// or by the look of its sample value.
type guess struct {
	names []string
	value *regexp.Regexp
}

var (
	dateLike = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}|^\d{1,2}[/.]\d{1,2}[/.]\d{2,4}`)
	isoDate  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}`)
	guesses  = map[string]guess{
		"performed_on":                          {names: []string{"date", "time", "performed", "_on", "when", "at"}, value: dateLike},
		"accounts_receivable_identifier.number": {names: []string{"account", "acr", "customer"}, value: regexp.MustCompile(`^ACR`)},
		"rewards_participant_identifier.number": {names: []string{"participant"}, value: regexp.MustCompile(`^RP`)},
		"reference_number":                      {names: []string{"invoice", "reference", "order", "receipt"}},
		"classification_identifier.name":        {names: []string{"classification", "category"}},
		"website":                               {names: []string{"url", "site", "web"}},
		"profile":                               {names: []string{"profile"}},
		"social_media":                          {names: []string{"network", "social"}},
		"action":                                {names: []string{"action"}},
		"amount":                                {names: []string{"amount", "total"}},
		"description":                           {names: []string{"description", "note", "comment"}},
		"referred_rewards_participant_identifier.number":                                    {names: []string{"referred", "referee", "invited"}},
		"referred_by_rewards_participant_identifier.number":                                 {names: []string{"referred_by", "referrer", "by"}},
		"products_set.product_identifier.code":                                              {names: []string{"sku", "stock", "product", "item"}},
		"products_set.quantity":                                                             {names: []string{"qty", "quantity"}},
		"products_set.total_amount":                                                         {names: []string{"total", "amount", "price"}},
		"measured_key_performance_indicators_set.key_performance_indicator_identifier.name": {names: []string{"kpi", "indicator", "measure"}},
		"measured_key_performance_indicators_set.value":                                     {names: []string{"value"}},
	}
	requestIDNames = []string{"request", "invoice", "order", "transaction", "ref", "statement", "visit", "id"}
	dmy            = regexp.MustCompile(`^(\d{1,2})[/.](\d{1,2})[/.](\d{2,4})( \d{1,2}:\d{2}(:\d{2})?)?$`)
)

// match finds the column that best fits a parameter, preferring the look
// of a value over words in a name; "" when nothing fits.
func match(param string, cols []Column, used map[string]bool) string {
	g, ok := guesses[param]
	if !ok {
		return ""
	}
	if g.value != nil {
		for _, c := range cols {
			if !used[c.Name] && g.value.MatchString(c.Sample) {
				return c.Name
			}
		}
	}
	for _, word := range g.names {
		for _, c := range cols {
			if !used[c.Name] && strings.Contains(strings.ToLower(c.Name), word) {
				return c.Name
			}
		}
	}
	return ""
}

// Template writes a commented mapping spec for kind and the given columns:
// every column listed with a sample, likely matches filled in, every
// mandatory parameter present (a FIXME where nothing matched), optional
// ones as comments.
func Template(kind crm.Kind, file string, jsonl bool, cols []Column) string {
	s := crm.SchemaOf(kind)
	used := map[string]bool{}
	t := &template{cols: cols, used: used, roles: map[string]string{}, dates: map[string]string{}}
	id := firstColumn(cols, requestIDNames, used)
	if id != "" {
		t.roles[id] = "string"
	}
	// The fields first: which columns they use as identifiers, strings and
	// dates decides the columns: section written above them.
	var fb strings.Builder
	// Of the semi-optional alternatives (account or participant), the one
	// a column matches is written, else the first; the others commented.
	chosen := ""
	if len(s.OneOf) > 0 {
		chosen = s.OneOf[0]
		for _, alt := range s.OneOf {
			if match(alt+".number", cols, used) != "" {
				chosen = alt
				break
			}
		}
	}
	t.writeFields(&fb, s.Fields, "", chosen)
	if set := kind.ItemSet(); set != "" {
		f, _ := s.Field(set)
		if f.Mandatory {
			fmt.Fprintf(&fb, "%s:\n", set)
		} else {
			fmt.Fprintf(&fb, "%s:   # optional: remove this section if the file has no %s\n", set, set)
		}
		if jsonl {
			fb.WriteString("  # from: items          # the array of line items inside each object\n")
		}
		t.writeFields(&fb, f.Items, set+".", "")
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# Mapping spec for %s events from %s, made by crmload init.\n", kind, file)
	b.WriteString("# Check every line marked FIXME, then: crmload validate -m THIS_FILE " + file + "\n#\n# Columns and their first values:\n")
	for _, c := range cols {
		fmt.Fprintf(&b, "#   %-30s %s\n", c.Name, truncate(c.Sample, 40))
	}
	fmt.Fprintf(&b, "kind: %s\n", kind)
	if jsonl {
		b.WriteString("input:\n  format: jsonl\n")
	} else {
		b.WriteString("input:\n  format: csv\n  delimiter: \",\"\n  encoding: utf-8        # latin1, windows-1252, ... for legacy exports\n")
		t.writeColumns(&b)
	}
	if id != "" {
		fmt.Fprintf(&b, "request_id: %s          # must be unique per event; default: <file>:<line>\n", quote(id))
	} else {
		b.WriteString("# request_id: COLUMN     # unique per event; default: <file>:<line>\n")
	}
	b.WriteString("# filter: \"Quantity > 0\"   # rows where it is false are filtered out, not failed\n")
	if kind.ItemSet() != "" {
		b.WriteString("# group_by: COLUMN          # consecutive rows with the same value make one event\n")
	}
	if kind == crm.Purchases {
		b.WriteString("# call:\n#   intended_currency_identifier: { code: { const: EUR } }\n")
	}
	b.WriteString("fields:\n")
	b.WriteString(fb.String())
	return b.String()
}

// template is what Template learns while it matches parameters to
// columns.
type template struct {
	cols  []Column
	used  map[string]bool
	roles map[string]string // column -> "string" (an id, a code, text) or "date"
	dates map[string]string // date column -> its columns: line (type and comment)
}

// writeColumns writes the columns: section: a column's type is decided
// once for the whole run, so a column is declared numeric only when every
// sampled cell is a number (an empty cell is none) and no parameter reads
// it as an identifier or text (InvoiceNo 536365 may be C536379 further
// down). Dates read as dates get their format here.
func (t *template) writeColumns(b *strings.Builder) {
	var lines []string
	for _, c := range t.cols {
		if d, ok := t.dates[c.Name]; ok {
			lines = append(lines, fmt.Sprintf("  %s: %s", quote(c.Name), d))
			continue
		}
		if t.roles[c.Name] != "" || len(c.Samples) == 0 {
			continue
		}
		numeric := true
		for _, v := range c.Samples {
			if !crm.IsNumber(strings.TrimSpace(v)) {
				numeric = false
				break
			}
		}
		if numeric {
			lines = append(lines, fmt.Sprintf("  %s: decimal", quote(c.Name)))
		}
	}
	b.WriteString("# Column types, decided once for the whole file: a column not listed is a string\n")
	b.WriteString("# in expressions, whatever its cells look like (decimal, integer, date, {date: FORMAT}).\n")
	b.WriteString("# A column is listed as decimal only when every sampled cell was a number.\n")
	if len(lines) == 0 {
		b.WriteString("# columns:\n#   Quantity: decimal\n")
		return
	}
	b.WriteString("columns:\n")
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
}

func (t *template) writeFields(b *strings.Builder, fields []crm.Field, prefix string, chosen string) {
	cols, used := t.cols, t.used
	indent := "  "
	for _, f := range fields {
		if f.Name == "request_unique_identifier" || f.Type == crm.Set || f.Type == crm.Object {
			continue
		}
		// Purchases may be performed by a unit, business unit or
		// transaction acquiring point: the template writes the unit.
		mandatory := f.Mandatory || f.Name == chosen || f.Name == "performed_by_unit_identifier"
		if f.Type == crm.IdentifierType {
			field := f.IDFields[0]
			if slices.Contains(f.IDFields, "number") {
				field = "number"
			} else if slices.Contains(f.IDFields, "name") {
				field = "name"
			} else if slices.Contains(f.IDFields, "code") {
				field = "code"
			}
			col := match(prefix+f.Name+"."+field, cols, used)
			val, note := valueFor(col, f.Name == "performed_by_unit_identifier")
			writeLine(b, indent, f.Name, fmt.Sprintf("{ %s: %s }", field, val), note, col, mandatory, f.IDFields)
			if col != "" && mandatory {
				used[col] = true
				t.roles[col] = "string"
			}
			continue
		}
		col := match(prefix+f.Name, cols, used)
		val, note := valueFor(col, false)
		if prefix+f.Name == "products_set.total_amount" && unitPrice(col) {
			// A FIXME value, which validate refuses until someone chooses:
			// as a comment, the unit price was stored as each line's total.
			val, note = "FIXME", unitPriceNote(col, match("products_set.quantity", cols, map[string]bool{}))
		}
		if f.Type == crm.Date && col != "" {
			var decl string
			decl, note = dateValue(col, columnNamed(cols, col))
			if decl != "" && (mandatory || col != "") {
				t.dates[col] = decl
				t.roles[col] = "date"
			}
		}
		if f.Enum != nil && col == "" {
			val, note = fmt.Sprintf("{ const: %s }", f.Enum[0]), ""
		}
		writeLine(b, indent, f.Name, val, note, col, mandatory, nil)
		if col != "" && mandatory {
			used[col] = true
			if f.Type == crm.String {
				t.roles[col] = "string"
			}
		}
	}
}

// unitPrice says whether a column named like a price is not named like a
// total: most likely the price of one unit.
func unitPrice(col string) bool {
	l := strings.ToLower(col)
	return strings.Contains(l, "price") && !strings.Contains(l, "total") && !strings.Contains(l, "amount")
}

// unitPriceNote is the FIXME of a line total taken from a unit price
// (stored as it is, each line's total would be one unit's price).
func unitPriceNote(col, quantity string) string {
	if quantity == "" {
		quantity = "QUANTITY"
	}
	expr := fmt.Sprintf("round(%s * %s, 2)", exprRef(quantity), exprRef(col))
	return fmt.Sprintf(`FIXME: %s looks like the price of one unit, and total_amount is the line's total: if so, write { expr: '%s' } (both declared decimal under columns:), or %s if it is each line's total`, col, strings.ReplaceAll(expr, "'", "''"), plainValue(col))
}

// plainValue is the value written for a column.
func plainValue(col string) string {
	v, _ := valueFor(col, false)
	return v
}

// exprRef is how an expression names a column: by its name when it is an
// identifier, else as $env["Unit Price"].
func exprRef(col string) string {
	if identifier.MatchString(col) {
		return col
	}
	return "$env[" + strconv.Quote(col) + "]"
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func writeLine(b *strings.Builder, indent, name, val, note, col string, mandatory bool, idFields []string) {
	comment := note
	if comment == "" && len(idFields) > 1 {
		comment = "or by " + strings.Join(idFields, ", ")
	}
	if mandatory && col == "" && note == "" && !strings.Contains(val, "const") {
		comment = "FIXME: mandatory; no column looked like it"
	}
	if comment != "" {
		comment = "   # " + comment
	}
	switch {
	case mandatory || col != "":
		fmt.Fprintf(b, "%s%s: %s%s\n", indent, name, val, comment)
	default:
		fmt.Fprintf(b, "%s# %s: %s\n", indent, name, val)
	}
}

// valueFor is the value written for a column (or a placeholder) and a note
// for the end of the line.
func valueFor(col string, unit bool) (string, string) {
	switch {
	case col != "":
		return quote(col), ""
	case unit:
		return `{ const: "Admin Unit" }`, "FIXME: the unit that performs the events"
	}
	return "FIXME", ""
}

// dateValue declares a date column for columns:: as a date when its
// values are year first, with a day/month format when the first rows tell
// the order, and with a FIXME format when they cannot. The note is for the
// parameter's line; decl is "" when the column is no date crmload knows.
func dateValue(col string, c Column) (decl, note string) {
	dayFirst, monthFirst := false, false
	sample := c.Sample
	for _, v := range c.Samples {
		m := dmy.FindStringSubmatch(strings.TrimSpace(v))
		if m == nil {
			if v != "" && !isoDate.MatchString(v) {
				return "", fmt.Sprintf("FIXME: %q is no date form crmload knows: declare it under columns: with {date: FORMAT} (strftime)", v)
			}
			continue
		}
		var a, b int
		fmt.Sscan(m[1], &a)
		fmt.Sscan(m[2], &b)
		dayFirst = dayFirst || a > 12
		monthFirst = monthFirst || b > 12
	}
	if c.Samples == nil && !dmy.MatchString(sample) {
		return "date", ""
	}
	if !dayFirst && !monthFirst && !dmy.MatchString(sample) {
		return "date", ""
	}
	clock := ""
	if m := dmy.FindStringSubmatch(sample); m != nil && m[4] != "" {
		clock = " %H:%M"
		if m[5] != "" {
			clock += ":%S"
		}
	}
	year := "%Y"
	if m := dmy.FindStringSubmatch(sample); m != nil && len(m[3]) == 2 {
		year = "%y"
	}
	sep := "/"
	if strings.Contains(sample, ".") {
		sep = "."
	}
	switch {
	case dayFirst && !monthFirst:
		return fmt.Sprintf(`{ date: "%%d%s%%m%s%s%s" }   # day first, as the first rows show`, sep, sep, year, clock), ""
	case monthFirst && !dayFirst:
		return fmt.Sprintf(`{ date: "%%m%s%%d%s%s%s" }   # month first, as the first rows show`, sep, sep, year, clock), ""
	}
	// Left unset: a guess would swap day and month of US-order data
	// without a word; validate refuses the FIXME until someone chooses.
	return fmt.Sprintf(`{ date: FIXME }   # FIXME: day/month order: the first rows (%q) do not tell; write "%%d%s%%m%s%s%s" (day first) or "%%m%s%%d%s%s%s" (month first)`,
		sample, sep, sep, year, clock, sep, sep, year, clock), ""
}

func firstColumn(cols []Column, words []string, used map[string]bool) string {
	for _, w := range words {
		for _, c := range cols {
			if !used[c.Name] && strings.Contains(strings.ToLower(c.Name), w) {
				return c.Name
			}
		}
	}
	return ""
}

func columnNamed(cols []Column, name string) Column {
	for _, c := range cols {
		if c.Name == name {
			return c
		}
	}
	return Column{}
}

// quote writes a column name as YAML: bare when safe, quoted otherwise.
func quote(s string) string {
	if regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`).MatchString(s) {
		return s
	}
	return fmt.Sprintf("%q", s)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
