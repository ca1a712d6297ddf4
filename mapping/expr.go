package mapping

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// Helpers are the functions expressions can call besides expr-lang's
// builtins (int, float, string, trim, upper, lower, replace, split, len,
// ...). The README documents each.
var helpers = []expr.Option{
	expr.DisableBuiltin("round"),
	expr.Function("round", func(args ...any) (any, error) {
		if len(args) < 1 || len(args) > 2 {
			return nil, fmt.Errorf("round(x[, digits]) takes one or two arguments")
		}
		x, err := toFloat(args[0])
		if err != nil {
			return nil, err
		}
		digits := 0
		if len(args) == 2 {
			d, err := toFloat(args[1])
			if err != nil {
				return nil, err
			}
			if d != math.Trunc(d) || math.Abs(d) > 20 {
				return nil, fmt.Errorf("round: digits %v is not a whole number from -20 to 20", args[1])
			}
			digits = int(d)
		}
		return roundDecimal(x, digits), nil
	}),
	expr.DisableBuiltin("int"),
	expr.Function("int", func(args ...any) (any, error) {
		if len(args) != 1 {
			return nil, fmt.Errorf("int(x) takes one argument")
		}
		return toInt(args[0])
	}),
	expr.Function("num", func(args ...any) (any, error) {
		if len(args) != 1 {
			return nil, fmt.Errorf("num(x) takes one argument")
		}
		return toFloat(args[0])
	}),
	expr.Function("todate", func(args ...any) (any, error) {
		if len(args) != 2 {
			return nil, fmt.Errorf(`todate(value, "%%d/%%m/%%Y %%H:%%M") takes a value and a strftime format`)
		}
		layout, err := strftimeLayout(fmt.Sprint(args[1]))
		if err != nil {
			return nil, err
		}
		s, err := parseDate(fmt.Sprint(args[0]), layout)
		if err != nil {
			return nil, fmt.Errorf("todate(%q): %v", args[0], err)
		}
		return s, nil
	}),
	expr.Function("lpad", func(args ...any) (any, error) {
		if len(args) != 3 {
			return nil, fmt.Errorf(`lpad(value, width, "0") takes a value, a width and a pad character`)
		}
		s, _, err := formatResult(args[0])
		if err != nil {
			return nil, err
		}
		w, err := toFloat(args[1])
		if err != nil {
			return nil, err
		}
		pad := fmt.Sprint(args[2])
		if pad == "" {
			return nil, fmt.Errorf("lpad: the pad character is empty")
		}
		if math.IsNaN(w) || w > MaxPadWidth {
			return nil, fmt.Errorf("lpad: width %v is over %d: pad codes and ids, not text", args[1], MaxPadWidth)
		}
		if short := int(w) - len(s); short > 0 {
			// One allocation, whatever the width (a loop of s = pad + s
			// was quadratic).
			s = strings.Repeat(pad, (short+len(pad)-1)/len(pad)) + s
		}
		return s, nil
	}),
	expr.DisableBuiltin("repeat"),
	expr.Function("repeat", func(args ...any) (any, error) {
		if len(args) != 2 {
			return nil, fmt.Errorf("repeat(s, n) takes a string and a count")
		}
		s, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("repeat: %v is not a string", args[0])
		}
		n, err := toFloat(args[1])
		if err != nil {
			return nil, err
		}
		if n < 0 || n != math.Trunc(n) {
			return nil, fmt.Errorf("repeat: count %v is not a whole number of 0 or more", args[1])
		}
		if float64(len(s))*n > MaxStringBytes {
			return nil, fmt.Errorf("repeat: the result would be over %d bytes", MaxStringBytes)
		}
		return strings.Repeat(s, int(n)), nil
	}),
	expr.DisableBuiltin("replace"),
	expr.Function("replace", func(args ...any) (any, error) {
		if len(args) != 3 {
			return nil, fmt.Errorf(`replace(s, old, new) takes three strings`)
		}
		s, old, repl, err := threeStrings(args)
		if err != nil {
			return nil, fmt.Errorf("replace: %v", err)
		}
		n := strings.Count(s, old) // for "", between every character
		if size := float64(len(s)) + float64(n)*float64(len(repl)-len(old)); size > MaxStringBytes {
			return nil, fmt.Errorf("replace: the result would be over %d bytes", MaxStringBytes)
		}
		return strings.ReplaceAll(s, old, repl), nil
	}),
	expr.DisableBuiltin("join"),
	expr.Function("join", func(args ...any) (any, error) {
		if len(args) < 1 || len(args) > 2 {
			return nil, fmt.Errorf(`join(list[, glue]) takes a list and a glue string`)
		}
		glue := ""
		if len(args) == 2 {
			g, ok := args[1].(string)
			if !ok {
				return nil, fmt.Errorf("join: the glue is %s, not a string", jsonKind(args[1]))
			}
			glue = g
		}
		var parts []string
		switch l := args[0].(type) {
		case []string:
			parts = l
		case []any:
			parts = make([]string, len(l))
			for i, e := range l {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("join: element %d is %s, not a string", i, jsonKind(e))
				}
				parts[i] = s
			}
		default:
			return nil, fmt.Errorf("join: %s is not a list", jsonKind(args[0]))
		}
		size := float64(len(glue)) * float64(max(len(parts)-1, 0))
		for _, p := range parts {
			size += float64(len(p))
		}
		if size > MaxStringBytes {
			return nil, fmt.Errorf("join: the result would be over %d bytes", MaxStringBytes)
		}
		return strings.Join(parts, glue), nil
	}),
	expr.Function(addFunc, func(args ...any) (any, error) {
		if a, ok := args[0].(string); ok {
			if b, ok := args[1].(string); ok && len(a)+len(b) > MaxStringBytes {
				return nil, fmt.Errorf("+: the string would be over %d bytes", MaxStringBytes)
			}
		}
		return checked("+", args[0], args[1]) // integers exactly (checked.go)
	}),
	expr.Function(stepFunc, func(args ...any) (any, error) {
		if b, ok := args[0].(map[string]any)[budgetKey].(*budget); ok {
			if err := b.step(); err != nil {
				return nil, err
			}
		}
		return args[1], nil
	}),
	expr.Patch(stepPatcher{}),
	expr.Function("coalesce", func(args ...any) (any, error) {
		for _, a := range args {
			if a != nil && a != "" {
				return a, nil
			}
		}
		return "", nil
	}),
}

