package cmd

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// checkConfigKeys refuses a config file with a key that is no flag of any
// crmload command (`max_errors: 5` or `batchsize: 7` would silently do
// nothing, leaving the error guard off), naming the key, its line, the
// nearest valid name and every valid name. A key of another command
// (addr: for engine serve) is valid: one file serves every command. keys
// are viper's (lower case, nested ones dotted), for files that are not
// YAML.
func checkConfigKeys(root *cobra.Command, path string, keys []string) error {
	valid := flagNames(root)
	type key struct {
		name string
		line int
	}
	var found []key
	if b, err := os.ReadFile(path); err == nil {
		var doc yaml.Node
		if yaml.Unmarshal(b, &doc) == nil && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
			m := doc.Content[0]
			for i := 0; i+1 < len(m.Content); i += 2 {
				found = append(found, key{m.Content[i].Value, m.Content[i].Line})
			}
			keys = nil
		}
	}
	for _, k := range keys {
		top, _, _ := strings.Cut(k, ".")
		found = append(found, key{name: top})
	}
	for _, k := range found {
		if slices.Contains(valid, strings.ToLower(k.name)) {
			continue
		}
		where := path
		if k.line > 0 {
			where = fmt.Sprintf("%s line %d", path, k.line)
		}
		near := nearest(k.name, valid)
		if isCommand(root, k.name) {
			return fmt.Errorf("config file %s: unknown key %q (a command's name: the file has no sections, its keys serve every command); keys are flag names without the dashes in front: %s",
				where, k.name, strings.Join(valid, ", "))
		}
		if near == "" {
			// Not a misspelt name: it may be a secret written where a key
			// goes (a password line "S3cret:"), so it is not shown.
			return fmt.Errorf("config file %s: unknown key (not shown: it is near no flag name, and may be a secret written in the wrong place); keys are flag names without the dashes in front: %s",
				where, strings.Join(valid, ", "))
		}
		return fmt.Errorf("config file %s: unknown key %q (did you mean %s?); keys are flag names without the dashes in front: %s",
			where, k.name, near, strings.Join(valid, ", "))
	}
	return nil
}

// isCommand says whether name is the name of a command under root.
func isCommand(root *cobra.Command, name string) bool {
	for _, c := range root.Commands() {
		if strings.EqualFold(c.Name(), name) || isCommand(c, name) {
			return true
		}
	}
	return false
}

// flagNames lists the flags of root and every command under it, sorted.
func flagNames(root *cobra.Command) []string {
	seen := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		add := func(f *pflag.Flag) {
			if f.Name != "help" {
				seen[f.Name] = true
			}
		}
		c.Flags().VisitAll(add)
		c.PersistentFlags().VisitAll(add)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// suggestFlag adds to pflag's "unknown flag: --mappng" the flag of c
// meant, when one is near.
func suggestFlag(c *cobra.Command, err error) error {
	name, ok := strings.CutPrefix(err.Error(), "unknown flag: --")
	if !ok {
		return err
	}
	var valid []string
	add := func(f *pflag.Flag) { valid = append(valid, f.Name) }
	c.Flags().VisitAll(add)
	c.InheritedFlags().VisitAll(add)
	if n := nearest(name, valid); n != "" {
		return fmt.Errorf("%w (did you mean --%s?)", err, n)
	}
	return err
}

// nearest returns the valid name closest to name: the same once
// underscores are dashes and case is ignored, or within a few edits.
func nearest(name string, valid []string) string {
	norm := strings.ReplaceAll(strings.ToLower(name), "_", "-")
	best, bestD := "", 0
	for _, v := range valid {
		d := editDistance(norm, v)
		if d == 0 {
			return v
		}
		if best == "" || d < bestD {
			best, bestD = v, d
		}
	}
	if bestD <= max(1, len(norm)/4) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
