package crm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// readWith reads body as a bulk call of kind k with the quick path on or
// off, returning the request, the error and the paths reported ignored.
func readWith(k Kind, body string, quick bool, opts ReadOptions) (*BulkRequest, error, []string) {
	defer func(was bool) { quickEvents = was }(quickEvents)
	quickEvents = quick
	var ignored []string
	opts.Ignored = func(p string) { ignored = append(ignored, p) }
	req, err := ReadBulkRequest(k, strings.NewReader(body), opts)
	return req, err, ignored
}

// checkQuickSame: the quick path reads body exactly as the token-by-token
// reader does: the same request, the same paths ignored, the same error
// (for a body that is not valid JSON, UTF-8 included, only a refusal:
// the two may stop at different faults of it).
func checkQuickSame(t *testing.T, k Kind, body string, opts ReadOptions) {
	t.Helper()
	slow, slowErr, slowIgnored := readWith(k, body, false, opts)
	fast, fastErr, fastIgnored := readWith(k, body, true, opts)
	if (slowErr == nil) != (fastErr == nil) {
		t.Fatalf("%s body %q:\ntoken by token: %v\nquick: %v", k, body, slowErr, fastErr)
	}
	if slowErr != nil {
		text := []byte(strings.TrimPrefix(body, "\xef\xbb\xbf"))
		if json.Valid(text) && utf8.Valid(text) && slowErr.Error() != fastErr.Error() {
			t.Fatalf("%s body %q:\ntoken by token: %v\nquick: %v", k, body, slowErr, fastErr)
		}
		return
	}
	if !reflect.DeepEqual(slow, fast) {
		t.Fatalf("%s body %q:\ntoken by token: %+v\nquick: %+v", k, body, slow, fast)
	}
	if !reflect.DeepEqual(slowIgnored, fastIgnored) {
		t.Fatalf("%s body %q: ignored\ntoken by token: %q\nquick: %q", k, body, slowIgnored, fastIgnored)
	}
}

func TestQuickEventSame(t *testing.T) {
	purchase := `{"request_unique_identifier":"1","accounts_receivable_identifier":{"number":"ACR1"},"performed_on":"2016-06-22T15:00:00",` +
		`"products_set":[{"product_identifier":{"code":"P1"},"quantity":2,"net_amount":"10.00","vat_amount":"2.00","total_amount":"12.00"},` +
		`{"product_identifier":{"code":"P2"},"quantity":"1","net_amount":1e1,"vat_amount":"0","total_amount":"10"}],"udf_string_1":"x"}`
	body := func(events ...string) string {
		return `{"token":"T","purchase_customer_events_set":[` + strings.Join(events, ",") + `]}`
	}
	tests := []struct {
		name string
		body string
		opts ReadOptions
	}{
		{"common form", body(purchase, purchase), ReadOptions{}},
		{"white space", body(" { \"request_unique_identifier\" : \"1\" ,\n\t\"products_set\" : [ { \"quantity\" : 1 } , { } ] } "), ReadOptions{}},
		{"nulls", body(`{"request_unique_identifier":"1","description":null,"products_set":null,"accounts_receivable_identifier":null}`), ReadOptions{}},
		{"escape in a value", body(purchase, `{"request_unique_identifier":"2","description":"caf\u00e9\n"}`), ReadOptions{}},
		{"escaped quote", body(purchase, `{"request_unique_identifier":"2","description":"a \"quoted\" word"}`), ReadOptions{}},
		{"escape in a name", body(`{"request_unique_identifier":"1","descr\u0069ption":"d"}`), ReadOptions{}},
		{"unknown name", body(purchase, `{"request_unique_identifier":"2","colour":{"a":[1,2]},"products_set":[{"Quantity":1}]}`), ReadOptions{}},
		{"name twice", body(purchase, `{"request_unique_identifier":"2","description":"a","description":"b"}`), ReadOptions{}},
		{"name twice in a product line", body(`{"products_set":[{"quantity":1},{"quantity":1,"quantity":2}]}`), ReadOptions{}},
		{"wrong type", body(purchase, `{"request_unique_identifier":"2","products_set":[{"quantity":true}],"description":["x"]}`, purchase), ReadOptions{}},
		{"list element not an object", body(`{"request_unique_identifier":"2","products_set":[{"quantity":1},7]}`), ReadOptions{}},
		{"identifier field of another identifier", body(`{"accounts_receivable_identifier":{"code":"C"}}`), ReadOptions{}},
		{"boolean as a string", body(`{"description":false}`), ReadOptions{}},
		{"string too long", body(purchase, `{"request_unique_identifier":"2","description":"0123456789abcdef"}`), ReadOptions{MaxString: 12}},
		{"memory budget", body(purchase, purchase, purchase), ReadOptions{MaxMemory: 5000}},
		{"not an event", body(purchase, `7`), ReadOptions{}},
		{"syntax error in an event", body(purchase, `{"description":"a",}`), ReadOptions{}},
		{"cut off", body(purchase)[:len(body(purchase))/2], ReadOptions{}},
		{"invalid UTF-8", body(`{"description":"caf` + "\xe9" + `"}`), ReadOptions{}},
		{"no token: token by token only", `{"purchase_customer_events_set":[` + purchase + `]}`, ReadOptions{Authorize: func(string) error { return nil }}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkQuickSame(t, Purchases, tc.body, tc.opts)
		})
	}
}