// Bounds of one evaluation of an expression: one row cannot stall a run
// nor exhaust memory, whatever its cells or the spec hold.
const (
	// MaxPadWidth bounds lpad's width (which may come from the data).
	MaxPadWidth = 1024
	// MaxStringBytes bounds a string an expression may build (with +,
	// repeat, replace, join): a cell is at most --max-field-bytes (1 MiB
	// by default), so a result of a few cells fits.
	MaxStringBytes = 16 << 20
	// MaxSteps bounds the iterations of predicates (map, filter, all,
	// reduce, ...) in one evaluation: the only loops the language has.
	MaxSteps = 1_000_000
	// MemoryBudget is expr-lang's own bound on the elements one
	// evaluation may allocate (ranges, arrays, maps).
	MemoryBudget = 1_000_000
)

const (
	addFunc   = "__crmload_add"
	stepFunc  = "__crmload_step"
	budgetKey = "\x00crmload budget"
)

// budget counts the steps of one evaluation.
type budget struct{ steps int }

func (b *budget) step() error {
	b.steps++
	if b.steps > MaxSteps {
		return fmt.Errorf("the expression took over %d steps on this row (a loop over a huge list?)", MaxSteps)
	}
	return nil
}

// stepPatcher makes every predicate body count a step of the budget, and
// every + check the length of a string it builds (A + A + A ... of a
// 1 MiB cell would otherwise grow without bound).
type stepPatcher struct{}

func (stepPatcher) Visit(n *ast.Node) {
	if b, ok := (*n).(*ast.BinaryNode); ok && b.Operator == "+" {
		ast.Patch(n, &ast.CallNode{Callee: &ast.IdentifierNode{Value: addFunc}, Arguments: []ast.Node{b.Left, b.Right}})
		return
	}
	p, ok := (*n).(*ast.PredicateNode)
	if !ok {
		return
	}
	if c, ok := p.Node.(*ast.CallNode); ok {
		if id, ok := c.Callee.(*ast.IdentifierNode); ok && id.Value == stepFunc {
			return // patched already
		}
	}
	p.Node = &ast.CallNode{Callee: &ast.IdentifierNode{Value: stepFunc},
		Arguments: []ast.Node{&ast.IdentifierNode{Value: "$env"}, p.Node}}
}

// runProgram evaluates p over vars within the bounds above.
func runProgram(v *vm.VM, p *program, vars map[string]any) (any, error) {
	b, _ := vars[budgetKey].(*budget)
	if b == nil {
		b = &budget{}
		vars[budgetKey] = b
	}
	b.steps = 0
	v.MemoryBudget = MemoryBudget
	return v.Run(p.prog, vars)
}

