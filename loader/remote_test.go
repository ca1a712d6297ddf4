package loader

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmload/crmload/engine/api"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
)

// faults sits in front of the served engine and spoils some bulk calls;
// logins and releases pass.
type faults struct {
	next  http.Handler
	plain bool // hide load receipts: behave as a real CRM.COM
	calls atomic.Int64
	// spoil decides, for the n-th bulk call, what goes wrong: "" passes.
	spoil func(n int64) string
	// served counts the bulk calls being served: the server goes on with
	// a call whose client gave up on it.
	served sync.WaitGroup
	// maxBody, when set, is a gateway's body limit: a longer call is
	// answered 413 with an HTML page, never reaching the engine.
	maxBody int64
}

// plainWriter drops the receipts header, as a server without receipts.
type plainWriter struct{ http.ResponseWriter }

func (p plainWriter) WriteHeader(code int) {
	p.Header().Del(api.HeaderReceipts)
	p.ResponseWriter.WriteHeader(code)
}

func (p plainWriter) Write(b []byte) (int, error) {
	p.Header().Del(api.HeaderReceipts)
	return p.ResponseWriter.Write(b)
}

func (p plainWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return p.ResponseWriter.(http.Hijacker).Hijack()
}

func (f *faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.plain {
		w = plainWriter{w}
	}
	if !strings.Contains(r.URL.Path, "/bulk/") {
		f.next.ServeHTTP(w, r)
		return
	}
	f.served.Add(1)
	defer f.served.Done()
	if f.maxBody > 0 && r.ContentLength > f.maxBody {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		w.Write([]byte("<html><body><h1>413 Request Entity Too Large</h1></body></html>"))
		return
	}
	switch f.spoil(f.calls.Add(1)) {
	case "400":
		// A refusal of the whole call, before anything is processed.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"data":null,"status":{"code":"InvalidAPIRequestException","message":"Refused","description":"Error:Refused. - Description:The call was refused."}}`))
	case "redirect":
		http.Redirect(w, r, "http://127.0.0.1:1"+r.URL.Path, http.StatusPermanentRedirect)
	case "503":
		w.Header().Set("Retry-After", "0")
		http.Error(w, "busy", http.StatusServiceUnavailable)
	case "429":
		w.Header().Set("Retry-After", "1")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	case "drop":
		// The connection closes before the request reaches the engine.
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		conn.Close()
	case "lost":
		// The engine processes the call in full, then the connection
		// closes before its answer is sent: the client cannot know.
		f.next.ServeHTTP(httptest.NewRecorder(), r)
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		conn.Close()
	case "slow":
		time.Sleep(300 * time.Millisecond)
		f.next.ServeHTTP(w, r)
	case "trickle":
		// The answer's status and first bytes come at once, the rest
		// late: a client's deadline cuts it off while it is read.
		rec := httptest.NewRecorder()
		f.next.ServeHTTP(rec, r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Code)
		body := rec.Body.Bytes()
		w.Write(body[:10])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the client gave up
	case "hang":
		// No answer until the client gives up (the server sees it once
		// the request is read).
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	case "slow60":
		time.Sleep(60 * time.Millisecond)
		f.next.ServeHTTP(w, r)
	default:
		f.next.ServeHTTP(w, r)
	}
}

// servedEngine serves a seeded engine over loopback behind faults, with
// tokens that live ttl.
func servedEngine(t *testing.T, ttl time.Duration, spoil func(int64) string) (*engine.Engine, *faults, string) {
	return servedEngineAs(t, false, ttl, spoil)
}

// servedEngineAs is servedEngine, as a real CRM.COM (plain: no receipts)
// or as engine serve.
func servedEngineAs(t *testing.T, plain bool, ttl time.Duration, spoil func(int64) string) (*engine.Engine, *faults, string) {
	t.Helper()
	e := seededEngine(t)
	f := &faults{next: api.NewServer(e, api.ServerConfig{Users: map[string]string{"loader": "pw"}, Organisation: "ACME", TokenTTL: ttl}), spoil: spoil, plain: plain}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return e, f, srv.URL
}

