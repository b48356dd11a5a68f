package plot

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aiconform/aiconform/conformance/load"
)

// rect is a bar as drawn: its left edge, width, top and height.
type rect struct{ X, W, Y, H float64 }

func rects(t *testing.T, root node) ([]rect, []string) {
	t.Helper()
	var out []rect
	var titles []string
	for _, r := range root.all("bar") {
		out = append(out, rect{r.num(t, "x"), r.num(t, "width"), r.num(t, "y"), r.num(t, "height")})
		title := ""
		for _, c := range r.Nodes {
			if c.XMLName.Local == "title" {
				title = c.text()
			}
		}
		titles = append(titles, title)
	}
	return out, titles
}

func TestHistogramChart(t *testing.T) {
	w, h := float64(x1-x0), float64(y0-y1)
	tests := []struct {
		name    string
		buckets []load.Bucket
		xticks  []tick
		yticks  []tick
		bars    []rect
		titles  []string
	}{
		{
			name:    "log axis",
			buckets: []load.Bucket{{Low: 1, High: 2, Count: 3}, {Low: 2, High: 4, Count: 0}, {Low: 4, High: 8, Count: 6}},
			xticks:  []tick{{x0, "1"}, {x0 + w/3, "2"}, {x0 + w*math.Log(5)/math.Log(8), "5"}},
			yticks:  []tick{{y0, "0"}, {y0 - h/3, "2"}, {y0 - 2*h/3, "4"}, {y1, "6"}},
			bars:    []rect{{x0, w/3 - 1, y0 - h/2, h / 2}, {x0 + 2*w/3, w/3 - 1, y1, h}},
			titles:  []string{"1 to 2 ms: 3 queries", "4 to 8 ms: 6 queries"},
		},
		{
			name:    "one value",
			buckets: []load.Bucket{{Low: 5.003, High: 5.003, Count: 7}},
			xticks:  []tick{{(x0 + x1) / 2, "5.003"}},
			yticks:  []tick{{y0, "0"}, {y0 - h/4, "2"}, {y0 - h/2, "4"}, {y0 - 3*h/4, "6"}, {y1, "8"}},
			bars:    []rect{{(x0+x1)/2 - 30, 59, y0 - 7*h/8, 7 * h / 8}},
			titles:  []string{"5.003 to 5.003 ms: 7 queries"},
		},
		{
			name:    "one count",
			buckets: []load.Bucket{{Low: 0, High: 0, Count: 1}},
			xticks:  []tick{{(x0 + x1) / 2, "0"}},
			yticks:  []tick{{y0, "0"}, {y1, "1"}},
			bars:    []rect{{(x0+x1)/2 - 30, 59, y1, h}},
			titles:  []string{"0 to 0 ms: 1 queries"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := parse(t, HistogramChart{Title: "t", Desc: "d", Buckets: tt.buckets, Noun: "queries"}.SVG())
			if diff := cmp.Diff(tt.xticks, ticks(t, root, "xtick"), near); diff != "" {
				t.Errorf("x ticks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.yticks, ticks(t, root, "ytick"), near); diff != "" {
				t.Errorf("y ticks (-want +got):\n%s", diff)
			}
			bars, titles := rects(t, root)
			if diff := cmp.Diff(tt.bars, bars, near); diff != "" {
				t.Errorf("bars (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.titles, titles); diff != "" {
				t.Errorf("bar titles (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHistogramChartEmpty(t *testing.T) {
	for name, b := range map[string][]load.Bucket{
		"no buckets":  nil,
		"zero counts": {{Low: 1, High: 2}, {Low: 2, High: 4}},
	} {
		t.Run(name, func(t *testing.T) {
			root := parse(t, HistogramChart{Title: "t", Desc: "d", Buckets: b, Noun: "queries"}.SVG())
			if len(root.all("empty")) != 1 || len(root.all("bar")) != 0 {
				t.Error("an empty histogram does not say so, or draws bars")
			}
		})
	}
}
