// Command notices writes the third-party notices of crmload's binary: the
// licence texts (and NOTICE files) of every module the binary links, as
// go.mod resolves them, read from the module cache. The release build
// runs it (.goreleaser.yaml), so the notices follow go.mod and are never
// written by hand.
//
//	go run ./scripts/notices -o THIRD_PARTY_NOTICES.txt
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// licenceFile matches the files a module's licence may be in.
var licenceFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying|notice|patents)(\.(txt|md|markdown|rst))?$|^licen[cs]e[-_.]`)

type module struct{ path, version, dir string }

func main() {
	out := flag.String("o", "", "write the notices to this file (default: standard output)")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "notices:", err)
		os.Exit(1)
	}
}

func run(outPath string) error {
	mods, err := linkedModules()
	if err != nil {
		return err
	}
	// The Go standard library and runtime are linked into every binary.
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	goversion, _ := exec.Command("go", "env", "GOVERSION").Output()
	mods = append([]module{{path: "the Go standard library", version: strings.TrimSpace(string(goversion)), dir: strings.TrimSpace(string(goroot))}}, mods...)
	var b bytes.Buffer
	fmt.Fprintf(&b, "crmload includes the following third-party software, each under its own licence.\n")
	fmt.Fprintf(&b, "Generated from go.mod by scripts/notices: the Go standard library and %d modules.\n", len(mods)-1)
	var missing []string
	for _, m := range mods {
		files, err := licenceFiles(m.dir)
		if err != nil {
			return err
		}
		if len(files) == 0 {
			missing = append(missing, m.path)
			continue
		}
		fmt.Fprintf(&b, "\n%s\n%s %s\n%s\n", strings.Repeat("=", 79), m.path, m.version, strings.Repeat("=", 79))
		for _, f := range files {
			text, err := os.ReadFile(filepath.Join(m.dir, f))
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "\n--- %s\n\n%s\n", f, bytes.TrimSpace(text))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no licence file found for %s: its licence must ship with the binary", strings.Join(missing, ", "))
	}
	var w io.Writer = os.Stdout
	if outPath != "" {
		f, err := os.Create(outPath)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	_, err = w.Write(b.Bytes())
	return err
}

// linkedModules lists the modules (other than crmload) whose packages the
// binary links, for the release's platforms.
func linkedModules() ([]module, error) {
	seen := map[string]module{}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		cmd := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}}\t{{.Version}}\t{{.Dir}}{{end}}{{end}}", ".")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "CGO_ENABLED=0")
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("go list: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			f := strings.Split(sc.Text(), "\t")
			if len(f) != 3 || f[0] == "" {
				continue
			}
			if f[2] == "" {
				return nil, fmt.Errorf("module %s %s is not in the module cache: run go mod download", f[0], f[1])
			}
			seen[f[0]] = module{path: f[0], version: f[1], dir: f[2]}
		}
	}
	mods := make([]module, 0, len(seen))
	for _, m := range seen {
		mods = append(mods, m)
	}
	slices.SortFunc(mods, func(a, b module) int { return strings.Compare(a.path, b.path) })
	return mods, nil
}

func licenceFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && licenceFile.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
