package engine

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/internal/block"
)

// resolve resolves every identifier of ev and applies the kind's rules.
// done is false while lookups are pending (the caller fetches them and
// asks again); otherwise the event is either ready to store or failed.
// The event object is built only then, in a's memory.
func (e *Engine) resolve(r *resolver, k crm.Kind, ev *crm.Event, currency *Ref, a *arena) (p *PendingEvent, err *crm.Error, done bool) {
	s := &eval{r: r}
	var rv resolved
	rv.lookup(s, ev, currency)
	a.refs = lineRefs(s, ev, a.refs[:0])
	if s.incomplete {
		return nil, nil, false
	}
	if s.err != nil {
		return nil, s.err, true
	}
	if err := rv.check(k, currency); err != nil {
		return nil, err, true
	}
	p, err = rv.pending(k, ev, a)
	return p, err, true
}

// arena hands out the pending events and event objects of one call, and
// their lines, from a few allocations rather than several per event.
type arena struct {
	n     int // events in the call: the size of the first blocks
	objs  keptBlock[EventObject]
	pends keptBlock[PendingEvent]
	lines keptBlock[ProductLine]
	kpis  []KPILine
	refs  []*Ref // an event's line records (lineRefs), reused
}

// arenas keeps the arenas of finished calls (newArena, release): made
// anew each call, their first blocks were a quarter of a load's allocated
// bytes.
var arenas sync.Pool

// newArena returns an arena for a call of n events.
func newArena(n int) *arena {
	a, _ := arenas.Get().(*arena)
	if a == nil {
		a = &arena{}
	}
	a.reset(n)
	return a
}

// reset readies a for a call of n events.
func (a *arena) reset(n int) {
	a.n = n
	a.objs.reset(n)
	a.pends.reset(n)
	a.lines.reset(n)
	a.kpis = nil
}

// release gives a back for a later call. Nothing of its call may be used
// after it: the call's results are copies.
func (a *arena) release() {
	a.scrub()
	arenas.Put(a)
}

// scrub zeroes what a call made in a's kept blocks, and only that (a
// call of one event after one of 1000 cleared 744 KB): a later call finds
// zero values there, and nothing of this call is kept alive.
func (a *arena) scrub() {
	a.objs.scrub()
	a.pends.scrub()
	a.lines.scrub()
	clear(a.refs[:cap(a.refs)])
	a.kpis = nil
}

func (a *arena) object() *EventObject { return &a.objs.cut(1, a.n)[0] }

func (a *arena) pending() *PendingEvent { return &a.pends.cut(1, a.n)[0] }

// productLines returns n lines, of length and capacity n.
func (a *arena) productLines(n int) []ProductLine { return a.lines.cut(n, a.n) }

// keptBlock cuts values from blocks (block.Cut) and keeps the first block
// of a call for the next one.
type keptBlock[T any] struct {
	kept []T // the first block
	free []T // what is left to cut: kept's tail, or a later block's; nil before the first cut
}

// reset readies b for a call of n events: its kept block is cut first
// when it is large enough for the call.
func (b *keptBlock[T]) reset(n int) {
	b.free = nil
	if cap(b.kept) >= n {
		b.free = b.kept
	}
}

// cut returns n zero values, of length and capacity n; size is the
// smallest block to make.
func (b *keptBlock[T]) cut(n, size int) []T {
	if b.free == nil {
		b.kept = make([]T, max(n, size))
		b.free = b.kept
	}
	return block.Cut(&b.free, n, size)
}

// scrub zeroes the part of the kept block the call cut into.
func (b *keptBlock[T]) scrub() {
	clear(handedOut(b.kept, b.free))
	b.free = nil
}

// handedOut is the part of a kept block that was cut into, given what is
// left to cut (the block's tail, or another block once it ran out; nil
// when the call never cut).
func handedOut[T any](kept, rest []T) []T {
	switch {
	case rest == nil:
		return nil
	case len(rest) == 0 || len(rest) > len(kept):
		return kept
	case &kept[len(kept)-len(rest)] == &rest[0]:
		return kept[:len(kept)-len(rest)]
	}
	return kept
}

// kpiLines returns n lines, of length and capacity n.
func (a *arena) kpiLines(n int) []KPILine { return block.Cut(&a.kpis, n, a.n) }

// resolved holds the records an event's identifiers name.
type resolved struct {
	account, participant, token *Ref
	refs                        [len(directRefs)]*Ref
	// Second-hand records: a business unit's or a transaction acquiring
	// point's unit, the unit that performed the event (named, or one of
	// those), and that unit's currency when the call names one.
	buUnit, tapUnit, performer, unitCurrency *Ref
}

