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
	// typed holds the columns the spec declares a type for; nil when it
	// declares none (every column is a string).
	typed *typedColumns
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
			e.vars[k] = e.key(r, k, v)
		}
	case r.Object != nil:
		for _, c := range p.columns {
			e.vars[c] = e.key(r, c, r.Object[c])
		}
	case p.allEnv:
		for i, h := range e.header {
			if i < len(r.Values) {
				e.vars[h] = e.cell(r, i)
			}
		}
	default:
		for _, c := range p.columns {
			if i, ok := e.cols[c]; ok && i < len(r.Values) {
				e.vars[c] = e.cell(r, i)
			}
		}
	}
}

// cell is how the i-th cell of a CSV record appears in expressions: the
// string as read, or the value of its declared type.
func (e *exprEnv) cell(r *Record, i int) any {
	if e.typed != nil {
		if j := e.typed.at[i]; j >= 0 {
			return e.typed.value(r, j)
		}
	}
	return r.Values[i]
}

// key is how a top-level key of a JSONL object appears in expressions:
// the JSON value (numbers as float64s), or the value of its declared type.
func (e *exprEnv) key(r *Record, k string, v any) any {
	if e.typed != nil {
		if j, ok := e.typed.named[k]; ok {
			return e.typed.value(r, j)
		}
	}
	return numbers(v)
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
