package loader

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// RunFile is what a run directory records of how the run was started, so
// that --resume and retry can start it again: the inputs (absolute paths),
// the engine and its store. It holds no credentials.
type RunFile struct {
	Files  []string `json:"files"`
	Engine string   `json:"engine"`
	DB     string   `json:"db,omitempty"`
	// MaxRecordLines shapes which lines make a record: a resume reads with it.
	MaxRecordLines int `json:"max_record_lines,omitempty"`
}

const runFileName = "job.json"

func writeRunFile(dir string, job *Job, opts LoadOptions) error {
	rf := RunFile{Engine: job.Engine, DB: opts.DB, MaxRecordLines: job.MaxRecordLines}
	for _, f := range job.Files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return err
		}
		rf.Files = append(rf.Files, abs)
	}
	if rf.DB != "" {
		abs, err := filepath.Abs(rf.DB)
		if err != nil {
			return err
		}
		rf.DB = abs
	}
	b, err := json.MarshalIndent(rf, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, runFileName), append(b, '\n'), 0o644)
}

// ReadRunFile reads a run directory's job.json.
func ReadRunFile(dir string) (*RunFile, error) {
	b, err := os.ReadFile(filepath.Join(dir, runFileName))
	if err != nil {
		return nil, fmt.Errorf("%s is not a crmload load run directory: %w", dir, err)
	}
	var rf RunFile
	if err := json.Unmarshal(b, &rf); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, runFileName), err)
	}
	return &rf, nil
}
