package crm

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DateLayout is the API's date format.
const DateLayout = "2006-01-02T15:04:05"

// Validate checks an event against the rules of its kind that need no
// reference data: mandatory parameters, parameters the kind does not have,
// exactly one field per identifier, exactly one of the semi-optional
// alternatives, enumerations, dates and numbers. It returns the first
// violation, or nil. The engine runs it on every event; the mapping runs it
// before anything is sent.
func Validate(k Kind, ev *Event) *Error {
	s := SchemaOf(k)
	if s == nil {
		return &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("Unknown customer event kind %s", k), Reason: "The kind must be one of " + kindNames() + "."}
	}
	return ValidateSchema(s, ev)
}

// ValidateSchema is Validate against the parameters of schema s (the
// kind's under an API version: SchemaFor, SingleSchemaFor).
func ValidateSchema(s *Schema, ev *Event) *Error {
	if s.plan != nil && s.plan.validFast(s, ev) {
		return nil // validateReflect would pass it too
	}
	return validateReflect(s, ev)
}

// validateReflect is ValidateSchema by reflection: the reference, and
// what builds every error.
func validateReflect(s *Schema, ev *Event) *Error {
	v := reflect.ValueOf(ev).Elem()
	if err := checkFields(s.checked, v, ""); err != nil {
		return err
	}
	if err := notAllowed(s, v); err != nil {
		return err
	}
	if err := exactlyOne(s.OneOf, v, s.byName, ""); err != nil {
		return err
	}
	if len(s.AnyOf) > 0 && countSet(s.AnyOf, v, s.byName) == 0 {
		return mandatory(strings.Join(s.AnyOf, " or "))
	}
	return nil
}

// ValidateCall checks the call-level parameters of a request.
func ValidateCall(k Kind, req *BulkRequest) *Error {
	s := SchemaOf(k)
	if s == nil {
		return &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("Unknown customer event kind %s", k), Reason: "The kind must be one of " + kindNames() + "."}
	}
	if len(req.Events) > MaxBulkEvents {
		return TooManyEvents(k, len(req.Events))
	}
	if req.IntendedCurrency != nil && len(s.Call) == 0 {
		return &Error{Code: CodeNotAllowedParameter, Message: fmt.Sprintf("Parameter intended_currency_identifier is not a parameter of %s", k.BulkPath()), Reason: "Only the parameters listed for the method can be specified.", Field: "intended_currency_identifier"}
	}
	return checkFields(s.Call, reflect.ValueOf(req).Elem(), "")
}

func mandatory(name string) *Error {
	return &Error{
		Code:    CodeMandatoryMissing,
		Message: fmt.Sprintf("Mandatory parameter %s is missing", name),
		Reason:  "A mandatory parameter was not specified.",
		Field:   name,
	}
}

func invalidValue(name, value, want string) *Error {
	return &Error{
		Code:    CodeInvalidValue,
		Message: fmt.Sprintf("Value (%s) of %s is not %s", value, name, want),
		Reason:  "The specified API value is not valid.",
		Field:   name,
	}
}

