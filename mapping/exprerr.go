package mapping

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/file"
)

// A runtime error of an expression is explained in the user's terms: the
// columns it read and their values with their types, what went wrong, and
// the fix. expr-lang reports type errors in Go's words ("interface
// conversion: interface {} is float64, not string"), which name nothing
// the user wrote.

var (
	reBinary  = regexp.MustCompile(`^invalid operation: (\S+) (\S+) (\S+)$`)
	reConvert = regexp.MustCompile(`^interface conversion: interface \{\} is (\S+), not (\S+)$`)
	reBuiltin = regexp.MustCompile(`^invalid operation: (float|int|string)\((.*)\)$`)
	reArg     = regexp.MustCompile(`^invalid argument for (\S+) \(type (\S+)\)$`)
	rePos     = regexp.MustCompile(` \(\d+:\d+\)$`)
)

// typeWord names a Go type of an expression value as the README does.
func typeWord(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "float64", "float32":
		return "a decimal"
	case "int", "int64", "int32", "uint", "uint64":
		return "an integer"
	case "<nil>", "nil":
		return "no value (an empty cell)"
	case "bool":
		return "a boolean"
	case "time.Time":
		return "a date"
	case "[]interface", "[]interface {}", "[]any":
		return "a list"
	case "map[string]interface", "map[string]interface {}", "map[string]any":
		return "a map"
	}
	return "a " + goType
}

func valueWord(v any) string {
	switch v.(type) {
	case nil:
		return "no value (an empty cell)"
	case time.Time:
		return "a date"
	}
	return typeWord(fmt.Sprintf("%T", v))
}

// exprMessage is expr-lang's message without its position and snippet.
func exprMessage(err error) string {
	var fe *file.Error
	msg := firstLine(err)
	if errors.As(err, &fe) && fe.Message != "" {
		msg = fe.Message
	}
	return rePos.ReplaceAllString(msg, "")
}

// explain turns the runtime error of p on r into a message naming the
// columns p read, their values and types, what went wrong and the fix.
// The variables hold r's columns (run filled them).
func (e *exprEnv) explain(p *program, r *Record, err error) string {
	msg := exprMessage(err)
	// The columns the expression read, with their values.
	var cols []string
	var vals []any
	for _, c := range p.columns {
		if !e.isColumn(r, c) {
			continue
		}
		cols = append(cols, c)
		vals = append(vals, e.vars[c])
	}
	var parts []string
	for i, c := range cols {
		switch v := vals[i].(type) {
		case nil:
			parts = append(parts, c+" is empty")
		case string:
			parts = append(parts, fmt.Sprintf("%s is %q (a string)", c, v))
		case time.Time:
			parts = append(parts, fmt.Sprintf("%s is %s (a date)", c, v.Format("2006-01-02T15:04:05")))
		case float64:
			parts = append(parts, fmt.Sprintf("%s is %s (a decimal)", c, strconv.FormatFloat(v, 'f', -1, 64)))
		default:
			parts = append(parts, fmt.Sprintf("%s is %v (%s)", c, v, valueWord(v)))
		}
	}
	values := strings.Join(parts, ", ")
	if values == "" {
		values = "on this row"
	}

	problem, typeProblem := "", true
	switch {
	case reBuiltin.MatchString(msg):
		m := reBuiltin.FindStringSubmatch(msg)
		if m[2] == "" {
			problem = fmt.Sprintf("%s() of an empty value is not a number", m[1])
		} else {
			problem = fmt.Sprintf("%s(%q) is not a number", m[1], m[2])
		}
		typeProblem = false
	case reBinary.MatchString(msg):
		m := reBinary.FindStringSubmatch(msg)
		problem = fmt.Sprintf("%s cannot be applied to %s and %s", m[2], typeWord(m[1]), typeWord(m[3]))
	case reConvert.MatchString(msg):
		m := reConvert.FindStringSubmatch(msg)
		problem = fmt.Sprintf("%s was given where %s is needed", typeWord(m[1]), typeWord(m[2]))
	case reArg.MatchString(msg):
		m := reArg.FindStringSubmatch(msg)
		problem = fmt.Sprintf("%s() cannot take %s", m[1], typeWord(m[2]))
	case isGoMessage(msg):
		problem = "a value has the wrong type for the operation"
	default:
		// One of our helpers' or expr-lang's own messages: already in the
		// user's words.
		problem, typeProblem = msg, false
	}
	fix := e.fix(cols, vals, typeProblem)
	out := values + ": " + problem
	if fix != "" {
		out += "; " + fix
	}
	return out
}