func client(t *testing.T, url string) *crm.Client {
	t.Helper()
	c, err := crm.NewClient(url, crm.Credentials{Username: "loader", Password: "pw", Organisation: "ACME"}, crm.ClientOptions{Connections: 4})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRemoteFaults: refusals (503, 429 with Retry-After) and connections
// dropped before the engine are retried; every row is stored exactly once
// and the run exits 1 only for the unknown participants of the data.
func TestRemoteFaults(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(int64) string
	}{
		{"503 on every other call", func(n int64) string {
			if n%2 == 1 {
				return "503"
			}
			return ""
		}},
		{"429 with Retry-After on the first call", func(n int64) string {
			if n == 1 {
				return "429"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, f, url := servedEngine(t, time.Hour, tt.spoil)
			opts := defaultOptions()
			opts.BatchSize, opts.Retries = 100, 5
			w := &waits{}
			opts.sleep = w.sleep
			sum, dir, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 1000)), client(t, url), opts)
			if err != nil {
				t.Fatal(err)
			}
			ok, failed := checkEveryRowOnce(t, dir, sum, 1000)
			if len(ok) != 900 || len(failed) != 100 || countEvents(t, e) != 900 || sum.RowsInDoubt != 0 {
				t.Errorf("%d succeeded, %d failed, %d in doubt, engine holds %d; want 900, 100, 0, 900", len(ok), len(failed), sum.RowsInDoubt, countEvents(t, e))
			}
			if sum.Retries == 0 || f.calls.Load() <= 10 {
				t.Errorf("%d retries over %d calls: the faults were not retried", sum.Retries, f.calls.Load())
			}
			if strings.Contains(tt.name, "429") && w.longest() < time.Second {
				t.Errorf("the longest wait before a retry was %v: Retry-After: 1 was not honoured", w.longest())
			}
		})
	}
}

// TestRemoteDroppedConnections: a connection that closes after the request
// was written may or may not have reached the engine: the client cannot
// tell. engine serve keeps load receipts, so the call is replayed and every
// row is stored once; a server without them (a real CRM.COM) gets no second
// copy: its rows are in doubt, reported in in_doubt.csv.
func TestRemoteDroppedConnections(t *testing.T) {
	drop := func(n int64) string {
		if n%3 == 1 {
			return "drop"
		}
		return ""
	}
	t.Run("engine serve: replayed", func(t *testing.T) {
		e, _, url := servedEngineAs(t, false, time.Hour, drop)
		opts := defaultOptions()
		opts.BatchSize, opts.Concurrency = 100, 1
		sum, dir, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 1000)), client(t, url), opts)
		if err != nil {
			t.Fatal(err)
		}
		ok, _ := checkEveryRowOnce(t, dir, sum, 1000)
		if sum.RowsInDoubt != 0 || len(ok) != 900 || countEvents(t, e) != 900 || sum.Retries == 0 {
			t.Errorf("%d in doubt, %d succeeded, engine holds %d, %d retries; want 0, 900, 900, some", sum.RowsInDoubt, len(ok), countEvents(t, e), sum.Retries)
		}
	})
	t.Run("plain CRM.COM: in doubt", func(t *testing.T) {
		e, _, url := servedEngineAs(t, true, time.Hour, drop)
		opts := defaultOptions()
		opts.BatchSize, opts.Concurrency = 100, 1
		sum, dir, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 1000)), client(t, url), opts)
		if err != nil {
			t.Fatal(err)
		}
		if sum.RowsInDoubt != 400 || !sum.Balanced() || sum.Retries != 0 {
			t.Errorf("summary = %+v; want 400 rows in doubt (calls 1, 4, 7, 10), balanced, nothing retried", sum)
		}
		if doubt := reportRows(t, filepath.Join(dir, "in_doubt.csv"), "error_description"); len(doubt) != 400 {
			t.Errorf("in_doubt.csv has %d rows, want 400", len(doubt))
		}
		if n := countEvents(t, e); n != 540 {
			t.Errorf("engine holds %d events, want 540 (600 sent rows but the unknown participants)", n)
		}
	})
}

