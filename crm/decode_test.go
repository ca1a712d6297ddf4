package crm

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

const pageWeb = `{"token":"T","web_customer_events_set":[{"request_unique_identifier":"06","accounts_receivable_identifier":{"number":"ACR0000000020"},"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-06-22T15:00:00","website":"www.crm.com"}]}`

func webBody(events ...string) string {
	return `{"token":"T","web_customer_events_set":[` + strings.Join(events, ",") + `]}`
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
		{"duplicated token", `{"token":"BOGUS","token":"T","web_customer_events_set":[]}`, CodeInvalidRequest, "Parameter token Is Given More Than Once"},
		{"duplicated event parameter", webBody(`{"request_unique_identifier":"1","description":"a","description":"b"}`),
			CodeInvalidRequest, "Parameter web_customer_events_set[0].description Is Given More Than Once"},
		{"duplicated identifier field", webBody(`{"request_unique_identifier":"1"}`, `{"accounts_receivable_identifier":{"number":"A","number":"B"}}`),
			CodeInvalidRequest, "Parameter web_customer_events_set[1].accounts_receivable_identifier.number Is Given More Than Once"},
		{"upper-case event parameter", webBody(`{"request_unique_identifier":"1","UDF_STRING_1":"x"}`), CodeInvalidRequest, "Unknown Parameter web_customer_events_set[0].UDF_STRING_1"},
		{"capitalised parameter", webBody(`{"request_unique_identifier":"1","Website":"x"}`), CodeInvalidRequest, "Unknown Parameter web_customer_events_set[0].Website"},
		{"upper-case identifier", webBody(`{"REWARDS_PARTICIPANT_IDENTIFIER":{"number":"RP1"}}`), CodeInvalidRequest, "Unknown Parameter web_customer_events_set[0].REWARDS_PARTICIPANT_IDENTIFIER"},
		{"capitalised token", `{"Token":"T","web_customer_events_set":[]}`, CodeInvalidRequest, "Unknown Parameter Token"},
		{"upper-case set", `{"token":"T","WEB_CUSTOMER_EVENTS_SET":[]}`, CodeInvalidRequest, "Unknown Parameter WEB_CUSTOMER_EVENTS_SET"},
		{"another kind's set", `{"token":"T","purchase_customer_events_set":[]}`, CodeInvalidRequest, "Unknown Parameter purchase_customer_events_set"},
		{"unknown parameter", `{"token":"T","web_customer_events_set":[],"colour":"red"}`, CodeInvalidRequest, "Unknown Parameter colour"},
		{"missing set", `{"token":"T"}`, CodeMandatoryMissing, "Mandatory parameter web_customer_events_set is missing"},
		{"null set", `{"token":"T","web_customer_events_set":null}`, CodeMandatoryMissing, "Mandatory parameter web_customer_events_set is missing"},
		{"set not a list", `{"token":"T","web_customer_events_set":{"a":1}}`, CodeInvalidRequest, "Parameter web_customer_events_set Must Be a List of Objects"},
		{"nested lists", webBody(`[[[[[[[[[[[[]]]]]]]]]]]]`), CodeInvalidRequest, "Each Element of web_customer_events_set Must Be an Object"},
		{"deep objects", webBody(strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5000)), CodeInvalidRequest, "Unknown Parameter web_customer_events_set[0].a"},
		{"number as a string", webBody(`{"request_unique_identifier":1}`), CodeInvalidRequest, "Parameter web_customer_events_set[0].request_unique_identifier Must Be a String"},
		{"string as a number", webBody(`{"udf_float_1":"1.5"}`), CodeInvalidRequest, "Parameter web_customer_events_set[0].udf_float_1 Must Be a Number"},
		{"list as an identifier", webBody(`{"performed_by_unit_identifier":[]}`), CodeInvalidRequest, "Parameter web_customer_events_set[0].performed_by_unit_identifier Must Be an Object"},
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
		`{"USERNAME":"u","password":"p"}`:              "Unknown Parameter USERNAME",
		`{"username":"u","Password":"p"}`:              "Unknown Parameter Password",
		`{"username":"u","password":"p","password":1}`: "Parameter password Is Given More Than Once",
	} {
		err := ReadParams(strings.NewReader(body), &login, ReadOptions{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadParams(%s) = %v, want %q", body, err, want)
		}
	}
	if err := ReadParams(strings.NewReader(`{"username":"u","password":"p"}`), &login, ReadOptions{}); err != nil || login.Username != "u" || login.Password != "p" {
		t.Errorf("ReadParams = %v, %+v", err, login)
	}
}
