package crm

import (
	"encoding/json"
	"strconv"
	"testing"
)

// FuzzDecodeBulkRequest feeds arbitrary bodies to the request decoder the
// server uses. It must never panic, and whatever it accepts must survive a
// marshal and decode round trip unchanged (numbers keep their digits).
func FuzzDecodeBulkRequest(f *testing.F) {
	// A page example; a number with many digits (a float64 would round
	// it); a set that is not a list; nested garbage; an unknown parameter.
	f.Add(`{"token":"t","web_customer_events_set":[{"request_unique_identifier":"06","accounts_receivable_identifier":{"number":"ACR0000000020"},"performed_by_unit_identifier":{"name":"Admin Unit"},"performed_on":"2016-06-22T15:00:00","website":"www.crm.com"}]}`)
	f.Add(`{"web_customer_events_set":[{"request_unique_identifier":"1","udf_float_1":1250.7500000000000001}]}`)
	f.Add(`{"web_customer_events_set":{"a":1}}`)
	f.Add(`{"web_customer_events_set":[{"products_set":[[[]]]}]}`)
	f.Add(`{"web_customer_events_set":[],"colour":"red"}`)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := DecodeBulkRequest(Web, []byte(body))
		if err != nil {
			return
		}
		_ = Validate(Web, &Event{})
		for i := range req.Events {
			_ = Validate(Web, &req.Events[i])
		}
		out, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("Marshal of a decoded request: %v", err)
		}
		again, err := DecodeBulkRequest(Web, out)
		if err != nil {
			t.Fatalf("decode of %s: %v", out, err)
		}
		out2, _ := json.Marshal(again)
		if string(out) != string(out2) {
			t.Fatalf("round trip changed the request:\n%s\n%s", out, out2)
		}
	})
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
		if IsNumber(s) {
			if _, err := strconv.ParseFloat(s, 64); err != nil && err.(*strconv.NumError).Err != strconv.ErrRange {
				t.Fatalf("IsNumber(%q) but ParseFloat: %v", s, err)
			}
		}
	})
}
