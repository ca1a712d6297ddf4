package cmd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
	"github.com/crmload/crmload/internal/pgtest"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(pgtest.After(processTests{m}), map[string]func(){
		"crmload": func() { os.Exit(Main()) },
	})
}

// processTests runs the package's tests, more of them at once than the
// default (GOMAXPROCS) unless -parallel is given: its parallel tests wait
// on crmload processes and the disk, not on the CPU. Then it removes the
// crmload binary they shared.
type processTests struct{ m *testing.M }

func (p processTests) Run() int {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		flag.Set("test.parallel", strconv.Itoa(max(4, 2*runtime.GOMAXPROCS(0))))
	}
	code := p.m.Run()
	if binary.path != "" {
		os.RemoveAll(filepath.Dir(binary.path))
	}
	return code
}

// TestScripts runs the end-to-end scripts in testdata/script: each is a
// user's session with the crmload binary.
func TestScripts(t *testing.T) {
	t.Parallel() // each script in its own directory, with its own environment
	testdata, err := filepath.Abs("../testdata")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("TESTDATA", testdata)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"createevents": cmdCreateEvents,
			"waitfile":     cmdWaitFile,
			"samereports":  cmdSameReports,
			"gencert":      cmdGenCert,
			"genvisits":    cmdGenVisits,
		},
	})
}

// cmdCreateEvents stores the events of a bulk request body in an engine
// store, as a load would, so that scripts can list, show and cancel them
// before the load command exists in their story:
//
//	createevents DB KIND REQUEST.json
func cmdCreateEvents(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: createevents DB KIND REQUEST.json")
	}
	kind, err := crm.ParseKind(args[1])
	ts.Check(err)
	body, err := os.ReadFile(ts.MkAbs(args[2]))
	ts.Check(err)
	req, err := crm.DecodeBulkRequest(kind, body)
	ts.Check(err)
	ctx := context.Background()
	e, err := engine.Open(ctx, ts.MkAbs(args[0]))
	ts.Check(err)
	defer e.Close()
	res, err := e.CreateEvents(ctx, *req)
	if neg {
		if err == nil {
			ts.Fatalf("createevents succeeded, want a call-level error")
		}
		return
	}
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "processed %d unprocessed %d\n", len(res.Processed), len(res.Unprocessed))
}

// cmdWaitFile waits (up to 10 s) until a file exists and is not empty:
// a server in the background writes its URL there once it listens.
//
//	waitfile FILE
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waitfile FILE")
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(ts.MkAbs(args[0])); err == nil && len(b) > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("%s did not appear in 10 s", args[0])
}

// cmdSameReports compares the reports of two run directories: the same
// rows, in any order, with ids and numbers left out.
//
//	samereports RUN_DIR_A RUN_DIR_B   (or report directories of one run each)
func cmdSameReports(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: samereports RUN_DIR_A RUN_DIR_B")
	}
	norm := func(dir string) string {
		// A report directory with a single run stands for that run.
		if runs, _ := filepath.Glob(filepath.Join(ts.MkAbs(dir), "*", "summary.json")); len(runs) == 1 {
			dir = filepath.Dir(runs[0])
		}
		var out []string
		for _, name := range []string{"succeeded.csv", "failed.csv", "succeeded.jsonl", "failed.jsonl"} {
			b, err := os.ReadFile(filepath.Join(ts.MkAbs(dir), name))
			if err != nil {
				continue
			}
			b = regexp.MustCompile(`[0-9A-F]{32},\d+`).ReplaceAll(b, []byte("ID,N"))
			b = regexp.MustCompile(`"crm_id":"[0-9A-F]{32}","crm_number":"\d+"`).ReplaceAll(b, []byte(`"crm_id":"ID","crm_number":"N"`))
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			sort.Strings(lines)
			out = append(out, name+"\n"+strings.Join(lines, "\n"))
		}
		return strings.Join(out, "\n")
	}
	a, b := norm(args[0]), norm(args[1])
	if (a == b) == neg {
		ts.Fatalf("reports of %s and %s differ:\n%s\n---\n%s", args[0], args[1], a, b)
	}
}

// cmdGenCert writes a self-signed certificate for 127.0.0.1 and its key,
// for a server started with --tls-cert and --tls-key; the certificate is
// also the CA file a client trusts it with.
//
//	gencert CERT.pem KEY.pem
func cmdGenCert(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: gencert CERT.pem KEY.pem")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ts.Check(err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "crmload test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	ts.Check(err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
}

// cmdGenVisits writes N web visits in CSV for the sample web mapping;
// every tenth names an unknown participant (so fails).
//
//	genvisits FILE N
func cmdGenVisits(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: genvisits FILE N")
	}
	var n int
	if _, err := fmt.Sscan(args[1], &n); err != nil {
		ts.Fatalf("genvisits: N: %v", err)
	}
	var b strings.Builder
	b.WriteString("visit_id,participant,site,visited_on\n")
	for i := range n {
		p := "RP0000000010"
		if i%10 == 9 {
			p = "RP9999999999"
		}
		fmt.Fprintf(&b, "v%d,%s,www.crm.com/%d,2016-06-22 15:00\n", i, p, i)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(b.String()), 0o644))
}
