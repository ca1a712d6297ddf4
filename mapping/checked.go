package mapping

import (
	"fmt"
	"math/bits"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm/runtime"
)

// Integer arithmetic in expressions is checked: expr-lang's + - * on two
// integers wrap around silently (9223372036854775807 + 1 is
// -9223372036854775808), which would store a wrong amount or identifier.
// A patch turns every - and * into a call that fails the row on overflow
// and otherwise does what the operator does; + is patched with the string
// bound (expr.go's stepPatcher) and checked the same way.
var checkedArithmetic = []expr.Option{
	expr.Patch(arithPatcher{}),
	expr.Function("_sub", func(a ...any) (any, error) { return checked("-", a[0], a[1]) }),
	expr.Function("_mul", func(a ...any) (any, error) { return checked("*", a[0], a[1]) }),
}

type arithPatcher struct{}

func (arithPatcher) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok {
		return
	}
	var fn string
	switch b.Operator {
	case "-":
		fn = "_sub"
	case "*":
		fn = "_mul"
	default:
		return
	}
	ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: fn}, Arguments: []ast.Node{b.Left, b.Right}})
}

// checked applies op to a and b: exactly for two integers (an error when
// the result does not fit), as the operator does for anything else.
func checked(op string, a, b any) (any, error) {
	x, xok := asInt64(a)
	y, yok := asInt64(b)
	if xok && yok {
		var r int64
		var over bool
		switch op {
		case "+":
			r = x + y
			over = (r > x) != (y > 0)
		case "-":
			r = x - y
			over = (r < x) != (y > 0)
		default:
			hi, lo := bits.Mul64(uint64(abs64(x)), uint64(abs64(y)))
			over = hi != 0 || lo > 1<<63-1 || x == -1<<63 || y == -1<<63
			r = x * y
			if over && (x == 0 || y == 0) {
				over = false
			}
		}
		if over {
			return nil, fmt.Errorf("%d %s %d is beyond the range of an integer (±9223372036854775807): compute in decimals (num(...)) or check the data", x, op, y)
		}
		if _, isInt := a.(int); isInt {
			return int(r), nil
		}
		return r, nil
	}
	switch op {
	case "+":
		return runtime.Add(a, b), nil
	case "-":
		return runtime.Subtract(a, b), nil
	}
	return runtime.Multiply(a, b), nil
}

func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	}
	return 0, false
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
