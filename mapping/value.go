package mapping

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// valueKind says where a value comes from.
type valueKind int

const (
	fromColumn valueKind = iota
	fromConst
	fromExpr
)

// value is one compiled value of the spec: a column (CSV) or path (JSONL),
// a constant, or an expression, with its options.
type value struct {
	line     int
	kind     valueKind
	column   string   // as written: a column name or a dotted path
	col      int      // CSV: index in the header
	path     []string // JSONL: the path split at dots
	constant string
	prog     *program
	layout   string // dates: a Go layout from the format
	dflt     *string
	trim     bool
	lookup   map[string]string
	required bool
	stat     exprStat // expressions: runs and failures
}

var valueKeys = []string{"column", "const", "expr", "format", "default", "trim", "map", "required"}

// parseValue reads a value node: a bare string names a column; a mapping
// has exactly one of column, const, expr, and options.
func (c *compiler) parseValue(n *yaml.Node, where string) (*value, error) {
	v := &value{line: n.Line, col: -1}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value == "" {
			return nil, c.errf(n.Line, "%s: empty value; name a column, or use {const: ...} or {expr: ...}", where)
		}
		v.column = n.Value
		return v, c.bindColumn(v, where)
	case yaml.MappingNode:
	default:
		return nil, c.errf(n.Line, "%s: want a column name or a mapping with column, const or expr", where)
	}
	sources := 0
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Value != "map" && val.Kind != yaml.ScalarNode {
			return nil, c.errf(val.Line, "%s.%s: want a single value", where, k.Value)
		}
		switch k.Value {
		case "column":
			v.kind, v.column = fromColumn, val.Value
			sources++
		case "const":
			v.kind, v.constant = fromConst, val.Value
			sources++
		case "expr":
			p, err := compileExpr(val.Value, false)
			if err != nil {
				return nil, c.errf(val.Line, "%s: expression %q does not compile: %v", where, CutText(val.Value, 120), firstLine(err))
			}
			if err := c.checkExprColumns(p, val.Line, where); err != nil {
				return nil, err
			}
			v.kind, v.prog = fromExpr, p
			v.stat = exprStat{line: val.Line, src: p.src}
			sources++
		case "format":
			layout, err := strftimeLayout(val.Value)
			if err != nil {
				return nil, c.errf(val.Line, "%s: %v", where, err)
			}
			v.layout = layout
		case "default":
			d := val.Value
			v.dflt = &d
		case "trim":
			if err := val.Decode(&v.trim); err != nil {
				return nil, c.errf(val.Line, "%s.trim: want true or false", where)
			}
		case "required":
			if err := val.Decode(&v.required); err != nil {
				return nil, c.errf(val.Line, "%s.required: want true or false", where)
			}
		case "map":
			if err := val.Decode(&v.lookup); err != nil || val.Kind != yaml.MappingNode {
				return nil, c.errf(val.Line, "%s.map: want a mapping of input value: output value", where)
			}
		default:
			return nil, c.errf(k.Line, "%s: unknown key %q (valid: %s)", where, k.Value, strings.Join(valueKeys, ", "))
		}
	}
	if sources != 1 {
		return nil, c.errf(n.Line, "%s: give exactly one of column, const or expr (got %d)", where, sources)
	}
	if v.kind == fromColumn {
		return v, c.bindColumn(v, where)
	}
	return v, nil
}

// bindColumn checks a column against the CSV header (a JSONL path cannot
// be checked before the data is read).
func (c *compiler) bindColumn(v *value, where string) error {
	if c.header == nil {
		v.path = strings.Split(v.column, ".")
		return nil
	}
	i, ok := c.columns[v.column]
	if !ok {
		return c.errf(v.line, "%s: column %q is not in the header of %s (columns: %s)%s", where, v.column, c.input, CutList(c.header, "columns"), delimiterHint(c.header))
	}
	v.col = i
	return nil
}

