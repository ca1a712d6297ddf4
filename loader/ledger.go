package loader

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/gofrs/flock"
)

// InputInfo is what a run records of an input when it starts: its size,
// modification time and content hash. The end of the read is checked
// against it (a file still being written), a resume checks the file is
// the one the run started on, and the ledger knows an input by its hash.
type InputInfo struct {
	Path     string    `json:"path"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	SHA256   string    `json:"sha256"` // of the file's bytes
	// Content is the SHA-256 of a gzip input's decompressed bytes (empty
	// for other inputs, and for a gzip input that does not decompress to
	// its end: the load reports where it is damaged). The ledger knows a
	// compressed input by what it holds, not by how it was compressed.
	Content string `json:"content_sha256,omitempty"`

	// noRows: the input holds no row (see noRows), so stores nothing.
	noRows bool
}

// claims are the ledger claims of the input, made from base: one keyed by
// its content (a gzip input's decompressed bytes, the same key as the
// plain file's), and for a gzip input one by its compressed bytes too, the
// key an earlier release claimed it by, so that a file loaded by that
// release is still refused.
func (info InputInfo) claims(base Claim) []Claim {
	base.Size, base.Name, base.modified, base.noRows = info.Size, info.Path, info.Modified, info.noRows
	if info.Content == "" {
		base.Hash = info.SHA256
		return []Claim{base}
	}
	raw := base
	base.Hash, raw.Hash = info.Content, info.SHA256
	return []Claim{base, raw}
}

// emptySHA256 is the SHA-256 of no bytes.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// contentKey is what the ledger knows an input's rows by: a gzip input's
// decompressed bytes, else the file's.
func (info InputInfo) contentKey() string {
	if info.Content != "" {
		return info.Content
	}
	return info.SHA256
}

// sameContentTwice refuses a run given the same rows twice for one kind
// (the same file named twice, or a copy of it; inputs without rows
// aside): every row would be stored twice, the ledger claiming each input
// apart (`load a.csv a.csv` stored 2,000 events of a 1,000-row file).
func sameContentTwice(infos []InputInfo, kind string) error {
	seen := map[string]string{}
	for _, in := range infos {
		if in.Size == 0 || in.contentKey() == emptySHA256 || in.noRows {
			continue // no rows (an empty .gz, a header alone)
		}
		if first, ok := seen[in.contentKey()]; ok {
			if first == in.Path {
				return fmt.Errorf("%s is given twice (%s): its rows would be stored twice; give each input once", in.Path, kind)
			}
			return fmt.Errorf("%s has the same content as %s (%s): its rows would be stored twice; give one of them", in.Path, first, kind)
		}
		seen[in.contentKey()] = in.Path
	}
	return nil
}

// isGzip reports whether the input at path is read through gzip.
func isGzip(path string) bool { return strings.EqualFold(filepath.Ext(path), ".gz") }

// fingerprint stats and hashes the file at path. The hash covers the
// size stat gave, so that a file growing meanwhile hashes the bytes
// the size names.
func fingerprint(path string) (InputInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return InputInfo{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return InputInfo{}, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return InputInfo{}, err
	}
	info := InputInfo{Path: abs, Size: fi.Size(), Modified: fi.ModTime().UTC()}
	if !isGzip(path) {
		if info.SHA256, err = hashPrefix(f, info.Size); err != nil {
			return InputInfo{}, fmt.Errorf("read %s: %w", path, err)
		}
		return info, nil
	}
	// One read for both hashes: the file's bytes, and what they
	// decompress to.
	raw, content := sha256.New(), sha256.New()
	counter := &countingReader{r: io.LimitReader(f, info.Size)}
	r := io.TeeReader(counter, raw)
	if zr, zerr := gzip.NewReader(bufio.NewReaderSize(r, 64<<10)); zerr == nil {
		if _, zerr = io.Copy(content, zr); zerr == nil {
			info.Content = hex.EncodeToString(content.Sum(nil))
		}
	}
	// The rest of the file (past a damaged member, say) for the raw hash;
	// a read error of the file itself is the fingerprint's.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return InputInfo{}, fmt.Errorf("read %s: %w", path, err)
	}
	if n := counter.n.Load(); n < info.Size {
		return InputInfo{}, fmt.Errorf("read %s: %w (%d of its %d bytes)", path, io.ErrUnexpectedEOF, n, info.Size)
	}
	info.SHA256 = hex.EncodeToString(raw.Sum(nil))
	return info, nil
}

// statInput is an input's path, size and modification time, unhashed.
func statInput(path string) (InputInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return InputInfo{}, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return InputInfo{}, err
	}
	return InputInfo{Path: abs, Size: fi.Size(), Modified: fi.ModTime().UTC()}, nil
}

func hashPrefix(r io.Reader, n int64) (string, error) {
	h := sha256.New()
	if _, err := io.CopyN(h, r, n); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// changed says how the file at path differs from what info recorded (size
// or modification time), or "" when it does not.
func (info InputInfo) changed(path string) string {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return err.Error()
	case fi.Size() != info.Size:
		return fmt.Sprintf("it was %d bytes when the run started and is %d bytes now", info.Size, fi.Size())
	case !fi.ModTime().UTC().Equal(info.Modified):
		return fmt.Sprintf("it was modified at %s, after the run started", fi.ModTime().UTC().Format(time.RFC3339))
	}
	return ""
}

// sameStart checks that the file at path still begins with the bytes
// info hashed: the same file, or the same file with rows appended since
// (grown reports true). A resume continues only such a file.
func (info InputInfo) sameStart(path string) (grown bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	if fi.Size() >= info.Size {
		if sum, err := hashPrefix(f, info.Size); err == nil && sum == info.SHA256 {
			return fi.Size() > info.Size, nil
		}
	}
	return false, fmt.Errorf("%s changed since the run started (it was %d bytes with SHA-256 %.12s…, now %d bytes with other content): "+
		"a resume continues only the input it started on. Put the file back as it was and resume (correct the rows that fail with crmload retry: its failed.csv can be edited); "+
		"do not load the changed file whole in a new run: the rows the run stored already (its succeeded.csv) would be stored again", path, info.Size, info.SHA256, fi.Size())
}

// Ledger states of a claimed input.
const (
	ClaimLoading = "loading"
	ClaimLoaded  = "loaded"
	ClaimStopped = "stopped"
)

// Claim is an entry of a ledger of loaded inputs: a run claimed an input's
// content before sending anything.
type Claim struct {
	Hash      string    `json:"hash"`
	Size      int64     `json:"size"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	Engine    string    `json:"engine,omitempty"` // file ledgers: the remote engine
	Run       string    `json:"run"`
	RunDir    string    `json:"run_dir"`
	StartedAt time.Time `json:"started_at"`
	State     string    `json:"state"`
	Again     bool      `json:"again,omitempty"`

	modified time.Time // of the input, for the summary
	noRows   bool      // the input holds no row: an earlier claim of it is no conflict
}

