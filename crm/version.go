package crm

import (
	"fmt"
	"slices"
)

// APIVersion is the CRM.COM release whose API pages a server follows where
// the pages of different releases disagree. The pages in seeds/ are of two
// generations:
//
//   - R10: the bulk page (seeds/001, page version 24): a purchase names
//     its account or its rewards participant (exactly one) and its unit
//     (mandatory); no business units, transaction acquiring points, access
//     tokens or spend requests;
//   - R18: the newest pages: seeds/004 (bulk purchases: the account is
//     mandatory and may be named by an access token, the rewards
//     participant is deprecated, the performer is a business unit, a unit
//     or a transaction acquiring point, a spend request may be made) and
//     seeds/003 (the single achievements create of R15-R18).
//
// The other methods read the same under both. The zero APIVersion is the
// embedded engine's own: every parameter any page gives, with R10's
// account-or-participant rule, so that one mapping loads under either.
type APIVersion string

// The versions a server can follow.
const (
	R10 APIVersion = "R10"
	R18 APIVersion = "R18"
	// NewestAPIVersion is the default of engine serve: the newest pages.
	NewestAPIVersion = R18
)

// APIVersions lists the versions, oldest first.
var APIVersions = []APIVersion{R10, R18}

// ParseAPIVersion returns the version named s (R10 or R18).
func ParseAPIVersion(s string) (APIVersion, error) {
	for _, v := range APIVersions {
		if string(v) == s {
			return v, nil
		}
	}
	return "", fmt.Errorf("unknown API version %q (valid: R10, R18)", s)
}

// SchemaFor returns the parameters of kind k's bulk create method under
// version v (SchemaOf(k) for the zero version).
func SchemaFor(k Kind, v APIVersion) *Schema {
	if vs, ok := versioned[v]; ok {
		if s, ok := vs[k]; ok {
			return s
		}
	}
	return SchemaOf(k)
}

// SingleSchemaFor returns the parameters of kind k's single create method
// (customer_events/<kind>/create) under version v: seeds/003 for
// achievements from R18, otherwise those of the bulk method's events.
func SingleSchemaFor(k Kind, v APIVersion) *Schema {
	if k == Achievements && v == R18 {
		return achievementCreateR18
	}
	return SchemaFor(k, v)
}

var (
	versioned = map[APIVersion]map[Kind]*Schema{
		R10: {Purchases: purchasesR10()},
		R18: {Purchases: purchasesR18()},
	}
	achievementCreateR18 = achievementCreate()
)

// derive returns a copy of kind k's schema with edit applied to its fields.
func derive(k Kind, edit func(fields []Field) []Field) *Schema {
	base := SchemaOf(k)
	s := &Schema{Kind: k, Fields: edit(slices.Clone(base.Fields)), Call: slices.Clone(base.Call),
		OneOf: base.OneOf, AnyOf: base.AnyOf}
	return s
}

func without(fields []Field, names ...string) []Field {
	return slices.DeleteFunc(fields, func(f Field) bool { return slices.Contains(names, f.Name) })
}

func edited(fields []Field, name string, fn func(f *Field)) []Field {
	for i := range fields {
		if fields[i].Name == name {
			fn(&fields[i])
		}
	}
	return fields
}

func purchasesR10() *Schema {
	s := derive(Purchases, func(fs []Field) []Field {
		fs = without(fs, "performed_by_business_unit_identifier", "performed_by_tap_identifier", "spend_request")
		fs = edited(fs, "accounts_receivable_identifier", func(f *Field) { f.IDFields = accountFields })
		fs = edited(fs, "rewards_participant_identifier", func(f *Field) { f.IDFields = participantFields })
		return edited(fs, "performed_by_unit_identifier", func(f *Field) { f.Mandatory = true })
	})
	s.AnyOf = nil
	s.finish(tagIndex{})
	return s
}

func purchasesR18() *Schema {
	s := derive(Purchases, func(fs []Field) []Field {
		fs = without(fs, "rewards_participant_identifier")
		return edited(fs, "accounts_receivable_identifier", func(f *Field) { f.Mandatory = true })
	})
	s.OneOf = nil
	s.finish(tagIndex{})
	return s
}

// achievementCreate is customer_events/achievements/create as seeds/003
// gives it (R15-R18).
func achievementCreate() *Schema {
	fields := []Field{
		must(str("request_unique_identifier")),
		must(ident("accounts_receivable_identifier", accountFieldsWithToken)),
		must(ident("classification_identifier", namedFields)),
		ident("product_identifier", productFields),
		ident("payment_medium_type_identifier", namedFields),
		ident("payment_medium_brand_identifier", namedFields),
		str("payment_medium_identifier"),
		num("amount"),
		ident("performed_by_business_unit_identifier", codedFields),
		ident("performed_by_unit_identifier", namedFields),
		ident("performed_by_tap_identifier", codedFields),
		must(date("performed_on")),
		str("description"),
		str("external_system"),
		str("external_system_reference_number"),
		ident("authorized_by_access_token_identifier", accessTokenFields),
		str("promo_code"),
	}
	s := &Schema{Kind: Achievements, Fields: append(fields, udfs(8)...),
		OneOf: []string{"performed_by_business_unit_identifier", "performed_by_unit_identifier", "performed_by_tap_identifier"}}
	s.finish(tagIndex{})
	return s
}
