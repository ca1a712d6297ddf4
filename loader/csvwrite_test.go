package loader

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crmload/crmload/mapping"
)

// FuzzAppendCSVRecord: appendCSVRecord writes what encoding/csv's Writer
// writes, for any fields and any delimiter it takes. Seeds: a field that
// is only "\." (quoted by encoding/csv for PostgreSQL's COPY), leading
// spaces (quoted), quotes, CR and LF inside fields, a multi-byte
// delimiter inside a field, a delimiter that is not valid UTF-8.
func FuzzAppendCSVRecord(f *testing.F) {
	f.Add("a\x00b\x00c", ',')
	f.Add(`\.`+"\x00"+` x`+"\x00\t", ';')
	f.Add(`say "hi"`+"\x00a\r\nb\x00\r", '\t')
	f.Add("1€2\x00€\x00\u00a0lead", '€')
	f.Add("\x00\x00", '|')
	f.Add("x,y\x00\xff\xfe", rune(0xfffd))
	f.Fuzz(func(t *testing.T, fields string, comma rune) {
		if !csvDelimOK(comma) {
			var b bytes.Buffer
			w := csv.NewWriter(&b)
			w.Comma = comma
			if w.Write([]string{"a"}) == nil {
				t.Fatalf("encoding/csv writes with Comma %q, which csvDelimOK refuses", comma)
			}
			return
		}
		record := strings.Split(fields, "\x00")
		var want bytes.Buffer
		w := csv.NewWriter(&want)
		w.Comma = comma
		if err := w.Write(record); err != nil {
			t.Fatalf("encoding/csv: %v", err)
		}
		w.Flush()
		got := appendCSVRecord([]byte("prefix"), record, comma)
		if string(got) != "prefix"+want.String() {
			t.Fatalf("appendCSVRecord(%q, %q) = %q, want %q", record, comma, got[len("prefix"):], want.String())
		}
	})
}

// BenchmarkReportRows writes succeeded rows of the stage benchmark's
// shape: with appendCSVRecord (direct) and with encoding/csv's Writer.
func BenchmarkReportRows(b *testing.B) {
	header := strings.Split("id,account,performed_on,reference,product,quantity,net,vat,total", ",")
	rec := &mapping.Record{Line: 12345, Values: strings.Split("R00012345,ACR0012345,2024-03-03T02:02:00,INV00012345,SKU002,3,9.00,1.80,10.80", ",")}
	for _, direct := range []bool{true, false} {
		b.Run(fmt.Sprintf("direct=%v", direct), func(b *testing.B) {
			r, err := openRowReport(filepath.Join(b.TempDir(), "succeeded.csv"), header, dialect{comma: ','}, succeededColumns, -1)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			r.direct = direct
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := r.write(rec, "12345", "R00012345", "01A2420AA1E500000000000000000001", "12344"); err != nil {
					b.Fatal(err)
				}
				if i%1000 == 999 {
					r.flush()
				}
			}
		})
	}
}