// TestRemoteTokenExpires: a token that expires mid-run is renewed and the
// refused call sent again; nothing is lost or stored twice.
func TestRemoteTokenExpires(t *testing.T) {
	e, _, url := servedEngine(t, 150*time.Millisecond, func(int64) string { return "slow60" })
	var relogins atomic.Int64 // each said in the log (OnRelogin)
	c, err := crm.NewClient(url, crm.Credentials{Username: "loader", Password: "pw", Organisation: "ACME"},
		crm.ClientOptions{Connections: 4, OnRelogin: func() { relogins.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	opts := defaultOptions()
	opts.BatchSize, opts.Concurrency = 50, 4 // calls that see the token expire together: one login, told once
	sum, dir, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 500)), c, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkEveryRowOnce(t, dir, sum, 500)
	if countEvents(t, e) != 450 || c.Logins() < 2 {
		t.Errorf("engine holds %d events after %d logins; want 450 after several", countEvents(t, e), c.Logins())
	}
	if relogins.Load() != c.Logins()-1 {
		t.Errorf("%d logins again told of, after %d logins; want every one after the first", relogins.Load(), c.Logins())
	}
}

// TestRemoteInDoubt: a call whose answer is lost after the engine
// processed it may have been stored (here it was). Against engine serve
// the replay answers with the stored events; against a plain CRM.COM the
// rows are in doubt, never sent again. Either way each event is stored
// once.
func TestRemoteInDoubt(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprint("plain=", plain), func(t *testing.T) {
			e, _, url := servedEngineAs(t, plain, time.Hour, func(n int64) string {
				if n == 1 {
					return "lost"
				}
				return ""
			})
			opts := defaultOptions()
			opts.BatchSize, opts.Concurrency = 100, 1
			sum, _, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 300)), client(t, url), opts)
			if err != nil {
				t.Fatal(err)
			}
			wantDoubt := 0
			if plain {
				wantDoubt = 100
			}
			if sum.RowsInDoubt != wantDoubt || !sum.Balanced() || sum.ExitCode != 1 {
				t.Errorf("summary = %+v; want %d rows in doubt, balanced, exit 1", sum, wantDoubt)
			}
			if n := countEvents(t, e); n != 270 {
				t.Errorf("engine holds %d events, want 270 (all 300 rows but the unknown participants, each once)", n)
			}
			// engine serve names the events the replay found stored (the
			// first copy's 90): they are not counted as created twice.
			if wantFound := 90 * (1 - min(wantDoubt, 1)); sum.EventsFound != wantFound {
				t.Errorf("events found stored = %d, want %d", sum.EventsFound, wantFound)
			}
		})
	}
}

// TestRemoteTimeoutSaysSo: a call cut off by --timeout says so, whether
// no answer came or its body was cut off after an OK status (not "HTTP
// 200: context deadline exceeded"), and its rows are left for a resume.
func TestRemoteTimeoutSaysSo(t *testing.T) {
	for _, fault := range []string{"hang", "trickle"} {
		t.Run(fault, func(t *testing.T) {
			_, _, url := servedEngine(t, time.Hour, func(int64) string { return fault })
			opts := defaultOptions()
			opts.BatchSize, opts.Concurrency, opts.Retries, opts.Timeout = 100, 1, 1, 500*time.Millisecond
			opts.sleep = func(context.Context, time.Duration) bool { return true }
			sum, _, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 100)), client(t, url), opts)
			if err != nil {
				t.Fatal(err)
			}
			why := sum.AbortReason
			if !strings.Contains(why, "the call's --timeout of 500ms ran out") || strings.Contains(why, "HTTP 200:") || sum.RowsSucceeded+sum.RowsFailed != 0 {
				t.Errorf("abort reason %q (want it to name the --timeout, no HTTP 200); %d rows settled, want none", why, sum.RowsSucceeded+sum.RowsFailed)
			}
			if fault == "trickle" && !strings.Contains(why, "the answer (HTTP 200) was cut off while it was read") {
				t.Errorf("abort reason %q: want it to say the answer was cut off", why)
			}
		})
	}
}

