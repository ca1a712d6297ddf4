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
