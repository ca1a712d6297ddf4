package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestOpenBadDSNShowsNoPassword: a DSN whose password is not
// percent-encoded is refused before pgx parses or dials it (pgx's own
// text would quote parts of the password, or look up one as a host), and
// the error names the database without the password: ErrBadDSN.
func TestOpenBadDSNShowsNoPassword(t *testing.T) {
	for dsn, frags := range map[string][]string{
		"postgres://qa2:Zp@ss:w/rd Q@127.0.0.1:55432/qadb?sslmode=disable": {"Zp", "ss:w", "rd Q"},
		"postgres://qa2:Zp@ss@127.0.0.1:55432/qadb":                        {"Zp", "ss@"},
		"host=127.0.0.1 port=1 user=qa password='S3 cret dbname=qadb":      {"S3", "cret"},
	} {
		_, err := Open(context.Background(), dsn)
		if err == nil || !errors.Is(err, ErrBadDSN) {
			t.Errorf("Open(%q) = %v, want ErrBadDSN", dsn, err)
			continue
		}
		for _, f := range frags {
			if strings.Contains(err.Error(), f) {
				t.Errorf("Open(%q): %q in %q", dsn, f, err)
			}
		}
	}
	err := redactError(errors.New(`connect: password "ok@pw" and ok%40pw refused`), "postgres://u:ok%40pw@h/db")
	if strings.Contains(err.Error(), "ok@pw") || strings.Contains(err.Error(), "ok%40pw") {
		t.Errorf("redactError: %v", err)
	}
	err = redactError(errors.New("auth S3cret"), "host=h user=u password=S3cret dbname=d")
	if strings.Contains(err.Error(), "S3cret") {
		t.Errorf("redactError, keyword/value DSN: %v", err)
	}
}

func TestDatabaseDiff(t *testing.T) {
	if d := DatabaseDiff("postgres://qa:pw@localhost:5432/db", "host=127.0.0.1 user=qa dbname=db sslmode=disable"); d != "" {
		t.Errorf("the same database: %s", d)
	}
	if d := DatabaseDiff("postgres://qa@10.0.0.1/db", "postgres://qa@10.0.0.2/db"); !strings.Contains(d, "host 10.0.0.1, not 10.0.0.2") {
		t.Errorf("two hosts: %q", d)
	}
}
