package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"go.yaml.in/yaml/v3"
)

// Spec is a mapping spec as written. Fields, sets and call parameters stay
// YAML nodes until Compile reads them against the kind's parameters, which
// say what each may hold (an identifier is a map of its fields, a value is
// a column, a constant or an expression).
type Spec struct {
	Kind      string    `yaml:"kind"`
	Input     Input     `yaml:"input"`
	RequestID yaml.Node `yaml:"request_id"`
	// Columns declares column types: every other column is a string.
	Columns yaml.Node `yaml:"columns"`
	Filter  string    `yaml:"filter"`
	GroupBy yaml.Node `yaml:"group_by"`
	Call    yaml.Node `yaml:"call"`
	Fields  yaml.Node `yaml:"fields"`
	// The kind's set of line items, under its API name.
	ProductsSet  yaml.Node `yaml:"products_set"`
	MeasuredKPIs yaml.Node `yaml:"measured_key_performance_indicators_set"`

	file string
	line map[string]int // top-level key -> line
}

// Input describes how to read the files.
type Input struct {
	Format    string `yaml:"format"`    // csv | jsonl; default from the file extension
	Delimiter string `yaml:"delimiter"` // one character; default ","
	Encoding  string `yaml:"encoding"`  // utf-8 (default), latin1, windows-1252, ...
	Comment   string `yaml:"comment"`   // CSV lines starting with this character are skipped
}

// SpecError is a mistake in a mapping spec: it names the spec file and line
// and says what would be valid.
type SpecError struct {
	File string
	Line int
	Msg  string
}

func (e *SpecError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ReadSpec reads and decodes the spec at path, strictly: an unknown key is
// an error naming its line.
func ReadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("mapping %s: no such file (crmload init writes one from a sample of the input)", path)
	case err != nil && isDir(path):
		return nil, fmt.Errorf("mapping %s is a directory: give the mapping spec's file (-m mapping.yaml)", path)
	case err != nil:
		return nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	return ParseSpec(path, data)
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// ParseSpec decodes a spec; name is used in error messages.
func ParseSpec(name string, data []byte) (*Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	s := &Spec{file: name, line: map[string]int{}}
	if err := dec.Decode(s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &SpecError{File: name, Msg: "the mapping spec is empty; it needs at least kind: and fields:"}
		}
		var te *yaml.TypeError
		msg := err.Error()
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msg = te.Errors[0]
		}
		line, msg := yamlMessage(msg)
		return nil, &SpecError{File: name, Line: line, Msg: msg}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil && len(root.Content) > 0 {
		m := root.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			s.line[m.Content[i].Value] = m.Content[i].Line
		}
	}
	return s, nil
}

// yamlMessage turns yaml.v3's "line 3: field x not found in type
// mapping.Spec" into something a user can act on.
func yamlMessage(msg string) (int, string) {
	var line int
	var field, typ string
	if n, _ := fmt.Sscanf(msg, "line %d: field %s not found in type %s", &line, &field, &typ); n == 3 {
		valid := "kind, input, columns, request_id, filter, group_by, call, fields, products_set, measured_key_performance_indicators_set"
		if typ == "mapping.Input" {
			valid = "format, delimiter, encoding, comment"
		}
		return line, fmt.Sprintf("unknown key %q (valid here: %s)", field, valid)
	}
	if n, _ := fmt.Sscanf(msg, "yaml: line %d:", &line); n == 1 {
		return line, msg
	}
	return 0, msg
}

// File is the name the spec was read from.
func (s *Spec) File() string { return s.file }
