package cmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestConfigPrecedence guards the contract of docs/DESIGN.md: a flag beats the
// environment, which beats the config file, which beats the default.
func TestConfigPrecedence(t *testing.T) {
	tests := []struct {
		name             string
		flag, env, file  string
		want             string
		wantUsers        []string
		usersEnv, usersF string
	}{
		{name: "default", want: "default.db"},
		{name: "file", file: "file.db", want: "file.db"},
		{name: "env beats file", env: "env.db", file: "file.db", want: "env.db"},
		{name: "flag beats env and file", flag: "flag.db", env: "env.db", file: "file.db", want: "flag.db"},
		{name: "flag beats file", flag: "flag.db", file: "file.db", want: "flag.db"},
		{name: "list from env", want: "default.db", usersEnv: "a:1,b:2", wantUsers: []string{"a:1", "b:2"}},
		{name: "list from file", want: "default.db", usersF: "[a:1, b:2]", wantUsers: []string{"a:1", "b:2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "crmload.yaml")
			content := ""
			if tt.file != "" {
				content += "db: " + tt.file + "\n"
			}
			if tt.usersF != "" {
				content += "user: " + tt.usersF + "\n"
			}
			if err := os.WriteFile(cfg, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Setenv("CRMLOAD_DB", tt.env)
			if tt.env == "" {
				os.Unsetenv("CRMLOAD_DB")
			}
			t.Setenv("CRMLOAD_USER", tt.usersEnv)
			if tt.usersEnv == "" {
				os.Unsetenv("CRMLOAD_USER")
			}
			var db string
			var users []string
			c := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
			c.Flags().StringVar(&db, "db", "default.db", "")
			c.Flags().StringArrayVar(&users, "user", nil, "")
			var args []string
			if tt.flag != "" {
				args = append(args, "--db", tt.flag)
			}
			if err := c.ParseFlags(args); err != nil {
				t.Fatal(err)
			}
			if err := bindConfig(c, cfg); err != nil {
				t.Fatalf("bindConfig: %v", err)
			}
			if db != tt.want {
				t.Errorf("db = %q, want %q", db, tt.want)
			}
			if len(users) != len(tt.wantUsers) || (len(users) > 0 && (users[0] != tt.wantUsers[0] || users[1] != tt.wantUsers[1])) {
				t.Errorf("user = %q, want %q", users, tt.wantUsers)
			}
		})
	}
}

func TestBindConfigErrors(t *testing.T) {
	c := &cobra.Command{Use: "x"}
	var n int
	c.Flags().IntVar(&n, "batch-size", 1000, "")
	t.Setenv("CRMLOAD_BATCH_SIZE", "lots")
	if err := bindConfig(c, ""); err == nil {
		t.Error("bindConfig with CRMLOAD_BATCH_SIZE=lots succeeded, want an error naming batch-size")
	}
	if err := bindConfig(c, filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("bindConfig with a missing --config file succeeded, want an error")
	}
}

// TestConfigUnknownKeys: a config file key that is no flag of any command
// is an error naming it, its line and the nearest valid name; keys of
// other commands are valid (one file serves every command).
func TestConfigUnknownKeys(t *testing.T) {
	tests := []struct {
		file     string
		wantErr  string // "" for none
		wantNear string
	}{
		{file: "max-errors: 5\nbatch-size: 7\naddr: 127.0.0.1:9000\n"},
		{file: "Batch-Size: 7\n"}, // viper ignores case: so do we
		{file: "db: x.db\nmax_errors: 5\n", wantErr: `line 2: unknown key "max_errors"`, wantNear: "did you mean max-errors?"},
		{file: "batchsize: 7\n", wantErr: `line 1: unknown key "batchsize"`, wantNear: "did you mean batch-size?"},
		{file: "load:\n  batch-size: 7\n", wantErr: `line 1: unknown key "load"`},
		{file: "nonsense_entirely: 1\n", wantErr: `line 1: unknown key (not shown: it is near no flag name`},
	}
	for _, tt := range tests {
		cfg := filepath.Join(t.TempDir(), "crmload.yaml")
		if err := os.WriteFile(cfg, []byte(tt.file), 0o644); err != nil {
			t.Fatal(err)
		}
		streams, _, stderr := Test()
		code := Run(context.Background(), streams, []string{"--config", cfg, "version"})
		if tt.wantErr == "" {
			if code != ExitOK {
				t.Errorf("config %q: exit %d (%s), want 0", tt.file, code, stderr.String())
			}
			continue
		}
		msg := stderr.String()
		if code != ExitUsage || !strings.Contains(msg, tt.wantErr) || !strings.Contains(msg, tt.wantNear) || !strings.Contains(msg, "max-record-lines") {
			t.Errorf("config %q: exit %d, %q; want exit 2 with %q, %q and the valid names", tt.file, code, msg, tt.wantErr, tt.wantNear)
		}
	}
}

// TestConfigSecretsNotQuoted: a config file that is not `key: value`
// lines (a password written into it alone, `password=X`) is refused with
// its line, never its text; a password given as a list or a mapping is
// refused as such, not taken for no password.
func TestConfigSecretsNotQuoted(t *testing.T) {
	const secret = "Tops3cretXYZ"
	for _, tt := range []struct{ file, want string }{
		{secret + "\n", "line 1: cannot be read as `key: value` lines"},
		{"batch-size: 5\npassword=" + secret + "\n", "line 2: cannot be read as `key: value` lines"},
		{"password: [" + secret + ", 2]\n", "password must be one value (key: value), not a list or a mapping"},
		{secret + ":\n", "line 1: unknown key (not shown"},
		{"p@ss: " + secret + "\n", "line 1: unknown key (not shown"},
		{"password: {a: " + secret + "}\n", "password must be one value (key: value), not a mapping"},
		{"seed: {a: " + secret + "}\n", "seed must be a list (key: [a, b]), not a mapping"},
	} {
		cfg := filepath.Join(t.TempDir(), "crmload.yaml")
		if err := os.WriteFile(cfg, []byte(tt.file), 0o644); err != nil {
			t.Fatal(err)
		}
		streams, stdout, stderr := Test()
		code := Run(context.Background(), streams, []string{"--config", cfg, "load", "--engine", "http://127.0.0.1:1", "--username", "u", "--organisation", "o", "-m", "m.yaml", "in.csv"})
		out := stdout.String() + stderr.String()
		if code != ExitUsage || !strings.Contains(out, tt.want) {
			t.Errorf("config %q: exit %d, %q; want exit 2 with %q", tt.file, code, out, tt.want)
		}
		for i := 3; i <= len(secret); i++ {
			if strings.Contains(out, secret[:i]) {
				t.Errorf("config %q: the output shows the secret's first %d characters: %q", tt.file, i, out)
				break
			}
		}
	}
}
