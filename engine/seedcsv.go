package engine

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/gocarina/gocsv"
)

// Reference-data CSVs have a fixed shape, one per entity, so they are read
// into one struct per entity with gocarina/gocsv (the design card's CSV
// library); input files of any shape go through the loader's own
// line-bounded reader (loader/csvread.go), many times faster (docs/DESIGN.md).
//
// Each struct carries the record's line: the reader adds it as a column
// (lineColumn) that no seed file may have, so errors name file and line
// even for records whose quoted fields span lines.

// lineColumn is the column the reader adds with each record's first line.
const lineColumn = "crmload_line"

// SeedRow is what every entity's struct has: its line and optional id.
// It is exported only so that gocsv can set the fields it promotes into
// the structs that embed it (reflection cannot set them through an
// unexported embedded type); nothing outside the package uses it.
type SeedRow struct {
	Line int    `csv:"crmload_line"`
	ID   string `csv:"id"`
}

func (r *SeedRow) row() *SeedRow { return r }

// seedCSVRow is a struct of one entity's CSV: values returns its columns
// in the order of entity.cols.
type seedCSVRow interface {
	row() *SeedRow
	values() []string
}

type currencyCSV struct {
	SeedRow
	Code string `csv:"code"`
}

func (r *currencyCSV) values() []string { return []string{r.Code} }

type unitCSV struct {
	SeedRow
	Name            string `csv:"name"`
	AlternativeCode string `csv:"alternative_code"`
	Currency        string `csv:"currency"`
}

func (r *unitCSV) values() []string { return []string{r.Name, r.AlternativeCode, r.Currency} }

// businessUnitCSV is also the shape of transaction acquiring points.
type businessUnitCSV struct {
	SeedRow
	Code string `csv:"code"`
	Name string `csv:"name"`
	Unit string `csv:"unit"`
}

func (r *businessUnitCSV) values() []string { return []string{r.Code, r.Name, r.Unit} }

// paymentMediumCSV is the shape of payment medium types and brands.
type paymentMediumCSV struct {
	SeedRow
	Name            string `csv:"name"`
	AlternativeCode string `csv:"alternative_code"`
}

func (r *paymentMediumCSV) values() []string { return []string{r.Name, r.AlternativeCode} }

type accountCSV struct {
	SeedRow
	Number             string `csv:"number"`
	Name               string `csv:"name"`
	PaymentMediumTypes string `csv:"payment_medium_types"` // separated by |
}

func (r *accountCSV) values() []string { return []string{r.Number, r.Name, r.PaymentMediumTypes} }

type participantCSV struct {
	SeedRow
	Number             string `csv:"number"`
	AccountsReceivable string `csv:"accounts_receivable"`
	ReferredBy         string `csv:"referred_by"`
}

func (r *participantCSV) values() []string {
	return []string{r.Number, r.AccountsReceivable, r.ReferredBy}
}

type accessTokenCSV struct {
	SeedRow
	AuthenticationCode string `csv:"authentication_code"`
	Identifier         string `csv:"identifier"`
	PassCode           string `csv:"pass_code"`
	OneTimePassword    string `csv:"one_time_password"`
	AccountsReceivable string `csv:"accounts_receivable"`
	RewardsParticipant string `csv:"rewards_participant"`
	LifeCycleState     string `csv:"life_cycle_state"`
}

func (r *accessTokenCSV) values() []string {
	return []string{r.AuthenticationCode, r.Identifier, r.PassCode, r.OneTimePassword, r.AccountsReceivable, r.RewardsParticipant, r.LifeCycleState}
}

type classificationCSV struct {
	SeedRow
	Name            string `csv:"name"`
	AlternativeCode string `csv:"alternative_code"`
	Type            string `csv:"type"`
}

func (r *classificationCSV) values() []string { return []string{r.Name, r.AlternativeCode, r.Type} }

type productCSV struct {
	SeedRow
	Code            string `csv:"code"`
	AlternativeCode string `csv:"alternative_code"`
}

func (r *productCSV) values() []string { return []string{r.Code, r.AlternativeCode} }

type invoiceCSV struct {
	SeedRow
	Number          string `csv:"number"`
	ReferenceNumber string `csv:"reference_number"`
	BackOfficeCode  string `csv:"back_office_code"`
}

func (r *invoiceCSV) values() []string {
	return []string{r.Number, r.ReferenceNumber, r.BackOfficeCode}
}

type kpiCSV struct {
	SeedRow
	Name            string `csv:"name"`
	AlternativeCode string `csv:"alternative_code"`
}

