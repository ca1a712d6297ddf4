package crm

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

const pageWeb = `{"token":"T","web_customer_events_set":[{"request_unique_identifier":"06","accounts_receivable_identifier":{"number":"ACR0000000020"},"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-06-22T15:00:00","website":"www.crm.com"}]}`

func webBody(events ...string) string {
	return `{"token":"T","web_customer_events_set":[` + strings.Join(events, ",") + `]}`
}

// TestReadBulkRequestSameNameApart: a name is given twice only within one
// object; the same name in sibling or nested objects is not a duplicate.
func TestReadBulkRequestSameNameApart(t *testing.T) {
	for _, body := range []string{
		webBody(`{"request_unique_identifier":"1","colour":[{"c":1},{"c":2}],"shade":{"c":{"c":3}}}`),
		webBody(`{"request_unique_identifier":"1","description":"a"}`, `{"request_unique_identifier":"2","description":"b"}`),
		webBody(`{"request_unique_identifier":"1","accounts_receivable_identifier":{"number":"A"},"rewards_participant_identifier":{"number":"B"}}`),
	} {
		if _, err := DecodeBulkRequest(Web, []byte(body)); err != nil {
			t.Errorf("DecodeBulkRequest(%s): %v", body, err)
		}
	}
}

// TestReadBulkRequestRefuses: each body breaks one rule of the strict
// reading and is refused with an error naming the parameter.
func TestReadBulkRequestRefuses(t *testing.T) {
	tests := []struct {
		name, body string
		wantCode   string
		wantMsg    string
	}{
		// Issue 18 point 1: the second copy used to be merged into the first.
		{"duplicated events set", `{"token":"T","web_customer_events_set":[{"request_unique_identifier":"1","description":"A"}],"web_customer_events_set":[{"request_unique_identifier":"1"}]}`,
			CodeInvalidRequest, "Parameter web_customer_events_set Is Given More Than Once"},
		// Point 2: a second token hid behind the first.
		{"duplicated token", `{"token":"BOGUS","token":"T","web_customer_events_set":[{}]}`, CodeInvalidRequest, "Parameter token Is Given More Than Once"},
		{"duplicated event parameter", webBody(`{"request_unique_identifier":"1","description":"a","description":"b"}`),
			CodeInvalidRequest, "Parameter web_customer_events_set[0].description Is Given More Than Once"},
		// A name spelled with an escape is the same parameter.
		{"duplicated escaped event parameter", webBody(`{"request_unique_identifier":"1","description":"a","descr\u0069ption":"b"}`),
			CodeInvalidRequest, "Parameter web_customer_events_set[0].description Is Given More Than Once"},
		{"name with a bad escape", webBody(`{"request_unique_identifier":"1","descr\uZZZZption":"b"}`),
			CodeInvalidRequest, "The Request Body Is Not Valid JSON"},
		// Unknown names are skipped, but a duplicate among them is still
		// found.
		{"duplicated unknown name", webBody(`{"request_unique_identifier":"1","Website":"a","Website":"b"}`),
			CodeInvalidRequest, "Parameter web_customer_events_set[0].Website Is Given More Than Once"},
		// The reader finds duplicates itself: in a skipped value too, at
		// any depth, and among the top level's unknown names.
		{"duplicated name in a skipped value", webBody(`{"request_unique_identifier":"1","colour":{"a":1,"b":[{"c":1,"c":2}]}}`),
			CodeInvalidRequest, "Parameter web_customer_events_set[0].colour.b[0].c Is Given More Than Once"},
		{"duplicated unknown top-level name", `{"token":"T","x":1,"web_customer_events_set":[{"request_unique_identifier":"1"}],"x":2}`,
			CodeInvalidRequest, "Parameter x Is Given More Than Once"},
		// A skipped value may not nest deeper than the API's objects could.
		{"deep unknown value", webBody(`{"a":` + strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5001)),
			CodeInvalidRequest, "Nests Deeper Than 16 Levels"},
		{"duplicated identifier field", webBody(`{"request_unique_identifier":"1"}`, `{"accounts_receivable_identifier":{"number":"A","number":"B"}}`),
			CodeInvalidRequest, "Parameter web_customer_events_set[1].accounts_receivable_identifier.number Is Given More Than Once"},
		{"missing set", `{"token":"T"}`, CodeMandatoryMissing, "Mandatory parameter web_customer_events_set is missing"},
		{"null set", `{"token":"T","web_customer_events_set":null}`, CodeMandatoryMissing, "Mandatory parameter web_customer_events_set is missing"},
		// Issue 14 point 8: the set is mandatory; an empty one was accepted.
		{"empty set", `{"token":"T","web_customer_events_set":[]}`, CodeMandatoryMissing, "Mandatory parameter web_customer_events_set is missing"},
		{"another kind's set only", `{"token":"T","purchase_customer_events_set":[{}]}`, CodeMandatoryMissing, "Mandatory parameter web_customer_events_set is missing"},
		{"set not a list", `{"token":"T","web_customer_events_set":{"a":1}}`, CodeInvalidRequest, "Parameter web_customer_events_set Must Be a List of Objects"},
		{"nested lists", webBody(`[[[[[[[[[[[[]]]]]]]]]]]]`), CodeInvalidRequest, "Each Element of web_customer_events_set Must Be an Object"},
		{"huge string", webBody(`{"description":"` + strings.Repeat("x", DefaultMaxString+1) + `"}`), CodeInvalidRequest, "Parameter web_customer_events_set[0].description Is Longer Than 65536 Bytes"},
		{"1001 events", webBody(strings.Split(strings.Repeat("{},", 1001)+"{}", ",")...), CodeTooManyEvents, "holds more than 1000 customer events"},
		{"not an object", `[]`, CodeInvalidRequest, "The Request Body Must Be a JSON Object"},
		{"empty body", ``, CodeInvalidRequest, "The Request Body Ends Before Its JSON Object Does"},
		{"cut short", `{"token":"T","web_customer_events_set":[{`, CodeInvalidRequest, "The Request Body Ends Before Its JSON Object Does"},
		{"data after the object", pageWeb + `{}`, CodeInvalidRequest, "The Request Body Holds Data After Its JSON Object"},
		{"invalid UTF-8", webBody(`{"description":"` + "\xff" + `"}`), CodeInvalidRequest, "The Request Body Is Not Valid JSON: invalid UTF-8"},
		{"UTF-16 byte order mark", "\xff\xfe{\x00}\x00", CodeInvalidRequest, "The Request Body Starts With a UTF-16 Byte Order Mark"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := DecodeBulkRequest(Web, []byte(tt.body))
			var apiErr *Error
			if !errors.As(err, &apiErr) || apiErr.Code != tt.wantCode || !strings.Contains(apiErr.Message, tt.wantMsg) {
				t.Fatalf("DecodeBulkRequest = %+v, %v; want %s %q", req, err, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestReadBulkRequestAccepts(t *testing.T) {
	want, err := DecodeBulkRequest(Web, []byte(pageWeb))
	if err != nil {
		t.Fatal(err)
	}
	if want.Token != "T" || len(want.Events) != 1 || want.Events[0].AccountsReceivable.Number != "ACR0000000020" || want.Events[0].Website != "www.crm.com" {
		t.Fatalf("DecodeBulkRequest(page example) = %+v", want)
	}
	tests := map[string]string{
		"a leading UTF-8 byte order mark": "\xef\xbb\xbf" + pageWeb,
		"white space around":              " \n\t" + pageWeb + "\r\n",
		"null for optional parameters": strings.Replace(pageWeb, `"website"`,
			`"description":null,"invoice_identifier":null,"products_set":null,"udf_float_1":null,"website"`, 1),
		"the token last": `{"web_customer_events_set":` + pageWeb[strings.Index(pageWeb, "["):len(pageWeb)-1] + `,"token":"T"}`,
		// Names are read from the decoder's bytes; one with escapes is
		// unquoted first, at every level.
		"names spelled with escapes": strings.NewReplacer(`"website"`, `"web\u0073ite"`, `"number"`, `"n\u0075mber"`,
			`"token"`, `"\u0074oken"`).Replace(pageWeb),
	}
	for name, body := range tests {
		got, err := DecodeBulkRequest(Web, []byte(body))
		if err != nil {
			t.Errorf("%s: DecodeBulkRequest = %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: DecodeBulkRequest = %+v, want %+v", name, got, want)
		}
	}
	// A number keeps its digits.
	got, err := DecodeBulkRequest(Web, []byte(webBody(`{"udf_float_1":1250.7500000000000001}`)))
	if err != nil || got.Events[0].UDFFloat1 != "1250.7500000000000001" {
		t.Errorf("udf_float_1 = %+v, %v; want 1250.7500000000000001", got, err)
	}
	// Exactly 1000 events are fine.
	if got, err := DecodeBulkRequest(Web, []byte(webBody(strings.Split(strings.Repeat("{},", 999)+"{}", ",")...))); err != nil || len(got.Events) != 1000 {
		t.Errorf("1000 events: %v", err)
	}
}

// TestReadBulkRequestIgnoresUnknownNames: issue 14 point 1 (and issue 18
// point 2, reconciled): a name that is not a parameter of the method is
// skipped, whatever its value, reported to Ignored, and never taken for
// another spelling; a parameter of another kind is not one of this kind's.
func TestReadBulkRequestIgnoresUnknownNames(t *testing.T) {
	var ignored []string
	opts := ReadOptions{Ignored: func(p string) { ignored = append(ignored, p) }}
	body := `{"token":"T","colour":"red","WEB_CUSTOMER_EVENTS_SET":[],"web_customer_events_set":[` +
		`{"request_unique_identifier":"1","Website":"x","UDF_STRING_1":"u","udf_float_5":5,"udf_string_9":"purchases only","products_set":[[[]]],` +
		`"accounts_receivable_identifier":{"number":"A","NUMBER":"B","access_token_identifier":{"authentication_code":"4111"}},` +
		`"a":` + strings.Repeat(`{"a":[`, 8) + `1` + strings.Repeat(`]}`, 8) + `}]}`
	got, err := ReadBulkRequest(Web, strings.NewReader(body), opts)
	if err != nil {
		t.Fatalf("ReadBulkRequest = %v", err)
	}
	ev := got.Events[0]
	want := Event{RequestUniqueIdentifier: "1", AccountsReceivable: &AccountIdentifier{Number: "A"}}
	if !reflect.DeepEqual(ev, want) || len(got.Invalid) != 0 {
		t.Errorf("event = %+v (invalid %v), want %+v", ev, got.Invalid, want)
	}
	wantIgnored := []string{"colour", "WEB_CUSTOMER_EVENTS_SET",
		"web_customer_events_set[0].Website", "web_customer_events_set[0].UDF_STRING_1", "web_customer_events_set[0].udf_float_5",
		"web_customer_events_set[0].udf_string_9", "web_customer_events_set[0].products_set",
		"web_customer_events_set[0].accounts_receivable_identifier.NUMBER",
		"web_customer_events_set[0].accounts_receivable_identifier.access_token_identifier", "web_customer_events_set[0].a"}
	if !reflect.DeepEqual(ignored, wantIgnored) {
		t.Errorf("ignored = %q\nwant %q", ignored, wantIgnored)
	}
	// Financial statements: the page's set name, or the kind's own.
	for _, set := range []string{"financial_achievement_customer_events_set", "financial_statement_customer_events_set"} {
		got, err := DecodeBulkRequest(FinancialStatements, []byte(`{"`+set+`":[{"request_unique_identifier":"1"}]}`))
		if err != nil || len(got.Events) != 1 {
			t.Errorf("financial statements under %s = %+v, %v; want one event", set, got, err)
		}
	}
	both := `{"financial_achievement_customer_events_set":[{}],"financial_statement_customer_events_set":[{}]}`
	if _, err := DecodeBulkRequest(FinancialStatements, []byte(both)); err == nil || !strings.Contains(err.Error(), "Are Both Given") {
		t.Errorf("financial statements under both names = %v, want a refusal", err)
	}
}

// TestReadBulkRequestChargesSkippedNames: the names of a skipped object
// are held by the decoder (to refuse duplicates) until it closes: they
// count against the memory budget, so that an object of many distinct
// unknown names is refused rather than held.
func TestReadBulkRequestChargesSkippedNames(t *testing.T) {
	for _, where := range []string{"in a skipped object", "in the event"} {
		var b strings.Builder
		b.WriteString(`{"token":"T","web_customer_events_set":[{"request_unique_identifier":"1"`)
		if where == "in a skipped object" {
			b.WriteString(`,"x":{"a":0`)
		}
		for i := range 20000 {
			fmt.Fprintf(&b, `,"n%d":0`, i)
		}
		if where == "in a skipped object" {
			b.WriteString(`}`)
		}
		b.WriteString(`}]}`)
		var limit *LimitError
		if _, err := ReadBulkRequest(Web, strings.NewReader(b.String()), ReadOptions{MaxMemory: 1 << 20}); !errors.As(err, &limit) {
			t.Errorf("20000 unknown names %s under a 1 MiB budget = %v, want a LimitError", where, err)
		}
		if got, err := ReadBulkRequest(Web, strings.NewReader(b.String()), ReadOptions{}); err != nil || got.Events[0].RequestUniqueIdentifier != "1" {
			t.Errorf("20000 unknown names %s under the default budget = %v", where, err)
		}
	}
}

// TestReadBulkRequestWrongTypes: issue 14 point 1. A value of the wrong
// type used to fail the whole call with the decoder's text; it fails its
// event only (Invalid), naming the parameter, and the other events are
// read. Scalars cross: a number where a string goes is its literal, a
// string where a number goes is kept for Validate (the page's own example
// sends "amount":"11.50").
func TestReadBulkRequestWrongTypes(t *testing.T) {
	body := `{"token":"T","purchase_customer_events_set":[` +
		`{"request_unique_identifier":"1","products_set":[{"quantity":"abc"}]},` +
		`{"request_unique_identifier":2,"products_set":[{"quantity":"2.50","total_amount":{"v":1}}]},` +
		`{"request_unique_identifier":"3","performed_by_unit_identifier":[],"description":true},` +
		`{"request_unique_identifier":"4","products_set":[1,{"quantity":3}]},` +
		`{"request_unique_identifier":"5","products_set":{}},` +
		`{"request_unique_identifier":"6","accounts_receivable_identifier":{"access_token_identifier":{"one_time_password":1234}}}]}`
	got, err := DecodeBulkRequest(Purchases, []byte(body))
	if err != nil {
		t.Fatalf("DecodeBulkRequest = %v", err)
	}
	wantInvalid := []string{"",
		"Error:Value of products_set[0].total_amount is not a number. - Description:The specified API value is not valid.",
		"Error:Value of performed_by_unit_identifier is not an object. - Description:The specified API value is not valid.",
		"Error:Value of products_set[0] is not an object. - Description:The specified API value is not valid.",
		"Error:Value of products_set is not a list of objects. - Description:The specified API value is not valid.",
		""}
	for i, want := range wantInvalid {
		var gotDesc string
		if i < len(got.Invalid) && got.Invalid[i] != nil {
			gotDesc = got.Invalid[i].Description()
			if got.Invalid[i].Code != CodeInvalidValue {
				t.Errorf("Invalid[%d].Code = %s, want %s", i, got.Invalid[i].Code, CodeInvalidValue)
			}
		}
		if gotDesc != want {
			t.Errorf("Invalid[%d] = %q, want %q", i, gotDesc, want)
		}
	}
	if ev := got.Events[1]; ev.RequestUniqueIdentifier != "2" || ev.ProductsSet[0].Quantity != "2.50" {
		t.Errorf("event 2 = %+v, want its request id and quantity as literals", ev)
	}
	abc := validPurchase()
	abc.ProductsSet[0].Quantity = got.Events[0].ProductsSet[0].Quantity
	if err := Validate(Purchases, abc); err == nil || err.Code != CodeInvalidValue || err.Field != "products_set[0].quantity" {
		t.Errorf("Validate(quantity \"abc\") = %v, want a refusal naming it", err)
	}
	if got := got.Events[3].ProductsSet; len(got) != 1 || got[0].Quantity != "3" {
		t.Errorf("event 4's products = %+v, want the object element read", got)
	}
	// seeds/004: one_time_password is an Integer, sent as a JSON number.
	if otp := got.Events[5].AccountsReceivable.AccessToken.OneTimePassword; otp != "1234" {
		t.Errorf("one_time_password = %q, want 1234", otp)
	}
	// Outside an event the call fails.
	_, err = DecodeBulkRequest(Purchases, []byte(`{"token":"T","intended_currency_identifier":"EUR","purchase_customer_events_set":[{}]}`))
	var apiErr *Error
	if !errors.As(err, &apiErr) || apiErr.Code != CodeInvalidValue || apiErr.Message != "Value of intended_currency_identifier is not an object" {
		t.Errorf("a call-level value of the wrong type = %v, want %s naming it", err, CodeInvalidValue)
	}
}

// failAfter is a body whose bytes after head cannot be read: a reader
// that asks for them is found out.
type failAfter struct{ head io.Reader }

var errReadPastToken = errors.New("read past the token")

func (f failAfter) Read(p []byte) (int, error) {
	if n, err := f.head.Read(p); n > 0 || err != io.EOF {
		return n, err
	}
	return 0, errReadPastToken
}

// TestReadBulkRequestAuthorizesOnSight: the token is checked as soon as it
// is read: a bad one stops the read before the events, and events that
// come before the token are read under the smaller budget.
func TestReadBulkRequestAuthorizesOnSight(t *testing.T) {
	errBad := errors.New("bad token")
	var checked []string
	opts := ReadOptions{Authorize: func(tok string) error {
		checked = append(checked, tok)
		if tok != "GOOD" {
			return errBad
		}
		return nil
	}, PreAuthMemory: 64 << 10}

	body := failAfter{strings.NewReader(`{"token":"BAD","web_customer_events_set":[`)}
	if _, err := ReadBulkRequest(Web, body, opts); err != errBad {
		t.Errorf("a bad token first: ReadBulkRequest = %v, want the Authorize error before reading on", err)
	}
	if _, err := ReadBulkRequest(Web, strings.NewReader(`{"web_customer_events_set":[]}`), opts); err != errBad || checked[len(checked)-1] != "" {
		t.Errorf("no token: ReadBulkRequest = %v (checked %q), want Authorize(\"\")'s error", err, checked)
	}
	many := webBody(strings.Split(strings.Repeat(`{"products_set":[{},{},{},{}]},`, 999)+"{}", ",")...)
	last := `{"web_customer_events_set":` + many[strings.Index(many, "["):len(many)-1] + `,"token":"GOOD"}`
	var limit *LimitError
	if _, err := ReadBulkRequest(Web, strings.NewReader(last), opts); !errors.As(err, &limit) || !strings.Contains(err.Error(), "Before Its Token") {
		t.Errorf("events before the token over the pre-authentication budget: %v, want a LimitError", err)
	}
	first := strings.Replace(many, `"token":"T"`, `"token":"GOOD"`, 1)
	if got, err := ReadBulkRequest(Web, strings.NewReader(first), opts); err != nil || len(got.Events) != 1000 {
		t.Errorf("the same events after a good token: %v", err)
	}
}

func TestReadParams(t *testing.T) {
	var login struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	for body, want := range map[string]string{
		`{"username":"u","password":"p","password":1}`: "Parameter password Is Given More Than Once",
		`{"username":"u","password":{}}`:               "Value of password is not a string",
	} {
		err := ReadParams(strings.NewReader(body), &login, ReadOptions{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadParams(%s) = %v, want %q", body, err, want)
		}
	}
	// Other spellings are not the parameter: they are ignored, and named.
	var ignored []string
	login.Password = ""
	err := ReadParams(strings.NewReader(`{"username":"u","Password":"p","PASSWORD":"q"}`), &login, ReadOptions{Ignored: func(p string) { ignored = append(ignored, p) }})
	if err != nil || login.Password != "" || !reflect.DeepEqual(ignored, []string{"Password", "PASSWORD"}) {
		t.Errorf("ReadParams with other spellings = %v, password %q, ignored %q; want no password and both named", err, login.Password, ignored)
	}
	if err := ReadParams(strings.NewReader(`{"username":"u","password":"p"}`), &login, ReadOptions{}); err != nil || login.Username != "u" || login.Password != "p" {
		t.Errorf("ReadParams = %v, %+v", err, login)
	}
}

// TestReadBulkRequestCounted: the count a caller expects (ReadOptions.Events)
// sizes the set once the token is accepted, and never changes what is read:
// a set of more or fewer events than said is read as without it. Before
// the token is accepted, the set is not sized from a header anyone can
// send.
func TestReadBulkRequestCounted(t *testing.T) {
	ev := `{"request_unique_identifier":"%d","accounts_receivable_identifier":{"number":"ACR1"},"performed_by_unit_identifier":{"name":"U"},"performed_on":"2016-06-22T15:00:00","website":"w"}`
	events := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf(ev, i))
		}
		return out
	}
	authorize := func(string) error { return nil }
	for _, tc := range []struct {
		name     string
		body     string
		expected int
		checked  bool
		wantCap  int // over 0: the set's capacity; -1: under the count (not sized); 0: either
	}{
		{"as many as said", webBody(events(3)...), 3, true, 3},
		{"fewer than said", webBody(events(2)...), 5, true, 5},
		{"more than said", webBody(events(7)...), 5, true, 0},
		{"said over the maximum", webBody(events(1)...), 5000, true, MaxBulkEvents},
		{"no token to check", webBody(events(3)...), 3, false, 3},
		{"the set before the token", `{"web_customer_events_set":[` + strings.Join(events(3), ",") + `],"token":"T"}`, 1000, true, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := ReadOptions{}
			if tc.checked {
				opts.Authorize = authorize
			}
			want, err := ReadBulkRequest(Web, strings.NewReader(tc.body), opts)
			if err != nil {
				t.Fatal(err)
			}
			opts.Events = tc.expected
			got, err := ReadBulkRequest(Web, strings.NewReader(tc.body), opts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("read with a count of %d:\n%+v\nwithout:\n%+v", tc.expected, got, want)
			}
			if tc.wantCap > 0 && cap(got.Events) != tc.wantCap {
				t.Errorf("set of capacity %d, want %d", cap(got.Events), tc.wantCap)
			}
			if tc.wantCap < 0 && cap(got.Events) >= tc.expected {
				t.Errorf("set of capacity %d sized from the count %d before the token", cap(got.Events), tc.expected)
			}
		})
	}
}
