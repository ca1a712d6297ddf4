package crm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzReadBulkRequest feeds arbitrary bodies to the request reader the
// server uses. It must never panic; a body that gives a name twice in one
// object, anywhere, is refused; a body whose names are all parameters of
// the method, spelled exactly, with values of their types, is read as
// encoding/json reads it (strictReading); and accepted requests survive a
// marshal and read round trip unchanged.
func FuzzReadBulkRequest(f *testing.F) {
	// A page example.
	f.Add(`{"token":"t","web_customer_events_set":[{"request_unique_identifier":"06","accounts_receivable_identifier":{"number":"ACR0000000020"},"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-06-22T15:00:00","website":"www.crm.com"}]}`)
	// A number with many digits (a float64 would round it).
	f.Add(`{"web_customer_events_set":[{"request_unique_identifier":"1","udf_float_1":1250.7500000000000001}]}`)
	// A set that is not a list; nested garbage; an unknown parameter.
	f.Add(`{"web_customer_events_set":{"a":1}}`)
	f.Add(`{"web_customer_events_set":[{"products_set":[[[]]]}]}`)
	f.Add(`{"web_customer_events_set":[{}],"colour":"red"}`)
	// Issue 18: a duplicated set was merged into the first copy.
	f.Add(`{"token":"t","web_customer_events_set":[{"request_unique_identifier":"1","description":"A","udf_string_1":"u"}],"web_customer_events_set":[{"request_unique_identifier":"1"}]}`)
	// Issue 18: names in another case were accepted; a second token won.
	f.Add(`{"token":"t","web_customer_events_set":[{"REWARDS_PARTICIPANT_IDENTIFIER":{"number":"1"},"UDF_STRING_1":"x","Website":"w"}]}`)
	f.Add(`{"token":"BOGUS","token":"t","web_customer_events_set":[{}]}`)
	// Issue 14: unknown names are skipped, duplicates among them are not.
	f.Add(`{"token":"t","web_customer_events_set":[{"Website":"a","Website":"b"}]}`)
	f.Add(`{"token":"t","web_customer_events_set":[{"accounts_receivable_identifier":{"number":"A","NUMBER":"B","access_token_identifier":{"identifier":"i","identifier":"j"}}}]}`)
	// Nulls, a byte order mark, deep nesting, a quoted number.
	f.Add(`{"token":null,"web_customer_events_set":[{"description":null,"products_set":null}]}`)
	f.Add("\xef\xbb\xbf{\"web_customer_events_set\":[]}")
	f.Add(`{"web_customer_events_set":[{"accounts_receivable_identifier":{"access_token_identifier":{"a":{"b":{"c":[[{}]]}}}}}]}`)
	f.Add(`{"web_customer_events_set":[{"udf_float_1":"1.5"}]}`)
	f.Fuzz(checkStrict)
}

// checkStrict is the property of both fuzz targets.
func checkStrict(t *testing.T, body string) {
	req, err := DecodeBulkRequest(Web, []byte(body))
	if err == nil && hasDuplicateName(body) {
		t.Fatalf("DecodeBulkRequest(%q) accepted a body with a name given twice: %+v", body, req)
	}
	// What the reader reads is what encoding/json reads from the body
	// with every name that is not a parameter where it stands taken out.
	want, wantErr := strictReading(Web, withoutUnknownNames(Web, body))
	if wantErr == nil && len(want.Events) > 0 {
		if err != nil && !tolerated(body, err) {
			t.Fatalf("DecodeBulkRequest(%q) = %v; the strict reading accepts it: %+v", body, err, want)
		}
		if err == nil && !reflect.DeepEqual(req, want) {
			t.Fatalf("DecodeBulkRequest(%q) =\n%+v\nthe strict reading says\n%+v", body, req, want)
		}
	}
	if err != nil {
		return
	}
	_ = Validate(Web, &Event{})
	for i := range req.Events {
		_ = Validate(Web, &req.Events[i])
	}
	if len(req.Invalid) > 0 {
		return // the wire form of an event with a wrong-typed value is not the body's
	}
	out, err := json.Marshal(req)
	if err != nil {
		return // a number parameter given as a string that is no number: Validate refuses it
	}
	again, err := DecodeBulkRequest(Web, out)
	if err != nil {
		t.Fatalf("decode of %s: %v", out, err)
	}
	out2, _ := json.Marshal(again)
	if string(out) != string(out2) {
		t.Fatalf("round trip changed the request:\n%s\n%s", out, out2)
	}
}

