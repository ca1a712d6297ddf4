package crm

import (
	"reflect"
	"slices"
	"unsafe"
)

// The fast check: ValidateSchema runs on every mapped row, and walking
// the event by reflection (FieldByIndex, IsZero, Interface) cost more than
// the rest of the mapping. Each schema gets, once, a plan of its fields as
// byte offsets into the Go struct, and validFast answers only "valid" or
// "maybe not": an event it passes is one the reflective check passes,
// and any other goes through that check, which builds the error. So the
// errors, their order and their wording are the reflective check's alone;
// TestValidFastAgrees holds the two together.

// fieldPlan is how to read one Field's Go value without reflection.
type fieldPlan struct {
	off  uintptr
	kind reflect.Kind // String, Pointer or Slice
	// elemSize is a set's element size (Slice).
	elemSize uintptr
	// id reads an identifier field's value (IdentifierType).
	id func(p unsafe.Pointer) Identifier
	// items are the plans of an object's or a set's Items, in order.
	items []fieldPlan
	// oneOf are the plans of the Items named by OneOf (Object).
	oneOf []fieldPlan
}

// schemaPlan is the fast check's view of a Schema; nil when some field
// cannot be planned (the reflective check then runs alone).
type schemaPlan struct {
	checked []fieldPlan // parallel to Schema.checked
	foreign []fieldPlan // parallel to Schema.foreign
	oneOf   []fieldPlan
	anyOf   []fieldPlan
}

// offsetOf is the byte offset of the field at index in t, when no pointer
// is followed on the way (embedded structs only).
func offsetOf(t reflect.Type, index []int) (uintptr, reflect.Type, bool) {
	var off uintptr
	for _, i := range index {
		if t.Kind() != reflect.Struct {
			return 0, nil, false
		}
		sf := t.Field(i)
		off += sf.Offset
		t = sf.Type
	}
	return off, t, true
}

func identifierOf[T any, PT interface {
	*T
	Identifier
}](p unsafe.Pointer) Identifier {
	return PT(*(**T)(p))
}

// identifierReader reads a field of pointer type t as an Identifier.
func identifierReader(t reflect.Type) func(unsafe.Pointer) Identifier {
	switch t {
	case reflect.TypeFor[*AccountIdentifier]():
		return identifierOf[AccountIdentifier]
	case reflect.TypeFor[*ParticipantIdentifier]():
		return identifierOf[ParticipantIdentifier]
	case reflect.TypeFor[*NamedIdentifier]():
		return identifierOf[NamedIdentifier]
	case reflect.TypeFor[*CodedIdentifier]():
		return identifierOf[CodedIdentifier]
	case reflect.TypeFor[*ProductIdentifier]():
		return identifierOf[ProductIdentifier]
	case reflect.TypeFor[*CurrencyIdentifier]():
		return identifierOf[CurrencyIdentifier]
	case reflect.TypeFor[*InvoiceIdentifier]():
		return identifierOf[InvoiceIdentifier]
	case reflect.TypeFor[*AccessTokenIdentifier]():
		return identifierOf[AccessTokenIdentifier]
	}
	return nil
}

// planField plans f, a field of struct type t.
func planField(f *Field, t reflect.Type) (fieldPlan, bool) {
	off, ft, ok := offsetOf(t, f.index)
	if !ok {
		return fieldPlan{}, false
	}
	p := fieldPlan{off: off, kind: ft.Kind()}
	switch p.kind {
	case reflect.String, reflect.Pointer, reflect.Slice:
	default:
		return fieldPlan{}, false
	}
	switch f.Type {
	case String, Number, Date:
		if p.kind != reflect.String {
			return fieldPlan{}, false
		}
	case IdentifierType:
		if p.id = identifierReader(ft); p.id == nil {
			return fieldPlan{}, false
		}
	case Object, Set:
		want := reflect.Pointer
		if f.Type == Set {
			want = reflect.Slice
		}
		if p.kind != want || ft.Elem().Kind() != reflect.Struct {
			return fieldPlan{}, false
		}
		elem := ft.Elem()
		p.elemSize = elem.Size()
		for i := range f.Items {
			ip, ok := planField(&f.Items[i], elem)
			if !ok {
				return fieldPlan{}, false
			}
			p.items = append(p.items, ip)
		}
		for _, name := range f.OneOf {
			i := slices.IndexFunc(f.Items, func(it Field) bool { return it.Name == name })
			if i < 0 {
				return fieldPlan{}, false
			}
			p.oneOf = append(p.oneOf, p.items[i])
		}
	default:
		return fieldPlan{}, false
	}
	return p, true
}

