package crm

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestBulkRequestMarshalCompact: the client sends a bulk request as its
// MarshalJSON writes it; that is byte for byte what json.Marshal makes of
// it (compact, HTML escaped), strange strings included.
func TestBulkRequestMarshalCompact(t *testing.T) {
	req := BulkRequest{Kind: Purchases, Token: "t<&>", IntendedCurrency: &CurrencyIdentifier{Code: "EUR"},
		Events: []Event{{RequestUniqueIdentifier: "a<b>&\u2028\"\\", PerformedOn: "2016-06-22T15:00:00",
			ProductsSet: []PurchaseProduct{{Product: &ProductIdentifier{Code: "x"}, Quantity: "1.50"}}}, {}}}
	direct, err := req.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	viaJSON, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(direct, viaJSON) {
		t.Errorf("MarshalJSON = %s\njson.Marshal = %s", direct, viaJSON)
	}
}

// TestBulkResultAppendOKResponse: engine serve's bulk answer, written by
// hand, is byte for byte what json.Marshal makes of its envelope.
func TestBulkResultAppendOKResponse(t *testing.T) {
	for name, r := range map[string]BulkResult{
		"empty":   {},
		"no sets": {Processed: []Processed{}, Unprocessed: []Unprocessed{}},
		"both": {Processed: []Processed{{Number: "7", ID: "0af3", RequestUniqueIdentifier: "r1"}, {RequestUniqueIdentifier: "<&>\u2028"}},
			Unprocessed: []Unprocessed{{ErrorDescription: "Parameter \"x\" is\tbad", ErrorCode: "InvalidValueException", RequestUniqueIdentifier: "r\xff2"}}},
	} {
		t.Run(name, func(t *testing.T) { checkAppendOKResponse(t, r) })
	}
}

// FuzzBulkResultAppendOKResponse: any strings, the same bytes as json.Marshal.
func FuzzBulkResultAppendOKResponse(f *testing.F) {
	f.Add("1", "abc", "r", "d", "c", "u")
	f.Add("\xff", "<\u2029>", "\"\\", "\x00\x1f", "é", "")
	f.Fuzz(func(t *testing.T, number, id, rid, desc, code, urid string) {
		checkAppendOKResponse(t, BulkResult{Processed: []Processed{{Number: number, ID: id, RequestUniqueIdentifier: rid}},
			Unprocessed: []Unprocessed{{ErrorDescription: desc, ErrorCode: code, RequestUniqueIdentifier: urid}}})
	})
}

func checkAppendOKResponse(t *testing.T, r BulkResult) {
	t.Helper()
	want, err := json.Marshal(Response[any]{Data: r, Status: Status{Code: StatusOK}})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.AppendOKResponse(nil); !bytes.Equal(got, want) {
		t.Errorf("AppendOKResponse = %s\njson.Marshal     = %s", got, want)
	}
}