// capacity answers 503 when more than n calls are in flight, like a
// server that is full.
type capacity struct {
	next     http.Handler
	n        int64
	inFlight atomic.Int64
	calls    atomic.Int64
	refusals atomic.Int64
}

func (c *capacity) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.Contains(r.URL.Path, "/bulk/") {
		c.next.ServeHTTP(w, r)
		return
	}
	c.calls.Add(1)
	if c.inFlight.Add(1) > c.n {
		c.inFlight.Add(-1)
		c.refusals.Add(1)
		http.Error(w, "full", http.StatusServiceUnavailable)
		return
	}
	defer c.inFlight.Add(-1)
	time.Sleep(40 * time.Millisecond)
	c.next.ServeHTTP(w, r)
}

// TestRemoteBackPressure: against a server that takes 2 calls at a time,
// a load with 8 senders lowers its concurrency instead of hammering it;
// every row is stored once.
func TestRemoteBackPressure(t *testing.T) {
	e := seededEngine(t)
	c := &capacity{next: api.NewServer(e, api.ServerConfig{Users: map[string]string{"loader": "pw"}, Organisation: "ACME"}), n: 2}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	opts := defaultOptions()
	opts.BatchSize, opts.Concurrency, opts.Retries = 20, 8, 1000
	opts.sleep = (&waits{}).sleep // retries at once: only the gate holds them back
	sum, dir, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 2000)), client(t, srv.URL), opts)
	if err != nil {
		t.Fatal(err)
	}
	ok, _ := checkEveryRowOnce(t, dir, sum, 2000)
	if len(ok) != 1800 || countEvents(t, e) != 1800 {
		t.Errorf("%d succeeded, engine holds %d; want 1800 each", len(ok), countEvents(t, e))
	}
	// The server refuses only while more than 2 calls are in flight, so
	// whatever the timing: the first wave (8 senders) meets at most 6
	// refusals; after it a refusal needs a bound L of 3 or more, meets
	// at most L-2 refusals and halves L, which climbs back by one after
	// 4*L successes in a row (from 1 to 3: 12; from 2 to 4: 20). So the
	// 100 calls that succeed meet at most 6 + 100/10 refusals; 6 + 100/6
	// is the bound, with room. A fixed concurrency of 8 that retries at
	// once meets thousands.
	succeeded := c.calls.Load() - c.refusals.Load()
	t.Logf("%d calls, %d refused", c.calls.Load(), c.refusals.Load())
	if max := 6 + succeeded/6; c.refusals.Load() > max {
		t.Errorf("%d of %d calls were refused, want at most %d: the load did not lower its concurrency", c.refusals.Load(), c.calls.Load(), max)
	}
}

// TestRemoteAllFaultsCleanData: clean data through every fault at once
// (503, 429 with Retry-After, dropped connections, slow answers past the
// timeout, a token that expires): the load finishes with exit 0 and every
// row stored exactly once.
func TestRemoteAllFaultsCleanData(t *testing.T) {
	// About 30% of the calls fail, at random (seeded): a fixed pattern
	// could hand one sender a fault on every attempt.
	kinds := []string{"503", "drop", "slow", "429"}
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(5, 6))
	e, f, url := servedEngineAs(t, false, 250*time.Millisecond, func(int64) string {
		mu.Lock()
		defer mu.Unlock()
		if rng.IntN(10) < 3 {
			return kinds[rng.IntN(len(kinds))]
		}
		return ""
	})
	var b strings.Builder
	b.WriteString("visit_id,participant,site,visited_on\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "v%d,RP0000000010,www.crm.com/%d,2016-06-22 15:00\n", i, i)
	}
	in := filepath.Join(t.TempDir(), "clean.csv")
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := defaultOptions()
	opts.BatchSize, opts.Concurrency, opts.Timeout, opts.Retries = 100, 2, 150*time.Millisecond, 10
	opts.sleep = (&waits{}).sleep
	sum, dir, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", in), client(t, url), opts)
	if err != nil {
		t.Fatal(err)
	}
	checkEveryRowOnce(t, dir, sum, 1000)
	f.served.Wait() // slow calls finish on the server
	sites := map[string]bool{}
	e.Events(context.Background(), engine.Filter{}, func(obj []byte) error {
		var ev struct{ Website string }
		json.Unmarshal(obj, &ev)
		if sites[ev.Website] {
			t.Errorf("%s stored twice", ev.Website)
		}
		sites[ev.Website] = true
		return nil
	})
	if sum.ExitCode != 0 || sum.RowsSucceeded != 1000 || len(sites) != 1000 || sum.Retries == 0 {
		t.Errorf("exit %d, %d succeeded, %d stored, %d retries; want 0, 1000, 1000, some", sum.ExitCode, sum.RowsSucceeded, len(sites), sum.Retries)
	}
}

