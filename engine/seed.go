package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/crmload/crmload/crm"
	"go.yaml.in/yaml/v3"
)

// seedChunk is how many records one seeding transaction writes: large
// enough that index maintenance is amortised, small enough to bound memory.
const seedChunk = 50_000

// SeedRecord is one reference record read from a seed file, with the
// columns of its entity in order. Present says which columns the file
// gave: an upsert leaves the others as they were.
type SeedRecord struct {
	File    string // the seed file and line it came from, for SeedError
	Line    int
	ID      string
	IDGiven bool     // the file gave ID: that of a new record (a stored one keeps its own)
	Vals    []string // by position in the entity's Columns
	Present []bool
}

// SeedError is bad reference data: it names the file, line, entity and
// what is wrong.
type SeedError struct {
	File   string
	Line   int
	Entity string
	Err    error
}

func (e *SeedError) Error() string {
	if e.Entity == "" {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d: %s: %v", e.File, e.Line, e.Entity, e.Err)
}

func (e *SeedError) Unwrap() error { return e.Err }

// SeedStats counts what a seed wrote, per entity.
type SeedStats map[string]int

// Seed imports reference data from files: YAML files with a list per
// entity (processed in dependency order), or CSV files named after one
// entity (units.csv, accounts_receivable.csv, ...) with its columns as the
// header. Records are upserted by natural key; references name the other
// record by its natural key (or, for lists, its alternative code). Bad data
// stops the seed with a *SeedError; what earlier chunks wrote stays.
func (e *Engine) Seed(ctx context.Context, files ...string) (SeedStats, error) {
	stats := SeedStats{}
	// CSV files go in dependency order of their entities, whatever the
	// order on the command line.
	ordered := slices.Clone(files)
	slices.SortStableFunc(ordered, func(a, b string) int { return seedRank(a) - seedRank(b) })
	for _, f := range ordered {
		var err error
		switch ext := strings.ToLower(filepath.Ext(f)); ext {
		case ".yaml", ".yml":
			err = e.seedYAML(ctx, f, stats)
		case ".csv":
			err = e.seedCSV(ctx, f, stats)
		default:
			err = fmt.Errorf("seed %s: unknown file type %q (use .yaml, .yml, or .csv named after an entity)", f, ext)
		}
		if err != nil {
			return stats, err
		}
	}
	return stats, nil
}

func seedRank(file string) int {
	if !strings.EqualFold(filepath.Ext(file), ".csv") {
		return -1
	}
	name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	for i, e := range entities {
		if e.name == name {
			return i
		}
	}
	return len(entities)
}

func (e *Engine) seedYAML(ctx context.Context, file string, stats SeedStats) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	var doc yaml.Node
	if err := yaml.NewDecoder(f).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("seed %s: %w", file, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return &SeedError{File: file, Line: root.Line, Err: fmt.Errorf("want a mapping of entity lists (%s)", entityNames())}
	}
	lists := map[*Entity]*yaml.Node{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		ent := entityNamed(k.Value)
		if ent == nil {
			return &SeedError{File: file, Line: k.Line, Err: fmt.Errorf("unknown entity %q (valid: %s)", k.Value, entityNames())}
		}
		if v.Kind != yaml.SequenceNode {
			return &SeedError{File: file, Line: v.Line, Entity: ent.name, Err: errors.New("want a list of records")}
		}
		lists[ent] = v
	}
	for _, ent := range entities {
		list, ok := lists[ent]
		if !ok {
			continue
		}
		recs := make([]SeedRecord, 0, len(list.Content))
		for _, item := range list.Content {
			rec, err := yamlRecord(file, ent, item)
			if err != nil {
				return err
			}
			recs = append(recs, rec)
		}
		for len(recs) > 0 {
			n := min(len(recs), seedChunk)
			if err := e.upsert(ctx, ent, recs[:n]); err != nil {
				return err
			}
			stats[ent.name] += n
			recs = recs[n:]
		}
	}
	return nil
}

func yamlRecord(file string, ent *Entity, item *yaml.Node) (SeedRecord, error) {
	rec := newRecord(file, item.Line, ent)
	if item.Kind != yaml.MappingNode {
		return rec, &SeedError{File: file, Line: item.Line, Entity: ent.name, Err: errors.New("want a record of field: value")}
	}
	for i := 0; i+1 < len(item.Content); i += 2 {
		k, v := item.Content[i], item.Content[i+1]
		var val string
		switch {
		case v.Kind == yaml.ScalarNode:
			val = v.Value
		case v.Kind == yaml.SequenceNode && ent.lists[k.Value] != nil:
			parts := make([]string, 0, len(v.Content))
			for _, c := range v.Content {
				parts = append(parts, c.Value)
			}
			val = strings.Join(parts, "|")
		default:
			return rec, &SeedError{File: file, Line: v.Line, Entity: ent.name, Err: fmt.Errorf("field %s: want a single value", k.Value)}
		}
		if err := rec.set(ent, k.Value, val); err != nil {
			return rec, &SeedError{File: file, Line: k.Line, Entity: ent.name, Err: err}
		}
	}
	return rec, nil
}

