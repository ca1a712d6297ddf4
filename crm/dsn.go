package crm

import (
	"net/url"
	"strings"
)

// IsDSN reports whether a --db value names a PostgreSQL database
// (postgres:// or postgresql://) rather than an SQLite file.
func IsDSN(db string) bool {
	l := strings.ToLower(db)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// RedactDSN returns a PostgreSQL DSN without its password (in the user
// part or as a password parameter), for logs, reports and run files.
// Anything else is returned as it is.
func RedactDSN(db string) string {
	if !IsDSN(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "postgres://(unparsable DSN)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.User(u.User.Username())
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