// lookup resolves the event's identifiers (pending lookups leave
// s.incomplete set).
func (rv *resolved) lookup(s *eval, ev *crm.Event, currency *Ref) {
	if ev.AccountsReceivable != nil {
		rv.account, rv.token = s.account(ev.AccountsReceivable)
	}
	if ev.RewardsParticipant != nil {
		rv.participant, rv.token = s.participant(ev.RewardsParticipant)
		if rv.participant != nil {
			rv.account = s.byID(entAccount, rv.participant.get(entParticipant, "accounts_receivable"))
		}
	}
	for i, f := range directRefs {
		if id := f.id(ev); id != nil {
			rv.refs[i] = s.ident(f.ent, id)
		}
	}
	// seeds/003: the access token that authorised the customer, unless the
	// account was identified by one in this call.
	if ev.AuthorizedByAccessToken != nil && rv.token == nil {
		rv.token = s.token(ev.AuthorizedByAccessToken)
	}
	if bu := rv.refs[refBusinessUnit]; bu != nil {
		rv.buUnit = s.byID(entUnit, bu.get(entBusinessUnit, "unit"))
	}
	if tap := rv.refs[refTAP]; tap != nil {
		rv.tapUnit = s.byID(entUnit, tap.get(entTAP, "unit"))
	}
	rv.performer = firstOf(rv.refs[refUnit], rv.tapUnit, rv.buUnit)
	if currency != nil && rv.performer != nil {
		rv.unitCurrency = s.byID(entCurrency, rv.performer.get(entUnit, "currency"))
	}
}

// lineRefs resolves the products of a purchase's lines and the KPIs (and
// their products) of a financial achievement, appending them to refs: per
// product line its product; per KPI line its KPI and its product (nil when
// none).
func lineRefs(s *eval, ev *crm.Event, refs []*Ref) []*Ref {
	for i := range ev.ProductsSet {
		refs = append(refs, s.ident(entProduct, ev.ProductsSet[i].Product))
	}
	for i := range ev.MeasuredKPIs {
		m := &ev.MeasuredKPIs[i]
		refs = append(refs, s.ident(entKPI, m.KPI))
		var product *Ref
		if m.Product != nil {
			product = s.ident(entProduct, m.Product)
		}
		refs = append(refs, product)
	}
	return refs
}

// setLines puts the event's lines into obj with the records lineRefs
// resolved.
func setLines(obj *EventObject, ev *crm.Event, refs []*Ref, a *arena) {
	if len(ev.ProductsSet) > 0 {
		obj.ProductsSet = a.productLines(len(ev.ProductsSet))
		for i := range ev.ProductsSet {
			line := &ev.ProductsSet[i]
			qty := line.Quantity
			if qty == "" {
				qty = "1" // the page: "If not specified then it automatically defaults to 1"
			}
			obj.ProductsSet[i] = ProductLine{
				Product:  object(entProduct, refs[i]),
				Quantity: qty, NetAmount: line.NetAmount, VATAmount: line.VATAmount, TotalAmount: line.TotalAmount,
			}
		}
		refs = refs[len(ev.ProductsSet):]
	}
	if len(ev.MeasuredKPIs) > 0 {
		obj.MeasuredKPIs = a.kpiLines(len(ev.MeasuredKPIs))
		for i := range ev.MeasuredKPIs {
			m := &ev.MeasuredKPIs[i]
			l := KPILine{KPI: object(entKPI, refs[2*i]), Value: m.Value}
			if m.Product != nil {
				l.Product = object(entProduct, refs[2*i+1])
			}
			obj.MeasuredKPIs[i] = l
		}
	}
}

// check applies the rules between the resolved records.
func (rv *resolved) check(k crm.Kind, currency *Ref) *crm.Error {
	if err := checkPerformer(rv.refs[refUnit], rv.refs[refBusinessUnit], rv.refs[refTAP], rv.buUnit, rv.tapUnit); err != nil {
		return err
	}
	if err := checkClassification(k, rv.refs[refClassification]); err != nil {
		return err
	}
	if currency != nil && (rv.unitCurrency == nil || rv.unitCurrency.ID != currency.ID) {
		return currencyMismatch(currency, rv.unitCurrency, rv.performer)
	}
	if pmType := rv.refs[refPaymentType]; pmType != nil && (k == crm.FinancialAchievements || k == crm.Achievements) {
		return checkPaymentType(pmType, rv.account)
	}
	return nil
}

