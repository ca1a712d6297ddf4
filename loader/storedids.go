package loader

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"hash/maphash"
)

// addStored makes the rows stored by the runs up the retry chain of the
// report at path (a failed.* or in_doubt.* in its run directory, loaded
// again by a retry or with -m) earlier rows of this file: they were the
// rows before it in the input those runs read. A row of the report with
// the request id of one of them is a row with the id of an earlier row,
// warned about or failed as --on-duplicate-request-id says, as the first
// run did; read alone, its twin was not in the file, and a retry stored
// it as a second event under --on-duplicate-request-id fail. A report of
// the chain that cannot be read is an error, for the summary's warnings.
func (d *dupWatch) addStored(path string, opts SourceOptions) error {
	base := filepath.Base(path)
	if d.first == nil || !strings.HasPrefix(base, FailedReport+".") && !strings.HasPrefix(base, InDoubtReport+".") {
		return nil
	}
	dir := reportRunDir(path)
	opts.Format, opts.Encoding, opts.Comment = "", "", "" // reports are UTF-8, with no comment lines
	for range 1000 {                                      // a chain is short; a loop of links is not followed forever
		if !dir.HasRunFile() {
			return nil
		}
		if s, err := dir.Summary(); err == nil && s.DryRun {
			// A rehearsal stored nothing: its succeeded rows were rolled
			// back.
		} else if p := dir.Report(SucceededReport); p != "" {
			if err := d.addStoredBy(p, filepath.Base(string(dir)), opts); err != nil {
				return fmt.Errorf("%s: the request ids of the rows %s stored could not be read (%v): rows with one of them are not told apart", path, p, err)
			}
		}
		up := dir.RetryOf()
		if up == "" {
			return nil
		}
		dir = RunDir(up)
	}
	return nil
}

// addStoredBy adds the request ids of a succeeded report, read with the
// delimiter its run wrote it with.
func (d *dupWatch) addStoredBy(report, run string, opts SourceOptions) error {
	if delim := reportDelimiter(report); delim != "" {
		opts.Delimiter = delim
	}
	src, err := Open(report, opts)
	if err != nil {
		return err
	}
	defer src.Close()
	col := -1
	if h := src.Header(); h != nil {
		if col = len(h) - reportTail(h) + 1; col >= len(h) || !strings.HasSuffix(h[col], succeededColumns[1]) {
			return fmt.Errorf("no %s column", succeededColumns[1])
		}
	}
	if d.stored == nil {
		d.stored = newIDShards()
	}
	k := len(d.storedBy)
	d.storedBy = append(d.storedBy, run)
	for {
		rec, err := src.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var id string
		switch {
		case rec.Err != nil || rec.Comment:
			continue
		case col >= 0 && col < len(rec.Values):
			id = rec.Values[col]
		case col < 0:
			id, _ = rec.Object[succeededColumns[1]].(string)
		}
		if id != "" {
			d.stored.add(maphash.String(d.seed, id), k)
		}
	}
}
