package crm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/zeebo/xxh3"
)

// CodeReceiptConflict is the error of an event sent with the load receipt
// (run and row key) of an event stored earlier from different content: the
// earlier event is kept and this one is not stored. A crmload extension.
const CodeReceiptConflict = "LoadReceiptConflictException"

// Digest is the fingerprint of an event of kind k, kept with its load
// receipt: a call that presents a stored receipt with other content is a
// conflict, never the stored event's success. It is digestTag and the
// XXH3-128 of the kind, a zero byte and the event's wire form, in hex (34
// characters), so a client and a server that decode the same wire form
// compute the same digest. XXH3 is not a cryptographic hash: the digest
// tells a changed row from the row stored (a chance of 2^-128 to miss
// one), not a forgery from the content it imitates; a receipt belongs to
// its run, whose caller made both.
//
// Earlier releases kept the first 16 bytes of a SHA-256 instead (32
// characters); DigestMatches still matches those.
func Digest(k Kind, ev *Event) string {
	bp := digestBufs.Get().(*[]byte)
	var out [2 * digestLen]byte
	encodeDigest(out[:], xxh3.Hash128(wireForm(bp, k, ev)))
	digestBufs.Put(bp)
	return string(out[:])
}

// Digests returns Digest(k, &events[i]) for each event. The digests share
// one string.
func Digests(k Kind, events []Event) []string {
	bp := digestBufs.Get().(*[]byte)
	hexes := make([]byte, 2*digestLen*len(events))
	for i := range events {
		encodeDigest(hexes[2*digestLen*i:], xxh3.Hash128(wireForm(bp, k, &events[i])))
	}
	digestBufs.Put(bp)
	all := string(hexes)
	out := make([]string, len(events))
	for i := range out {
		out[i] = all[2*digestLen*i : 2*digestLen*(i+1)]
	}
	return out
}

// DigestMatches reports whether stored, the digest kept with a receipt,
// is the digest of the event ev of kind k, whose Digest is d: stored is
// d, a digest of an earlier release computed from the same content, or
// empty (a receipt kept before digests were). Without ev, an earlier
// release's digest matches nothing.
func DigestMatches(stored, d string, k Kind, ev *Event) bool {
	switch len(stored) {
	case 0:
		return true
	case 2 * legacyDigestLen:
		return ev != nil && stored == legacyDigest(k, ev)
	}
	return stored == d
}

// digestTag opens a digest (its first byte), so that a later change of
// hash can tell its digests from these.
const digestTag = 0x02

// digestLen is a digest's bytes: the tag and the 16 bytes of XXH3-128.
const digestLen = 1 + 16

// encodeDigest writes the hex digest of sum into dst.
func encodeDigest(dst []byte, sum xxh3.Uint128) {
	b := sum.Bytes()
	hex.Encode(dst, []byte{digestTag})
	hex.Encode(dst[2:], b[:])
}

// legacyDigestLen is the bytes of the digests of earlier releases:
// the first 16 bytes of the SHA-256 of what Digest hashes.
const legacyDigestLen = 16

// legacyDigest is the digest earlier releases kept for ev.
func legacyDigest(k Kind, ev *Event) string {
	bp := digestBufs.Get().(*[]byte)
	sum := sha256.Sum256(wireForm(bp, k, ev))
	digestBufs.Put(bp)
	return hex.EncodeToString(sum[:legacyDigestLen])
}

// wireForm writes k, a zero byte and ev's wire form in *bp (which it may
// grow) and returns them.
func wireForm(bp *[]byte, k Kind, ev *Event) []byte {
	b := append((*bp)[:0], k...)
	b = append(b, 0)
	b, ok := appendEvent(b, ev)
	if !ok {
		b = append(b[:len(k)+1], marshalForDigest(ev)...)
	}
	if cap(b) <= 64<<10 {
		*bp = b
	}
	return b
}

// digestBufs holds the buffers Digest writes wire forms into.
var digestBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// marshalForDigest is an event's wire form as json.Marshal writes it, for
// the events appendEvent does not write (json.Marshal fails on them).
func marshalForDigest(ev *Event) []byte {
	b, err := json.Marshal(ev)
	if err != nil {
		// Events are plain data; Marshal fails only on a json.Number that
		// is not a number, which crm.Validate refuses first. A digest
		// that matches nothing is the safe answer.
		b = fmt.Appendf(nil, "unencodable: %v", err)
	}
	return b
}

// ReceiptConflict is the error for key, stored by run from other content.
func ReceiptConflict(run, key string) *Error {
	return &Error{
		Code:    CodeReceiptConflict,
		Message: fmt.Sprintf("Load receipt (%s, %s) belongs to another customer event", run, key),
		Reason: "A customer event was stored earlier under the same load run and row key from different content; " +
			"the earlier event is kept and this one was not stored.",
	}
}
