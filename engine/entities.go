package engine

import (
	"slices"
	"strings"
)

// Entity describes one kind of reference data: its table (also its name in
// seed files), its natural key, the columns an identifier may name, and how
// it is called in error messages.
type Entity struct {
	name   string   // table, seed list and CSV file name
	label  string   // in messages: "Account (ACR0000000077) Not Found"
	key    string   // natural key column: seeding upserts by it
	cols   []string // columns after id, in seed order
	lookup []string // columns an identifier can name, besides id
	// refs names the columns that hold another entity's natural key in seed
	// files and its id in the store.
	refs map[string]*Entity
	// lists names columns that hold a list of another entity's keys.
	lists map[string]*Entity
	// slot is the entity's position in entities: its place in the
	// resolution cache (colSlot checks it).
	slot int
}

var (
	entCurrency = &Entity{name: "currencies", label: "Currency", key: "code",
		cols: []string{"code"}, lookup: []string{"code"}}
	entUnit = &Entity{name: "units", label: "Unit", key: "name",
		cols: []string{"name", "alternative_code", "currency"}, lookup: []string{"name", "alternative_code"}}
	entBusinessUnit = &Entity{name: "business_units", label: "Business Unit", key: "code",
		cols: []string{"code", "name", "unit"}, lookup: []string{"name", "code"}}
	entTAP = &Entity{name: "transaction_acquiring_points", label: "Transaction Acquiring Point", key: "code",
		cols: []string{"code", "name", "unit"}, lookup: []string{"name", "code"}}
	entPaymentType = &Entity{name: "payment_medium_types", label: "Payment Medium Type", key: "name",
		cols: []string{"name", "alternative_code"}, lookup: []string{"name", "alternative_code"}}
	entPaymentBrand = &Entity{name: "payment_medium_brands", label: "Payment Medium Brand", key: "name",
		cols: []string{"name", "alternative_code"}, lookup: []string{"name", "alternative_code"}}
	entAccount = &Entity{name: "accounts_receivable", label: "Account", key: "number",
		cols: []string{"number", "name", "payment_medium_types"}, lookup: []string{"number", "name"}}
	entParticipant = &Entity{name: "rewards_participants", label: "Rewards Participant", key: "number",
		cols: []string{"number", "accounts_receivable", "referred_by"}, lookup: []string{"number"}}
	entAccessToken = &Entity{name: "access_tokens", label: "Access Token", key: "authentication_code",
		cols:   []string{"authentication_code", "identifier", "pass_code", "one_time_password", "accounts_receivable", "rewards_participant", "life_cycle_state"},
		lookup: []string{"authentication_code", "identifier", "one_time_password"}}
	entClassification = &Entity{name: "classifications", label: "Customer Event Classification", key: "name",
		cols: []string{"name", "alternative_code", "type"}, lookup: []string{"name", "alternative_code"}}
	entProduct = &Entity{name: "products", label: "Product", key: "code",
		cols: []string{"code", "alternative_code"}, lookup: []string{"code", "alternative_code"}}
	entInvoice = &Entity{name: "invoices", label: "Invoice", key: "number",
		cols: []string{"number", "reference_number", "back_office_code"}, lookup: []string{"number", "reference_number", "back_office_code"}}
	entKPI = &Entity{name: "key_performance_indicators", label: "Key Performance Indicator", key: "name",
		cols: []string{"name", "alternative_code"}, lookup: []string{"name", "alternative_code"}}
)

// entities lists every entity in dependency order: each one's references
// point to entities before it, which is the order seeding processes them.
var entities = []*Entity{
	entCurrency, entUnit, entBusinessUnit, entTAP, entPaymentType, entPaymentBrand,
	entAccount, entParticipant, entAccessToken, entClassification, entProduct, entInvoice, entKPI,
}

func init() {
	for i, e := range entities {
		e.slot = i
	}
	// Set here rather than in the literals: the references form a graph the
	// package-level initialisers cannot express (participants refer to
	// participants).
	entUnit.refs = map[string]*Entity{"currency": entCurrency}
	entBusinessUnit.refs = map[string]*Entity{"unit": entUnit}
	entTAP.refs = map[string]*Entity{"unit": entUnit}
	entAccount.lists = map[string]*Entity{"payment_medium_types": entPaymentType}
	entParticipant.refs = map[string]*Entity{"accounts_receivable": entAccount, "referred_by": entParticipant}
	entAccessToken.refs = map[string]*Entity{"accounts_receivable": entAccount, "rewards_participant": entParticipant}
}

func entityNamed(name string) *Entity {
	for _, e := range entities {
		if e.name == name {
			return e
		}
	}
	return nil
}

func entityNames() string {
	names := make([]string, len(entities))
	for i, e := range entities {
		names[i] = e.name
	}
	return strings.Join(names, ", ")
}

// Ref is one reference data record as the engine resolves it. Vals holds
// the columns of the entity (by position in entity.cols); references hold
// the referenced record's id.
type Ref struct {
	ID   string
	Vals []string
	// row is the record's integer key in the SQLite store (rid), which
	// compact events reference; 0 when the store did not say.
	row int64
	// obj is the record as event objects nest it (object), made once for
	// all the events that reference it; nil after Vals change.
	obj *RefObject
}

func (r *Ref) get(e *Entity, col string) string { return r.Vals[e.col(col)] }

func (r *Ref) set(e *Entity, col, v string) { r.Vals[e.col(col)] = v; r.obj = nil }

func (e *Entity) col(name string) int {
	for i, c := range e.cols {
		if c == name {
			return i
		}
	}
	panic("engine: entity " + e.name + " has no column " + name)
}

// Entities returns every kind of reference data, in dependency order (each
// one's references point to entities before it). A Store keeps one table
// of each.
func Entities() []*Entity { return slices.Clone(entities) }

// Name is the entity's table name, also its name in seed files.
func (e *Entity) Name() string { return e.name }

// Key is the entity's natural key column: seeding upserts by it.
func (e *Entity) Key() string { return e.key }

// Columns are the entity's columns after id, in the order of Ref.Vals and
// SeedRecord.Vals.
func (e *Entity) Columns() []string { return e.cols }

// LookupColumns are the columns an identifier can name besides id: a Store
// indexes each of them.
func (e *Entity) LookupColumns() []string { return e.lookup }