// withoutUnknownNames returns body (a JSON object without duplicate
// names) with the members that are not parameters of kind k's bulk method
// where they stand removed, as the reader skips them; a body that is not
// such an object is returned as it is.
func withoutUnknownNames(k Kind, body string) string {
	body = strings.TrimPrefix(body, "\xef\xbb\xbf")
	if !utf8.ValidString(body) || hasDuplicateName(body) {
		return body
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var top any
	if dec.Decode(&top) != nil {
		return body
	}
	if _, err := dec.Token(); err != io.EOF {
		return body
	}
	m, ok := top.(map[string]any)
	if !ok {
		return body
	}
	s := SchemaOf(k)
	for name, v := range m {
		switch {
		case name == k.SetName():
			if list, ok := v.([]any); ok {
				for _, ev := range list {
					if evm, ok := ev.(map[string]any); ok {
						cleanMembers(evm, s.byName, nil)
					}
				}
			}
		case s.callByName[name] == nil:
			delete(m, name)
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return string(out)
}

// cleanMembers removes from m the names that are not in byName (or, for an
// identifier, idFields), recursing into the values of those that are.
func cleanMembers(m map[string]any, byName map[string]*Field, idFields []string) {
	for name, v := range m {
		var f *Field
		switch {
		case byName != nil:
			f = byName[name]
			if f == nil {
				delete(m, name)
				continue
			}
		case idFields != nil:
			if !slices.Contains(idFields, name) {
				delete(m, name)
				continue
			}
			if name == "access_token_identifier" {
				if tm, ok := v.(map[string]any); ok {
					cleanMembers(tm, nil, accessTokenFields)
				}
			}
			continue
		}
		switch f.Type {
		case IdentifierType:
			if im, ok := v.(map[string]any); ok {
				cleanMembers(im, nil, f.IDFields)
			}
		case Object:
			if om, ok := v.(map[string]any); ok {
				cleanMembers(om, f.itemsByName, nil)
			}
		case Set:
			if list, ok := v.([]any); ok {
				for _, el := range list {
					if em, ok := el.(map[string]any); ok {
						cleanMembers(em, f.itemsByName, nil)
					}
				}
			}
		}
	}
}

// hasDuplicateName reports whether a JSON body gives a name twice in one
// object, anywhere (false for a body that is not JSON).
func hasDuplicateName(body string) bool {
	dec := json.NewDecoder(strings.NewReader(strings.TrimPrefix(body, "\xef\xbb\xbf")))
	var walk func() (bool, error)
	walk = func() (bool, error) {
		tok, err := dec.Token()
		if err != nil {
			return false, err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				name, err := dec.Token()
				if err != nil {
					return false, err
				}
				if seen[name.(string)] {
					return true, nil
				}
				seen[name.(string)] = true
				if dup, err := walk(); dup || err != nil {
					return dup, err
				}
			}
			_, err = dec.Token()
		case json.Delim('['):
			for dec.More() {
				if dup, err := walk(); dup || err != nil {
					return dup, err
				}
			}
			_, err = dec.Token()
		}
		return false, err
	}
	dup, _ := walk()
	return dup
}

// FuzzReadBulkRequestBuilt builds bodies from the fuzzer's bytes rather
// than mutating text, so that most are valid JSON: objects of the API's
// names, the same names in other cases, unknown names and names given
// twice, nested to random depths, with values of every shape. The
// property is checkStrict's.
func FuzzReadBulkRequestBuilt(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte{5, 2, 1, 0, 0, 9, 200, 13, 1, 7, 0, 42, 3, 3, 3})
	f.Fuzz(func(t *testing.T, program []byte) {
		g := &builder{prog: program, vocab: fuzzVocab()}
		var b bytes.Buffer
		g.request(&b)
		checkStrict(t, b.String())
	})
}

// builder writes a body by the choices its program makes.
type builder struct {
	prog  []byte
	i     int
	vocab []string
}

func (g *builder) next() int {
	if g.i >= len(g.prog) {
		return 0
	}
	g.i++
	return int(g.prog[g.i-1])
}

func fuzzVocab() []string {
	var v []string
	for name := range exactNames(Web) {
		v = append(v, name)
	}
	slices.Sort(v)
	return append(v, "colour", "", "Website", "TOKEN", "Udf_String_1", "purchase_customer_events_set", "number ")
}

// name picks a member name: mostly an exact one, sometimes in another
// case, sometimes one already given in this object.
func (g *builder) name(given []string) string {
	c := g.next()
	n := g.vocab[g.next()%len(g.vocab)]
	switch {
	case c%7 == 0 && len(given) > 0:
		return given[g.next()%len(given)]
	case c%7 == 1:
		return strings.ToUpper(n[:min(1, len(n))]) + n[min(1, len(n)):]
	case c%7 == 2:
		return strings.ToUpper(n)
	}
	return n
}

// request writes the top level: mostly a token, then an events set.
func (g *builder) request(b *bytes.Buffer) {
	b.WriteString(`{`)
	if g.next()%4 != 0 {
		b.WriteString(`"token":"T",`)
	}
	b.WriteString(`"web_customer_events_set":[`)
	for i := range g.next() % 4 {
		if i > 0 {
			b.WriteByte(',')
		}
		g.object(b, 1)
	}
	b.WriteString(`]`)
	for range g.next() % 3 {
		b.WriteByte(',')
		g.member(b, nil, 0)
	}
	b.WriteString(`}`)
}

func (g *builder) object(b *bytes.Buffer, depth int) {
	b.WriteByte('{')
	var given []string
	for i := range g.next() % 6 {
		if i > 0 {
			b.WriteByte(',')
		}
		given = append(given, g.member(b, given, depth))
	}
	b.WriteByte('}')
}

func (g *builder) member(b *bytes.Buffer, given []string, depth int) string {
	n := g.name(given)
	q, _ := json.Marshal(n)
	b.Write(q)
	b.WriteByte(':')
	g.value(b, depth+1)
	return n
}

func (g *builder) value(b *bytes.Buffer, depth int) {
	c := g.next() % 9
	if depth > 6 && c >= 5 {
		c = 0
	}
	switch c {
	case 0, 1:
		b.WriteString([]string{`"x"`, `""`, `"ACR0000000077"`, `"2016-06-22T15:00:00"`, `"\u00e9\n"`, `"1.5"`}[g.next()%6])
	case 2:
		b.WriteString([]string{`1`, `1250.7500000000000001`, `-0`, `1e3`, `0.1`}[g.next()%5])
	case 3:
		b.WriteString(`null`)
	case 4:
		b.WriteString([]string{`true`, `[]`, `{}`}[g.next()%3])
	case 5, 6:
		g.object(b, depth)
	case 7:
		b.WriteByte('[')
		for i := range g.next() % 3 {
			if i > 0 {
				b.WriteByte(',')
			}
			g.object(b, depth)
		}
		b.WriteByte(']')
	case 8:
		b.WriteByte('[')
		g.value(b, depth+1)
		b.WriteByte(']')
	}
}

// strictReading is the reference reading of a bulk body: after a leading
// byte order mark, a walk over encoding/json's tokens refuses a name given
// twice in one object or not spelled exactly as some parameter, and
// encoding/json (which matches names regardless of case, and keeps the
// last of two copies) reads the values, refusing unknown names.
func strictReading(k Kind, body string) (*BulkRequest, error) {
	body = strings.TrimPrefix(body, "\xef\xbb\xbf")
	dec := json.NewDecoder(strings.NewReader(body))
	if err := walkNames(dec, exactNames(k)); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the object")
	}
	var top struct {
		Token            *string             `json:"token"`
		IntendedCurrency *CurrencyIdentifier `json:"intended_currency_identifier"`
		FieldsSet        *string             `json:"fields_set"`
		Events           []Event             `json:"-"`
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, errors.New("not an object")
	}
	req := &BulkRequest{Kind: k}
	for name, v := range raw {
		var dst any
		switch name {
		case "token":
			dst = &top.Token
		case "intended_currency_identifier":
			dst = &top.IntendedCurrency
		case "fields_set":
			dst = &top.FieldsSet
		case k.SetName():
			dst = &req.Events
		}
		d := json.NewDecoder(bytes.NewReader(v))
		d.DisallowUnknownFields()
		d.UseNumber()
		if err := d.Decode(dst); err != nil {
			return nil, err
		}
	}
	if req.Events == nil {
		return nil, errors.New("no events set")
	}
	if len(req.Events) > MaxBulkEvents {
		return nil, errors.New("too many events")
	}
	if top.Token != nil {
		req.Token = *top.Token
	}
	if top.FieldsSet != nil {
		req.FieldsSet = *top.FieldsSet
	}
	req.IntendedCurrency = top.IntendedCurrency
	return req, nil
}