// isGoMessage reports whether msg is in Go's words rather than ours.
func isGoMessage(msg string) bool {
	for _, s := range []string{"interface conversion", "invalid operation", "runtime error", "reflect", "cannot use", "cannot convert", "interface {}"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// fix says what to change: declare a column's type, convert it in the
// expression, or guard an empty cell.
func (e *exprEnv) fix(cols []string, vals []any, typeProblem bool) string {
	var empty, strs, typed []string
	for i, c := range cols {
		switch vals[i].(type) {
		case nil:
			empty = append(empty, c)
		case string:
			strs = append(strs, c)
		default:
			if e.typed != nil {
				if _, ok := e.typed.named[c]; ok {
					typed = append(typed, c)
				}
			}
		}
	}
	var fixes []string
	if len(empty) > 0 {
		fixes = append(fixes, fmt.Sprintf("an empty cell is no value: give the parameter a default, or test it first (%s == nil ? 0 : %s)", empty[0], empty[0]))
	}
	if !typeProblem {
		return strings.Join(fixes, "; ")
	}
	if len(strs) > 0 {
		decl := make([]string, len(strs))
		for i, c := range strs {
			decl[i] = c + ": decimal"
		}
		fixes = append(fixes, fmt.Sprintf("a column is a string unless the mapping's columns: section declares its type: declare it there (columns: {%s}), or convert it in the expression (float(%s))",
			strings.Join(decl, ", "), strs[0]))
	}
	if len(typed) > 0 {
		t := e.typed.types[e.typed.named[typed[0]]]
		fixes = append(fixes, fmt.Sprintf("%s is declared %s under columns: (spec line %d): use it as one, declare it a string, or convert it in the expression (string(%s))",
			typed[0], t, t.line, typed[0]))
	}
	if len(fixes) == 0 {
		fixes = append(fixes, "convert the values in the expression (float(x), int(x), string(x)) or declare the columns' types under columns:")
	}
	return strings.Join(fixes, "; ")
}

// isColumn reports whether an identifier of an expression is a column of
// the input (rather than a function or a name the row lacks).
func (e *exprEnv) isColumn(r *Record, name string) bool {
	if r.Object != nil {
		_, ok := r.Object[name]
		return ok
	}
	_, ok := e.cols[name]
	return ok
}

// exprStat counts an expression's runs and failures, so that validate can
// warn about one that failed on every row: a mapping mistake, not bad data.
type exprStat struct {
	line        int
	src         string
	runs, fails int
	first       string // the first failure
}

func (s *exprStat) count(line int, err error) {
	s.runs++
	if err != nil {
		s.fails++
		if s.first == "" {
			s.first = fmt.Sprintf("line %d: %v", line, err)
		}
	}
}

// ExpressionWarnings returns, once per expression of the spec the mappers
// were compiled from (one mapper per input file), a warning for each
// expression that failed on every row it ran on so far.
func ExpressionWarnings(mappers ...*Mapper) []string {
	type key struct {
		line int
		src  string
	}
	sums := map[key]*exprStat{}
	var order []key
	for _, m := range mappers {
		if m == nil {
			continue
		}
		for _, s := range m.stats() {
			k := key{s.line, s.src}
			t, ok := sums[k]
			if !ok {
				t = &exprStat{line: s.line, src: s.src}
				sums[k] = t
				order = append(order, k)
			}
			t.runs += s.runs
			t.fails += s.fails
			if t.first == "" {
				t.first = s.first
			}
		}
	}
	slices.SortStableFunc(order, func(a, b key) int { return a.line - b.line })
	var out []string
	for _, k := range order {
		s := sums[k]
		if s.runs == 0 || s.fails < s.runs {
			continue
		}
		where := ""
		if s.line > 0 {
			where = fmt.Sprintf("line %d of the mapping: ", s.line)
		}
		out = append(out, fmt.Sprintf("%sexpression %q failed on every row so far (%d of %d): fix the mapping rather than the data; the first: %s", where, s.src, s.fails, s.runs, s.first))
	}
	return out
}
