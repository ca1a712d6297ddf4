package cmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUpgradeNotice: a command that migrates a store of the previous
// release says so first (the migration takes a while on a big store and
// prints nothing else), load through its log, seed on stderr; a store
// already at this release's schema gets no notice.
func TestUpgradeNotice(t *testing.T) {
	src, err := os.ReadFile("../engine/testdata/store-v6.db")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"seed", []string{"engine", "seed", "../testdata/seed/reference.yaml"}},
		{"load", []string{"load", "--again", "-m", "../testdata/purchases/mapping.yaml", "../testdata/purchases/online_retail.csv"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "v6.db")
			if err := os.WriteFile(db, src, 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"--db", db}, tc.args...)
			if tc.name == "load" {
				args = append(args, "--report-dir", filepath.Join(dir, "reports"))
			}
			for i, want := range []bool{true, false} {
				streams, _, stderr := Test()
				Run(context.Background(), streams, args)
				msg := stderr.String()
				if got := strings.Contains(msg, "upgrading the store") && (strings.Contains(msg, "schema 6 to 8") || strings.Contains(msg, "from=6 to=8")); got != want {
					t.Errorf("run %d: notice %v, want %v (stderr %q)", i+1, got, want, msg)
				}
			}
		})
	}
}
