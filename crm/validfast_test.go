package crm

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// allSchemas are every schema Validate can be given: the kinds' and the
// versioned ones.
func allSchemas() []*Schema {
	var out []*Schema
	for _, k := range Kinds {
		out = append(out, SchemaOf(k))
		for _, v := range APIVersions {
			out = append(out, SchemaFor(k, v), SingleSchemaFor(k, v))
		}
	}
	return out
}

// fastValues are the strings random events are made of: valid and invalid
// numbers, dates, enumerations, and plain text.
var fastValues = []string{"", "", "", "x", "1", "-0.5", "1,5", "01", "1e3", "2016-06-22T15:00:00", "2016-02-30T15:00:00",
	"0000-01-01T00:00:00", "2016-06-22 15:00:00", "FACEBOOK", "LIKE", "net_amount", "12345"}

// fillRandom sets a random subset of v's fields (a struct), recursing
// into pointers and slices of structs.
func fillRandom(r *rand.Rand, v reflect.Value, depth int, tokens bool) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if v.Type().Field(i).Anonymous {
			fillRandom(r, f, depth, tokens)
			continue
		}
		if r.IntN(3) != 0 {
			continue // most fields stay empty
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(fastValues[r.IntN(len(fastValues))])
		case reflect.Pointer:
			if depth > 2 || (!tokens && f.Type() == reflect.TypeFor[*AccessTokenIdentifier]()) {
				continue
			}
			p := reflect.New(f.Type().Elem())
			fillRandom(r, p.Elem(), depth+1, tokens)
			f.Set(p)
		case reflect.Slice:
			n := r.IntN(4)
			s := reflect.MakeSlice(f.Type(), n, n)
			for j := range n {
				fillRandom(r, s.Index(j), depth+1, tokens)
			}
			f.Set(s)
		}
	}
}

// nearValid are edits of a valid purchase, each breaking (or not) one
// rule: together with random events they put the fast check on each
// rule's boundary.
var nearValid = []func(e *Event){
	func(e *Event) { e.AccountsReceivable = nil },
	func(e *Event) { e.RewardsParticipant = &ParticipantIdentifier{Number: "RP1"} },
	func(e *Event) { e.AccountsReceivable, e.RewardsParticipant = nil, &ParticipantIdentifier{ID: "RP1"} },
	func(e *Event) { e.PerformedByUnit = nil },
	func(e *Event) { e.PerformedByTAP = &CodedIdentifier{Code: "T1"} },
	func(e *Event) { e.PerformedByBusinessUnit = &CodedIdentifier{ID: "B"} },
	func(e *Event) { e.PerformedOn = "2016-02-30T15:00:00" },
	func(e *Event) { e.PerformedOn = "2016-02-29 15:00:00" },
	func(e *Event) { e.PerformedOn = "" },
	func(e *Event) { first(e).NetAmount = "1,5" },
	func(e *Event) { first(e).VATAmount = "" },
	func(e *Event) { first(e).Quantity = "" },
	func(e *Event) { first(e).Quantity = "2.5e1" },
	func(e *Event) { first(e).Product = nil },
	func(e *Event) { first(e).Product = &ProductIdentifier{ID: "1", Code: "2"} },
	func(e *Event) { first(e).Product = &ProductIdentifier{} },
	func(e *Event) { e.ProductsSet = nil },
	func(e *Event) { e.ProductsSet = append(e.ProductsSet, PurchaseProduct{}) },
	func(e *Event) {
		e.ProductsSet = append(e.ProductsSet, PurchaseProduct{Product: &ProductIdentifier{ID: "p"}, Quantity: "2", NetAmount: "0.5", VATAmount: "0", TotalAmount: "-1"})
	},
	func(e *Event) { e.Website = "w" },
	func(e *Event) { e.Profile = "p" },
	func(e *Event) { e.Amount = "1" },
	func(e *Event) { e.MeasuredKPIs = []MeasuredKPI{{}} },
	func(e *Event) { e.UDFString9 = "x" },
	func(e *Event) { e.UDFString16 = "x" },
	func(e *Event) { e.UDFString3, e.UDFFloat1, e.UDFDate2 = "u", "3.25", "2024-02-29T23:59:59" },
	func(e *Event) { e.UDFFloat4 = "x" },
	func(e *Event) { e.UDFDate4 = "2023-02-29T00:00:00" },
	func(e *Event) { e.SpendRequest = &SpendRequest{SpendAmount: "10"} },
	func(e *Event) { e.SpendRequest = &SpendRequest{} },
	func(e *Event) { e.SpendRequest = &SpendRequest{SpendAmount: "10", SpendAlternativeAmount: "1"} },
	func(e *Event) { e.SpendRequest = &SpendRequest{SpendAlternativeAmount: "1x"} },
	func(e *Event) {
		if e.AccountsReceivable != nil {
			e.AccountsReceivable.Name = "x"
		}
	},
	func(e *Event) { e.AccountsReceivable = &AccountIdentifier{ID: "1"} },
	func(e *Event) { e.AccountsReceivable = &AccountIdentifier{Name: "n"} },
	func(e *Event) { e.AccountsReceivable = &AccountIdentifier{} },
	func(e *Event) { e.PerformedByUnit = &NamedIdentifier{} },
	func(e *Event) { e.PerformedByUnit = &NamedIdentifier{AlternativeCode: "a"} },
	func(e *Event) { e.Classification = &NamedIdentifier{ID: "c"} },
	func(e *Event) { e.Invoice = &InvoiceIdentifier{BackOfficeCode: "b"} },
	func(e *Event) { e.Invoice = &InvoiceIdentifier{} },
	func(e *Event) { e.PaymentMediumBrand = &NamedIdentifier{Name: "b"} },
	func(e *Event) { e.RequestUniqueIdentifier = "" },
	func(e *Event) { e.ReferenceNumber = "" },
	func(e *Event) { e.Product = &ProductIdentifier{Code: "p"} },
}

