package mapping

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// mapOutcomes maps rows like mapRows and returns one line per record:
// "L<line> event <request id> <set size>", "L<line> filtered", or
// "L<line> ERR <its own reason>", so a test sees what each row became.
func mapOutcomes(t *testing.T, spec string, recs ...*Record) []string {
	t.Helper()
	m, err := compileSpec(t, spec, retailHeader)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	var out []string
	emit := func(it Item) {
		for i, r := range it.Records {
			switch {
			case it.Filtered:
				out = append(out, fmt.Sprintf("L%d filtered", r.Line))
			case it.Err != nil:
				out = append(out, fmt.Sprintf("L%d ERR %s", r.Line, it.ErrOf(i).Error()))
			default:
				out = append(out, fmt.Sprintf("L%d event %s %d", r.Line, it.RequestID, len(it.Event.ProductsSet)))
			}
		}
	}
	for _, r := range recs {
		m.Push(r, emit)
	}
	m.Flush(emit)
	return out
}

func rows(lines ...string) []*Record {
	out := make([]*Record, len(lines))
	for i, l := range lines {
		out[i] = &Record{Line: i + 2, Values: strings.Split(l, "|")}
	}
	return out
}

// TestGroupEmptyKey guards issue 16 point 1: rows with an empty group key
// were merged into one event for the first row's customer.
func TestGroupEmptyKey(t *testing.T) {
	// reference_number from Description: InvoiceNo is the empty key.
	spec := strings.Replace(purchaseBase, "reference_number: InvoiceNo", "reference_number: Description", 1) + "group_by: InvoiceNo\n"
	got := mapOutcomes(t, spec, rows(
		"|BRZ|a|1|2016-06-22|1.10|ACR1|UK",
		"|SLV|b|1|2016-06-23|2.20|ACR2|UK",
		"|GLD|c|1|2016-06-24|8.25|ACR3|UK",
		"7|BRZ|d|1|2016-06-24|1|ACR4|UK",
		"7|BRZ|e|1|2016-06-24|1|ACR4|UK",
		"|BRZ|f|1|2016-06-24|1|ACR5|UK",
		"  |BRZ|g|1|2016-06-24|1|ACR5|UK",
		"  |BRZ|h|1|2016-06-24|1|ACR5|UK",
	)...)
	want := []string{
		"L2 event in.csv:2 1", "L3 event in.csv:3 1", "L4 event in.csv:4 1",
		"L5 event in.csv:5 2", "L6 event in.csv:5 2",
		"L7 event in.csv:7 1", "L8 event in.csv:8 1", "L9 event in.csv:9 1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("outcomes =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// required: true makes an empty key a failure of the row instead.
	spec = strings.Replace(spec, "group_by: InvoiceNo", "group_by: {column: InvoiceNo, required: true}", 1)
	got = mapOutcomes(t, spec, rows("|BRZ|a|1|2016-06-22|1.10|ACR1|UK", "|SLV|b|1|2016-06-23|2.20|ACR2|UK")...)
	for _, g := range got {
		if !strings.Contains(g, "ERR line") || !strings.Contains(g, "group_by column InvoiceNo: is empty, and the mapping marks it required") {
			t.Errorf("required empty key: outcome %q, want a row error naming group_by", g)
		}
	}
	if len(got) != 2 {
		t.Errorf("required empty key: %d outcomes, want 2", len(got))
	}
}

// TestGroupAllOrNothing guards issue 16 point 2: a row of a group that
// failed the filter or a conversion left the other rows to be stored as a
// partial event, and a retry then stored the invoice twice.
func TestGroupAllOrNothing(t *testing.T) {
	spec := purchaseBase + "request_id: InvoiceNo\ngroup_by: InvoiceNo\nfilter: Quantity > 0\ncolumns: {Quantity: decimal}\n"
	tests := []struct {
		name string
		recs []*Record
		want []string
	}{
		{"filter cannot be evaluated", rows(
			"820001|BRZ|a|2|2016-06-22|1.10|ACR1|UK",
			"820001|SLV|b||2016-06-22|2.20|ACR1|UK",
			"820001|GLD|c|1|2016-06-22|3.30|ACR1|UK",
			"820002|GLD|c|1|2016-06-22|3.30|ACR1|UK",
		), []string{
			`L2 ERR line 2: failed with its group "820001" (a group is stored whole or not at all): line 3, filter Quantity > 0: Quantity is empty: > cannot be applied to no value (an empty cell) and an integer; an empty cell is no value`,
			`L3 ERR line 3, filter Quantity > 0: Quantity is empty`,
			`L4 ERR line 4: failed with its group "820001"`,
			"L5 event 820002 1",
		}},
		{"a cell that is not its declared type fails the group", rows(
			"820001|BRZ|a|2|2016-06-22|1.10|ACR1|UK",
			"820001|SLV|b|six|2016-06-22|2.20|ACR1|UK",
			"820001|GLD|c|1|2016-06-22|3.30|ACR1|UK",
		), []string{
			`L2 ERR line 2: failed with its group "820001" (a group is stored whole or not at all): line 3, column Quantity: value "six": is not a number`,
			`L3 ERR line 3, column Quantity: value "six": is not a number`,
			`L4 ERR line 4: failed with its group "820001"`,
		}},
		{"conversion fails", rows(
			"820001|BRZ|a|2|2016-06-22|1.10|ACR1|UK",
			"820001|SLV|b|2|2016-06-22|2,20|ACR1|UK",
			"820001|GLD|c|1|2016-06-22|3.30|ACR1|UK",
		), []string{
			`L2 ERR line 2: failed with its group "820001" (a group is stored whole or not at all): line 3, column UnitPrice (products_set.total_amount): value "2,20": is not a number`,
			`L3 ERR line 3, column UnitPrice (products_set.total_amount): value "2,20": is not a number`,
			`L4 ERR line 4: failed with its group "820001"`,
		}},
		{"every bad row says its own reason", rows(
			"820001|BRZ|a|2|2016-06-22|x|ACR1|UK",
			"820001|SLV|b|2|2016-06-22|2.20|ACR1|UK",
			"820001|GLD|c|1|2016-06-22|y|ACR1|UK",
		), []string{
			`L2 ERR line 2, column UnitPrice (products_set.total_amount): value "x": is not a number`,
			`L3 ERR line 3: failed with its group "820001" (a group is stored whole or not at all): line 2, column UnitPrice`,
			`L4 ERR line 4, column UnitPrice (products_set.total_amount): value "y": is not a number`,
		}},
		{"event-level field of the first row", rows(
			"820001|BRZ|a|2|someday|1|ACR1|UK",
			"820001|SLV|b|2|2016-06-22|2|ACR1|UK",
		), []string{
			`L2 ERR line 2, column InvoiceDate (performed_on): value "someday": is not a date`,
			`L3 ERR line 3: failed with its group "820001"`,
		}},
		{"a filtered row leaves its group whole", rows(
			"820001|BRZ|a|2|2016-06-22|1|ACR1|UK",
			"820001|SLV|return|-1|2016-06-22|2|ACR1|UK",
			"820001|GLD|c|1|2016-06-22|3|ACR1|UK",
		), []string{"L3 filtered", "L2 event 820001 2", "L4 event 820001 2"}},
		{"an unreadable row of the group fails it", []*Record{
			{Line: 2, Values: strings.Split("820001|BRZ|a|2|2016-06-22|1|ACR1|UK", "|")},
			{Line: 3, Values: []string{"820001", "SLV"}, Err: errors.New("2 fields, but the header has 8 columns")},
			{Line: 4, Values: strings.Split("820001|GLD|c|1|2016-06-22|3|ACR1|UK", "|")},
		}, []string{
			`L2 ERR line 2: failed with its group "820001" (a group is stored whole or not at all): line 3: 2 fields, but the header has 8 columns`,
			`L3 ERR line 3: 2 fields, but the header has 8 columns`,
			`L4 ERR line 4: failed with its group "820001"`,
		}},
		{"an unreadable row without a key stands alone", []*Record{
			{Line: 2, Values: strings.Split("820001|BRZ|a|2|2016-06-22|1|ACR1|UK", "|")},
			{Line: 3, Err: errors.New("malformed CSV: a quoted field starting on line 3 is not closed")},
		}, []string{"L2 event 820001 1", "L3 ERR line 3: malformed CSV"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mapOutcomes(t, spec, tt.recs...)
			if len(got) != len(tt.want) {
				t.Fatalf("outcomes =\n%s\nwant %d of them", strings.Join(got, "\n"), len(tt.want))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("outcome %d = %s\nwant prefix     %s", i, got[i], tt.want[i])
				}
			}
		})
	}
}
