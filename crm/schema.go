package crm

import (
	"fmt"
	"reflect"
	"strings"
)

// FieldType is the API type of a parameter.
type FieldType int

// The parameter types of the API pages.
const (
	String FieldType = iota
	Number
	Date
	IdentifierType
	Object
	Set
)

func (t FieldType) String() string {
	return [...]string{"string", "number", "date", "identifier", "object", "set"}[t]
}

// Field describes one parameter of a kind, as its API page lists it.
type Field struct {
	Name      string
	Type      FieldType
	Mandatory bool
	// IDFields are the allowed fields of an identifier parameter.
	IDFields []string
	// Enum, when not nil, lists the only accepted values.
	Enum []string
	// Items are the parameters of each element of a set, or of an object.
	Items []Field
	// OneOf lists parameters of Items of which exactly one must be given.
	OneOf []string

	index       []int             // path to the Go struct field
	itemsByName map[string]*Field // Items by name
	itemsBySlot []*Field          // Items by the slots of their Go struct's codec (slots)
}

// Schema lists the parameters one kind accepts.
type Schema struct {
	Kind   Kind
	Fields []Field
	// Call lists the call-level parameters besides the token and the set.
	Call []Field
	// OneOf lists the semi-optional alternatives: exactly one must be given.
	OneOf []string
	// AnyOf lists parameters of which at least one must be given.
	AnyOf []string

	byName map[string]*Field
	bySlot []*Field // byName by the slots of Event's codec (slots)
	// callByName are the call-level parameters of the bulk method (token,
	// fields_set, Call) and singleByName those of the single create
	// method (the Fields but request_unique_identifier, token and
	// fields_set): what the request reader takes.
	callByName, singleByName map[string]*Field
	// checked are the fields Validate looks at: mandatory ones and those
	// with a form to check (plain optional strings need nothing).
	checked []Field
	// foreign are the Go fields of Event that are not parameters of the
	// kind: set, they are an error.
	foreign []wireField
	// plan is the fast check of valid events (validfast.go), or nil.
	plan *schemaPlan
}

// Field returns the named parameter of the kind.
func (s *Schema) Field(name string) (*Field, bool) {
	f, ok := s.byName[name]
	return f, ok
}

var (
	accountFields          = []string{"id", "number", "name"}
	accountFieldsWithToken = []string{"id", "number", "name", "access_token_identifier"}
	participantFields      = []string{"id", "number"}
	participantWithToken   = []string{"id", "number", "access_token_identifier"}
	namedFields            = []string{"id", "name", "alternative_code"}
	codedFields            = []string{"id", "name", "code"}
	productFields          = []string{"id", "code", "alternative_code"}
	currencyFields         = []string{"id", "code"}
	invoiceFields          = []string{"id", "number", "reference_number", "back_office_code"}
	accessTokenFields      = []string{"authentication_code", "identifier", "pass_code", "one_time_password"}
)

func str(name string) Field  { return Field{Name: name, Type: String} }
func num(name string) Field  { return Field{Name: name, Type: Number} }
func date(name string) Field { return Field{Name: name, Type: Date} }
func ident(name string, fields []string) Field {
	return Field{Name: name, Type: IdentifierType, IDFields: fields}
}
func must(f Field) Field { f.Mandatory = true; return f }

func udfs(strings int) []Field {
	var out []Field
	for i := 1; i <= strings; i++ {
		out = append(out, str(fmt.Sprintf("udf_string_%d", i)))
	}
	for i := 1; i <= 4; i++ {
		out = append(out, num(fmt.Sprintf("udf_float_%d", i)))
	}
	for i := 1; i <= 4; i++ {
		out = append(out, date(fmt.Sprintf("udf_date_%d", i)))
	}
	return out
}

var schemas = buildSchemas()

// SchemaOf returns the parameters of kind k, or nil for an unknown kind.
func SchemaOf(k Kind) *Schema { return schemas[k] }

