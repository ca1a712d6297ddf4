package crm

import (
	"strconv"
	"strings"
)

// HeaderFound is the answer header in which engine serve names the
// events of a bulk call it found stored with their load receipts rather
// than created (BulkResult.Found): positions in the call, as ranges
// ("0-499,731").
const HeaderFound = "X-Crmload-Found"

// FormatFound writes found, increasing positions, as HeaderFound's ranges.
func FormatFound(found []int) string {
	var b strings.Builder
	for i := 0; i < len(found); {
		j := i
		for j+1 < len(found) && found[j+1] == found[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(found[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(found[j]))
		}
		i = j + 1
	}
	return b.String()
}

// ParseFound reads HeaderFound's ranges for a call of n events: the
// positions, increasing, or nil when s is empty or not of that form (a
// position out of the call, out of order, twice): the events are then
// taken as created, as from a server that does not say.
func ParseFound(s string, n int) []int {
	if s == "" {
		return nil
	}
	var found []int
	next := 0 // the least position the next range may start at
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil || first < next || strings.HasPrefix(lo, "+") {
			return nil
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil || last <= first || strings.HasPrefix(hi, "+") {
				return nil
			}
		}
		if last >= n {
			return nil
		}
		for p := first; p <= last; p++ {
			found = append(found, p)
		}
		next = last + 1
	}
	return found
}

// bulkEvents is the number of events of body when it is a bulk request.
func bulkEvents(body any) int {
	switch req := body.(type) {
	case BulkRequest:
		return len(req.Events)
	case *BulkRequest:
		return len(req.Events)
	}
	return 0
}
