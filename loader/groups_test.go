package loader

import (
	"testing"

	"github.com/crmload/crmload/mapping"
)

func TestSplitWatch(t *testing.T) {
	item := func(key string, filtered bool, lines ...int) mapping.Item {
		it := mapping.Item{Key: key, Filtered: filtered}
		for _, l := range lines {
			it.Records = append(it.Records, &mapping.Record{Line: l})
		}
		return it
	}
	type fileItems []mapping.Item
	tests := []struct {
		name  string
		files []fileItems
		want  int
	}{
		{"same key across the boundary", []fileItems{{item("A", false, 2, 3), item("B", false, 4, 5)}, {item("B", false, 2)}}, 1},
		{"other key", []fileItems{{item("A", false, 2)}, {item("B", false, 2)}}, 0},
		{"filtered rows do not hide it", []fileItems{{item("B", false, 4), item("B", true, 5)}, {item("B", true, 2), item("B", false, 3)}}, 1},
		{"an empty-key event between", []fileItems{{item("B", false, 4), item("", false, 5)}, {item("B", false, 2)}}, 0},
		{"an empty-key event first", []fileItems{{item("B", false, 4)}, {item("", false, 2), item("B", false, 3)}}, 0},
		{"an empty file between", []fileItems{{item("B", false, 4)}, {}, {item("B", false, 2)}}, 0},
		{"three files", []fileItems{{item("B", false, 4)}, {item("B", false, 2)}, {item("B", false, 2)}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := splitWatch{files: []string{"a.csv", "b.csv", "c.csv"}}
			for fi, items := range tt.files {
				for _, it := range items {
					w.see(fi, it)
				}
				w.endFile()
			}
			if len(w.warnings) != tt.want {
				t.Errorf("warnings = %q, want %d", w.warnings, tt.want)
			}
		})
	}
}