// exactNames are the names a bulk body of kind k may use, anywhere: its
// parameters, their identifiers' fields and their items' parameters.
func exactNames(k Kind) map[string]bool {
	s := SchemaOf(k)
	names := map[string]bool{k.SetName(): true, "token": true, "fields_set": true}
	var add func(fs []Field)
	add = func(fs []Field) {
		for _, f := range fs {
			names[f.Name] = true
			for _, id := range f.IDFields {
				names[id] = true
				if id == "access_token_identifier" {
					for _, tf := range accessTokenFields {
						names[tf] = true
					}
				}
			}
			add(f.Items)
		}
	}
	add(s.Fields)
	add(s.Call)
	return names
}

// walkNames reads one JSON value, refusing duplicated and inexact names.
func walkNames(dec *json.Decoder, exact map[string]bool) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			name, err := dec.Token()
			if err != nil {
				return err
			}
			s := name.(string)
			if seen[s] || !exact[s] {
				return fmt.Errorf("name %q duplicated or not exact", s)
			}
			seen[s] = true
			if err := walkNames(dec, exact); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	case json.Delim('['):
		for dec.More() {
			if err := walkNames(dec, exact); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	}
	return err
}

// tolerated says whether the reader may refuse a body the strict reading
// accepts: the reader also refuses invalid UTF-8 and escaped lone
// surrogates (encoding/json replaces them).
func tolerated(body string, err error) bool {
	msg := err.Error()
	return !utf8.ValidString(body) || strings.Contains(msg, "surrogate") || strings.Contains(msg, "UTF-8")
}

