package cmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/engine"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"crmload": func() { os.Exit(Main()) },
	})
}

// TestScripts runs the end-to-end scripts in testdata/script: each is a
// user's session with the crmload binary.
func TestScripts(t *testing.T) {
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