func checkFields(fields []Field, v reflect.Value, prefix string) *Error {
	for i := range fields {
		f := &fields[i]
		fv := v.FieldByIndex(f.index)
		name := prefix + f.Name
		if isEmpty(fv) {
			if f.Mandatory {
				return mandatory(name)
			}
			continue
		}
		if err := checkValue(f, fv, name); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(f *Field, fv reflect.Value, name string) *Error {
	switch f.Type {
	case String:
		s := fv.String()
		if f.Enum != nil && !slices.Contains(f.Enum, s) {
			return invalidValue(name, s, "one of "+strings.Join(f.Enum, ", "))
		}
	case Number:
		switch s := fv.String(); {
		case !IsNumber(s):
			return invalidValue(name, s, "a number")
		case !IsBoundedNumber(s):
			return invalidValue(name, s, fmt.Sprintf("a number of at most %d digits before and after its point once its exponent is written out", MaxPlainDigits))
		}
	case Date:
		if s := fv.String(); !IsDate(s) {
			return invalidValue(name, s, "a date of the form YYYY-MM-DDTHH:MM:SS")
		}
	case IdentifierType:
		return checkIdentifier(f, fv.Interface().(Identifier), name)
	case Object:
		if err := checkFields(f.Items, fv.Elem(), ""); err != nil {
			return withPrefix(err, name+".")
		}
		if err := exactlyOne(f.OneOf, fv.Elem(), itemIndex(f), ""); err != nil {
			return withPrefix(err, name+".")
		}
	case Set:
		for j := 0; j < fv.Len(); j++ {
			if err := checkFields(f.Items, fv.Index(j), ""); err != nil {
				// Names are built only for an error: valid rows, the hot
				// path, build none.
				return withPrefix(err, fmt.Sprintf("%s[%d].", name, j))
			}
		}
	}
	return nil
}

// withPrefix qualifies an error about a field of an element or object
// with where the element is (products_set[2].): the field in the message
// and in Field.
func withPrefix(err *Error, prefix string) *Error {
	if err.Field != "" {
		// The field's name comes after any value in the messages.
		if i := strings.LastIndex(err.Message, err.Field); i >= 0 {
			err.Message = err.Message[:i] + prefix + err.Message[i:]
		}
		err.Field = prefix + err.Field
	}
	return err
}

func checkIdentifier(f *Field, id Identifier, name string) *Error {
	set := id.Set()
	for _, fv := range set {
		if !slices.Contains(f.IDFields, fv.Name) {
			return &Error{
				Code:    CodeInvalidIdentifier,
				Message: fmt.Sprintf("Field %s is not an allowed field of %s (allowed: %s)", fv.Name, name, strings.Join(f.IDFields, ", ")),
				Reason:  "An identifier can be specified only by one of its allowed fields.",
				Field:   name,
			}
		}
	}
	if len(set) != 1 {
		return &Error{
			Code:    CodeInvalidIdentifier,
			Message: fmt.Sprintf("%s must be specified by exactly one of its fields (%s), got %d", name, strings.Join(f.IDFields, ", "), len(set)),
			Reason:  "An identifier must be specified by exactly one of its allowed fields.",
			Field:   name,
		}
	}
	var tok *AccessTokenIdentifier
	switch x := id.(type) {
	case *AccountIdentifier:
		tok = x.AccessToken
	case *ParticipantIdentifier:
		tok = x.AccessToken
	case *AccessTokenIdentifier:
		tok = x
	}
	if tok == nil {
		return nil
	}
	tname := name + ".access_token_identifier"
	if tok == id {
		tname = name
	}
	if n := len(tok.Set()); n != 1 {
		return &Error{
			Code:    CodeInvalidIdentifier,
			Message: fmt.Sprintf("%s must be specified by exactly one of authentication_code, identifier, one_time_password, got %d", tname, n),
			Reason:  "An identifier must be specified by exactly one of its allowed fields.",
			Field:   tname,
		}
	}
	if tok.Identifier != "" && tok.PassCode == "" {
		return mandatory(tname + ".pass_code")
	}
	if tok.Identifier == "" && tok.PassCode != "" {
		return &Error{Code: CodeNotAllowedParameter, Message: fmt.Sprintf("Parameter %s.pass_code is applicable only with identifier", tname), Reason: "The pass code is applicable only if the access token identifier is specified.", Field: tname + ".pass_code"}
	}
	if tok.OneTimePassword != "" && !isInteger(string(tok.OneTimePassword)) {
		return invalidValue(tname+".one_time_password", string(tok.OneTimePassword), "an integer")
	}
	return nil
}

func itemIndex(f *Field) map[string]*Field {
	m := make(map[string]*Field, len(f.Items))
	for i := range f.Items {
		m[f.Items[i].Name] = &f.Items[i]
	}
	return m
}

func countSet(names []string, v reflect.Value, byName map[string]*Field) int {
	n := 0
	for _, name := range names {
		if !isEmpty(v.FieldByIndex(byName[name].index)) {
			n++
		}
	}
	return n
}

func exactlyOne(names []string, v reflect.Value, byName map[string]*Field, prefix string) *Error {
	if len(names) == 0 {
		return nil
	}
	if n := countSet(names, v, byName); n != 1 {
		full := make([]string, len(names))
		for i, name := range names {
			full[i] = prefix + name
		}
		return &Error{
			Code:    CodeSemiOptional,
			Message: fmt.Sprintf("Exactly one of %s must be specified, got %d", strings.Join(full, ", "), n),
			Reason:  "It is mandatory to specify one of the semi-optional parameters. Only one of those parameters is allowed to be specified.",
			Field:   full[0],
		}
	}
	return nil
}

// notAllowed reports a parameter that is set on the event but is not one of
// the kind's (a website on a purchase, udf_string_9 on a referral).
func notAllowed(s *Schema, v reflect.Value) *Error {
	for _, wf := range s.foreign {
		name := wf.name
		if isEmpty(v.FieldByIndex(wf.index)) {
			continue
		}
		return &Error{
			Code:    CodeNotAllowedParameter,
			Message: fmt.Sprintf("Parameter %s is not a parameter of %s", name, s.Kind.BulkPath()),
			Reason:  "Only the parameters listed for the method can be specified.",
			Field:   name,
		}
	}
	return nil
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice:
		return v.Len() == 0
	default:
		return v.IsZero()
	}
}

// IsDate reports whether s is a date in the API's YYYY-MM-DDTHH:MM:SS form.
func IsDate(s string) bool {
	if len(s) != len(DateLayout) {
		return false
	}
	if ok, sure := isDateFast(s); sure {
		return ok
	}
	_, err := time.Parse(DateLayout, s)
	return err == nil
}

// isDateFast is IsDate for text of the exact shape DDDD-DD-DDTDD:DD:DD,
// without time.Parse: sure is false for any other text (time.Parse
// tells). FuzzIsDateFast holds it to time.Parse.
func isDateFast(s string) (ok, sure bool) {
	year, month, day, hour, minute, second, shaped := dateFields(s)
	if !shaped {
		return false, false
	}
	return month >= 1 && month <= 12 && day >= 1 && day <= daysIn(month, year) &&
		hour < 24 && minute < 60 && second < 60, true
}

// dateFields splits text of the exact shape DDDD-DD-DDTDD:DD:DD (any
// digits) into its numbers; shaped is false for any other text. Nothing
// is range-checked.
func dateFields(s string) (year, month, day, hour, minute, second int, shaped bool) {
	if len(s) != 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, 0, 0, 0, 0, 0, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day = num(0, 4), num(5, 2), num(8, 2)
	hour, minute, second = num(11, 2), num(14, 2), num(17, 2)
	if year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 {
		return 0, 0, 0, 0, 0, 0, false
	}
	return year, month, day, hour, minute, second, true
}

// daysIn is the number of days of month (1-12) in year, in the
// proleptic Gregorian calendar time uses (year 0 is a leap year).
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// IsNumber reports whether s is a JSON number literal: an optional minus,
// integer digits without a leading zero, an optional fraction and exponent.
func IsNumber(s string) bool {
	ok, _ := scanNumber(s)
	return ok
}

// MaxPlainDigits bounds the digits an exponent may expand a number to,
// before and after its point: 1e400 is no amount anybody means, and
// 1e999999 written out is a megabyte (events list adds amounts exactly).
const MaxPlainDigits = 60

// IsBoundedNumber reports whether s is a JSON number literal whose
// exponent, if any, keeps it within MaxPlainDigits digits before and after
// its point once written out (PlainNumber).
func IsBoundedNumber(s string) bool {
	ok, exp := scanNumber(s)
	if !ok || !exp {
		return ok
	}
	_, _, _, ok = expandNumber(s)
	return ok
}

// PlainNumber writes out the exponent of a JSON number literal within
// IsBoundedNumber's bounds: 1E+2 is 100, 5e-3 is 0.005, -2.50e1 is
// -25.0 (every digit kept, none added past the literal's own). Any other
// string is returned as it is.
func PlainNumber(s string) string {
	ok, exp := scanNumber(s)
	if !ok || !exp {
		return s
	}
	neg, digits, point, ok := expandNumber(s)
	if !ok {
		return s
	}
	var out string
	switch {
	case point <= 0:
		out = "0." + strings.Repeat("0", -point) + digits
	case point >= len(digits):
		out = digits + strings.Repeat("0", point-len(digits))
	default:
		out = digits[:point] + "." + digits[point:]
	}
	// The integer part without the leading zeros the shift left (0.5e1
	// is 5, not 05).
	if t := strings.TrimLeft(out, "0"); t == "" || t[0] == '.' {
		out = "0" + t
	} else {
		out = t
	}
	if neg {
		out = "-" + out
	}
	return out
}

// expandNumber splits a JSON number literal with an exponent into its
// sign, its digits (integer and fraction together) and where its point
// falls in them once the exponent is applied; ok is false past
// MaxPlainDigits digits before or after that point.
func expandNumber(s string) (neg bool, digits string, point int, ok bool) {
	if s != "" && s[0] == '-' {
		neg, s = true, s[1:]
	}
	i := strings.IndexAny(s, "eE")
	mant, exp := s[:i], strings.TrimPrefix(s[i+1:], "+")
	e, err := strconv.Atoi(exp)
	if err != nil || e > 2*MaxPlainDigits+len(mant) || e < -2*MaxPlainDigits-len(mant) {
		return false, "", 0, false // an exponent past any bound (or past int)
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits = intPart + frac
	point = len(intPart) + e
	if point > MaxPlainDigits || len(digits)-point > MaxPlainDigits {
		return false, "", 0, false
	}
	return neg, digits, point, true
}

// IsPlainNumber reports whether s is a JSON number literal without an
// exponent.
func IsPlainNumber(s string) bool {
	ok, exp := scanNumber(s)
	return ok && !exp
}

// scanNumber reports whether s is a JSON number literal, and whether it
// has an exponent.
func scanNumber(s string) (ok, exp bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || !isDigit(s[i]) {
			return false, false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || !isDigit(s[i]) {
			return false, false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		return i == len(s), true
	}
	return i == len(s), false
}

func isInteger(s string) bool {
	return IsNumber(s) && !strings.ContainsAny(s, ".eE")
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