func threeStrings(args []any) (a, b, c string, err error) {
	var out [3]string
	for i, v := range args[:3] {
		s, ok := v.(string)
		if !ok {
			return "", "", "", fmt.Errorf("argument %d is %s, not a string", i+1, jsonKind(v))
		}
		out[i] = s
	}
	return out[0], out[1], out[2], nil
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case json.Number:
		return x.Float64()
	case string:
		s := strings.TrimPrefix(strings.TrimSpace(x), "+")
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, fmt.Errorf("%q is not a number", x)
		}
		return f, nil
	case nil:
		return 0, fmt.Errorf("no value (an empty cell or a missing key) is not a number")
	}
	return 0, fmt.Errorf("%s is %s, not a number", CutText(fmt.Sprint(v), 40), jsonKind(v))
}

// program is a compiled expression and the columns it reads.
type program struct {
	src     string
	prog    *vm.Program
	columns []string // identifiers the expression reads
	allEnv  bool     // it uses $env: every column must be in the environment
}

// MaxExprBytes bounds an expression's text, and MaxExprNesting how deep
// its brackets nest: expr-lang's parser recurses once a bracket, so a
// million parentheses overflowed the stack (a crash, not an error).
const (
	MaxExprBytes   = 64 << 10
	MaxExprNesting = 100
)

// checkExprShape refuses an expression too long or nested too deep for
// the parser, before it parses.
func checkExprShape(src string) error {
	if len(src) > MaxExprBytes {
		return fmt.Errorf("the expression is %d bytes long, over %d: compute less in one expression", len(src), MaxExprBytes)
	}
	depth := 0
	var quote byte // the quote of the string literal we are in, or 0
	for i := 0; i < len(src); i++ {
		ch := src[i]
		switch {
		case quote != 0:
			if ch == '\\' {
				i++
			} else if ch == quote {
				quote = 0
			}
		case ch == '"' || ch == '\'' || ch == '`':
			quote = ch
		case ch == '(' || ch == '[' || ch == '{':
			depth++
			if depth > MaxExprNesting {
				return fmt.Errorf("brackets nest more than %d deep (at byte %d): write it flatter", MaxExprNesting, i+1)
			}
		case ch == ')' || ch == ']' || ch == '}':
			depth--
		}
	}
	return nil
}

func compileExpr(src string, asBool bool) (*program, error) {
	if err := checkExprShape(src); err != nil {
		return nil, err
	}
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, err
	}
	p := &program{src: src}
	seen := map[string]bool{}
	ast.Walk(&tree.Node, visitor(func(n *ast.Node) {
		id, ok := (*n).(*ast.IdentifierNode)
		if !ok {
			return
		}
		if id.Value == "$env" {
			p.allEnv = true
		} else if !seen[id.Value] {
			seen[id.Value] = true
			p.columns = append(p.columns, id.Value)
		}
	}))
	// A map[string]any environment lets the VM read variables straight
	// from the map (OpLoadFast) instead of through reflection.
	opts := append([]expr.Option{expr.Env(map[string]any{}), expr.AllowUndefinedVariables()}, helpers...)
	opts = append(opts, checkedArithmetic...)
	if asBool {
		opts = append(opts, expr.AsBool())
	}
	p.prog, err = expr.Compile(src, opts...)
	if err != nil {
		return nil, err
	}
	return p, nil
}

type visitor func(*ast.Node)

func (v visitor) Visit(n *ast.Node) { v(n) }

// formatResult renders an expression's result as a wire value: numbers in
// their shortest exact form, times as the API's date-time, no value as
// absent. A list, a map or a number that is not finite is no value a
// parameter can hold: an error.
func formatResult(v any) (string, bool, error) {
	switch x := v.(type) {
	case nil:
		return "", false, nil
	case string:
		return x, x != "", nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return "", false, fmt.Errorf("the result %v is not a finite number (a division by zero?)", x)
		}
		// Fifteen significant digits: all a float64 computation carries
		// reliably, so that 2.55*6 - 2.55*6/1.2 is 2.55, not
		// 2.5500000000000007, and 0.1 + 0.2 is 0.3.
		n, err := normalizeNumber(strconv.FormatFloat(x, 'g', 15, 64))
		if err != nil {
			return "", false, err
		}
		return trimZeros(n), true, nil
	case int:
		return strconv.Itoa(x), true, nil
	case int64:
		return strconv.FormatInt(x, 10), true, nil
	case bool:
		return strconv.FormatBool(x), true, nil
	case json.Number:
		return string(x), x != "", nil
	case time.Time:
		if x.Year() < 1 || x.Year() > 9999 {
			return "", false, fmt.Errorf("the result %v is not a date the API can hold", x)
		}
		return x.Format(crm.DateLayout), true, nil
	case []any, map[string]any:
		return "", false, fmt.Errorf("the result is a %s, not a single value: pick one element, or join them into a string", kindOf(x))
	}
	return "", false, fmt.Errorf("the result is %s, not a string, number, boolean or date", jsonKind(v))
}

func kindOf(v any) string {
	if _, ok := v.([]any); ok {
		return "list"
	}
	return "map"
}