// Ledger records which inputs were loaded into an engine, so that the same
// export is not loaded twice by mistake. The embedded engine's store keeps
// one; for a remote engine, a FileLedger beside the report directories.
type Ledger interface {
	// ClaimInputs records that the run of claims loads their inputs,
	// unless another run claimed the same content before: then it
	// records nothing and returns the earlier claims. With again it
	// records them anyway and returns nothing.
	ClaimInputs(ctx context.Context, claims []Claim, again bool) ([]Claim, error)
	// FinishInputs sets the state of run's claims.
	FinishInputs(ctx context.Context, run, state string) error
}

// AlreadyLoadedError refuses an input another run loaded (or is loading).
type AlreadyLoadedError struct {
	Earlier []Claim
	Where   string            // "this store", or the ledger file
	Given   map[string]string // hash -> the input given now, when its name differs
}

func (e *AlreadyLoadedError) Error() string {
	var b strings.Builder
	none := 0 // earlier runs known to have stored nothing
	for i, c := range e.Earlier {
		if i > 0 {
			b.WriteString("; ")
		}
		at := c.StartedAt.UTC().Format(time.RFC3339)
		// The subject: the input given now, and the earlier one when its
		// name differs (a renamed copy).
		if given := e.Given[c.Hash]; given != "" && given != c.Name {
			fmt.Fprintf(&b, "%s has the same content as %s (%s), which", given, c.Name, c.Kind)
		} else {
			fmt.Fprintf(&b, "%s (same content, %s)", c.Name, c.Kind)
		}
		switch {
		case c.State == ClaimLoading && running(c.RunDir):
			fmt.Fprintf(&b, " is being loaded into %s by run %s (%s, started %s)", e.Where, c.Run, c.RunDir, at)
		case c.State == ClaimLoading && !dirHere(c.RunDir) && !finishedHere(c.RunDir):
			// A claim of another machine (a shared store's ledger): its
			// lock cannot be seen from here.
			fmt.Fprintf(&b, " is being loaded into %s by run %s (%s, started %s), or stopped part-way: its run directory is not on this machine; if it stopped, continue it there with crmload load --resume %s", e.Where, c.Run, c.RunDir, at, resumeTarget(c.RunDir))
		case (c.State == ClaimLoading || c.State == ClaimStopped) && !finishedHere(c.RunDir):
			// Stopped, or its process died (nobody holds its lock). A
			// run whose summary says it finished did, whatever the
			// ledger could not record at its end.
			fmt.Fprintf(&b, " was loaded into %s by run %s (started %s), which stopped part-way: continue it with crmload load --resume %s", e.Where, c.Run, at, resumeTarget(c.RunDir))
		case storedNothing(c.RunDir):
			fmt.Fprintf(&b, " was read by run %s (%s, started %s, finished), which stored none of its rows: every one failed", c.Run, c.RunDir, at)
			none++
		default:
			fmt.Fprintf(&b, " was loaded into %s by run %s (%s, started %s, finished)", e.Where, c.Run, c.RunDir, at)
		}
	}
	if none == len(e.Earlier) {
		// Nothing of it is stored: loading it again is safe, and what a
		// fixed mapping (a wrong encoding, a wrong column) needs.
		var retries []string // one per run: a run may claim an input twice (a .gz: its bytes and its content)
		for _, c := range e.Earlier {
			if r := "crmload retry " + c.RunDir; !slices.Contains(retries, r) {
				retries = append(retries, r)
			}
		}
		fmt.Fprintf(&b, "; to load it again (with the cause fixed), give --again; or load only the failed rows: %s", strings.Join(retries, "; "))
		return b.String()
	}
	b.WriteString("; loading it again would store its events twice: give --again to load it anyway")
	return b.String()
}

