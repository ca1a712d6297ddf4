package mapping

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/crmload/crmload/crm"
	"go.yaml.in/yaml/v3"
)

// Options describe the input a spec is compiled for.
type Options struct {
	// File is the input file; its base name makes default request ids.
	File string
	// Header is the CSV header; nil for JSONL input.
	Header []string
}

// assign sets one parameter of an event (or of a set element) from a value.
type assign struct {
	wire  string        // "performed_on", "accounts_receivable_identifier.number"
	typ   crm.FieldType // String, Number or Date
	steps [][]int       // Go field indexes from the root struct; pointers are followed
	hops  []hop         // steps as offsets (setter.go); nil: steps by reflection
	val   *value
}

// items maps the kind's set of line items.
type items struct {
	set      string
	from     []string // JSONL: the array inside the object; nil: one element per record
	assigns  []assign
	elem     reflect.Type
	elems    *slab   // makes sets of elem
	elemSize uintptr // elem's size
	setOff   uintptr // the set's offset in Event
	steps    [][]int // the set's field on Event
}

type compiler struct {
	spec    *Spec
	kind    crm.Kind
	schema  *crm.Schema
	input   string
	header  []string
	columns map[string]int
	// columnOf maps a parameter (set indexes left out) to where its value
	// comes from, for row error messages.
	columnOf map[string]string
	// types are the columns: declarations.
	types []colType
}