func newRecord(file string, line int, ent *Entity) SeedRecord {
	return SeedRecord{File: file, Line: line, Vals: make([]string, len(ent.cols)), Present: make([]bool, len(ent.cols))}
}

// set sets a field of the record. Keys (the id, the natural key, the
// columns an identifier may name, references to other records) are
// trimmed: "NOK " in a spreadsheet is NOK, and an event that names NOK
// must find it.
func (r *SeedRecord) set(ent *Entity, field, val string) error {
	if field == "id" {
		val = strings.TrimSpace(val)
		r.ID, r.IDGiven = val, val != ""
		return nil
	}
	i := slices.Index(ent.cols, field)
	if i < 0 {
		return fmt.Errorf("unknown field %q (valid: id, %s)", field, strings.Join(ent.cols, ", "))
	}
	if field == ent.key || slices.Contains(ent.lookup, field) || ent.refs[field] != nil {
		val = strings.TrimSpace(val)
	}
	r.Vals[i], r.Present[i] = val, true
	return nil
}

func (e *Engine) seedCSV(ctx context.Context, file string, stats SeedStats) error {
	name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	ent := entityNamed(name)
	if ent == nil {
		return fmt.Errorf("seed %s: a CSV seed file is named after its entity, and %q is none (valid: %s)", file, name, entityNames())
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	var recs []SeedRecord
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		if err := e.upsert(ctx, ent, recs); err != nil {
			return err
		}
		stats[ent.name] += len(recs)
		recs = recs[:0]
		return nil
	}
	err = readCSVSeed(file, ent, f, func(rec SeedRecord) error {
		recs = append(recs, rec)
		if len(recs) == seedChunk {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// upsert checks one chunk of records, turns references from natural keys
// into ids, and writes it. A record that refers to a record of its own
// entity later in the chunk (participant referred by participant) is
// written without the reference first, then again with it.
func (e *Engine) upsert(ctx context.Context, ent *Entity, recs []SeedRecord) error {
	for i := range recs {
		if err := checkRecord(ent, &recs[i]); err != nil {
			return err
		}
		if !recs[i].IDGiven {
			recs[i].ID = newID()
		}
	}
	if err := e.keepIDs(ctx, ent, recs); err != nil {
		return err
	}
	later, err := e.resolveRefs(ctx, ent, recs, false)
	if err != nil {
		return err
	}
	if err := e.store.Upsert(ctx, ent, recs); err != nil {
		return err
	}
	if len(later) == 0 {
		return nil
	}
	if _, err := e.resolveRefs(ctx, ent, later, true); err != nil {
		return err
	}
	return e.store.Upsert(ctx, ent, later)
}

// keepIDs refuses a record that gives another id than the stored one of
// its natural key: other records refer to a record by its id (a unit to
// its currency, an account to its payment medium types), and they would
// refer to nothing ("Currency (01A2...) Not Found" on every row).
func (e *Engine) keepIDs(ctx context.Context, ent *Entity, recs []SeedRecord) error {
	k := ent.col(ent.key)
	var keys, given []string
	for _, r := range recs {
		if r.IDGiven {
			keys, given = append(keys, r.Vals[k]), append(given, r.ID)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	slices.Sort(given)
	byKey, err := e.store.Lookup(ctx, ent, ent.key, slices.Compact(keys))
	if err != nil {
		return err
	}
	byID, err := e.store.Lookup(ctx, ent, "id", slices.Compact(given))
	if err != nil {
		return err
	}
	idOf, keyOf := make(map[string]string, len(byKey)), make(map[string]string, len(byID))
	for _, s := range byKey {
		idOf[s.get(ent, ent.key)] = s.ID
	}
	for _, s := range byID {
		keyOf[s.ID] = s.get(ent, ent.key)
	}
	for _, r := range recs {
		if !r.IDGiven {
			continue
		}
		fail := func(format string, args ...any) error {
			return &SeedError{File: r.File, Line: r.Line, Entity: ent.name, Err: fmt.Errorf(format, args...)}
		}
		if id, ok := idOf[r.Vals[k]]; ok && r.ID != id {
			return fail("%s %q has the id %q in the store, and a seed does not change it (what refers to it would refer to nothing): give id %q, or no id", ent.key, r.Vals[k], id, id)
		}
		if key, ok := keyOf[r.ID]; ok && key != r.Vals[k] {
			return fail("id %q is the id of %s %q in the store: give another id, or no id", r.ID, ent.key, key)
		}
	}
	return nil
}

func checkRecord(ent *Entity, r *SeedRecord) error {
	fail := func(format string, args ...any) error {
		return &SeedError{File: r.File, Line: r.Line, Entity: ent.name, Err: fmt.Errorf(format, args...)}
	}
	if k := ent.col(ent.key); r.Vals[k] == "" {
		if r.Present[k] {
			return fail("%s is blank: it is the natural key re-seeding upserts by", ent.key)
		}
		return fail("%s is required: it is the natural key re-seeding upserts by", ent.key)
	}
	if ent == entClassification {
		if t := r.Vals[ent.col("type")]; t != "" {
			if _, err := crm.ParseKind(t); err != nil {
				return fail("type: %v", err)
			}
		}
	}
	if ent == entAccessToken {
		if r.Vals[ent.col("accounts_receivable")] == "" && r.Vals[ent.col("rewards_participant")] == "" {
			return fail("an access token identifies an accounts_receivable or a rewards_participant: give one")
		}
	}
	return nil
}

// resolveRefs replaces the natural keys in reference columns by ids. With
// final false, a reference to the record's own entity that is not found yet
// is left out and the record returned in later; with final true (or any
// other entity) a reference that is not found is an error.
func (e *Engine) resolveRefs(ctx context.Context, ent *Entity, recs []SeedRecord, final bool) ([]SeedRecord, error) {
	var later []SeedRecord
	cols := make([]string, 0, len(ent.refs)+len(ent.lists))
	for c := range ent.refs {
		cols = append(cols, c)
	}
	for c := range ent.lists {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	for _, col := range cols {
		target, isList := ent.lists[col]
		if !isList {
			target = ent.refs[col]
		}
		ci := ent.col(col)
		var keys []string
		for _, r := range recs {
			if r.Present[ci] && r.Vals[ci] != "" {
				keys = append(keys, splitList(r.Vals[ci], isList)...)
			}
		}
		if len(keys) == 0 {
			continue
		}
		ids, err := e.lookupKeys(ctx, target, keys)
		if err != nil {
			return nil, err
		}
		for i := range recs {
			r := &recs[i]
			if !r.Present[ci] || r.Vals[ci] == "" {
				continue
			}
			out := make([]string, 0, 1)
			for _, k := range splitList(r.Vals[ci], isList) {
				id, ok := ids[k]
				if !ok && target == ent && !final {
					break
				}
				if !ok {
					return nil, &SeedError{File: r.File, Line: r.Line, Entity: ent.name,
						Err: fmt.Errorf("%s: %s %q not found (seed it first, or in the same file)", col, target.name, k)}
				}
				out = append(out, id)
			}
			if len(out) == 0 {
				// Deferred: written again after this chunk, with only the
				// key and this column.
				d := newRecord(r.File, r.Line, ent)
				d.ID = r.ID
				d.set(ent, ent.key, r.Vals[ent.col(ent.key)])
				d.set(ent, col, r.Vals[ci])
				later = append(later, d)
				r.Present[ci] = false
				continue
			}
			r.Vals[ci] = strings.Join(out, ",")
		}
	}
	return later, nil
}

func splitList(v string, isList bool) []string {
	if !isList {
		return []string{v}
	}
	parts := strings.Split(v, "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// lookupKeys maps keys of target to ids: by natural key first, then by the
// other identifier columns (a payment medium type by its alternative code).
func (e *Engine) lookupKeys(ctx context.Context, target *Entity, keys []string) (map[string]string, error) {
	out := map[string]string{}
	for _, col := range append([]string{target.key}, target.lookup...) {
		var missing []string
		asked := map[string]bool{}
		for _, k := range keys {
			if _, ok := out[k]; !ok && !asked[k] {
				asked[k] = true
				missing = append(missing, k) // distinct, as Lookup asks
			}
		}
		if len(missing) == 0 {
			break
		}
		refs, err := e.store.Lookup(ctx, target, col, missing)
		if err != nil {
			return nil, err
		}
		for _, r := range refs {
			if v := r.get(target, col); out[v] == "" {
				out[v] = r.ID
			}
		}
	}
	return out, nil
}
