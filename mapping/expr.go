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
		for len(s) < int(w) {
			s = pad + s
		}
		return s, nil
	}),
	expr.Function("coalesce", func(args ...any) (any, error) {
		for _, a := range args {
			if a != nil && a != "" {
				return a, nil
			}
		}
		return "", nil
	}),
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
	return 0, fmt.Errorf("%v (%T) is not a number", v, v)
}

// program is a compiled expression and the columns it reads.
type program struct {
	src     string
	prog    *vm.Program
	columns []string // identifiers the expression reads
	allEnv  bool     // it uses $env: every column must be in the environment
}

func compileExpr(src string, asBool bool) (*program, error) {
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
	return "", false, fmt.Errorf("the result is a %T, not a string, number, boolean or date", v)
}

func kindOf(v any) string {
	if _, ok := v.([]any); ok {
		return "list"
	}
	return "map"
}
