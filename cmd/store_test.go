package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// TestReadOnlyStore is issue 17.7: events list and show read a store on a
// read-only filesystem (so a read-only file and directory too, even for
// root), and leave no -wal or -shm file. Needs a tmpfs it can remount
// read-only (root).
func TestReadOnlyStore(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); engine.TestReaderLeavesNoTrace covers the store's side", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	dir := t.TempDir()
	bin := crmloadBinary(t)
	reference, _ := filepath.Abs("../testdata/seed/reference.yaml")
	mapping, _ := filepath.Abs("../testdata/web/mapping.yaml")
	data, _ := filepath.Abs("../testdata/web/web.csv")
	db := filepath.Join(mnt, "crm.db")
	if out, err := exec.Command(bin, "--db", db, "engine", "seed", reference).CombinedOutput(); err != nil {
		t.Fatalf("seed: %v %s", err, out)
	}
	load := exec.Command(bin, "--db", db, "load", "--quiet", "-m", mapping, data)
	load.Dir = dir
	load.Run()
	if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot remount read-only: %v %s", err, out)
	}
	out, err := exec.Command(bin, "--db", db, "events", "list", "--format", "jsonl").CombinedOutput()
	if err != nil || strings.Count(string(out), `"id":`) == 0 {
		t.Fatalf("events list on a read-only filesystem: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "--db", db, "events", "show", "1").CombinedOutput(); err != nil {
		t.Errorf("events show on a read-only filesystem: %v\n%s", err, out)
	}
	for _, s := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(db + s); err == nil {
			t.Errorf("%s left behind", s)
		}
	}
	// Writing still says why it cannot.
	if out, err := exec.Command(bin, "--db", db, "events", "cancel", "1").CombinedOutput(); err == nil {
		t.Errorf("cancel on a read-only filesystem succeeded: %s", out)
	}
}

// TestNotAStoreExits2 is issue 17.8: another program's SQLite file as
// --db is named as such, exit 2, for readers and writers alike.
func TestNotAStoreExits2(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "other.db")
	c, err := sqlite.OpenConn(foreign, sqlite.OpenReadWrite|sqlite.OpenCreate)
	if err != nil {
		t.Fatal(err)
	}
	sqlitex.ExecuteScript(c, "CREATE TABLE notes (body TEXT);", nil)
	c.Close()
	mapping, _ := filepath.Abs("../testdata/web/mapping.yaml")
	data, _ := filepath.Abs("../testdata/web/web.csv")
	for _, args := range [][]string{
		{"events", "list"},
		{"events", "show", "1"},
		{"engine", "seed", "../testdata/seed/reference.yaml"},
		{"load", "--report-dir", filepath.Join(dir, "r"), "-m", mapping, data},
	} {
		io, _, errOut := Test()
		code := Run(context.Background(), io, append([]string{"--db", foreign}, args...))
		if code != ExitUsage || !strings.Contains(errOut.String(), foreign+" is not a crmload store") {
			t.Errorf("%v: exit %d, %s; want 2 and %q", args, code, errOut, "is not a crmload store")
		}
	}
}

// TestListIntoClosedPipe: events list | head ends quietly (exit 0) and
// closes the store, which removes the -wal and -shm its reading created:
// killed by SIGPIPE, it left them beside the store.
func TestListIntoClosedPipe(t *testing.T) {
	dir := t.TempDir()
	bin := crmloadBinary(t)
	db := filepath.Join(dir, "crm.db")
	var csv strings.Builder
	csv.WriteString("visit_id,account,url,when\n")
	for i := range 3000 {
		fmt.Fprintf(&csv, "V%d,ACR0000000077,www.crm.com/%d,2016-06-22 15:00\n", i, i)
	}
	data := filepath.Join(dir, "visits.csv")
	mapping := filepath.Join(dir, "m.yaml")
	os.WriteFile(data, []byte(csv.String()), 0o644)
	os.WriteFile(mapping, []byte("kind: web\nrequest_id: visit_id\nfields:\n  accounts_receivable_identifier: { number: account }\n"+
		"  performed_by_unit_identifier: { name: { const: Admin Unit } }\n  performed_on: when\n  website: url\n"), 0o644)
	reference, _ := filepath.Abs("../testdata/seed/reference.yaml")
	load := exec.Command(bin, "--db", db, "load", "--quiet", "--seed", reference, "--report-dir", filepath.Join(dir, "r"), "-m", mapping, data)
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("load: %v %s", err, out)
	}
	list := exec.Command(bin, "--db", db, "events", "list")
	out, err := list.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	list.Stderr = &stderr
	if err := list.Start(); err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 100)
	if _, err := io.ReadFull(out, first); err != nil {
		t.Fatal(err)
	}
	out.Close() // as head does after its lines: 3000 events are more than a pipe holds
	if err := list.Wait(); err != nil {
		t.Errorf("events list into a closed pipe: %v %s", err, stderr.String())
	}
	for _, s := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(db + s); err == nil {
			t.Errorf("events list into a closed pipe left %s", s)
		}
	}
}