// TestResumeInDoubtWithoutReceipts: after a crash against a server that
// keeps no receipts (a real CRM.COM), the rows of calls that were in
// flight are in doubt on resume, not sent; with ResendInDoubt they are sent.
func TestResumeInDoubtWithoutReceipts(t *testing.T) {
	for _, resend := range []bool{false, true} {
		t.Run(fmt.Sprint("resend=", resend), func(t *testing.T) {
			e, _, url := servedEngineAs(t, true, time.Hour, func(int64) string { return "" })
			c := client(t, url)
			job := loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 100))
			// A first attempt that sends nothing (the engine is down)...
			down := &faultEngine{Engine: c}
			down.failing.Store(true)
			opts := defaultOptions()
			opts.Retries = 0
			_, dir, err := Load(context.Background(), job, down, opts)
			if err != nil {
				t.Fatal(err)
			}
			// ...and died with the call for lines 2-11 in flight.
			f, err := os.OpenFile(filepath.Join(dir, journalName), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(f, `{"sending":[[0,2],[0,3],[0,4],[0,5],[0,6],[0,7],[0,8],[0,9],[0,10],[0,11]]}`)
			f.Close()

			opts.Resume, opts.ResendInDoubt, opts.Retries = dir, resend, 2
			sum, _, err := Load(context.Background(), job, c, opts)
			if err != nil {
				t.Fatal(err)
			}
			wantDoubt, wantStored := 10, 81 // 90 rows sent, less the 9 unknown participants among them
			if resend {
				wantDoubt, wantStored = 0, 90
			}
			if sum.RowsInDoubt != wantDoubt || countEvents(t, e) != wantStored || !sum.Balanced() {
				t.Errorf("resume: %d in doubt, engine holds %d, summary %+v; want %d and %d", sum.RowsInDoubt, countEvents(t, e), sum, wantDoubt, wantStored)
			}
			// Resumed again (as after an attempt stopped once it had put
			// rows in doubt): the earlier attempt's rows in doubt are
			// still the run's, counted, and its exit code says so.
			again, _, err := Load(context.Background(), job, c, opts)
			if err != nil {
				t.Fatal(err)
			}
			if again.RowsInDoubtEarlier != wantDoubt || again.RowsInDoubtInAll() != wantDoubt || again.RowsResumed != 100 {
				t.Errorf("resumed again: %d in doubt since earlier attempts, %d resumed; want %d and 100", again.RowsInDoubtEarlier, again.RowsResumed, wantDoubt)
			}
			c2, err := Combine([]string{dir})
			if err != nil {
				t.Fatal(err)
			}
			if c2.RowsInDoubt != wantDoubt {
				t.Errorf("crmload summary of the run: %d in doubt, want %d", c2.RowsInDoubt, wantDoubt)
			}
			// A journal of an earlier release counts no rows in doubt:
			// they are counted from the in-doubt report.
			jf := filepath.Join(dir, journalName)
			b, err := os.ReadFile(jf)
			if err != nil {
				t.Fatal(err)
			}
			old := regexp.MustCompile(`,"q":\d+`).ReplaceAll(b, nil)
			if err := os.WriteFile(jf, old, 0o644); err != nil {
				t.Fatal(err)
			}
			again, _, err = Load(context.Background(), job, c, opts)
			if err != nil {
				t.Fatal(err)
			}
			if again.RowsInDoubtEarlier != wantDoubt {
				t.Errorf("resumed again, with a journal of an earlier release: %d in doubt since earlier attempts, exit %d; want %d", again.RowsInDoubtEarlier, again.ExitCode, wantDoubt)
			}
		})
	}
}