func (c *compiler) errf(line int, format string, args ...any) error {
	return &SpecError{File: c.spec.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Compile checks spec against the kind's parameters and the input's header
// and returns a mapper. Every mistake is reported before a row is read, with
// the spec line and what would be valid.
func Compile(spec *Spec, opts Options) (*Mapper, error) {
	c := &compiler{spec: spec, input: filepath.Base(opts.File), header: opts.Header, columnOf: map[string]string{}}
	kind, err := crm.ParseKind(spec.Kind)
	if err != nil {
		if spec.Kind == "" {
			return nil, c.errf(0, "kind: is missing (one of %s)", kindList())
		}
		return nil, c.errf(spec.line["kind"], "kind: %v", err)
	}
	c.kind, c.schema = kind, crm.SchemaOf(kind)
	if err := c.checkPlaceholders(); err != nil {
		return nil, err
	}
	if opts.Header != nil {
		c.columns = make(map[string]int, len(opts.Header))
		for i, h := range opts.Header {
			if _, dup := c.columns[h]; !dup {
				c.columns[h] = i
			}
		}
	}
	if c.types, err = c.columnTypes(); err != nil {
		return nil, err
	}
	m := &Mapper{kind: kind, file: c.input, jsonl: opts.Header == nil,
		env: &exprEnv{header: opts.Header, cols: c.columns, vars: map[string]any{}, typed: newTypedColumns(c.types, opts.Header)}}

	if spec.Fields.Kind == 0 {
		return nil, c.errf(0, "fields: is missing; map at least the mandatory parameters of %s (%s)", kind, strings.Join(mandatoryNames(c.schema.Fields), ", "))
	}
	mapped := map[string]bool{}
	m.fields, err = c.fieldList(&spec.Fields, c.schema.Fields, reflect.TypeFor[crm.Event](), "", mapped)
	if err != nil {
		return nil, err
	}
	if err := c.checkMandatory(spec.line["fields"], c.schema.Fields, mapped, ""); err != nil {
		return nil, err
	}
	if len(c.schema.OneOf) > 0 && !slices.ContainsFunc(c.schema.OneOf, func(n string) bool { return mapped[n] }) {
		return nil, c.errf(spec.Fields.Line, "fields: map one of %s", strings.Join(c.schema.OneOf, " or "))
	}
	if len(c.schema.AnyOf) > 0 && !slices.ContainsFunc(c.schema.AnyOf, func(n string) bool { return mapped[n] }) {
		return nil, c.errf(spec.Fields.Line, "fields: map %s", strings.Join(c.schema.AnyOf, " or "))
	}
	if m.items, err = c.items(); err != nil {
		return nil, err
	}
	if m.currency, err = c.call(); err != nil {
		return nil, err
	}
	if spec.RequestID.Kind != 0 {
		if m.requestID, err = c.parseValue(&spec.RequestID, "request_id"); err != nil {
			return nil, err
		}
	}
	if spec.GroupBy.Kind != 0 {
		if m.groupBy, err = c.parseValue(&spec.GroupBy, "group_by"); err != nil {
			return nil, err
		}
	}
	if spec.Filter != "" {
		p, err := compileExpr(spec.Filter, true)
		if err != nil {
			return nil, c.errf(spec.line["filter"], "filter: %q does not compile to a true/false expression: %v", CutText(spec.Filter, 120), firstLine(err))
		}
		if err := c.checkExprColumns(p, spec.line["filter"], "filter"); err != nil {
			return nil, err
		}
		m.filter = p
		m.filterStat = exprStat{line: spec.line["filter"], src: p.src}
	}
	m.columnOf = c.columnOf
	for i := range m.fields {
		m.fields[i].hops = planHops(reflect.TypeFor[crm.Event](), m.fields[i].steps)
	}
	if m.items != nil {
		for i := range m.items.assigns {
			m.items.assigns[i].hops = planHops(m.items.elem, m.items.assigns[i].steps)
		}
	}
	return m, nil
}

func kindList() string {
	names := make([]string, len(crm.Kinds))
	for i, k := range crm.Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

func mandatoryNames(fields []crm.Field) []string {
	var out []string
	for _, f := range fields {
		if f.Mandatory && f.Name != "request_unique_identifier" {
			out = append(out, f.Name)
		}
	}
	return out
}

func fieldNames(fields []crm.Field) string {
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		if f.Name != "request_unique_identifier" {
			names = append(names, f.Name)
		}
	}
	return strings.Join(names, ", ")
}

func (c *compiler) checkMandatory(line int, fields []crm.Field, mapped map[string]bool, prefix string) error {
	for _, f := range fields {
		if !f.Mandatory || f.Name == "request_unique_identifier" || f.Type == crm.Set || mapped[f.Name] {
			continue
		}
		return c.errf(line, "%s%s is mandatory for %s events: map it", prefix, f.Name, c.kind)
	}
	return nil
}

// fieldList compiles a mapping node of parameter: value against fields,
// whose Go struct is root.
func (c *compiler) fieldList(n *yaml.Node, fields []crm.Field, root reflect.Type, prefix string, mapped map[string]bool) ([]assign, error) {
	where := strings.TrimSuffix(prefix, ".")
	if where == "" {
		where = "fields"
	}
	if n.Kind != yaml.MappingNode {
		return nil, c.errf(n.Line, "%s: want a mapping of parameter: value", where)
	}
	var out []assign
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		if name == "request_unique_identifier" && prefix == "" {
			return nil, c.errf(k.Line, "request_unique_identifier is set by request_id: at the top level of the spec")
		}
		f := findField(fields, name)
		if f == nil {
			return nil, c.errf(k.Line, "%s: %q is not a parameter of %s events (valid: %s)", where, name, c.kind, fieldNames(fields))
		}
		if f.Type == crm.Set {
			return nil, c.errf(k.Line, "%s: %s goes at the top level of the spec, not under %s", where, name, where)
		}
		mapped[name] = true
		steps, _, err := goPath(root, name)
		if err != nil {
			return nil, c.errf(k.Line, "%v", err)
		}
		switch f.Type {
		case crm.IdentifierType:
			as, err := c.identifier(v, f, steps, root, prefix+name)
			if err != nil {
				return nil, err
			}
			out = append(out, as...)
		case crm.Object:
			sub, elem, _ := goPath(root, name)
			as, err := c.fieldList(v, f.Items, elem, prefix+name+".", map[string]bool{})
			if err != nil {
				return nil, err
			}
			for _, a := range as {
				a.steps = append(slices.Clone(sub), a.steps...)
				out = append(out, a)
			}
		default:
			a, err := c.leaf(v, f, steps, prefix+name)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
	}
	return out, nil
}

var tokenFields = []string{"authentication_code", "identifier", "pass_code", "one_time_password"}

// identifier compiles { field: value, ... } for an identifier parameter.
func (c *compiler) identifier(n *yaml.Node, f *crm.Field, steps [][]int, root reflect.Type, wire string) ([]assign, error) {
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		return nil, c.errf(n.Line, "%s: an identifier is a mapping of one of its fields to a value, e.g. {%s: COLUMN} (fields: %s)",
			wire, f.IDFields[0], strings.Join(f.IDFields, ", "))
	}
	_, idType, _ := goPath(root, f.Name)
	var out []assign
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(f.IDFields, k.Value) {
			return nil, c.errf(k.Line, "%s: %q is not a field of this identifier (fields: %s)", wire, k.Value, strings.Join(f.IDFields, ", "))
		}
		sub, subType, err := goPath(idType, k.Value)
		if err != nil {
			return nil, c.errf(k.Line, "%v", err)
		}
		path := append(slices.Clone(steps), sub...)
		if k.Value == "access_token_identifier" {
			if v.Kind != yaml.MappingNode {
				return nil, c.errf(v.Line, "%s.access_token_identifier: want a mapping of %s", wire, strings.Join(tokenFields, ", "))
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				tk, tv := v.Content[j], v.Content[j+1]
				if !slices.Contains(tokenFields, tk.Value) {
					return nil, c.errf(tk.Line, "%s.access_token_identifier: %q is not a field of an access token identifier (fields: %s)", wire, tk.Value, strings.Join(tokenFields, ", "))
				}
				tsub, _, err := goPath(subType, tk.Value)
				if err != nil {
					return nil, c.errf(tk.Line, "%v", err)
				}
				a, err := c.leaf(tv, &crm.Field{Name: tk.Value, Type: crm.String}, append(slices.Clone(path), tsub...), wire+".access_token_identifier."+tk.Value)
				if err != nil {
					return nil, err
				}
				out = append(out, a)
			}
			continue
		}
		a, err := c.leaf(v, &crm.Field{Name: k.Value, Type: crm.String}, path, wire+"."+k.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// leaf compiles a value for a string, number or date parameter and checks
// what can be checked now: a constant's form and enumeration.
func (c *compiler) leaf(n *yaml.Node, f *crm.Field, steps [][]int, wire string) (assign, error) {
	v, err := c.parseValue(n, wire)
	if err != nil {
		return assign{}, err
	}
	if f.Type == crm.Date && v.kind == fromColumn && v.layout == "" {
		v.layout = c.dateLayoutOf(v.column) // the format its columns: declaration gives
	}
	a := assign{wire: wire, typ: f.Type, steps: steps, val: v}
	if v.kind == fromConst {
		s, err := convert(a.typ, v.constant, v.layout)
		if err != nil {
			return a, c.errf(v.line, "%s: constant %q %v", wire, v.constant, err)
		}
		if f.Enum != nil && !slices.Contains(f.Enum, s) {
			return a, c.errf(v.line, "%s: constant %q is not one of %s", wire, s, strings.Join(f.Enum, ", "))
		}
	}
	if a.typ != crm.Date && v.layout != "" {
		return a, c.errf(v.line, "%s: format applies to dates only, and %s is a %s", wire, wire, a.typ)
	}
	if v.kind != fromConst {
		c.columnOf[stripIndexes(wire)] = describe(v)
	}
	return a, nil
}

func (c *compiler) items() (*items, error) {
	set := c.kind.ItemSet()
	nodes := map[string]*yaml.Node{"products_set": &c.spec.ProductsSet, "measured_key_performance_indicators_set": &c.spec.MeasuredKPIs}
	for name, n := range nodes {
		if n.Kind != 0 && name != set {
			msg := fmt.Sprintf("%s events have no set of line items", c.kind)
			if set != "" {
				msg = fmt.Sprintf("%s events have %s instead", c.kind, set)
			}
			return nil, c.errf(c.spec.line[name], "%s: %s (purchases have products_set, financial statements measured_key_performance_indicators_set)", name, msg)
		}
	}
	if set == "" {
		return nil, nil
	}
	f, _ := c.schema.Field(set)
	n := nodes[set]
	if n.Kind == 0 {
		if f.Mandatory {
			return nil, c.errf(0, "%s: is mandatory for %s events: map its %s", set, c.kind, strings.Join(mandatoryNames(f.Items), ", "))
		}
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, c.errf(n.Line, "%s: want a mapping of parameter: value (and from: for a JSONL array)", set)
	}
	it := &items{set: set}
	var err error
	if it.steps, it.elem, err = goPath(reflect.TypeFor[crm.Event](), set); err != nil {
		return nil, err
	}
	it.elem = it.elem.Elem() // []T -> T
	it.elems, it.elemSize = newSlab(it.elem), it.elem.Size()
	off, ok := fieldOffset(reflect.TypeFor[crm.Event](), it.steps)
	if !ok {
		return nil, fmt.Errorf("internal: %s is not a slice field of the event", set)
	}
	it.setOff = off
	body := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value != "from" {
			body.Content = append(body.Content, k, v)
			continue
		}
		if c.header != nil {
			return nil, c.errf(k.Line, "%s.from: takes an array of a JSONL object; a CSV row gives one element (group_by: gathers rows into one event)", set)
		}
		if v.Kind != yaml.ScalarNode || v.Value == "" {
			return nil, c.errf(v.Line, "%s.from: want the path of the array, e.g. items", set)
		}
		it.from = strings.Split(v.Value, ".")
		c.columnOf[set] = "path " + v.Value
	}
	mapped := map[string]bool{}
	if it.assigns, err = c.fieldList(body, f.Items, it.elem, set+".", mapped); err != nil {
		return nil, err
	}
	if err := c.checkMandatory(c.spec.line[set], f.Items, mapped, set+"."); err != nil {
		return nil, err
	}
	return it, nil
}

// call compiles the call-level parameters: constants only, since one call
// carries many rows.
func (c *compiler) call() (*crm.CurrencyIdentifier, error) {
	n := &c.spec.Call
	if n.Kind == 0 {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, c.errf(n.Line, "call: want a mapping of call parameters")
	}
	var cur *crm.CurrencyIdentifier
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var f *crm.Field
		for j := range c.schema.Call {
			if c.schema.Call[j].Name == k.Value {
				f = &c.schema.Call[j]
			}
		}
		if f == nil {
			valid := "none"
			if len(c.schema.Call) > 0 {
				valid = c.schema.Call[0].Name
			}
			return nil, c.errf(k.Line, "call: %q is not a call parameter of %s (valid: %s)", k.Value, c.kind, valid)
		}
		as, err := c.identifier(v, f, nil, reflect.TypeFor[crm.BulkRequest](), "call."+k.Value)
		if err != nil {
			return nil, err
		}
		cur = &crm.CurrencyIdentifier{}
		for _, a := range as {
			if a.val.kind != fromConst {
				return nil, c.errf(a.val.line, "%s: a call parameter applies to a whole call of many rows, so it must be a {const: ...}", a.wire)
			}
			switch a.wire {
			case "call." + k.Value + ".id":
				cur.ID = a.val.constant
			case "call." + k.Value + ".code":
				cur.Code = a.val.constant
			}
		}
	}
	return cur, nil
}

func findField(fields []crm.Field, name string) *crm.Field {
	for i := range fields {
		if fields[i].Name == name {
			return &fields[i]
		}
	}
	return nil
}

// goPath finds the Go field with the given wire (JSON) name in struct t,
// through embedded structs, and returns its index and type. The returned
// type has pointers removed.
func goPath(t reflect.Type, name string) ([][]int, reflect.Type, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for _, sf := range reflect.VisibleFields(t) {
		if sf.Anonymous {
			continue
		}
		if tag, _, _ := strings.Cut(sf.Tag.Get("json"), ","); tag == name {
			ft := sf.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			return [][]int{sf.Index}, ft, nil
		}
	}
	return nil, nil, fmt.Errorf("internal: no Go field for %s in %s", name, t)
}

func stripIndexes(s string) string {
	var b strings.Builder
	depth := 0
	for _, r := range s {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}