// pending completes obj with the resolved records and returns the event
// to store: for a referral, with the claim its commit makes, unless the
// participant is referred already or refers itself.
func (rv *resolved) pending(k crm.Kind, ev *crm.Event, a *arena) (*PendingEvent, *crm.Error) {
	var claim *Claim
	if referred := rv.refs[refReferred]; referred != nil {
		referredBy := rv.refs[refReferredBy]
		number := referred.get(entParticipant, "number")
		lost := crm.ReferredByAnother(number)
		if referred.get(entParticipant, "referred_by") != "" {
			return nil, lost
		}
		if referred.ID == referredBy.ID {
			return nil, &crm.Error{
				Code:    crm.CodeInvalidValue,
				Message: fmt.Sprintf("Participant %s Cannot Refer Itself", number),
				Reason:  "The referred and the referring rewards participants must differ.",
				Field:   "referred_by_rewards_participant_identifier",
			}
		}
		claim = &Claim{Referred: referred.ID, By: referredBy.ID, Lost: lost}
	}
	obj := a.object()
	setObject(obj, k, ev)
	setLines(obj, ev, a.refs, a)
	p := a.pending()
	*p = PendingEvent{Kind: string(k), RequestID: ev.RequestUniqueIdentifier, Obj: obj, Claim: claim}
	obj.AccountsReceivable = object(entAccount, rv.account)
	obj.RewardsParticipant = object(entParticipant, rv.participant)
	obj.AuthorizedByAccessToken = object(entAccessToken, rv.token)
	for i, f := range directRefs {
		*f.obj(obj) = object(f.ent, rv.refs[i])
	}
	obj.PerformedByUnit = object(entUnit, rv.performer) // the unit, or the business unit's or point's
	return p, nil
}

// The references an event names directly: each is resolved by its
// identifier when the event gives one, and stored in the event object as
// the nested record.
const (
	refClassification = iota
	refUnit
	refBusinessUnit
	refTAP
	refReferred
	refReferredBy
	refPaymentType
	refPaymentBrand
	refInvoice
	refProduct
)

var directRefs = [...]struct {
	ent *Entity
	id  func(*crm.Event) crm.Identifier // nil when the event has none
	obj func(*EventObject) **RefObject
}{
	refClassification: {entClassification, func(ev *crm.Event) crm.Identifier { return optional(ev.Classification) }, func(o *EventObject) **RefObject { return &o.Classification }},
	refUnit:           {entUnit, func(ev *crm.Event) crm.Identifier { return optional(ev.PerformedByUnit) }, func(o *EventObject) **RefObject { return &o.PerformedByUnit }},
	refBusinessUnit:   {entBusinessUnit, func(ev *crm.Event) crm.Identifier { return optional(ev.PerformedByBusinessUnit) }, func(o *EventObject) **RefObject { return &o.PerformedByBusinessUnit }},
	refTAP:            {entTAP, func(ev *crm.Event) crm.Identifier { return optional(ev.PerformedByTAP) }, func(o *EventObject) **RefObject { return &o.PerformedByTAP }},
	refReferred:       {entParticipant, func(ev *crm.Event) crm.Identifier { return optional(ev.ReferredRewardsParticipant) }, func(o *EventObject) **RefObject { return &o.ReferredRewardsParticipant }},
	refReferredBy:     {entParticipant, func(ev *crm.Event) crm.Identifier { return optional(ev.ReferredByRewardsParticipant) }, func(o *EventObject) **RefObject { return &o.ReferredByRewardsParticipant }},
	refPaymentType:    {entPaymentType, func(ev *crm.Event) crm.Identifier { return optional(ev.PaymentMediumType) }, func(o *EventObject) **RefObject { return &o.PaymentMediumType }},
	refPaymentBrand:   {entPaymentBrand, func(ev *crm.Event) crm.Identifier { return optional(ev.PaymentMediumBrand) }, func(o *EventObject) **RefObject { return &o.PaymentMediumBrand }},
	refInvoice:        {entInvoice, func(ev *crm.Event) crm.Identifier { return optional(ev.Invoice) }, func(o *EventObject) **RefObject { return &o.Invoice }},
	refProduct:        {entProduct, func(ev *crm.Event) crm.Identifier { return optional(ev.Product) }, func(o *EventObject) **RefObject { return &o.Product }},
}

// optional turns a nil identifier pointer into a nil interface.
func optional[P interface {
	*T
	crm.Identifier
}, T any](p P) crm.Identifier {
	if p == nil {
		return nil
	}
	return p
}

