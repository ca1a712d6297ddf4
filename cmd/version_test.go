package cmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionStamp is issue 17.14: a release build stamps version, commit
// and build date (-ldflags, as .goreleaser.yaml does); --version prints
// what version prints; an unstamped build never calls the commit's time a
// build date.
func TestVersionStamp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds crmload with release ldflags")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "crmload")
	pkg := "github.com/crmload/crmload/cmd"
	build := exec.Command("go", "build", "-o", bin, "-ldflags",
		"-X "+pkg+".version=1.2.3 -X "+pkg+".commit=0123abcd -X "+pkg+".date=2026-11-25T12:00:00Z", "github.com/crmload/crmload")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, bin := range []string{bin, crmloadBinary(t)} {
		v, err := exec.Command(bin, "version").Output()
		if err != nil {
			t.Fatal(err)
		}
		flag, err := exec.Command(bin, "--version").Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(v) != string(flag) {
			t.Errorf("version %q and --version %q differ", v, flag)
		}
		if bin == crmloadBinary(t) {
			if strings.Contains(string(v), ", built ") || !strings.HasPrefix(string(v), "crmload ") {
				t.Errorf("an unstamped build: %q (its time, if any, is the commit's: 'committed')", v)
			}
			continue
		}
		if want := "crmload 1.2.3 (commit 0123abcd, built 2026-11-25T12:00:00Z; go"; !strings.HasPrefix(string(v), want) {
			t.Errorf("stamped: %q, want it to start with %q", v, want)
		}
	}
}
