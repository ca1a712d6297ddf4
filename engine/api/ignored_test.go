package api

import (
	"fmt"
	"testing"
)

// TestIgnoredNames: the header names each ignored name once whatever the
// event it came in, at most maxIgnoredNamed, then counts.
func TestIgnoredNames(t *testing.T) {
	var ig ignoredNames
	for i := range 3 {
		ig.add(fmt.Sprintf("web_customer_events_set[%d].Website", i))
	}
	for i := range 24 {
		ig.add(fmt.Sprintf("x%d", i))
	}
	want := "web_customer_events_set[0].Website, x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15, x16, x17, x18, (5 more)"
	if got := ig.header(); got != want {
		t.Errorf("header() = %q\nwant %q", got, want)
	}
}