// setObject copies the event's own values into obj, a zero event object.
func setObject(obj *EventObject, k crm.Kind, ev *crm.Event) {
	obj.Type = k.EventType()
	obj.LifeCycleState = "POSTED"
	obj.PerformedOn = ev.PerformedOn
	obj.Description = ev.Description
	obj.ReferenceNumber = ev.ReferenceNumber
	obj.PaymentMediumIdentifier = ev.PaymentMediumIdentifier
	obj.SpendRequest = ev.SpendRequest
	obj.SocialMedia = ev.SocialMedia
	obj.Profile = ev.Profile
	obj.Action = ev.Action
	obj.Website = ev.Website
	obj.Amount = ev.Amount
	obj.PromoCode = ev.PromoCode
	obj.ExternalSystem = ev.ExternalSystem
	obj.ExternalSystemReferenceNumber = ev.ExternalSystemReferenceNumber
	if ev.UDFs != (crm.UDFs{}) { // most events have none to copy
		u := ev.UDFs
		obj.UDFs = &u
	}
}

func firstOf(refs ...*Ref) *Ref {
	for _, r := range refs {
		if r != nil {
			return r
		}
	}
	return nil
}

// checkPerformer checks that the unit, business unit and transaction
// acquiring point of a purchase agree, and that a unit follows from them.
func checkPerformer(unit, bu, tap, buUnit, tapUnit *Ref) *crm.Error {
	for _, x := range []struct {
		label string
		of    *Ref
		e     *Entity
		unit  *Ref
	}{{"Transaction Acquiring Point", tap, entTAP, tapUnit}, {"Business Unit", bu, entBusinessUnit, buUnit}} {
		if unit != nil && x.unit != nil && x.unit.ID != unit.ID {
			return &crm.Error{
				Code: crm.CodeUnitMismatch,
				Message: fmt.Sprintf("%s (%s) Does Not Belong to Unit (%s)", x.label,
					x.of.get(x.e, "code"), unit.get(entUnit, "name")),
				Reason: "The performing unit is set from the transaction acquiring point or business unit; a unit given as well must be the same.",
				Field:  "performed_by_unit_identifier",
			}
		}
	}
	if firstOf(unit, tapUnit, buUnit) == nil {
		return &crm.Error{
			Code:    crm.CodeMandatoryMissing,
			Message: "Mandatory parameter performed_by_unit_identifier is missing and no unit follows from the business unit or transaction acquiring point",
			Reason:  "A mandatory parameter was not specified.",
			Field:   "performed_by_unit_identifier",
		}
	}
	return nil
}

// classificationKinds are the kinds whose page restricts the classification
// to its own type; the label is the page's wording.
func classificationKind(k crm.Kind) (label string, restricted bool) {
	switch k {
	case crm.FinancialAchievements:
		return "Financial Achievement", true
	case crm.FinancialStatements:
		return "Financial Statement", true
	}
	return "", false
}

func checkClassification(k crm.Kind, cls *Ref) *crm.Error {
	if cls == nil {
		return nil
	}
	return classificationOfKind(k, cls.get(entClassification, "name"), cls.get(entClassification, "type"))
}

// classificationOfKind is the error of a classification (its name and
// type) that kind k's page does not allow, or nil.
func classificationOfKind(k crm.Kind, name, typ string) *crm.Error {
	label, restricted := classificationKind(k)
	if !restricted || typ == string(k) {
		return nil
	}
	return &crm.Error{
		Code:    crm.CodeInvalidClassification,
		Message: fmt.Sprintf("Customer Event Classification (%s) Is Not a %s Classification", name, label),
		Reason:  fmt.Sprintf("Only %s classifications are allowed to be specified.", strings.ToLower(label)),
		Field:   "classification_identifier",
	}
}

func currencyMismatch(intended, unitCurrency, unit *Ref) *crm.Error {
	have := "none"
	if unitCurrency != nil {
		have = unitCurrency.get(entCurrency, "code")
	}
	return &crm.Error{
		Code: crm.CodeCurrencyMismatch,
		Message: fmt.Sprintf("Intended Currency (%s) Does Not Match the Currency (%s) of Unit (%s)",
			intended.get(entCurrency, "code"), have, unit.get(entUnit, "name")),
		Reason: "The intended currency is validated against the currency of the related performed by unit.",
		Field:  "intended_currency_identifier",
	}
}

func checkPaymentType(pmType, account *Ref) *crm.Error {
	if account != nil && slices.Contains(strings.Split(account.get(entAccount, "payment_medium_types"), ","), pmType.ID) {
		return nil
	}
	acc := "none"
	if account != nil {
		acc = account.get(entAccount, "number")
	}
	return &crm.Error{
		Code:    crm.CodePaymentTypeNotAllowed,
		Message: fmt.Sprintf("Payment Medium Type (%s) Is Not Allowed for Account (%s)", pmType.get(entPaymentType, "name"), acc),
		Reason:  "Only payment medium types which are allowed in the related accounts receivable can be specified.",
		Field:   "payment_medium_type_identifier",
	}
}