// FuzzIsNumber checks IsNumber against the JSON grammar as encoding/json
// implements it: a literal IsNumber accepts must decode as a JSON number,
// and one it refuses must not.
func FuzzIsNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "1250.75", "1e5", "01", ".5", "1.", "+1", "1e+", "-", "17850.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var n json.Number
		err := json.Unmarshal([]byte(s), &n)
		jsonOK := err == nil && string(n) == s
		if got := IsNumber(s); got != jsonOK {
			t.Fatalf("IsNumber(%q) = %v, encoding/json says %v", s, got, jsonOK)
		}
		if plain := jsonOK && !strings.ContainsAny(s, "eE"); IsPlainNumber(s) != plain {
			t.Fatalf("IsPlainNumber(%q) = %v, want %v", s, !plain, plain)
		}
		if IsNumber(s) {
			if _, err := strconv.ParseFloat(s, 64); err != nil && err.(*strconv.NumError).Err != strconv.ErrRange {
				t.Fatalf("IsNumber(%q) but ParseFloat: %v", s, err)
			}
		}
	})
}

// FuzzReadSingleRequest feeds arbitrary bodies to the single-event create
// reader (issue 14: seeds/002 and 003's methods). It must never panic; a
// body that gives a name twice anywhere is refused; what it accepts
// validates (or not) without panicking, under both versions' schemas, and
// holds no name the method does not have.
func FuzzReadSingleRequest(f *testing.F) {
	// seeds/002's create example (udf_float_5 is not a parameter; the
	// amount is a number in a string).
	f.Add(`{"token":"t","accounts_receivable_identifier":{"number":"ACR0000000069"},"classification_identifier":{"name":"Financial Achievement 1"},"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-10-07T15:00:00","amount":"11.50","udf_float_5":50}`)
	// seeds/003: an account by access token, a business unit, a promo code.
	f.Add(`{"token":"t","accounts_receivable_identifier":{"access_token_identifier":{"one_time_password":123456}},"performed_by_business_unit_identifier":{"code":"B"},"promo_code":"P","amount":{"x":1}}`)
	f.Add(`{"token":"t","Token":"u","amount":"abc","description":[1,{"a":2}],"x":{"y":{"z":[[]]}}}`)
	f.Add(`{"token":"t","promo_code":"a","promo_code":"b"}`)
	f.Fuzz(func(t *testing.T, body string) {
		for _, s := range []*Schema{SingleSchemaFor(Achievements, R18), SingleSchemaFor(FinancialAchievements, R18), SingleSchemaFor(Achievements, R10)} {
			req, err := ReadSingleRequest(s, strings.NewReader(body), ReadOptions{})
			if err != nil {
				continue
			}
			if hasDuplicateName(body) {
				t.Fatalf("ReadSingleRequest(%q) accepted a body with a name given twice: %+v", body, req)
			}
			req.Event.RequestUniqueIdentifier = "1"
			_ = ValidateSchema(s, &req.Event)
			if err := notAllowed(s, reflect.ValueOf(&req.Event).Elem()); err != nil {
				t.Fatalf("ReadSingleRequest(%q) read %s, not a parameter of the method", body, err.Field)
			}
		}
	})
}
