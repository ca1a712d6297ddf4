package crm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
	b, err := json.Marshal(ev)
	if err != nil {
		// Events are plain data; Marshal fails only on a json.Number that
		// is not a number, which crm.Validate refuses first. A digest
		// that matches nothing is the safe answer.
		b = fmt.Appendf(nil, "unencodable: %v", err)
	}
	h := sha256.New()
	h.Write([]byte(k))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)[:16])
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