func (c *compiler) checkExprColumns(p *program, line int, where string) error {
	if c.header == nil {
		return nil
	}
	for _, col := range p.columns {
		if _, ok := c.columns[col]; !ok && !isExprName(col) {
			return c.errf(line, "%s: expression %q reads %q, which is not a column of %s (columns: %s; a column with spaces is $env[\"Unit Price\"])",
				where, p.src, col, c.input, CutList(c.header, "columns"))
		}
	}
	return nil
}

// isExprName reports whether an identifier is one of the language's own
// (a builtin or helper function, a constant) rather than a column.
func isExprName(s string) bool {
	switch s {
	case "true", "false", "nil", "round", "num", "todate", "coalesce", "lpad", "int", "float", "string", "trim", "upper", "lower",
		"replace", "split", "len", "abs", "ceil", "floor", "max", "min", "now", "date", "duration", "trimPrefix", "trimSuffix",
		"hasPrefix", "hasSuffix", "indexOf", "lastIndexOf", "repeat", "join", "toJSON", "fromJSON", "type", "sum", "mean", "median":
		return true
	}
	return false
}

// raw returns the value's input before conversion, and whether there is one.
func (v *value) raw(r *Record, env *exprEnv) (string, bool, error) {
	var s string
	switch v.kind {
	case fromConst:
		return v.constant, v.constant != "", nil
	case fromExpr:
		out, err := env.run(v.prog, r)
		if err != nil {
			err = fmt.Errorf("expression %q: %s", v.prog.src, env.explain(v.prog, r, err))
			v.stat.count(r.Line, err)
			return "", false, err
		}
		var ok bool
		s, ok, err = formatResult(out)
		if err != nil {
			err = fmt.Errorf("expression %q: %v", v.prog.src, err)
			v.stat.count(r.Line, err)
			return "", false, err
		}
		v.stat.count(r.Line, nil)
		if !ok {
			return v.fallback()
		}
	default:
		var ok bool
		var err error
		if s, ok, err = lookupRecord(r, v); err != nil {
			return "", false, err
		}
		if !ok {
			return v.fallback()
		}
	}
	if v.trim {
		s = strings.TrimSpace(s)
	}
	if v.lookup != nil {
		if m, ok := v.lookup[s]; ok {
			s = m
		} else if v.dflt == nil {
			return s, true, fmt.Errorf("%q is not in the map (known: %s)", s, mapKeys(v.lookup))
		} else {
			s = *v.dflt
		}
	}
	if s == "" {
		return v.fallback()
	}
	return s, true, nil
}

func (v *value) fallback() (string, bool, error) {
	if v.dflt != nil && *v.dflt != "" {
		return *v.dflt, true, nil
	}
	if v.required {
		return "", false, fmt.Errorf("is empty, and the mapping marks it required")
	}
	return "", false, nil
}

func mapKeys(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, fmt.Sprintf("%q", k))
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// lookupRecord reads a column of a CSV record or a path of a JSONL object.
// An object or an array at the path is no value a parameter holds: an
// error, not its JSON text stored as a string.
func lookupRecord(r *Record, v *value) (string, bool, error) {
	if r.Object == nil {
		if v.col < 0 || v.col >= len(r.Values) {
			return "", false, nil
		}
		return r.Values[v.col], r.Values[v.col] != "", nil
	}
	x, ok := lookupPath(r.Object, v.path)
	if !ok {
		return "", false, nil
	}
	switch x.(type) {
	case map[string]any:
		return "", false, fmt.Errorf("is an object, not a value a parameter can hold: map one of its members (%s.NAME)", strings.Join(v.path, "."))
	case []any:
		return "", false, fmt.Errorf("is an array, not a value a parameter can hold: join its elements with an expression (join(%s, \";\"))", strings.Join(v.path, "."))
	}
	s, ok := scalarString(x)
	return s, ok, nil
}

func lookupPath(obj map[string]any, path []string) (any, bool) {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// scalarString renders a JSON value as a string; objects and arrays are
// not scalars.
func scalarString(x any) (string, bool) {
	switch t := x.(type) {
	case nil:
		return "", false
	case string:
		return t, t != ""
	case json.Number:
		return string(t), true
	case bool:
		if t {
			return "true", true
		}
		return "false", true
	}
	b, _ := json.Marshal(x)
	return string(b), true
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