// finishedHere reports whether the run in dir, on this machine, finished
// (its summary says exit 0 or 1): its own record is the word on it when
// the ledger could not be told (an outage at the run's very end).
func finishedHere(dir string) bool {
	sum, err := RunDir(dir).Summary()
	return err == nil && (sum.Outcome() == OutcomeOK || sum.Outcome() == OutcomeRowsFailed)
}

// storedNothing reports whether the finished run in dir, on this machine,
// is known to have stored none of its rows: its summary counts no stored
// row in any attempt, and no retry took its failed rows (a retry may
// have stored them).
func storedNothing(dir string) bool {
	d := RunDir(dir)
	sum, err := d.Summary()
	if err != nil || sum.DryRun || sum.Kind == "job" {
		return false
	}
	if by, _ := d.RetriedBy(); by != "" {
		return false
	}
	return sum.RowsFailedInAll() > 0 && sum.RowsSucceeded == 0 && sum.EventsSucceeded == 0 && sum.RowsSucceededEarlier == 0 &&
		sum.RowsInDoubt == 0 && sum.RowsResumed == sum.RowsFailedEarlier
}

// dirHere reports whether dir is a directory on this machine.
func dirHere(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.IsDir()
}

// FileLedger is a ledger in a JSON-lines file, for engines whose store the
// client cannot see (a remote CRM.COM). Processes share it under a file
// lock. Engine tells apart claims of different engines in one file.
type FileLedger struct{ Path, Engine string }

// LedgerFileName is the file ledger's name in a report directory (hidden,
// so that the newest run is still `ls reports | tail -1`).
const LedgerFileName = ".ledger.jsonl"

// ledgerLine is a claim, or a state change of a run's claims.
type ledgerLine struct {
	Claim
	Finished time.Time `json:"finished_at,omitzero"`
}

func (l FileLedger) locked(fn func(f *os.File) error) error {
	if err := os.MkdirAll(filepath.Dir(l.Path), 0o755); err != nil {
		return err
	}
	lk := flock.New(l.Path + ".lock")
	if err := lk.Lock(); err != nil {
		return fmt.Errorf("lock %s: %w", l.Path, err)
	}
	defer lk.Unlock()
	f, err := os.OpenFile(l.Path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	return fn(f)
}

// ClaimInputs implements Ledger.
func (l FileLedger) ClaimInputs(ctx context.Context, claims []Claim, again bool) (earlier []Claim, err error) {
	err = l.locked(func(f *os.File) error {
		byRun := map[string]*Claim{} // hash+run -> claim, with its latest state
		var order []string
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var ln ledgerLine
			if json.Unmarshal(sc.Bytes(), &ln) != nil {
				continue // a torn line of a crashed writer
			}
			if ln.Hash == "" { // a state change of a whole run
				for _, c := range byRun {
					if c.Run == ln.Run {
						c.State = ln.State
					}
				}
				continue
			}
			k := ln.Hash + "\x00" + ln.Run
			if _, ok := byRun[k]; !ok {
				order = append(order, k)
			}
			c := ln.Claim
			byRun[k] = &c
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("read %s: %w", l.Path, err)
		}
		for _, cl := range claims {
			for _, k := range order {
				if c := byRun[k]; c.Hash == cl.Hash && crm.ClaimKindsOverlap(c.Kind, cl.Kind) && c.Engine == l.Engine && c.Run != cl.Run {
					earlier = append(earlier, *c)
				}
			}
		}
		if len(earlier) > 0 && !again {
			return nil
		}
		var buf bytes.Buffer
		for _, cl := range claims {
			cl.State, cl.Again, cl.Engine = ClaimLoading, again && len(earlier) > 0, l.Engine
			b, err := json.Marshal(ledgerLine{Claim: cl})
			if err != nil {
				return err
			}
			buf.Write(b)
			buf.WriteByte('\n')
		}
		_, err := f.Write(buf.Bytes())
		return err
	})
	if err != nil || again {
		return nil, err
	}
	return earlier, nil
}

// FinishInputs implements Ledger.
func (l FileLedger) FinishInputs(ctx context.Context, run, state string) error {
	return l.locked(func(f *os.File) error {
		b, err := json.Marshal(ledgerLine{Claim: Claim{Run: run, State: state}, Finished: time.Now().UTC()})
		if err != nil {
			return err
		}
		_, err = f.Write(append(b, '\n'))
		return err
	})
}
