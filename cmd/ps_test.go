package cmd

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// cmdline is what ps shows of a process: its arguments.
func cmdline(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
}

// TestNoSecretInPs (issue 9): the documented ways of starting engine serve
// (a users file, API keys from the environment) and load (the password
// from the environment) put no secret on the command line, where every
// local user's ps reads it; a secret given as a flag is warned about.
func TestNoSecretInPs(t *testing.T) {
	dir := t.TempDir()
	bin := crmloadBinary(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("S3cretPW"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "users"), fmt.Appendf(nil, "alice:%s\n", hash), 0o600)
	reference, _ := filepath.Abs("../testdata/seed/reference.yaml")
	if out, err := exec.Command(bin, "--db", filepath.Join(dir, "s.db"), "engine", "seed", reference).CombinedOutput(); err != nil {
		t.Fatalf("seed: %v %s", err, out)
	}
	serve := exec.Command(bin, "--db", filepath.Join(dir, "s.db"), "engine", "serve", "--addr", "127.0.0.1:0",
		"--url-file", filepath.Join(dir, "url"), "--users-file", filepath.Join(dir, "users"), "--organisation", "ACME")
	serve.Env = append(os.Environ(), "CRMLOAD_API_KEY=KEY-SECRET-1")
	var serveErr bytes.Buffer
	serve.Stderr = &serveErr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { serve.Process.Kill(); serve.Wait() }()
	if ps := cmdline(t, serve.Process.Pid); strings.Contains(ps, "S3cretPW") || strings.Contains(ps, "KEY-SECRET") {
		t.Errorf("serve's command line shows a secret: %s", ps)
	}
	url := waitForFile(t, filepath.Join(dir, "url"))

	writeVisits(t, filepath.Join(dir, "web.csv"), 10)
	mapping, _ := filepath.Abs("../testdata/web/mapping.yaml")
	load := exec.Command(bin, "load", "--engine", url, "--username", "alice", "--organisation", "ACME", "--progress", "never", "-m", mapping, "web.csv")
	load.Dir = dir
	load.Env = append(os.Environ(), "CRMLOAD_PASSWORD=S3cretPW")
	var loadOut bytes.Buffer
	load.Stdout, load.Stderr = &loadOut, &loadOut
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	if ps := cmdline(t, load.Process.Pid); strings.Contains(ps, "S3cretPW") {
		t.Errorf("load's command line shows a secret: %s", ps)
	}
	if err := load.Wait(); err == nil || err.(*exec.ExitError).ExitCode() != ExitFailed { // the unknown participant
		t.Fatalf("load with the password from the environment: %v\n%s", err, loadOut.String())
	}

	// A secret as a flag works, and is warned about.
	out, _ := exec.Command(bin, "load", "--engine", url, "--username", "alice", "--password", "S3cretPW", "--organisation", "ACME",
		"--report-dir", filepath.Join(dir, "r2"), "--again", "-m", mapping, filepath.Join(dir, "web.csv")).CombinedOutput()
	if !strings.Contains(string(out), "--password") || !strings.Contains(strings.ToLower(string(out)), "ps") {
		t.Errorf("no warning about a password given as a flag:\n%s", out)
	}
	if strings.Contains(string(out), "S3cretPW") {
		t.Errorf("the password is printed:\n%s", out)
	}
}

// waitForFile waits (up to 10 s) for a server to write its URL to path.
func waitForFile(t *testing.T, path string) string {
	t.Helper()
	for range 500 {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
	return ""
}
