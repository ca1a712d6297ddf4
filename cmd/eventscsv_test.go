package cmd

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
)

// TestEventsCSVWriter: events list --format csv writes its fixed shape
// with gocsv: the header once (also with no event), every row in order
// across gocsv's batches, cells quoted as CSV needs.
func TestEventsCSVWriter(t *testing.T) {
	for _, n := range []int{0, 1, 2500} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var b bytes.Buffer
			w := &csvWriter{w: csv.NewWriter(&b)}
			if err := w.header(); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				obj := fmt.Sprintf(`{"id":"%032X","number":"%d","type":"PURCHASE","life_cycle_state":"POSTED","performed_on":"2016-06-22T15:00:00",`+
					`"accounts_receivable":{"id":"A","number":"ACR1"},"performed_by_unit":{"id":"U","name":"Admin Unit"},"description":"say \"hi\", %d",`+
					`"products_set":[{"total_amount":1.10},{"total_amount":2.205}]}`, i, i+1, i)
				if err := w.write([]byte(obj)); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.flush(); err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&b).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != n+1 || strings.Join(recs[0], ",") != strings.Join(columns, ",") {
				t.Fatalf("%d records, header %q; want %d and %q", len(recs), recs[0], n+1, columns)
			}
			for i, r := range recs[1:] {
				if r[0] != fmt.Sprint(i+1) || r[10] != "3.305" || r[11] != fmt.Sprintf(`say "hi", %d`, i) || r[8] != "Admin Unit" {
					t.Fatalf("row %d = %q", i+1, r)
				}
			}
		})
	}
}