func (r *kpiCSV) values() []string { return []string{r.Name, r.AlternativeCode} }

// seedCSVReaders reads an entity's CSV into its struct, calling each for
// every record in order.
var seedCSVReaders = map[*Entity]func(dec gocsv.SimpleDecoder, each func(seedCSVRow) error) error{
	entCurrency:       readSeedCSV[currencyCSV],
	entUnit:           readSeedCSV[unitCSV],
	entBusinessUnit:   readSeedCSV[businessUnitCSV],
	entTAP:            readSeedCSV[businessUnitCSV],
	entPaymentType:    readSeedCSV[paymentMediumCSV],
	entPaymentBrand:   readSeedCSV[paymentMediumCSV],
	entAccount:        readSeedCSV[accountCSV],
	entParticipant:    readSeedCSV[participantCSV],
	entAccessToken:    readSeedCSV[accessTokenCSV],
	entClassification: readSeedCSV[classificationCSV],
	entProduct:        readSeedCSV[productCSV],
	entInvoice:        readSeedCSV[invoiceCSV],
	entKPI:            readSeedCSV[kpiCSV],
}

// readSeedCSV decodes records into T with gocsv, in order, and stops at
// the first error (of the file or of each).
func readSeedCSV[T any, P interface {
	*T
	seedCSVRow
}](dec gocsv.SimpleDecoder, each func(seedCSVRow) error) error {
	ch := make(chan P, 64)
	done := make(chan error, 1)
	go func() { done <- gocsv.UnmarshalDecoderToChan(dec, ch) }() // closes ch
	var err error
	for r := range ch {
		if err == nil {
			err = each(r)
			if err != nil {
				// Stop the decoder at its next record; what it sends until
				// then is drained.
				if s, ok := dec.(*lineDecoder); ok {
					s.stop.Store(true)
				}
			}
		}
	}
	derr := <-done
	if err != nil {
		return err
	}
	if errors.Is(derr, errSeedStopped) {
		return nil
	}
	return derr
}

var errSeedStopped = errors.New("seed: stopped")

// lineDecoder feeds gocsv a seed file's header and records, each with its
// first line in the extra column lineColumn.
type lineDecoder struct {
	r      *csv.Reader
	header []string
	sent   bool
	stop   atomic.Bool
}

func (d *lineDecoder) GetCSVRow() ([]string, error) {
	if !d.sent {
		d.sent = true
		return append(slices.Clone(d.header), lineColumn), nil
	}
	if d.stop.Load() {
		return nil, errSeedStopped
	}
	rec, err := d.r.Read()
	if err != nil {
		return nil, err
	}
	line, _ := d.r.FieldPos(0)
	return append(rec, strconv.Itoa(line)), nil
}

func (d *lineDecoder) GetCSVRows() ([][]string, error) {
	var out [][]string
	for {
		row, err := d.GetCSVRow()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, row)
	}
}

// readCSVSeed reads a seed CSV of ent from r, calling each for every
// record (as a SeedRecord with the columns the header gives present).
func readCSVSeed(file string, ent *Entity, r io.Reader, each func(SeedRecord) error) error {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return &SeedError{File: file, Line: 1, Entity: ent.name, Err: fmt.Errorf("read header: %w", err)}
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	present := make([]bool, len(ent.cols))
	for i, h := range header {
		j := slices.Index(ent.cols, h)
		if h != "id" && j < 0 {
			return &SeedError{File: file, Line: 1, Entity: ent.name, Err: fmt.Errorf("column %d: unknown field %q (valid: id, %s)", i+1, h, strings.Join(ent.cols, ", "))}
		}
		if j >= 0 {
			present[j] = true
		}
	}
	hasID := slices.Contains(header, "id")
	read := seedCSVReaders[ent]
	err = read(&lineDecoder{r: cr, header: header}, func(row seedCSVRow) error {
		base := row.row()
		rec := newRecord(file, base.Line, ent)
		if hasID {
			rec.set(ent, "id", base.ID)
		}
		for i, v := range row.values() {
			if present[i] {
				if err := rec.set(ent, ent.cols[i], v); err != nil {
					return &SeedError{File: file, Line: base.Line, Entity: ent.name, Err: err}
				}
			}
		}
		return each(rec)
	})
	if err != nil {
		var se *SeedError
		if errors.As(err, &se) {
			return err
		}
		line := 0
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			line = pe.Line
		}
		return &SeedError{File: file, Line: line, Entity: ent.name, Err: err}
	}
	return nil
}