// planSchema plans s; nil if any field cannot be planned.
func planSchema(s *Schema) *schemaPlan {
	t := reflect.TypeFor[Event]()
	sp := &schemaPlan{}
	for i := range s.checked {
		p, ok := planField(&s.checked[i], t)
		if !ok {
			return nil
		}
		sp.checked = append(sp.checked, p)
	}
	for _, wf := range s.foreign {
		off, ft, ok := offsetOf(t, wf.index)
		if !ok {
			return nil
		}
		switch ft.Kind() {
		case reflect.String, reflect.Pointer, reflect.Slice:
		default:
			return nil
		}
		sp.foreign = append(sp.foreign, fieldPlan{off: off, kind: ft.Kind()})
	}
	byName := func(names []string) ([]fieldPlan, bool) {
		var out []fieldPlan
		for _, name := range names {
			f, ok := s.byName[name]
			if !ok {
				return nil, false
			}
			p, ok := planField(f, t)
			if !ok {
				return nil, false
			}
			out = append(out, p)
		}
		return out, true
	}
	var ok bool
	if sp.oneOf, ok = byName(s.OneOf); !ok {
		return nil
	}
	if sp.anyOf, ok = byName(s.AnyOf); !ok {
		return nil
	}
	return sp
}

// empty is isEmpty of the field at base+p.off.
func (p *fieldPlan) empty(base unsafe.Pointer) bool {
	at := unsafe.Add(base, p.off)
	switch p.kind {
	case reflect.String:
		return len(*(*string)(at)) == 0
	case reflect.Pointer:
		return *(*unsafe.Pointer)(at) == nil
	default: // reflect.Slice
		return len(*(*[]byte)(at)) == 0
	}
}

// validFast reports whether the event surely passes ValidateSchema; false
// means it may not (ValidateSchema tells).
func (sp *schemaPlan) validFast(s *Schema, ev *Event) bool {
	base := unsafe.Pointer(ev)
	if !fieldsValidFast(s.checked, sp.checked, base) {
		return false
	}
	for i := range sp.foreign {
		if !sp.foreign[i].empty(base) {
			return false
		}
	}
	if len(sp.oneOf) > 0 && countSetFast(sp.oneOf, base) != 1 {
		return false
	}
	if len(sp.anyOf) > 0 && countSetFast(sp.anyOf, base) == 0 {
		return false
	}
	return true
}

func countSetFast(plans []fieldPlan, base unsafe.Pointer) int {
	n := 0
	for i := range plans {
		if !plans[i].empty(base) {
			n++
		}
	}
	return n
}

// fieldsValidFast is checkFields returning nil, as a bool.
func fieldsValidFast(fields []Field, plans []fieldPlan, base unsafe.Pointer) bool {
	for i := range fields {
		f, p := &fields[i], &plans[i]
		if p.empty(base) {
			if f.Mandatory {
				return false
			}
			continue
		}
		at := unsafe.Add(base, p.off)
		switch f.Type {
		case String:
			if f.Enum != nil && !slices.Contains(f.Enum, *(*string)(at)) {
				return false
			}
		case Number:
			if !IsBoundedNumber(*(*string)(at)) {
				return false
			}
		case Date:
			if !IsDate(*(*string)(at)) {
				return false
			}
		case IdentifierType:
			if !identifierValidFast(f, p.id(at)) {
				return false
			}
		case Object:
			elem := *(*unsafe.Pointer)(at)
			if !fieldsValidFast(f.Items, p.items, elem) {
				return false
			}
			if len(p.oneOf) > 0 && countSetFast(p.oneOf, elem) != 1 {
				return false
			}
		case Set:
			data := unsafe.Pointer(unsafe.SliceData(*(*[]byte)(at)))
			n := len(*(*[]byte)(at))
			for j := 0; j < n; j++ {
				if !fieldsValidFast(f.Items, p.items, unsafe.Add(data, uintptr(j)*p.elemSize)) {
					return false
				}
			}
		}
	}
	return true
}

// identifierValidFast is checkIdentifier returning nil, for the common
// identifiers given by one plain field; anything else (an access token,
// an unexpected type) answers false and the full check decides.
func identifierValidFast(f *Field, id Identifier) bool {
	var name string
	n := 0
	one := func(field, v string) {
		if v != "" {
			n++
			name = field
		}
	}
	switch x := id.(type) {
	case *AccountIdentifier:
		if x.AccessToken != nil {
			return false
		}
		one("id", x.ID)
		one("number", x.Number)
		one("name", x.Name)
	case *ParticipantIdentifier:
		if x.AccessToken != nil {
			return false
		}
		one("id", x.ID)
		one("number", x.Number)
	case *NamedIdentifier:
		one("id", x.ID)
		one("name", x.Name)
		one("alternative_code", x.AlternativeCode)
	case *CodedIdentifier:
		one("id", x.ID)
		one("name", x.Name)
		one("code", x.Code)
	case *ProductIdentifier:
		one("id", x.ID)
		one("code", x.Code)
		one("alternative_code", x.AlternativeCode)
	case *CurrencyIdentifier:
		one("id", x.ID)
		one("code", x.Code)
	case *InvoiceIdentifier:
		one("id", x.ID)
		one("number", x.Number)
		one("reference_number", x.ReferenceNumber)
		one("back_office_code", x.BackOfficeCode)
	default:
		return false
	}
	return n == 1 && slices.Contains(f.IDFields, name)
}
