package crm

import (
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
)

// IsDSN reports whether a --db value names a PostgreSQL database: a URL
// (postgres:// or postgresql://) or PostgreSQL's keyword/value form
// (host=... port=... user=... password=... dbname=...), which pgx takes
// too. A keyword/value DSN is never a file name: its password would name
// a file and be printed with it.
func IsDSN(db string) bool {
	return isURLDSN(db) || isKeywordDSN(db)
}

// OtherScheme is the scheme of db when db is a URL of another scheme
// than PostgreSQL's (postgrs://, mysql://, http://: a mistyped or a wrong
// --db), or "". file: names a SQLite file.
func OtherScheme(db string) string {
	i := strings.Index(db, "://")
	if i <= 0 || isURLDSN(db) {
		return ""
	}
	scheme := db[:i]
	for j, r := range scheme {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (j == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.' || r == '_')) {
			return "" // a path with :// in it, not a scheme
		}
	}
	if strings.EqualFold(scheme, "file") {
		return ""
	}
	return scheme
}

func isURLDSN(db string) bool {
	l := strings.ToLower(db)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// pgKeywords are the keywords of libpq's (and pgx's) keyword/value
// connection strings.
var pgKeywords = map[string]bool{
	"host": true, "hostaddr": true, "port": true, "dbname": true, "user": true, "password": true,
	"passfile": true, "sslmode": true, "sslcert": true, "sslkey": true, "sslrootcert": true,
	"sslpassword": true, "sslcrl": true, "sslnegotiation": true, "sslsni": true, "connect_timeout": true,
	"application_name": true, "fallback_application_name": true, "options": true,
	"target_session_attrs": true, "service": true, "servicefile": true, "channel_binding": true,
	"client_encoding": true, "krbsrvname": true, "gssencmode": true, "require_auth": true,
	"keepalives": true, "load_balance_hosts": true, "pool_max_conns": true, "pool_min_conns": true,
	"statement_cache_capacity": true, "default_query_exec_mode": true,
}

// kvPair is one keyword=value of a keyword/value DSN, and where it is.
type kvPair struct {
	key, value string
	start, end int // the pair's bytes in the DSN
}

// keywordPairs splits a keyword/value DSN into its pairs (values may be
// 'quoted', with \' and \\ escapes); ok is false when db is not one.
func keywordPairs(db string) (pairs []kvPair, ok bool) {
	i := 0
	for {
		for i < len(db) && isSpace(db[i]) {
			i++
		}
		if i == len(db) {
			return pairs, len(pairs) > 0
		}
		start := i
		for i < len(db) && db[i] != '=' && !isSpace(db[i]) {
			i++
		}
		key := db[start:i]
		for i < len(db) && isSpace(db[i]) {
			i++
		}
		if key == "" || i == len(db) || db[i] != '=' {
			return pairs, false
		}
		i++
		for i < len(db) && isSpace(db[i]) {
			i++
		}
		var v strings.Builder
		if i < len(db) && db[i] == '\'' {
			i++
			for i < len(db) && db[i] != '\'' {
				if db[i] == '\\' && i+1 < len(db) {
					i++
				}
				v.WriteByte(db[i])
				i++
			}
			if i == len(db) { // unterminated: the rest is the value
				pairs = append(pairs, kvPair{key, v.String(), start, i})
				return pairs, false
			}
			i++
		} else {
			for i < len(db) && !isSpace(db[i]) {
				if db[i] == '\\' && i+1 < len(db) {
					i++
				}
				v.WriteByte(db[i])
				i++
			}
		}
		pairs = append(pairs, kvPair{key, v.String(), start, i})
	}
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' || b == '\v'
}

// isKeywordDSN: the first word is a PostgreSQL keyword followed by =; or,
// with no path separator in it, any word is.
func isKeywordDSN(db string) bool {
	if isURLDSN(db) {
		return false
	}
	pairs, _ := keywordPairs(db)
	if len(pairs) > 0 && pgKeywords[strings.ToLower(pairs[0].key)] {
		return true
	}
	if strings.ContainsAny(db, `/\`) {
		return false
	}
	for _, f := range strings.Fields(db) {
		k, _, ok := strings.Cut(f, "=")
		if ok && pgKeywords[strings.ToLower(strings.TrimSpace(k))] {
			return true
		}
	}
	return false
}

// RedactDSN returns a PostgreSQL DSN without its password (in the user
// part or as a password parameter, or a keyword/value DSN's password=),
// for logs, reports and run files. A URL that does not parse as one
// keeps nothing between "user:" and its last @ (where the password would
// be, in any spelling). Anything else is returned as it is.
func RedactDSN(db string) string {
	if isKeywordDSN(db) {
		pairs, _ := keywordPairs(db)
		var b strings.Builder
		last := 0
		for _, p := range pairs {
			if strings.EqualFold(p.key, "password") || strings.EqualFold(p.key, "sslpassword") {
				b.WriteString(db[last:p.start])
				last = p.end
			}
		}
		b.WriteString(db[last:])
		out := strings.Join(strings.Fields(b.String()), " ")
		// An unterminated quote or a stray word: cut from any password on.
		if i := strings.Index(strings.ToLower(out), "password"); i >= 0 {
			out = strings.TrimSpace(out[:i])
		}
		return out
	}
	if !isURLDSN(db) {
		if OtherScheme(db) != "" {
			return redactUnparsable(db) // a mistyped scheme keeps its user's password too
		}
		if cut, ok := redactAt(db); ok {
			return cut // postgres:/u:pw@h, a URL taken for a path: cut all the same
		}
		return db
	}
	if _, bad := URLDSNProblem(db); bad {
		return redactUnparsable(db)
	}
	u, _ := url.Parse(db)
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.User(u.User.Username())
		}
	}
	q := u.Query()
	changed := false
	for k := range q {
		if secretParam(k) {
			q.Del(k)
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// secretParam reports whether a DSN's query parameter holds a secret:
// password or sslpassword (the client key's passphrase), in any case.
func secretParam(k string) bool {
	k = strings.ToLower(k)
	return k == "password" || k == "sslpassword"
}

// userinfoEnd is where a URL DSN's user part ends: its last @ before the
// first ? (a password with an unencoded ? has its @ after one), else its
// last @; -1 without one.
func userinfoEnd(db string) int {
	rest := db
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		rest = rest[:q]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		return at
	}
	return strings.LastIndexByte(db, '@')
}

// rawPassword is a URL DSN's password as written: what is between
// "scheme://user:" and the user part's last @; ok is false without one.
func rawPassword(db string) (scheme, user, pw, rest string, ok bool) {
	i := strings.Index(db, "://")
	if i < 0 {
		return "", "", "", db, false
	}
	at := userinfoEnd(db)
	if at < i+3 {
		return db[:i+3], "", "", db[i+3:], false
	}
	userinfo := db[i+3 : at]
	user, pw, ok = strings.Cut(userinfo, ":")
	return db[:i+3], user, pw, db[at+1:], ok
}

// redactUnparsable keeps nothing of a URL DSN that does not parse between
// "user:" and the last @ of its user part, nor after a password=.
func redactUnparsable(db string) string {
	scheme, user, _, rest, ok := rawPassword(db)
	out := db
	if ok {
		out = scheme + user + ":xxxxx@" + rest
	} else if at := userinfoEnd(db); at >= 0 && at > len(scheme) {
		out = scheme + "xxxxx@" + db[at+1:]
	}
	if i := strings.Index(strings.ToLower(out), "password="); i >= 0 {
		out = out[:i] + "password=xxxxx"
	}
	return out
}

// URLDSNProblem says why a postgres:// DSN cannot be read safely: it
// does not parse as a URL, or its password has characters that must be
// percent-encoded (@ / ? # space ...), so that a parser would take part
// of it for the host or the database. bad is false for a sound one.
func URLDSNProblem(db string) (problem string, bad bool) {
	if !isURLDSN(db) {
		return "", false
	}
	_, _, pw, _, hasPW := rawPassword(db)
	if hasPW && strings.ContainsAny(pw, "@/?#[] \t\n") {
		return "its password has characters that must be percent-encoded (@ as %40, / as %2F, ? as %3F, # as %23, a space as %20)", true
	}
	u, err := url.Parse(db)
	if err != nil {
		return "it does not parse as a URL", true
	}
	if hasPW {
		got, _ := u.User.Password()
		want, err := url.PathUnescape(pw)
		if err != nil || got != want {
			return "its password has characters that must be percent-encoded", true
		}
	}
	return "", false
}

// CheckDSN refuses a DSN that would be read wrongly or whose password
// could leak into an error: a URL that does not parse, a password not
// percent-encoded, a keyword/value DSN that does not split into pairs.
// Its message shows the DSN redacted, never the parser's text.
func CheckDSN(db string) error {
	if problem, bad := URLDSNProblem(db); bad {
		return fmt.Errorf("the DSN %s cannot be read: %s; is the password percent-encoded?", RedactDSN(db), problem)
	}
	if isKeywordDSN(db) {
		if _, ok := keywordPairs(db); !ok {
			return fmt.Errorf("the DSN %s cannot be read as keyword=value pairs (quote a value with spaces: password='a b')", RedactDSN(db))
		}
	}
	return nil
}

// DSNSecrets are the spellings of a DSN's password that must never be
// shown: as written and decoded, in the user part, as a password
// parameter, or a keyword/value password.
func DSNSecrets(db string) []string {
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s)
		}
	}
	if isKeywordDSN(db) {
		pairs, _ := keywordPairs(db)
		for _, p := range pairs {
			if strings.EqualFold(p.key, "password") || strings.EqualFold(p.key, "sslpassword") {
				add(p.value)
				raw := strings.TrimSpace(db[p.start:p.end][len(p.key):])
				add(strings.TrimSpace(strings.TrimPrefix(raw, "=")))
			}
		}
		return out
	}
	if !isURLDSN(db) {
		return nil
	}
	if _, _, pw, _, ok := rawPassword(db); ok {
		add(pw)
		if d, err := url.PathUnescape(pw); err == nil {
			add(d)
		}
	}
	if u, err := url.Parse(db); err == nil {
		if u.User != nil {
			if pw, ok := u.User.Password(); ok {
				add(pw)
			}
		}
		for k, vs := range u.Query() {
			if secretParam(k) {
				for _, v := range vs {
					add(v)
				}
			}
		}
	}
	if i := strings.Index(strings.ToLower(db), "password="); i >= 0 {
		v := db[i+len("password="):]
		if j := strings.IndexByte(v, '&'); j >= 0 {
			v = v[:j]
		}
		add(v)
		if d, err := url.QueryUnescape(v); err == nil {
			add(d)
		}
	}
	return out
}

// StoreFile returns the file a store name given to SQLite names: the name
// itself, or a file: URI's path, read as SQLite reads it (sqlite3ParseUri:
// an authority of "" or "localhost" only, the path up to '?' or '#', %HH
// decoded only when both are hex digits, a parameter given twice taking
// its last value), or "" for an in-memory database (":memory:", "",
// mode=memory, the memdb VFS) or a URI SQLite refuses (another host).
func StoreFile(name string) string {
	file, _ := parseStoreName(name)
	return file
}

// StoreFileAbs is the absolute path of the file a store name names
// (StoreFile), its symlinks followed when it exists: the name SQLite
// keeps the store's -wal beside; "" for no file.
func StoreFileAbs(name string) string {
	f := StoreFile(name)
	if f == "" {
		return ""
	}
	abs, err := filepath.Abs(f)
	if err != nil {
		return ""
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

// StoreMode is the mode parameter of a file: URI ("ro", "rw", "rwc",
// "memory"), read as SQLite reads it (StoreFile); "" for a plain path or
// none given.
func StoreMode(name string) string {
	_, mode := parseStoreName(name)
	return mode
}

// StoreNameAtMost is the name a connection that may do at most what mode
// allows ("ro" or "rw") opens the store name names by: the name itself,
// but a file: URI's mode (each time it is given) lowered to mode where it
// allows more (ro < rw < rwc). SQLite refuses a mode less restrictive
// than the open's flags ("access permission denied"), so a store given as
// file:crm.db?mode=rwc could be written by the loader's writer but not
// read by its readers, nor checkpointed. Every other parameter, and a
// fragment, stays as given; so does mode=memory.
func StoreNameAtMost(name, mode string) string {
	rest, ok := strings.CutPrefix(name, "file:")
	if !ok {
		return name
	}
	rest, fragment, hasFragment := strings.Cut(rest, "#")
	path, query, hasQuery := strings.Cut(rest, "?")
	if !hasQuery {
		return name
	}
	rank := map[string]int{"ro": 1, "rw": 2, "rwc": 3}
	params := strings.Split(query, "&")
	changed := false
	for i, kv := range params {
		k, v, _ := strings.Cut(kv, "=")
		if uriDecode(k) == "mode" && rank[uriDecode(v)] > rank[mode] {
			params[i], changed = "mode="+mode, true
		}
	}
	if !changed {
		return name
	}
	out := "file:" + path + "?" + strings.Join(params, "&")
	if hasFragment {
		out += "#" + fragment
	}
	return out
}

// StoreModes are the values of every mode parameter of a file: URI, in
// order, read as SQLite reads them (StoreFile); none for a plain path.
// SQLite applies each in turn: file:crm.db?mode=ro&mode=rw is opened
// read-only (or refused).
func StoreModes(name string) []string { return StoreParam(name, "mode") }

// StoreQuery is a file: URI's parameters as given (after '?', before any
// '#'); "" for a plain path or none given.
func StoreQuery(name string) string {
	rest, ok := strings.CutPrefix(name, "file:")
	if !ok {
		return ""
	}
	rest, _, _ = strings.Cut(rest, "#")
	_, query, _ := strings.Cut(rest, "?")
	return query
}

// StoreParam are the values of every parameter key of a file: URI, in
// order, decoded as SQLite decodes them; none for a plain path.
func StoreParam(name, key string) []string {
	query := StoreQuery(name)
	if query == "" {
		return nil
	}
	var vals []string
	for _, kv := range strings.Split(query, "&") {
		if k, v, _ := strings.Cut(kv, "="); uriDecode(k) == key {
			vals = append(vals, uriDecode(v))
		}
	}
	return vals
}

func parseStoreName(name string) (file, mode string) {
	if name == "" || name == ":memory:" {
		return "", ""
	}
	rest, ok := strings.CutPrefix(name, "file:")
	if !ok {
		return name, ""
	}
	if after, ok := strings.CutPrefix(rest, "//"); ok {
		host, path, _ := strings.Cut(after, "/")
		if host != "" && host != "localhost" {
			return "", ""
		}
		rest = "/" + path
	}
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	path, query, _ := strings.Cut(rest, "?")
	var vfs string
	for _, kv := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		switch uriDecode(k) {
		case "mode":
			mode = uriDecode(v)
		case "vfs":
			vfs = uriDecode(v)
		}
	}
	if mode == "memory" || vfs == "memdb" {
		return "", mode
	}
	p := uriDecode(path)
	if p == "" || p == ":memory:" {
		return "", mode
	}
	if runtime.GOOS == "windows" && len(p) > 2 && p[0] == '/' && p[2] == ':' {
		p = p[1:] // file:///C:/crm.db names C:/crm.db
	}
	return p, mode
}

// uriDecode decodes %HH where H are hex digits, and leaves any other %
// as it is, as SQLite does; as SQLite does too, %00 ends the path, name
// or value s is (sqlite3ParseUri skips what follows it).
func uriDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			c := unhex(s[i+1])<<4 | unhex(s[i+2])
			if c == 0 {
				break
			}
			b = append(b, c)
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// URITrue reads a URI parameter's boolean as SQLite does
// (sqlite3_uri_boolean: getSafetyLevel with omitFull, default false): a
// value that starts with a digit is its 32-bit integer (sqlite3Atoi:
// decimal, or hex after 0x; 0 past the range) cut to a byte, non-zero
// being true; else on, yes or true, in any case.
func URITrue(v string) bool {
	if v != "" && v[0] >= '0' && v[0] <= '9' {
		return uint8(atoi32(v)) != 0
	}
	switch strings.ToLower(v) {
	case "on", "yes", "true":
		return true
	}
	return false
}

// atoi32 is SQLite's sqlite3Atoi of a string that starts with a digit:
// the int32 its leading digits give (hex after 0x), 0 when out of range.
func atoi32(z string) int32 {
	if len(z) > 2 && z[0] == '0' && (z[1] == 'x' || z[1] == 'X') && isHex(z[2]) {
		z = strings.TrimLeft(z[2:], "0")
		var u uint32
		i := 0
		for ; i < 8 && i < len(z) && isHex(z[i]); i++ {
			u = u*16 + uint32(unhex(z[i]))
		}
		if u&0x80000000 != 0 || i < len(z) && isHex(z[i]) {
			return 0
		}
		return int32(u)
	}
	z = strings.TrimLeft(z, "0")
	var v int64
	i := 0
	for ; i < 11 && i < len(z) && z[i] >= '0' && z[i] <= '9'; i++ {
		v = v*10 + int64(z[i]-'0')
	}
	if i > 10 || v > 2147483647 {
		return 0
	}
	return int32(v)
}