// TestQuickEventPaths: a refusal the quick path hands back names the
// value by its place in the whole body, as the token-by-token reader
// does (the event's text is read again from its '{').
func TestQuickEventPaths(t *testing.T) {
	for _, tc := range []struct{ event, want string }{
		{`{"products_set":[{"quantity":1},{"quantity":1,"quantity":2}]}`, "Parameter purchase_customer_events_set[1].products_set[1].quantity Is Given More Than Once"},
		{`{"description":"0123456789abcdef"}`, "Parameter purchase_customer_events_set[1].description Is Longer Than 12 Bytes"},
	} {
		body := `{"token":"T","purchase_customer_events_set":[{},` + tc.event + `]}`
		_, err, _ := readWith(Purchases, body, true, ReadOptions{MaxString: 12})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.event, err, tc.want)
		}
	}
	// A wrong type fails the event only, named relative to it.
	req, err, _ := readWith(Purchases, `{"token":"T","purchase_customer_events_set":[{},{"products_set":[{"quantity":[]}]}]}`, true, ReadOptions{})
	if err != nil || len(req.Invalid) != 2 || req.Invalid[1] == nil || req.Invalid[1].Field != "products_set[0].quantity" {
		t.Fatalf("got %+v, %v", req, err)
	}
}

// FuzzQuickEventSame: on any body, of any kind, with tight limits or
// none, the quick path and the token-by-token reader agree.
func FuzzQuickEventSame(f *testing.F) {
	f.Add(`{"token":"t","web_customer_events_set":[{"request_unique_identifier":"06","accounts_receivable_identifier":{"number":"ACR0000000020"},"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-06-22T15:00:00","website":"www.crm.com"}]}`, uint8(0))
	f.Add(`{"token":"t","purchase_customer_events_set":[{"products_set":[{"product_identifier":{"code":"P"},"quantity":2},{"quantity":"1","Quantity":1}]}, {"udf_float_1":1250.7500000000000001}]}`, uint8(1))
	f.Add(`{"token":"t","financial_statement_customer_events_set":[{"measured_key_performance_indicators_set":[{"key_performance_indicator_identifier":{"name":"k"},"value":"1"}]}]}`, uint8(2))
	f.Add(`{"token":"t","web_customer_events_set":[{"website":"a","website":"b"},{"website":"\u00e9"}]}`, uint8(3))
	f.Add(`{"token":"t","web_customer_events_set":[{"accounts_receivable_identifier":{"number":"A","NUMBER":"B","access_token_identifier":{"identifier":"i","identifier":"j"}}}]}`, uint8(4))
	g := &builder{prog: []byte{5, 2, 1, 0, 0, 9, 200, 13, 1, 7, 0, 42, 3, 3, 3, 9, 9, 1, 5}, vocab: fuzzVocab()}
	var b bytes.Buffer
	g.request(&b)
	f.Add(b.String(), uint8(5))
	f.Fuzz(func(t *testing.T, body string, limits uint8) {
		opts := ReadOptions{}
		if limits%2 == 1 {
			opts.MaxString = 1 + int(limits)%16
		}
		if limits%3 == 1 {
			opts.MaxMemory = 800 + 97*int64(limits)
		}
		for _, k := range Kinds {
			if strings.Contains(body, k.SetName()) || k.AltSetName() != "" && strings.Contains(body, k.AltSetName()) {
				checkQuickSame(t, k, body, opts)
			}
		}
	})
}

// BenchmarkQuickEvent: a purchases call read with the quick path and
// token by token.
func BenchmarkQuickEvent(b *testing.B) {
	body := benchBody(b)
	opts := ReadOptions{Events: MaxBulkEvents, Authorize: func(string) error { return nil }}
	for _, quick := range []bool{true, false} {
		b.Run(fmt.Sprintf("quick=%v", quick), func(b *testing.B) {
			defer func(was bool) { quickEvents = was }(quickEvents)
			quickEvents = quick
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := ReadBulkRequest(Purchases, bytes.NewReader(body), opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestQuickEventReadError: a body whose reading fails inside an event (a
// server's body limit, a client gone) is that read error, as the
// token-by-token reader returns it, not a body "not valid JSON": the
// decoder reports it inside a syntax error when it reads a value whole.
func TestQuickEventReadError(t *testing.T) {
	for _, quick := range []bool{true, false} {
		body := failAfter{strings.NewReader(`{"token":"T","web_customer_events_set":[{"request_unique_identifier":"1"},{"website":"www.cr`)}
		defer func(was bool) { quickEvents = was }(quickEvents)
		quickEvents = quick
		if _, err := ReadBulkRequest(Web, body, ReadOptions{}); err != errReadPastToken {
			t.Errorf("quick path %v: ReadBulkRequest = %v, want the read error as is", quick, err)
		}
	}
}
