package mapping

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/crmload/crmload/crm"
)

// Record is one input record: a CSV row (Values, by header position) or a
// JSONL object (Object, numbers as json.Number, and Raw, the line as read).
// Line is the record's first line in its file. A record that could not be
// read has Err set, whatever could be read of it, and its text in Raw. A
// Comment record is a comment line of the input: counted as filtered.
type Record struct {
	Line    int
	Values  []string
	Object  map[string]any
	Raw     []byte
	Err     error
	Comment bool
}

// TornError is a record cut short by the end of a damaged input (a
// truncated .gz): what arrived of it is the record's raw text. From is
// the first line to load again from a complete copy: the record's own,
// or, when the mapper fails it with the group before it, that group's
// first line (the group's rows before the cut fail with it).
type TornError struct {
	At   int   // the line the damage was found on
	From int   // the first line to load from a complete copy
	Line int   // the record's first line
	Err  error // what the reader said
}

func (e *TornError) Error() string {
	where := "here"
	if e.At != e.Line {
		where = fmt.Sprintf("on line %d", e.At)
	}
	return fmt.Sprintf("the file is cut short or damaged %s (%v): every complete row before line %d was read, and the rows from line %d on are missing or failed with this one: "+
		"load them from a complete copy (not the whole file again: the rows before them are stored; README: Damaged input files)", where, e.Err, e.From, e.From)
}

func (e *TornError) Unwrap() error { return e.Err }

// Codes of the failure report for rows that fail before CRM.COM sees them,
// beside the CRM.COM codes of crm.Validate.
const (
	CodeMalformedRecord = "MalformedInputRecordException"
	CodeInvalidInput    = "InvalidInputValueException"
)

// RowError says why a row cannot become an event: the line, where the value
// came from (column, path or expression), the parameter, the value and what
// is wrong with it.
type RowError struct {
	File   string // the input, named when a run reads several (set by its reader)
	Line   int
	Column string // "column InvoiceDate", "expression round(...)", or ""
	Field  string // the CRM.COM parameter
	Value  string
	Code   string
	Msg    string
}

