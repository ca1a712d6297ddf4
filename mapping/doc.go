// Package mapping is the map stage of the load pipeline (read → map →
// validate → batch → send → report): it reads mapping specs (YAML,
// spec.go), compiles one against an event kind and an input's header
// (compile.go), and turns input records (CSV rows, JSONL objects) into
// CRM.COM events with a Mapper (mapper.go): declared column types,
// expressions bounded in time and memory, conversions, and grouping of
// consecutive records into one event. A record that cannot be mapped
// becomes a failed item with its line and reason; the loader reports it.
// It also writes the starting specs of crmload init (template.go).
package mapping
