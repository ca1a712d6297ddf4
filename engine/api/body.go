package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/crmload/crmload/crm"
)

// requestBody is a request's body as the strict reader (crm.ReadBulkRequest,
// its quick reader first, and crm.ReadParams) reads it: at most PreAuthBody
// bytes until authorize
// accepted the token, MaxBody in all, and each of the two within a
// deadline proportional to it. So an unauthenticated client holds a
// connection for seconds and a megabyte at most, whatever it sends.
type requestBody struct {
	s          *Server
	r          io.Reader // http.MaxBytesReader(MaxBody)
	rc         *http.ResponseController
	start      time.Time
	left       int64 // bytes that may still be read before the token
	authorized bool
	req        *http.Request // the request, marked shown once authorized
}

// errTokenTooLate: PreAuthBody bytes were read and no valid token yet.
var errTokenTooLate = errors.New("no valid token within the bytes read before one")

func (s *Server) body(w http.ResponseWriter, r *http.Request) *requestBody {
	b := &requestBody{s: s, r: http.MaxBytesReader(w, r.Body, s.cfg.MaxBody), rc: http.NewResponseController(w),
		start: time.Now(), left: s.cfg.PreAuthBody, req: r}
	b.deadline(s.cfg.PreAuthBody)
	return b
}

// deadline gives the body until BodyTimeout plus allowed bytes at
// MinBodyRate after the request started. (Not every connection supports
// deadlines: HTTP/2 streams do not; the server's ReadTimeout is the bound.)
func (b *requestBody) deadline(allowed int64) {
	d := b.s.cfg.BodyTimeout + time.Duration(float64(allowed)/float64(b.s.cfg.MinBodyRate)*float64(time.Second))
	b.rc.SetReadDeadline(b.start.Add(d))
}

func (b *requestBody) Read(p []byte) (int, error) {
	if !b.authorized {
		if b.left < 0 {
			return 0, errTokenTooLate
		}
		p = p[:min(int64(len(p)), b.left+1)]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if !b.authorized && b.left < 0 {
		return n, errTokenTooLate
	}
	return n, err
}

// authorize is the strict reader's Authorize: it checks the token the
// moment it is read and, once it is accepted, lets the rest of the body
// (up to MaxBody) be read.
func (b *requestBody) authorize(token string) error {
	if !b.s.valid(token) {
		return invalidToken()
	}
	b.authorized = true
	markShown(b.req)
	b.deadline(b.s.cfg.MaxBody)
	return nil
}

// readFailed answers a body the strict reader refused or could not read.
func (s *Server) readFailed(w http.ResponseWriter, err error) {
	var tooBig *http.MaxBytesError
	var limit *crm.LimitError
	var apiErr *crm.Error
	switch {
	case errors.Is(err, errTokenTooLate):
		writeError(w, http.StatusRequestEntityTooLarge, &crm.Error{Code: crm.CodeInvalidRequest,
			Message: fmt.Sprintf("No Valid Token Within the First %d Bytes of the Body", s.cfg.PreAuthBody),
			Reason:  "Send the token before the customer events; the rest of a body is read only after it."})
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, &crm.Error{Code: crm.CodeInvalidRequest,
			Message: fmt.Sprintf("The Request Body Is Larger Than %d Bytes", s.cfg.MaxBody), Reason: "Send fewer customer events per call."})
	case errors.As(err, &limit):
		writeError(w, http.StatusRequestEntityTooLarge, limit.Err)
	case errors.As(err, &apiErr) && apiErr.Code == crm.CodeInvalidToken:
		writeError(w, http.StatusUnauthorized, apiErr)
	case errors.As(err, &apiErr):
		writeError(w, http.StatusBadRequest, apiErr)
	case errors.Is(err, os.ErrDeadlineExceeded):
		writeError(w, http.StatusRequestTimeout, &crm.Error{Code: crm.CodeInvalidRequest,
			Message: "The Request Body Was Not Sent in Time", Reason: "The body must arrive within the server's body deadline."})
	default:
		writeError(w, http.StatusBadRequest, &crm.Error{Code: crm.CodeInvalidRequest, Message: "The Request Body Could Not Be Read", Reason: "The request was cut short."})
	}
}

// HeaderIgnored names, in a response, the members of the request that
// were ignored because they are not parameters of the method (as the real
// API ignores them): `Website` for `website`, a parameter of another kind,
// a field an identifier does not have. A crmload extension.
const HeaderIgnored = "X-Crmload-Ignored-Parameters"

// maxIgnoredNamed bounds the names one response lists.
const maxIgnoredNamed = 20

// ignoredNames collects the members a request's reader skipped, once per
// name whatever the event it came in: web_customer_events_set[0].Website
// stands for every event's Website.
type ignoredNames struct {
	names []string
	seen  map[string]bool
	more  int
}

var indexRE = regexp.MustCompile(`\[[0-9]+\]`)

func (ig *ignoredNames) add(path string) {
	key := indexRE.ReplaceAllString(path, "[]")
	if ig.seen[key] {
		return
	}
	if len(ig.names) == maxIgnoredNamed {
		ig.more++ // past the list, names are counted, not kept
		return
	}
	if ig.seen == nil {
		ig.seen = map[string]bool{}
	}
	ig.seen[key] = true
	ig.names = append(ig.names, path)
}

// header renders the names for the response header: each as it was sent,
// quoted (Go syntax, ASCII) when it holds anything but letters, digits and
// _ . [ ].
func (ig *ignoredNames) header() string {
	parts := make([]string, 0, len(ig.names)+1)
	for _, n := range ig.names {
		if strings.IndexFunc(n, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.[]-", r))
		}) >= 0 {
			n = strconv.QuoteToASCII(n)
		}
		parts = append(parts, n)
	}
	if ig.more > 0 {
		parts = append(parts, fmt.Sprintf("(%d more)", ig.more))
	}
	return strings.Join(parts, ", ")
}

// report names the ignored members in the response header and the log.
// Call it before the response is written.
func (s *Server) reportIgnored(w http.ResponseWriter, r *http.Request, ig *ignoredNames) {
	if len(ig.names) == 0 {
		return
	}
	h := ig.header()
	w.Header().Set(HeaderIgnored, h)
	if strings.Contains(r.URL.Path, "/authentication/") {
		// A login's stray name may be a secret typed in the wrong place:
		// the client sees it in the header, the log only counts it.
		s.cfg.Log.Info("ignored parameters", "path", r.URL.Path, "count", len(ig.names)+ig.more, "remote", r.RemoteAddr)
		return
	}
	s.cfg.Log.Info("ignored parameters", "path", r.URL.Path, "names", h, "remote", r.RemoteAddr)
}