func (e *RowError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File + ", ")
	}
	fmt.Fprintf(&b, "line %d", e.Line)
	if e.Column != "" {
		b.WriteString(", " + e.Column)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, " (%s)", e.Field)
	}
	if e.Value != "" {
		fmt.Fprintf(&b, ": value %q", e.Value)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

// Item is what the mapper makes of one or more records: an event, a
// filtered record, or failed records with the reason. Records are the input
// records it covers, in order.
type Item struct {
	Event     *crm.Event
	Records   []*Record
	RequestID string
	// Key is the group_by key the records share; "" without group_by, or
	// for a record with an empty key (an event of its own).
	Key      string
	Filtered bool
	// Err is why the item failed: the first of its records' errors.
	Err *RowError
	// Errs, for a failed item, holds each record's own error, nil for a
	// record that fails only because another record of its group did.
	// Nil when Err is the only error (ErrOf handles both).
	Errs []*RowError

	// Stray says the last record is an unreadable one whose group is
	// unknown, failed with the group before it: not of the group, its
	// request id is StrayID (what could be read of it gives, or "").
	Stray   bool
	StrayID string

	defaultID bool // RequestID is the default, the file's name and a line
}

// RequestIDOf is the request id of the item's i-th record: the item's,
// but for a stray unreadable record (Stray), its own.
func (it *Item) RequestIDOf(i int) string {
	if it.Stray && i == len(it.Records)-1 {
		return it.StrayID
	}
	return it.RequestID
}

// ErrOf is why the item's i-th record failed: its own error, or, for a
// record of a group that fails because of another record, a reason that
// names that record ("failed with its group"). A group is stored whole or
// not at all, so a retry of the failure report re-creates it once.
func (it *Item) ErrOf(i int) *RowError {
	if it.Err == nil {
		return nil
	}
	if i < len(it.Errs) && it.Errs[i] != nil {
		return it.Errs[i]
	}
	rec := it.Records[i]
	if len(it.Records) == 1 || (it.Errs == nil && rec.Line == it.Err.Line) {
		return it.Err
	}
	key := ""
	if it.Key != "" {
		key = fmt.Sprintf(" %q", it.Key)
	}
	why := *it.Err
	why.File = "" // the group's file is this row's, named once
	return &RowError{File: it.Err.File, Line: rec.Line, Code: it.Err.Code,
		Msg: fmt.Sprintf("failed with its group%s (a group is stored whole or not at all): %s", key, why.Error())}
}

// Mapper turns records into events for one input file. It keeps state
// (the current group) and reuses buffers: use it from one goroutine.
type Mapper struct {
	kind      crm.Kind
	file      string
	jsonl     bool
	fields    []assign
	items     *items
	requestID *value
	groupBy   *value
	filter    *program
	currency  *crm.CurrencyIdentifier
	env       *exprEnv
	columnOf  map[string]string
	// filterStat counts the filter's runs and failures.
	filterStat exprStat

	group     []*Record
	groupErrs []*RowError // parallel to group: a record's error found before mapping
	groupKey  string
	// poisoned is the line of an unreadable record whose key is unknown:
	// the group that starts after it fails with it.
	poisoned int
	// stray says the group's last record is such a record, failed with
	// the group before it; strayID is its own request id (Item.Stray).
	stray   bool
	strayID string
	// keep, when set, says which items to map (SetShard).
	keep func(key string) bool

	// Slabs of what every row makes (setter.go).
	events   slabOf[crm.Event]
	recLists slabOf[*Record]
	// newEvent, when set, gives the events instead of the slab
	// (SetEventAlloc).
	newEvent func() *crm.Event
}

// SetEventAlloc makes the mapper write each event it maps into the zero
// Event alloc returns, instead of one of its own: a loader that gathers
// events into calls gives the next place of the call's Events, so that
// the event is written once where the call sends it, not copied there.
// alloc is called once for each item mapped (not for a filtered or an
// unreadable record's): an item that fails mapping or validation leaves
// that Event partly written and does not point to it, so alloc must give
// a zero Event each time (a place handed out again is cleared first).
func (m *Mapper) SetEventAlloc(alloc func() *crm.Event) { m.newEvent = alloc }

// Kind is the kind of events the mapper makes.
func (m *Mapper) Kind() crm.Kind { return m.kind }

// IntendedCurrency is the call's intended currency, or nil.
func (m *Mapper) IntendedCurrency() *crm.CurrencyIdentifier { return m.currency }

// Push maps one record. Finished items go to emit in input order; with
// group_by, a group is finished by the first record with another key (or
// by Flush). A record with an empty (or blank) key is never grouped: it is an event
// of its own (group_by: {column: ..., required: true} fails it instead).
// A record of a group that cannot be read, or whose filter cannot be
// evaluated, fails its whole group.
func (m *Mapper) Push(r *Record, emit func(Item)) {
	if r.Comment { // not a row of any group: it leaves the current one open
		emit(Item{Records: []*Record{r}, Filtered: true})
		return
	}
	// The key first: a record of another group finishes the current one
	// before anything of this record is emitted, so items stay in input
	// order (a filtered record inside a group is emitted when read).
	var key string
	if m.groupBy != nil {
		k, ok, err := m.groupBy.raw(r, m.env)
		ok = ok && strings.TrimSpace(k) != "" // spaces are no key either
		if r.Err != nil && (err != nil || !ok) {
			// An unreadable record whose key is unknown (a stray quote
			// swallowed its fields) may hold rows of the group before it
			// and of the group after it: both fail with it, so that once
			// it is fixed, a retry of failed.* stores each group whole.
			if len(m.group) > 0 {
				var torn *TornError
				if errors.As(r.Err, &torn) {
					// The group's rows before the cut fail with it: a
					// complete copy is loaded from the group's start.
					torn.From = m.group[0].Line
				}
				mal := m.malformed(r)
				m.add(r, mal.Err)
				m.stray, m.strayID = true, mal.RequestID
				m.Flush(emit)
			} else {
				emit(m.malformed(r))
			}
			m.poisoned = r.Line
			return
		}
		if err != nil || !ok {
			m.Flush(emit)
			switch {
			case err != nil:
				emit(Item{Records: []*Record{r}, Err: &RowError{Line: r.Line, Column: "group_by " + describe(m.groupBy), Code: CodeInvalidInput, Msg: err.Error()}})
			default:
				// An empty key: an event of its own, never merged.
				m.single(r, emit)
			}
			return
		}
		key = k
		if len(m.group) > 0 && key != m.groupKey {
			m.Flush(emit)
		}
		m.groupKey = key
		if m.poisoned != 0 {
			line := m.poisoned
			m.poisoned = 0
			if len(m.group) == 0 {
				m.add(r, &RowError{Line: r.Line, Column: "group_by " + describe(m.groupBy), Code: CodeMalformedRecord,
					Msg: fmt.Sprintf("the unreadable record on line %d just before this group may hold rows of it: the group fails with that record; fix it in failed.* and retry, and the group is stored whole", line)})
				return
			}
		}
		if r.Err != nil {
			// What could be read of it names its group: the group fails.
			m.add(r, m.malformed(r).Err)
			return
		}
		if err := m.convertColumns(r); err != nil {
			m.add(r, err)
			return
		}
		if m.filter != nil {
			keep, err := m.runFilter(r)
			if err != nil {
				m.add(r, err)
				return
			}
			if !keep {
				emit(Item{Records: []*Record{r}, Key: key, Filtered: true})
				return
			}
		}
		m.add(r, nil)
		return
	}
	if r.Err != nil {
		emit(m.malformed(r))
		return
	}
	m.single(r, emit)
}

// convertColumns converts the record's cells of declared columns (a cell
// that does not parse as its column's type fails the row), once for all
// the expressions that read them.
func (m *Mapper) convertColumns(r *Record) *RowError {
	if m.env.typed == nil {
		return nil
	}
	return m.env.typed.convert(r)
}

// single maps a record that is an event of its own.
func (m *Mapper) single(r *Record, emit func(Item)) {
	if err := m.convertColumns(r); err != nil {
		emit(Item{Records: []*Record{r}, Err: err, RequestID: m.idOf(r, false)})
		return
	}
	if m.filter != nil {
		keep, err := m.runFilter(r)
		if err != nil {
			emit(Item{Records: []*Record{r}, Err: err, RequestID: m.idOf(r, true)})
			return
		}
		if !keep {
			emit(Item{Records: []*Record{r}, Filtered: true})
			return
		}
	}
	recs := m.recLists.slice(1)
	recs[0] = r
	emit(m.mapGroup(recs, nil, ""))
}

func (m *Mapper) add(r *Record, err *RowError) {
	m.group = append(m.group, r)
	m.groupErrs = append(m.groupErrs, err)
}

// runFilter says whether the filter keeps r; an error when it cannot be
// evaluated on r.
func (m *Mapper) runFilter(r *Record) (bool, *RowError) {
	keep, err := m.env.run(m.filter, r)
	if err != nil {
		e := &RowError{Line: r.Line, Column: "filter " + m.filter.src, Code: CodeInvalidInput, Msg: m.env.explain(m.filter, r, err)}
		m.filterStat.count(r.Line, errors.New(e.Msg))
		return false, e
	}
	m.filterStat.count(r.Line, nil)
	return keep == true, nil
}

// stats are the run counts of the mapper's expressions.
func (m *Mapper) stats() []*exprStat {
	var out []*exprStat
	add := func(v *value) {
		if v != nil && v.kind == fromExpr {
			out = append(out, &v.stat)
		}
	}
	if m.filter != nil {
		out = append(out, &m.filterStat)
	}
	add(m.requestID)
	add(m.groupBy)
	for i := range m.fields {
		add(m.fields[i].val)
	}
	if m.items != nil {
		for i := range m.items.assigns {
			add(m.items.assigns[i].val)
		}
	}
	return out
}

// malformed is the failed item of a record that could not be read as
// such (ragged, not UTF-8, ...). When its fields were read and give a
// request id, the item keeps it: the failure report names the event.
func (m *Mapper) malformed(r *Record) Item {
	return Item{Records: []*Record{r}, Err: &RowError{Line: r.Line, Code: CodeMalformedRecord, Msg: r.Err.Error()}, RequestID: m.idOf(r, false)}
}

// idOf is the request id of a record that failed before it was mapped,
// when what could be read of it gives one (a cell that did not parse as
// its column's type, a filter that failed): failed.* keeps it for
// whoever matches the failures with the rows; "" otherwise. Unless the
// record's typed columns were converted, an expression is not run where
// there are any: it would read a column the record does not have as
// its type (InvoiceNo + string(Quantity) made "7<nil>").
func (m *Mapper) idOf(r *Record, converted bool) string {
	if !converted && m.env.typed != nil && m.requestID != nil && m.requestID.prog != nil {
		return ""
	}
	if m.requestID != nil && (r.Values != nil || r.Object != nil) {
		if id, ok, err := m.requestID.raw(r, m.env); err == nil && ok {
			return id
		}
	}
	return ""
}

// Flush emits the group being gathered, if any.
func (m *Mapper) Flush(emit func(Item)) {
	if len(m.group) == 0 {
		return
	}
	g, errs := m.group, m.groupErrs
	m.group, m.groupErrs = nil, nil
	it := m.mapGroup(g, errs, m.groupKey)
	it.Stray, it.StrayID = m.stray, m.strayID
	m.stray, m.strayID = false, ""
	emit(it)
}

// mapGroup builds one event from records: the event's parameters from the
// first record, one set element per record (or per element of each
// record's from: array). pre holds errors found before mapping (nil, or
// one per record). Every record is mapped, so that the failure report
// names each record's own mistakes at once.
func (m *Mapper) mapGroup(recs []*Record, pre []*RowError, key string) Item {
	it := Item{Records: recs, Key: key}
	var errs []*RowError // made on the first failure: most groups have none
	failed := false
	fail := func(i int, err *RowError) {
		if errs == nil {
			errs = make([]*RowError, len(recs))
		}
		if errs[i] == nil {
			errs[i] = err
		}
		if !failed || err.Line < it.Err.Line {
			it.Err = errs[i]
		}
		failed = true
	}
	for i, e := range pre {
		if e != nil {
			fail(i, e)
		}
	}
	first := recs[0]
	// The default request id, the file and line, is made only when the
	// mapping gives none: most rows have one.
	defaultID := func() { it.RequestID, it.defaultID = m.file+":"+strconv.Itoa(first.Line), true }
	if first.Err != nil {
		// A malformed first record fails the group already; its request
		// id is kept when what was read of it gives one.
		if id := m.malformed(first).RequestID; id != "" {
			it.RequestID, it.defaultID = id, false
		} else {
			defaultID()
		}
	} else if m.requestID != nil {
		id, ok, err := m.requestID.raw(first, m.env)
		if err != nil || !ok {
			defaultID()
			msg := "is empty: every event needs a request id"
			if err != nil {
				msg = err.Error()
			}
			fail(0, &RowError{Line: first.Line, Column: describe(m.requestID), Field: "request_unique_identifier", Code: CodeInvalidInput, Msg: msg})
		} else {
			it.RequestID, it.defaultID = id, false
		}
	} else {
		defaultID()
	}
	if m.keep != nil && !m.keep(ShardKey(&it)) {
		return it // another process's: not mapped
	}
	var ev *crm.Event
	if m.newEvent != nil {
		ev = m.newEvent()
	} else {
		ev = m.events.take()
	}
	if first.Err == nil {
		for i := range m.fields {
			if err := m.apply(&m.fields[i], unsafe.Pointer(ev), eventType, first); err != nil {
				fail(0, err)
				break
			}
		}
	}
	if m.items != nil {
		// The set's slice, written in place (its Go field is a slice
		// of the event itself: itemList checks it at compile time).
		set := (*sliceHeader)(unsafe.Add(unsafe.Pointer(ev), m.items.setOff))
		// Each element is mapped in place at the end of the set: an
		// element whose mapping fails is left half made, but then the
		// item fails and the event is dropped.
		add := func(er *Record) *RowError {
			if set.len == set.cap {
				if m.items.from == nil && set.len == 0 {
					// One element a record: room for all at once.
					set.data, set.cap = m.items.elems.sliceOf(len(recs))
				} else {
					v := reflect.NewAt(eventType, unsafe.Pointer(ev)).Elem().FieldByIndex(m.items.steps[0])
					v.Grow(1)
				}
			}
			elem := unsafe.Add(set.data, uintptr(set.len)*m.items.elemSize)
			if m.items.from != nil {
				// A set grown by reflect: its new element surely zero.
				reflect.NewAt(m.items.elem, elem).Elem().SetZero()
			}
			set.len++
			for i := range m.items.assigns {
				if err := m.apply(&m.items.assigns[i], elem, m.items.elem, er); err != nil {
					return err
				}
			}
			return nil
		}
		for ri, r := range recs {
			if r.Err != nil {
				continue
			}
			if m.items.from == nil { // the record is the element
				if err := add(r); err != nil {
					fail(ri, err)
				}
				continue
			}
			elems, err := m.elements(r)
			if err != nil {
				fail(ri, err)
				continue
			}
			for _, er := range elems {
				if err := add(er); err != nil {
					fail(ri, err)
					break
				}
			}
		}
	}
	if failed {
		// The event is dropped here, never exposed: a set element whose
		// mapping failed was left half made in it (see add).
		it.Errs = errs
		return it
	}
	ev.RequestUniqueIdentifier = it.RequestID
	if err := crm.Validate(m.kind, ev); err != nil {
		it.Err = m.validationError(err, recs)
		return it
	}
	it.Event = ev
	return it
}

// elements returns the records that make a record's set elements: the
// record itself, or the objects of its from: array.
func (m *Mapper) elements(r *Record) ([]*Record, *RowError) {
	if m.items.from == nil {
		return []*Record{r}, nil
	}
	path := strings.Join(m.items.from, ".")
	x, ok := lookupPath(r.Object, m.items.from)
	if !ok || x == nil {
		return nil, nil
	}
	arr, ok := x.([]any)
	if !ok {
		return nil, &RowError{Line: r.Line, Column: "path " + path, Field: m.items.set, Code: CodeInvalidInput, Msg: "is " + jsonKind(x) + ", not an array"}
	}
	out := make([]*Record, 0, len(arr))
	for i, e := range arr {
		obj, ok := e.(map[string]any)
		if !ok {
			return nil, &RowError{Line: r.Line, Column: fmt.Sprintf("path %s[%d]", path, i), Field: m.items.set, Code: CodeInvalidInput, Msg: "is " + jsonKind(e) + ", not an object"}
		}
		out = append(out, &Record{Line: r.Line, Object: obj})
	}
	return out, nil
}

// eventType is the type mapGroup makes.
var eventType = reflect.TypeFor[crm.Event]()

// apply maps one value into the struct of type typ at base.
func (m *Mapper) apply(a *assign, base unsafe.Pointer, typ reflect.Type, r *Record) *RowError {
	s, ok, err := a.val.raw(r, m.env)
	if err != nil {
		return &RowError{Line: r.Line, Column: describe(a.val), Field: a.wire, Value: s, Code: CodeInvalidInput, Msg: err.Error()}
	}
	if !ok {
		return nil // an empty value is not sent
	}
	out, err := convert(a.typ, s, a.val.layout)
	if err != nil {
		return &RowError{Line: r.Line, Column: describe(a.val), Field: a.wire, Value: s, Code: CodeInvalidInput, Msg: err.Error()}
	}
	if a.hops != nil {
		setHops(base, a.hops, out)
	} else {
		setReflect(reflect.NewAt(typ, base).Elem(), a.steps, out)
	}
	return nil
}

func describe(v *value) string {
	switch v.kind {
	case fromColumn:
		if v.path != nil {
			return "path " + v.column
		}
		return "column " + v.column
	case fromExpr:
		return "expression " + v.prog.src
	}
	return "constant"
}

// validationError turns a client-side check that failed into a row error
// naming the column the parameter came from.
func (m *Mapper) validationError(err *crm.Error, recs []*Record) *RowError {
	line := recs[0].Line
	// products_set[2].total_amount: the third element, from the third row
	// when each row gives one.
	if i := strings.IndexByte(err.Field, '['); i >= 0 && m.items != nil && m.items.from == nil {
		if n, convErr := strconv.Atoi(err.Field[i+1 : strings.IndexByte(err.Field, ']')]); convErr == nil && n < len(recs) {
			line = recs[n].Line
		}
	}
	col := m.sourceOf(stripIndexes(err.Field))
	return &RowError{Line: line, Column: col, Field: err.Field, Code: err.Code, Msg: err.Description()}
}

// sourceOf names where a parameter's value comes from: its column or
// expression, or those of its fields for an identifier.
func (m *Mapper) sourceOf(field string) string {
	if c, ok := m.columnOf[field]; ok {
		return c
	}
	var parts []string
	for f, c := range m.columnOf {
		if strings.HasPrefix(f, field+".") {
			parts = append(parts, c)
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// convert turns an input value into the wire form of a parameter type.
func convert(t crm.FieldType, s, layout string) (string, error) {
	switch t {
	case crm.Number:
		return normalizeNumber(s)
	case crm.Date:
		d, err := parseDate(s, layout)
		if err != nil {
			return "", err
		}
		return d, nil
	}
	return s, nil
}
