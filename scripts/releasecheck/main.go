// Command releasecheck lists the files inside a release's archives
// (.tar.gz, .zip) and Linux packages (.deb, .rpm) in DIR (goreleaser's
// dist/), and fails unless each holds the binary, LICENSE and
// THIRD_PARTY_NOTICES.txt, and checksums.txt lists each of them.
//
//	go run ./scripts/releasecheck dist
package main

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

var want = []string{"LICENSE", "THIRD_PARTY_NOTICES.txt"}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: releasecheck DIST_DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "releasecheck:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	sums, err := os.ReadFile(filepath.Join(dir, "checksums.txt"))
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	kinds := map[string]int{}
	for _, e := range entries {
		name := e.Name()
		var list func(string) ([]string, error)
		switch {
		case strings.HasSuffix(name, ".tar.gz"):
			list = listTarGz
		case strings.HasSuffix(name, ".zip"):
			list = listZip
		case strings.HasSuffix(name, ".deb"):
			list = listDeb
		case strings.HasSuffix(name, ".rpm"):
			list = listRPM
		default:
			continue
		}
		kinds[path.Ext(name)]++
		files, err := list(filepath.Join(dir, name))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		fmt.Printf("%s:\n", name)
		base := map[string]bool{}
		for _, f := range files {
			fmt.Printf("  %s\n", f)
			base[path.Base(f)] = true
		}
		for _, w := range append(want, "crmload") {
			if !base[w] && !base[w+".exe"] {
				errs = append(errs, fmt.Errorf("%s lacks %s", name, w))
			}
		}
		if !bytes.Contains(sums, []byte("  "+name+"\n")) {
			errs = append(errs, fmt.Errorf("checksums.txt does not list %s", name))
		}
	}
	for _, ext := range []string{".gz", ".zip", ".deb", ".rpm"} {
		if kinds[ext] == 0 {
			errs = append(errs, fmt.Errorf("no %s in %s", ext, dir))
		}
	}
	return errors.Join(errs...)
}

func listTar(r io.Reader) ([]string, error) {
	var out []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeDir {
			out = append(out, strings.TrimPrefix(h.Name, "./"))
		}
	}
}

func listTarGz(p string) ([]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	return listTar(gz)
}

func listZip(p string) ([]string, error) {
	z, err := zip.OpenReader(p)
	if err != nil {
		return nil, err
	}
	defer z.Close()
	var out []string
	for _, f := range z.File {
		out = append(out, f.Name)
	}
	return out, nil
}

// listDeb reads a .deb: an ar archive whose data.tar.gz holds the files.
func listDeb(p string) ([]string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(b, []byte("!<arch>\n")) {
		return nil, errors.New("not an ar archive")
	}
	b = b[8:]
	for len(b) >= 60 {
		name := strings.TrimRight(strings.TrimSpace(string(b[:16])), "/")
		var size int
		fmt.Sscan(strings.TrimSpace(string(b[48:58])), &size)
		body := b[60 : 60+size]
		if name == "data.tar.gz" {
			gz, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				return nil, err
			}
			return listTar(gz)
		}
		if strings.HasPrefix(name, "data.tar") {
			return nil, fmt.Errorf("%s: only gzip is read here", name)
		}
		b = b[60+size+size%2:]
	}
	return nil, errors.New("no data.tar.gz")
}

// listRPM reads the file names from an .rpm's header (DIRNAMES,
// BASENAMES, DIRINDEXES), without its payload.
func listRPM(p string) ([]string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	if len(b) < 96 || !bytes.HasPrefix(b, []byte{0xed, 0xab, 0xee, 0xdb}) {
		return nil, errors.New("not an rpm")
	}
	off := 96
	// The signature header, padded to 8 bytes, then the main header.
	_, n, err := rpmHeader(b[off:])
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	off += (n + 7) &^ 7
	tags, _, err := rpmHeader(b[off:])
	if err != nil {
		return nil, err
	}
	dirs, bases, idx := tags[1118], tags[1117], tags[1116]
	var out []string
	for i, base := range bases {
		if i >= len(idx) {
			return nil, errors.New("DIRINDEXES shorter than BASENAMES")
		}
		d := binary.BigEndian.Uint32([]byte(idx[i]))
		if int(d) >= len(dirs) {
			return nil, errors.New("bad DIRINDEXES")
		}
		out = append(out, dirs[d]+base)
	}
	return out, nil
}

// rpmHeader reads a header structure: the string (array) tags, and int32
// arrays as 4-byte strings; n is its length in bytes.
func rpmHeader(b []byte) (tags map[uint32][]string, n int, err error) {
	if len(b) < 16 || !bytes.HasPrefix(b, []byte{0x8e, 0xad, 0xe8, 0x01}) {
		return nil, 0, errors.New("bad header magic")
	}
	count := int(binary.BigEndian.Uint32(b[8:12]))
	size := int(binary.BigEndian.Uint32(b[12:16]))
	if 16+count*16+size > len(b) {
		return nil, 0, errors.New("header runs past the file")
	}
	store := b[16+count*16 : 16+count*16+size]
	tags = map[uint32][]string{}
	for i := range count {
		e := b[16+i*16:]
		tag, typ := binary.BigEndian.Uint32(e[0:4]), binary.BigEndian.Uint32(e[4:8])
		o, c := int(binary.BigEndian.Uint32(e[8:12])), int(binary.BigEndian.Uint32(e[12:16]))
		if o > len(store) {
			return nil, 0, errors.New("bad offset")
		}
		switch typ {
		case 4: // INT32
			for j := range c {
				if o+4*j+4 > len(store) {
					return nil, 0, errors.New("bad int32 array")
				}
				tags[tag] = append(tags[tag], string(store[o+4*j:o+4*j+4]))
			}
		case 6, 8, 9: // STRING, STRING_ARRAY, I18NSTRING
			sc := bufio.NewScanner(bytes.NewReader(store[o:]))
			sc.Buffer(nil, len(store))
			sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
				if i := bytes.IndexByte(data, 0); i >= 0 {
					return i + 1, data[:i], nil
				}
				return 0, nil, io.ErrUnexpectedEOF
			})
			for j := 0; j < c && sc.Scan(); j++ {
				tags[tag] = append(tags[tag], sc.Text())
			}
		}
	}
	return tags, 16 + count*16 + size, nil
}
