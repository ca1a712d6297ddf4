package loader

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmload/crmload/engine"
)

// TestLineNotes guards issue 16 point 14: a CSV line starting with the
// comment character was dropped without being counted, and a CRLF inside a
// quoted field was stored as LF.
func TestLineNotes(t *testing.T) {
	tests := []struct {
		name, comment, in string
		want              string // each record: "line:#" for a comment, "line:values"
	}{
		{"between records", "#", "a,b\n1,2\n# skip me\n3,4\n", "2:1|2 3:# 4:3|4"},
		{"before the header and at the end", "#", "# exported by X\na,b\n1,2\n#end", "1:# 3:1|2 4:#"},
		{"several in a row, and blank lines", "#", "a,b\n#1\n\n#2\n1,2\n\n", "2:# 4:# 5:1|2"},
		{"inside a quoted field it is data", "#", "a,b\n1,\"x\n# not a comment\ny\"\n#c\n2,3\n", "2:1|x\n# not a comment\ny 5:# 6:2|3"},
		{"CRLF", "#", "a,b\r\n# c\r\n1,2\r\n", "2:# 3:1|2"},
		{"a multi-byte character", "§", "a,b\n§ note\n1,2\n", "2:# 3:1|2"},
		{"not at the start of the line", "#", "a,b\n #1,2\n", "2: #1|2"},
		{"CRLF inside quotes kept", "", "a,b\r\n1,\"x\r\ny\"\r\n2,3\r\n", "2:1|x\r\ny 4:2|3"},
		{"CRLF and LF inside one field", "", "a,b\n1,\"x\r\ny\nz\r\n\"\n2,3\n", "2:1|x\r\ny\nz\r\n 6:2|3"},
		{"CR CRLF inside quotes", "", "a,b\n1,\"x\r\r\ny\"\n", "2:1|x\r\r\ny"},
		{"CRLFs in two fields", "", "a,b\n\"p\nq\",\"r\r\ns\"\n", "2:p\nq|r\r\ns"},
		{"CRLF in quotes with comments", "#", "a,b\r\n#c\r\n1,\"x\r\n#y\"\r\n#d\r\n", "2:# 3:1|x\r\n#y 5:#"},
		{"a lone CR inside quotes stays", "", "a,b\n1,\"x\ry\"\n", "2:1|x\ry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "in.csv")
			os.WriteFile(p, []byte(tt.in), 0o644)
			_, recs := readAll(t, p, SourceOptions{Comment: tt.comment})
			var got []string
			for _, r := range recs {
				if r.Comment {
					got = append(got, fmt.Sprintf("%d:#", r.Line))
				} else {
					got = append(got, fmt.Sprintf("%d:%s", r.Line, strings.Join(r.Values, "|")))
				}
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("records = %q, want %q", strings.Join(got, " "), tt.want)
			}
		})
	}
}

// TestCommentLinesInSummary: comment lines are read and filtered, so the
// accounting balances, and a comment inside a group does not split it.
func TestCommentLinesInSummary(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.yaml")
	os.WriteFile(spec, []byte(`kind: purchases
input: {comment: "#"}
group_by: InvoiceNo
fields:
  accounts_receivable_identifier: { number: { const: ACR0000000077 } }
  performed_by_unit_identifier: { name: { const: Admin Unit } }
  performed_on: { const: 2016-06-22 }
  reference_number: InvoiceNo
products_set:
  product_identifier: { alternative_code: StockCode }
  total_amount: { const: 1 }
  net_amount: { const: 1 }
  vat_amount: { const: 0 }
`), 0o644)
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte("# header follows\nInvoiceNo,StockCode\nI1,BRZ\n# a note inside the group\nI1,SLV\n# end\n"), 0o644)
	sum, _, err := Load(context.Background(), loadJob(t, spec, in), seededEngine(t), defaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if sum.RowsRead != 5 || sum.RowsFiltered != 3 || sum.RowsSucceeded != 2 || sum.EventsSucceeded != 1 || !sum.Balanced() {
		t.Errorf("summary = %+v, want 5 read, 3 filtered, 2 succeeded in 1 event", sum)
	}
}

// TestCRLFStoredAsWritten: a CRLF inside a quoted field reaches the stored
// event and the failure report as CRLF.
func TestCRLFStoredAsWritten(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.yaml")
	os.WriteFile(spec, []byte(`kind: web
request_id: id
fields:
  accounts_receivable_identifier: { number: account }
  performed_by_unit_identifier: { name: { const: Admin Unit } }
  performed_on: { const: 2016-06-22 }
  website: { const: www.crm.com }
  description: note
`), 0o644)
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte("id,account,note\r\nV1,ACR0000000077,\"first\r\nsecond\"\r\nV2,ACR9999999999,\"third\r\nfourth\"\r\n"), 0o644)
	e := seededEngine(t)
	sum, run, err := Load(context.Background(), loadJob(t, spec, in), e, defaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if sum.RowsSucceeded != 1 || sum.RowsFailed != 1 {
		t.Fatalf("summary = %+v, want 1 succeeded, 1 failed", sum)
	}
	var desc string
	e.Events(context.Background(), engine.Filter{}, func(obj []byte) error {
		var ev struct{ Description string }
		json.Unmarshal(obj, &ev)
		desc = ev.Description
		return nil
	})
	if desc != "first\r\nsecond" {
		t.Errorf("stored description = %q, want %q", desc, "first\r\nsecond")
	}
	failed, _ := os.ReadFile(filepath.Join(run, "failed.csv"))
	if !strings.Contains(string(failed), "\"third\r\nfourth\"") {
		t.Errorf("failed.csv = %q, want the note with its CRLF", failed)
	}
}
