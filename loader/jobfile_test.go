package loader

import (
	"fmt"
	"testing"
)

// TestCheckJobKeys: a job file's unknown key is named with its line and
// the keys valid there; YAML merge keys are not keys of the job file.
func TestCheckJobKeys(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"valid", "sources:\n  - mapping: m.yaml\n    files: [a.csv]\nmax_record_lines: 5\n", ""},
		{"merge key", "sources:\n  - &s\n    mapping: m.yaml\n    files: [a.csv]\n  - <<: *s\n    files: [b.csv]\n", ""},
		{"source typo", "sources:\n  - mapping: m.yaml\n    file: [a.csv]\n", `job.yaml:3: unknown key "file" in a source (valid there: mapping, files)`},
		{"top typo", "source:\n  - mapping: m.yaml\n", `job.yaml:1: unknown key "source" at the top (valid there: sources, max_record_lines)`},
		{"not yaml", "sources: [\n", ""}, // the decoder says what is wrong
		{"files not a list", "sources:\n  - mapping: m.yaml\n    files: p.csv\n", `job.yaml:3: files: want a list of files, e.g. files: [p.csv]`},
	} {
		err := checkJobKeys("job.yaml", []byte(tc.yaml))
		if got := fmt.Sprint(err); (tc.want == "" && err != nil) || (tc.want != "" && got != tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