func buildSchemas() map[Kind]*Schema {
	head := func(account, participant []string, classificationMandatory bool) []Field {
		c := ident("classification_identifier", namedFields)
		c.Mandatory = classificationMandatory
		return []Field{
			must(str("request_unique_identifier")),
			ident("accounts_receivable_identifier", account),
			ident("rewards_participant_identifier", participant),
			c,
		}
	}
	performed := []Field{
		must(ident("performed_by_unit_identifier", namedFields)),
		must(date("performed_on")),
		str("description"),
	}
	external := []Field{str("external_system"), str("external_system_reference_number")}
	cat := func(parts ...[]Field) []Field {
		var out []Field
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	semi := []string{"accounts_receivable_identifier", "rewards_participant_identifier"}

	purchaseProduct := []Field{
		must(ident("product_identifier", productFields)),
		num("quantity"),
		must(num("net_amount")),
		must(num("vat_amount")),
		must(num("total_amount")),
	}
	kpi := []Field{
		must(ident("key_performance_indicator_identifier", namedFields)),
		must(num("value")),
		ident("product_identifier", productFields),
	}
	spend := []Field{num("spend_amount"), num("spend_alternative_amount")}

	out := map[Kind]*Schema{
		Achievements: {
			Fields: cat(head(accountFields, participantFields, true), performed, external, udfs(8)),
			OneOf:  semi,
		},
		Purchases: {
			Fields: cat(
				head(accountFieldsWithToken, participantWithToken, false),
				[]Field{
					ident("performed_by_business_unit_identifier", codedFields),
					ident("performed_by_unit_identifier", namedFields),
					ident("performed_by_tap_identifier", codedFields),
					must(date("performed_on")),
					str("description"),
					must(str("reference_number")),
					ident("payment_medium_brand_identifier", namedFields),
					ident("payment_medium_type_identifier", namedFields),
					str("payment_medium_identifier"),
					ident("invoice_identifier", invoiceFields),
				},
				external, udfs(16),
				[]Field{
					{Name: "spend_request", Type: Object, Items: spend, OneOf: []string{"spend_amount", "spend_alternative_amount"}},
					{Name: "products_set", Type: Set, Mandatory: true, Items: purchaseProduct},
				}),
			Call:  []Field{ident("intended_currency_identifier", currencyFields)},
			OneOf: semi,
			AnyOf: []string{"performed_by_unit_identifier", "performed_by_business_unit_identifier", "performed_by_tap_identifier"},
		},
		Referrals: {
			Fields: cat(
				[]Field{must(str("request_unique_identifier")), ident("classification_identifier", namedFields)},
				performed,
				[]Field{
					must(ident("referred_rewards_participant_identifier", participantFields)),
					must(ident("referred_by_rewards_participant_identifier", participantFields)),
				},
				external, udfs(8)),
		},
		SocialMedia: {
			Fields: cat(head(accountFields, participantFields, false), performed,
				[]Field{
					{Name: "social_media", Type: String, Mandatory: true, Enum: []string{"FACEBOOK"}},
					must(str("profile")),
					{Name: "action", Type: String, Mandatory: true, Enum: []string{"LIKE"}},
				},
				external, udfs(8)),
			OneOf: semi,
		},
		Web: {
			Fields: cat(head(accountFields, participantFields, false), performed,
				[]Field{must(str("website"))}, external, udfs(8)),
			OneOf: semi,
		},
		FinancialAchievements: {
			Fields: cat(head(accountFields, participantFields, true),
				[]Field{
					ident("product_identifier", productFields),
					ident("payment_medium_type_identifier", namedFields),
					// The page lists this one under the name
					// payment_medium_type_identifier a second time, describing
					// the brand; the brand is what it means.
					ident("payment_medium_brand_identifier", namedFields),
					str("payment_medium_identifier"),
					num("amount"),
				},
				performed, external, udfs(8)),
			OneOf: semi,
		},
		FinancialStatements: {
			Fields: cat(head(accountFields, participantFields, true), performed, external, udfs(8),
				[]Field{{Name: "measured_key_performance_indicators_set", Type: Set, Items: kpi}}),
			OneOf: semi,
		},
	}
	ix := tagIndex{}
	for k, s := range out {
		s.Kind = k
		s.finish(ix)
	}
	return out
}

// finish indexes a schema's fields; ix finds their Go fields.
func (s *Schema) finish(ix tagIndex) {
	s.byName = make(map[string]*Field, len(s.Fields))
	for i := range s.Fields {
		f := &s.Fields[i]
		bindIndex(ix, f, reflect.TypeFor[Event]())
		s.byName[f.Name] = f
	}
	s.bySlot = slots(s.byName, reflect.TypeFor[Event]())
	token, fieldsSet := &Field{Name: "token"}, &Field{Name: "fields_set"}
	s.callByName = map[string]*Field{"token": token, "fields_set": fieldsSet}
	for i := range s.Call {
		bindIndex(ix, &s.Call[i], reflect.TypeFor[BulkRequest]())
		s.callByName[s.Call[i].Name] = &s.Call[i]
	}
	s.singleByName = map[string]*Field{"token": token, "fields_set": fieldsSet}
	for name, f := range s.byName {
		if name != "request_unique_identifier" {
			s.singleByName[name] = f
		}
	}
	for _, f := range s.Fields {
		if f.Mandatory || f.Type != String || f.Enum != nil {
			s.checked = append(s.checked, f)
		}
	}
	for _, wf := range wireFields {
		if _, ok := s.byName[wf.name]; !ok {
			s.foreign = append(s.foreign, wf)
		}
	}
	s.plan = planSchema(s)
}

// bindIndex finds the Go struct field with f's wire name in t and records its
// index, recursing into sets and objects.
func bindIndex(ix tagIndex, f *Field, t reflect.Type) {
	sf, ok := ix.field(t, f.Name)
	if !ok {
		panic("crm: no Go field for parameter " + f.Name + " in " + t.Name())
	}
	f.index = sf.Index
	if len(f.Items) > 0 {
		f.itemsByName = make(map[string]*Field, len(f.Items))
		for i := range f.Items {
			f.itemsByName[f.Items[i].Name] = &f.Items[i]
		}
		elem := sf.Type
		for elem.Kind() == reflect.Slice || elem.Kind() == reflect.Pointer {
			elem = elem.Elem()
		}
		for i := range f.Items {
			bindIndex(ix, &f.Items[i], elem)
		}
		f.itemsBySlot = slots(f.itemsByName, elem)
	}
}

// slots lists the fields of byName, parameters of struct type t, by their
// slots in t's codec (nil where the codec's parameter is not one of
// them): the strict reader finds a member's schema field by the slot of
// the codec field its name found, not by its name again.
func slots(byName map[string]*Field, t reflect.Type) []*Field {
	c := codecOf(t)
	out := make([]*Field, len(c.fields))
	for name, fc := range c.fields {
		out[fc.slot] = byName[name]
	}
	return out
}

// tagIndex indexes struct types' fields by JSON name, each type once
// (buildSchemas makes one for its work and lets it go): finding each
// parameter among all the fields by reflect's name lookups made the
// package's initialisation take 11 ms of every command's start.
type tagIndex map[reflect.Type]map[string][]reflect.StructField

// field finds the field of struct type t, promoted ones included, whose
// JSON name is name; of several, the least deeply embedded, and none when
// two are equally deep (as reflect's FieldByName).
func (ix tagIndex) field(t reflect.Type, name string) (reflect.StructField, bool) {
	byTag, ok := ix[t]
	if !ok {
		byTag = make(map[string][]reflect.StructField)
		for _, sf := range reflect.VisibleFields(t) {
			if n := jsonName(sf); n != "" {
				byTag[n] = append(byTag[n], sf)
			}
		}
		ix[t] = byTag
	}
	var found []reflect.StructField
	for _, sf := range byTag[name] {
		switch {
		case len(found) == 0 || len(sf.Index) < len(found[0].Index):
			found = []reflect.StructField{sf}
		case len(sf.Index) == len(found[0].Index):
			found = append(found, sf)
		}
	}
	if len(found) != 1 {
		return reflect.StructField{}, false
	}
	return found[0], true
}

func jsonName(sf reflect.StructField) string {
	name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
	return name
}

// wireFields lists every wire name of Event with its Go field index, in
// struct order; it lets the validator find parameters given that the kind
// does not accept.
var wireFields = func() []wireField {
	var out []wireField
	t := reflect.TypeFor[Event]()
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			idx := append(append([]int(nil), prefix...), i)
			if sf.Anonymous {
				walk(sf.Type, idx)
				continue
			}
			out = append(out, wireField{jsonName(sf), idx})
		}
	}
	walk(t, nil)
	return out
}()

type wireField struct {
	name  string
	index []int
}
