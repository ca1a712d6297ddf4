package loader

import (
	"slices"
	"strings"
	"testing"
)

// TestSetRawOrder: a report's columns in the input's order read the
// crmload_raw texts as they are; the same names moved read them by name;
// other names refuse them.
func TestSetRawOrder(t *testing.T) {
	report := []string{"crmload_line", "crmload_request_id", "error_code", "error_description", "crmload_raw"}
	tests := []struct {
		name       string
		orig, cols []string
		want       []string // a raw row a,b,c in the report's order; nil: refused
	}{
		{"same order", []string{"x", "y", "z"}, []string{"x", "y", "z"}, []string{"a", "b", "c"}},
		{"not known", nil, []string{"x", "y", "z"}, []string{"a", "b", "c"}},
		{"moved", []string{"x", "y", "z"}, []string{"z", "x", "y"}, []string{"c", "a", "b"}},
		{"renamed", []string{"x", "y", "z"}, []string{"x", "y", "w"}, nil},
		{"one more", []string{"x", "y"}, []string{"x", "y", "z"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &csvSource{header: append(slices.Clone(tt.cols), report...), keep: len(tt.cols)}
			s.setRawOrder(tt.orig)
			if tt.want == nil {
				if s.rawErr == nil || !strings.Contains(s.rawErr.Error(), "columns "+strings.Join(tt.orig, ",")) {
					t.Fatalf("rawErr = %v, want a refusal naming the input's columns", s.rawErr)
				}
				return
			}
			if s.rawErr != nil {
				t.Fatalf("rawErr = %v", s.rawErr)
			}
			if got := s.inReportOrder([]string{"a", "b", "c"}); !slices.Equal(got, tt.want) {
				t.Errorf("inReportOrder = %q, want %q", got, tt.want)
			}
		})
	}
}
