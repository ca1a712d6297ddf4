package engine

import (
	"reflect"
	"testing"

	"github.com/crmload/crmload/crm"
)

// TestSingleIsSet: single answers as id.Set() does (the one field given,
// else nothing) for every identifier type and every combination of its
// fields given or empty, access tokens included.
func TestSingleIsSet(t *testing.T) {
	ids := []crm.Identifier{&crm.NamedIdentifier{}, &crm.CodedIdentifier{}, &crm.ProductIdentifier{}, &crm.InvoiceIdentifier{},
		&crm.CurrencyIdentifier{}, &crm.AccessTokenIdentifier{}, &crm.AccountIdentifier{}, &crm.ParticipantIdentifier{}}
	for _, proto := range ids {
		typ := reflect.TypeOf(proto).Elem()
		var fields []int
		for i := range typ.NumField() {
			switch typ.Field(i).Type.Kind() {
			case reflect.String, reflect.Pointer:
				fields = append(fields, i)
			default:
				t.Fatalf("%s.%s: unexpected type", typ, typ.Field(i).Name)
			}
		}
		for mask := range 1 << len(fields) {
			v := reflect.New(typ)
			for j, i := range fields {
				if mask&(1<<j) == 0 {
					continue
				}
				f := v.Elem().Field(i)
				if f.Kind() == reflect.Pointer {
					f.Set(reflect.ValueOf(&crm.AccessTokenIdentifier{Identifier: "tok"}))
				} else {
					f.SetString(typ.Field(i).Name + "-value")
				}
			}
			id := v.Interface().(crm.Identifier)
			name, value, ok := single(id)
			set := id.Set()
			if ok != (len(set) == 1) || ok && (name != set[0].Name || value != set[0].Value) {
				t.Errorf("single(%+v) = %q, %q, %v; Set() = %v", id, name, value, ok, set)
			}
		}
	}
}