// first is the event's first product line, made if there is none.
func first(e *Event) *PurchaseProduct {
	if len(e.ProductsSet) == 0 {
		e.ProductsSet = append(e.ProductsSet, PurchaseProduct{})
	}
	return &e.ProductsSet[0]
}

// validPurchaseLike is a valid purchase with up to three near-valid edits.
func validPurchaseLike(r *rand.Rand) *Event {
	ev := validPurchase()
	for range r.IntN(4) {
		nearValid[r.IntN(len(nearValid))](ev)
	}
	return ev
}

// TestValidFastAgrees: the fast check never passes an event the reflective
// check fails, and, but for access tokens (always left to the full check),
// passes every event that check passes.
func TestValidFastAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range allSchemas() {
		if s.plan == nil {
			t.Fatalf("%s: no fast plan", s.Kind)
		}
		valid, fast := 0, 0
		for i := range 5000 {
			tokens := i%2 == 0
			var ev *Event
			switch i % 6 {
			case 0, 1:
				ev = validPurchaseLike(r)
			case 2, 3:
				ev = validFor(r, s)
			default:
				ev = &Event{}
				fillRandom(r, reflect.ValueOf(ev).Elem(), 0, tokens)
			}
			slow := validateReflect(s, ev)
			ok := s.plan.validFast(s, ev)
			if ok && slow != nil {
				t.Fatalf("%s: fast check passes %+v, the reflective one says %v", s.Kind, ev, slow)
			}
			if !tokens && ev.AuthorizedByAccessToken == nil && !ok && slow == nil {
				t.Fatalf("%s: fast check refuses %+v, which is valid", s.Kind, ev)
			}
			if slow == nil {
				valid++
			}
			if ok {
				fast++
			}
			if got := ValidateSchema(s, ev); !reflect.DeepEqual(got, slow) {
				t.Fatalf("%s: ValidateSchema %v, reflective %v", s.Kind, got, slow)
			}
		}
		if valid < 100 || fast < 50 {
			t.Errorf("%s: %d valid events, %d passed fast: the test checks too little", s.Kind, valid, fast)
		}
	}
}

func BenchmarkValidatePurchase(b *testing.B) {
	ev := validPurchase()
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(Purchases, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// validFor builds an event from schema s's own fields: each mandatory
// field and about half the others, a value of its type (an enumeration's
// value, a number, a date, an identifier by one of its fields, objects
// and sets filled the same way), exactly one of each one-of group. Most
// such events are valid for s, whatever its kind: the agreement test
// then crosses every kind's rules, not only a purchase's.
func validFor(r *rand.Rand, s *Schema) *Event {
	ev := &Event{}
	fillFields(r, reflect.ValueOf(ev).Elem(), s.Fields, s.OneOf)
	if r.IntN(3) == 0 {
		// An edit that may break a rule: one field more, of any type.
		fillRandom(r, reflect.ValueOf(ev).Elem(), 2, false)
	}
	return ev
}

// fillFields fills fields (of struct v) as validFor does; of the names in
// oneOf, exactly one is given.
func fillFields(r *rand.Rand, v reflect.Value, fields []Field, oneOf []string) {
	chosen := ""
	if len(oneOf) > 0 {
		chosen = oneOf[r.IntN(len(oneOf))]
	}
	for _, f := range fields {
		switch {
		case slices.Contains(oneOf, f.Name):
			if f.Name != chosen {
				continue
			}
		case !f.Mandatory && r.IntN(2) == 0:
			continue
		}
		fv := v.FieldByIndex(f.index)
		switch f.Type {
		case String:
			s := "text"
			if f.Enum != nil {
				s = f.Enum[r.IntN(len(f.Enum))]
				if r.IntN(8) == 0 {
					s = "NOT_ONE_OF_THEM" // one rule broken, alone
				}
			}
			fv.SetString(s)
		case Number:
			fv.SetString([]string{"12.5", "0", "-3", "1e3", "1,5"}[r.IntN(5)])
		case Date:
			fv.SetString([]string{"2024-01-02T03:04:05", "2024-01-02T03:04:05", "2024-02-30T03:04:05"}[r.IntN(3)])
		case IdentifierType:
			p := reflect.New(fv.Type().Elem())
			for _, j := range r.Perm(len(f.IDFields)) {
				if setByJSONName(p.Elem(), f.IDFields[j], "X1") {
					break
				}
			}
			fv.Set(p)
		case Object:
			p := reflect.New(fv.Type().Elem())
			fillFields(r, p.Elem(), f.Items, f.OneOf)
			fv.Set(p)
		case Set:
			n := 1 + r.IntN(2)
			list := reflect.MakeSlice(fv.Type(), n, n)
			for j := range n {
				fillFields(r, list.Index(j), f.Items, f.OneOf)
			}
			fv.Set(list)
		}
	}
}

// setByJSONName sets the field of struct v whose JSON name is name, if it
// is a string, and says whether it did.
func setByJSONName(v reflect.Value, name, s string) bool {
	for i := range v.NumField() {
		if tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ","); tag == name && v.Field(i).Kind() == reflect.String {
			v.Field(i).SetString(s)
			return true
		}
	}
	return false
}
