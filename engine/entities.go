package engine

import "strings"

// entity describes one kind of reference data: its table (also its name in
// seed files), its natural key, the columns an identifier may name, and how
// it is called in error messages.
type entity struct {
	name   string   // table, seed list and CSV file name
	label  string   // in messages: "Account (ACR0000000077) Not Found"
	key    string   // natural key column: seeding upserts by it
	cols   []string // columns after id, in seed order
	lookup []string // columns an identifier can name, besides id
	// refs names the columns that hold another entity's natural key in seed
	// files and its id in the store.
	refs map[string]*entity
	// lists names columns that hold a list of another entity's keys.
	lists map[string]*entity
}

var (
	entCurrency = &entity{name: "currencies", label: "Currency", key: "code",
		cols: []string{"code"}, lookup: []string{"code"}}
	entUnit = &entity{name: "units", label: "Unit", key: "name",
		cols: []string{"name", "alternative_code", "currency"}, lookup: []string{"name", "alternative_code"}}
	entBusinessUnit = &entity{name: "business_units", label: "Business Unit", key: "code",
		cols: []string{"code", "name", "unit"}, lookup: []string{"name", "code"}}
	entTAP = &entity{name: "transaction_acquiring_points", label: "Transaction Acquiring Point", key: "code",
		cols: []string{"code", "name", "unit"}, lookup: []string{"name", "code"}}
	entPaymentType = &entity{name: "payment_medium_types", label: "Payment Medium Type", key: "name",
		cols: []string{"name", "alternative_code"}, lookup: []string{"name", "alternative_code"}}
	entPaymentBrand = &entity{name: "payment_medium_brands", label: "Payment Medium Brand", key: "name",
		cols: []string{"name", "alternative_code"}, lookup: []string{"name", "alternative_code"}}
	entAccount = &entity{name: "accounts_receivable", label: "Account", key: "number",
		cols: []string{"number", "name", "payment_medium_types"}, lookup: []string{"number", "name"}}
	entParticipant = &entity{name: "rewards_participants", label: "Rewards Participant", key: "number",
		cols: []string{"number", "accounts_receivable", "referred_by"}, lookup: []string{"number"}}
	entAccessToken = &entity{name: "access_tokens", label: "Access Token", key: "authentication_code",
		cols:   []string{"authentication_code", "identifier", "pass_code", "one_time_password", "accounts_receivable", "rewards_participant", "life_cycle_state"},
		lookup: []string{"authentication_code", "identifier", "one_time_password"}}
	entClassification = &entity{name: "classifications", label: "Customer Event Classification", key: "name",
		cols: []string{"name", "alternative_code", "type"}, lookup: []string{"name", "alternative_code"}}
	entProduct = &entity{name: "products", label: "Product", key: "code",
		cols: []string{"code", "alternative_code"}, lookup: []string{"code", "alternative_code"}}
	entInvoice = &entity{name: "invoices", label: "Invoice", key: "number",
		cols: []string{"number", "reference_number", "back_office_code"}, lookup: []string{"number", "reference_number", "back_office_code"}}
	entKPI = &entity{name: "key_performance_indicators", label: "Key Performance Indicator", key: "name",
		cols: []string{"name", "alternative_code"}, lookup: []string{"name", "alternative_code"}}
)

// entities lists every entity in dependency order: each one's references
// point to entities before it, which is the order seeding processes them.
var entities = []*entity{
	entCurrency, entUnit, entBusinessUnit, entTAP, entPaymentType, entPaymentBrand,
	entAccount, entParticipant, entAccessToken, entClassification, entProduct, entInvoice, entKPI,
}

func init() {
	// Set here rather than in the literals: the references form a graph the
	// package-level initialisers cannot express (participants refer to
	// participants).
	entUnit.refs = map[string]*entity{"currency": entCurrency}
	entBusinessUnit.refs = map[string]*entity{"unit": entUnit}
	entTAP.refs = map[string]*entity{"unit": entUnit}
	entAccount.lists = map[string]*entity{"payment_medium_types": entPaymentType}
	entParticipant.refs = map[string]*entity{"accounts_receivable": entAccount, "referred_by": entParticipant}
	entAccessToken.refs = map[string]*entity{"accounts_receivable": entAccount, "rewards_participant": entParticipant}
}

func entityNamed(name string) *entity {
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
}

func (r *Ref) get(e *entity, col string) string { return r.Vals[e.col(col)] }

func (r *Ref) set(e *entity, col, v string) { r.Vals[e.col(col)] = v }

func (e *entity) col(name string) int {
	for i, c := range e.cols {
		if c == name {
			return i
		}
	}
	panic("engine: entity " + e.name + " has no column " + name)
}