// waits stands for the clock of a load's retries: it records the waits
// asked for and waits none of them (an ended ctx still ends a wait).
type waits struct {
	mu    sync.Mutex
	asked []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) bool {
	w.mu.Lock()
	w.asked = append(w.asked, d)
	w.mu.Unlock()
	return ctx.Err() == nil
}

// longest is the longest wait asked for.
func (w *waits) longest() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Max(append([]time.Duration{0}, w.asked...))
}

// TestRemoteTooLarge: a gateway that refuses calls over its body limit
// (413, an HTML page: nothing processed) has them halved until they go
// through, as a real CRM.COM or as engine serve: every row stored once,
// nothing in doubt; an event too large alone fails with what to do.
func TestRemoteTooLarge(t *testing.T) {
	for _, plain := range []bool{true, false} {
		t.Run(fmt.Sprint("plain=", plain), func(t *testing.T) {
			e, f, url := servedEngineAs(t, plain, time.Hour, func(int64) string { return "" })
			f.maxBody = 8 << 10
			opts := defaultOptions()
			opts.BatchSize, opts.Concurrency = 100, 2
			sum, dir, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 500)), client(t, url), opts)
			if err != nil {
				t.Fatal(err)
			}
			checkEveryRowOnce(t, dir, sum, 500)
			if sum.RowsInDoubt != 0 || sum.Outcome() == OutcomeAborted || countEvents(t, e) != 450 {
				t.Errorf("exit %d, %d in doubt, engine holds %d; want 450 stored, none in doubt", sum.ExitCode, sum.RowsInDoubt, countEvents(t, e))
			}
		})
	}
	t.Run("one event too large", func(t *testing.T) {
		_, f, url := servedEngineAs(t, true, time.Hour, func(int64) string { return "" })
		f.maxBody = 100
		opts := defaultOptions()
		opts.BatchSize = 10
		sum, dir, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 10)), client(t, url), opts)
		if err != nil {
			t.Fatal(err)
		}
		failed := reportRows(t, filepath.Join(dir, "failed.csv"), "error_description")
		if sum.RowsFailed != 10 || sum.RowsInDoubt != 0 || len(failed) != 10 || !strings.Contains(failed["2"], "refused a call of") || !strings.Contains(failed["2"], "with this event alone") {
			t.Errorf("%d failed, %d in doubt, failed.csv %q; want every row failed, too large alone", sum.RowsFailed, sum.RowsInDoubt, failed)
		}
	})
}

// TestRemoteRedirectMidRun: a bulk call answered with a redirect is not
// followed (it would send the events, and after a re-login the password,
// where it points): the run stops (exit 3) naming where, nothing sent
// twice, the rows not sent left to a resume.
func TestRemoteRedirectMidRun(t *testing.T) {
	e, _, url := servedEngineAs(t, true, time.Hour, func(n int64) string {
		if n >= 2 {
			return "redirect"
		}
		return ""
	})
	opts := defaultOptions()
	opts.BatchSize, opts.Concurrency = 10, 1
	sum, _, err := Load(context.Background(), loadJob(t, "../testdata/web/mapping.yaml", writeWebCSV(t, 100)), client(t, url), opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Outcome() != OutcomeAborted || !strings.Contains(sum.AbortReason, "redirects to http://127.0.0.1:1/") || sum.RowsInDoubt != 0 || sum.Retries != 0 {
		t.Errorf("exit %d (%q), %d in doubt, %d retries; want a stop naming the redirect, nothing in doubt or retried", sum.ExitCode, sum.AbortReason, sum.RowsInDoubt, sum.Retries)
	}
	if n := countEvents(t, e); n != 9 {
		t.Errorf("engine holds %d events, want 9 (the first call's, less its unknown participant)", n)
	}
}
