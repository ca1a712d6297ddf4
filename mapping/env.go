package mapping

import (
	"encoding/json"

	"github.com/expr-lang/expr/vm"
)

// exprEnv runs expressions over one record at a time. It reuses its
// variables map and VM between records, so a Mapper is for one goroutine.
type exprEnv struct {
	header []string
	cols   map[string]int
	vars   map[string]any
	vm     vm.VM
}

func (e *exprEnv) run(p *program, r *Record) (any, error) {
	switch {
	case r.Object != nil && p.allEnv:
		for k, v := range r.Object {
			e.vars[k] = numbers(v)
		}
	case r.Object != nil:
		for _, c := range p.columns {
			e.vars[c] = numbers(r.Object[c])
		}
	case p.allEnv:
		for i, h := range e.header {
			if i < len(r.Values) {
				e.vars[h] = envValue(r.Values[i])
			}
		}
	default:
		for _, c := range p.columns {
			if i, ok := e.cols[c]; ok && i < len(r.Values) {
				e.vars[c] = envValue(r.Values[i])
			}
		}
	}
	return e.vm.Run(p.prog, e.vars)
}

// numbers turns the json.Numbers of a decoded JSON value into float64s,
// for arithmetic; values mapped without an expression keep their digits.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return f
		}
		return string(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = numbers(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = numbers(e)
		}
		return out
	}
	return v
}
