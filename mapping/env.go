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
	// filled is the record vars hold the columns of, and which columns:
	// the expressions of one record share one conversion of each cell.
	filled *Record
	have   map[string]bool
}

func (e *exprEnv) run(p *program, r *Record) (any, error) {
	if e.filled != r {
		e.filled = r
		clear(e.have)
	}
	if e.have == nil {
		e.have = map[string]bool{}
	}
	if !p.allEnv {
		missing := false
		for _, c := range p.columns {
			if !e.have[c] {
				missing = true
				break
			}
		}
		if !missing {
			return runProgram(&e.vm, p, e.vars)
		}
	}
	e.fill(p, r)
	return runProgram(&e.vm, p, e.vars)
}

func (e *exprEnv) fill(p *program, r *Record) {
	for _, c := range p.columns {
		e.have[c] = true
	}
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
