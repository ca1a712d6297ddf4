package cmd

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// readUsersFile reads serve's users: NAME:HASH lines, HASH a bcrypt hash
// as `htpasswd -nB NAME` prints it ($2y$, $2a$ or $2b$); blank lines and
// lines starting with # are skipped. Errors name the line, never a hash.
func readUsersFile(path string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	defer f.Close()
	users := map[string][]byte{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		switch {
		case !ok || name == "" || hash == "":
			return nil, fmt.Errorf("users file %s line %d: want NAME:BCRYPT-HASH", path, n)
		case users[name] != nil:
			return nil, fmt.Errorf("users file %s line %d: user %s is given twice", path, n, name)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("users file %s line %d: the password of %s is not a bcrypt hash (make one with: htpasswd -nB %s)", path, n, name, name)
		}
		users[name] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("users file %s: no user in it", path)
	}
	return users, nil
}

// readLines reads the non-blank lines of a file that do not start with #.
func readLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no key in it", path)
	}
	return out, nil
}
