package mapping

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// placeholder is a value crmload init left for a person to choose.
type placeholder struct {
	line int
	path string // as other errors name it: columns: C, a.b, products_set.a
	date bool   // a date format: the day/month order
	typ  bool   // a column's type
}

// placeholders lists, in the order of the file, every value of spec still
// FIXME, so that validate names them all at once: init writes one for each
// mandatory parameter it matched to no column, for each date format whose
// day/month order the first rows do not tell, and for a unit price offered
// as a line total. A date format is one when it holds FIXME; any other value
// when it is FIXME alone (a constant may contain the word).
func (s *Spec) placeholders() []placeholder {
	var found []placeholder
	var walk func(n *yaml.Node, path []string)
	walk = func(n *yaml.Node, path []string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "map" || n.Content[i].Value == "const" {
					continue // data: a value may say FIXME
				}
				walk(n.Content[i+1], append(path, n.Content[i].Value))
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, append(path, fmt.Sprint(i)))
			}
		case yaml.ScalarNode:
			last := ""
			if len(path) > 0 {
				last = path[len(path)-1]
			}
			date := last == "date" || last == "format"
			if n.Value == "FIXME" || date && strings.Contains(n.Value, "FIXME") {
				keys := path[1:]
				if last == "date" { // columns: Date: {date: FIXME}
					keys = keys[:len(keys)-1]
				}
				p := placeholder{line: n.Line, path: strings.Join(keys, "."), date: date}
				switch {
				case path[0] == "columns":
					p.path, p.typ = "columns: "+p.path, !date
				case path[0] != "fields" && p.path != "":
					p.path = path[0] + "." + p.path
				case path[0] != "fields":
					p.path = path[0]
				}
				found = append(found, p)
			}
		}
	}
	for _, sec := range []struct {
		name string
		node *yaml.Node
	}{
		{"columns", &s.Columns}, {"request_id", &s.RequestID}, {"group_by", &s.GroupBy}, {"call", &s.Call},
		{"fields", &s.Fields}, {"products_set", &s.ProductsSet}, {"measured_key_performance_indicators_set", &s.MeasuredKPIs},
	} {
		walk(sec.node, []string{sec.name})
	}
	// Sections are walked in a fixed order; the file may order them otherwise.
	slices.SortStableFunc(found, func(a, b placeholder) int { return a.line - b.line })
	return found
}

// what says what to choose for p.
func (p placeholder) what() string {
	switch {
	case p.date:
		return "the date format is still FIXME: choose the day/month order of the dates (%d/%m/%Y or %m/%d/%Y, as the comment of that line says)"
	case p.typ:
		return "the type is still FIXME: choose string, decimal, integer, date, or {date: FORMAT}"
	}
	return "still FIXME: name the column that holds it, or give {const: ...} or {expr: ...} (the comment of that line says what init looked for); or remove the line if the parameter is optional"
}

// checkPlaceholders refuses a spec with values still FIXME, naming each.
func (c *compiler) checkPlaceholders() error {
	found := c.spec.placeholders()
	switch len(found) {
	case 0:
		return nil
	case 1:
		return c.errf(found[0].line, "%s: %s", found[0].path, found[0].what())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d values are still FIXME, the placeholders crmload init left to choose (the comment of each line says what it looked for):", len(found))
	for _, p := range found {
		what := "name the column, or give {const: ...} or {expr: ...}"
		switch {
		case p.date:
			what = "choose the day/month order of the dates (%d/%m/%Y or %m/%d/%Y)"
		case p.typ:
			what = "choose its type"
		}
		fmt.Fprintf(&b, "\n  %s:%d: %s: %s", c.spec.file, p.line, p.path, what)
	}
	return c.errf(0, "%s", b.String())
}
