package crm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
)

// CodeReceiptConflict is the error of an event sent with the load receipt
// (run and row key) of an event stored earlier from different content: the
// earlier event is kept and this one is not stored. A crmload extension.
const CodeReceiptConflict = "LoadReceiptConflictException"

// Digest is the fingerprint of an event of kind k, kept with its load
// receipt: a call that presents a stored receipt with other content is a
// conflict, never the stored event's success. It is the hex SHA-256 (first
// 16 bytes) of the kind and the event's wire form, so a client and a server
// that decode the same wire form compute the same digest.
func Digest(k Kind, ev *Event) string {
	bp := digestBufs.Get().(*[]byte)
	sum := digest(bp, k, ev)
	digestBufs.Put(bp)
	return hex.EncodeToString(sum[:16])
}

// Digests returns Digest(k, &events[i]) for each event. The digests share
// one string.
func Digests(k Kind, events []Event) []string {
	bp := digestBufs.Get().(*[]byte)
	hexes := make([]byte, 2*digestSize*len(events))
	for i := range events {
		sum := digest(bp, k, &events[i])
		hex.Encode(hexes[2*digestSize*i:], sum[:digestSize])
	}
	digestBufs.Put(bp)
	all := string(hexes)
	out := make([]string, len(events))
	for i := range out {
		out[i] = all[2*digestSize*i : 2*digestSize*(i+1)]
	}
	return out
}

// digestSize is the bytes of the SHA-256 a digest keeps.
const digestSize = 16

// digest is the SHA-256 of k, a zero byte and ev's wire form, written in
// *bp (which it may grow).
func digest(bp *[]byte, k Kind, ev *Event) [sha256.Size]byte {
	b := append((*bp)[:0], k...)
	b = append(b, 0)
	b, ok := appendEvent(b, ev)
	if !ok {
		b = append(b[:len(k)+1], marshalForDigest(ev)...)
	}
	if cap(b) <= 64<<10 {
		*bp = b
	}
	return sha256.Sum256(b)
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
