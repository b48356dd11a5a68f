package plot

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aiconform/aiconform/conformance/load"
)

func TestPercentileX(t *testing.T) {
	tests := []struct {
		p, want float64
	}{
		{0, 0}, {0.5, math.Log10(2)}, {0.9, 1}, {0.99, 2}, {0.999, 3}, {0.9999, 4},
	}
	for _, tt := range tests {
		if got := percentileX(tt.p); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("percentileX(%g) = %g, want %g", tt.p, got, tt.want)
		}
	}
	if !math.IsInf(percentileX(1), 1) {
		t.Errorf("percentileX(1) = %g, want +Inf", percentileX(1))
	}
}

func TestPercentileLabel(t *testing.T) {
	want := []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"}
	for k, w := range want {
		if got := percentileLabel(k); got != w {
			t.Errorf("percentileLabel(%d) = %q, want %q", k, got, w)
		}
	}
}

// points parses the points attribute of a polyline.
func points(t *testing.T, e node) [][2]float64 {
	t.Helper()
	var out [][2]float64
	for _, pt := range strings.Fields(e.attr("points")) {
		x, y, ok := strings.Cut(pt, ",")
		if !ok {
			t.Fatalf("point %q", pt)
		}
		xf, err1 := strconv.ParseFloat(x, 64)
		yf, err2 := strconv.ParseFloat(y, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("point %q", pt)
		}
		out = append(out, [2]float64{xf, yf})
	}
	return out
}

// near compares coordinates to the 0.1 the SVG writes.
var near = cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= 0.051 })

func TestPercentileChartAxes(t *testing.T) {
	w, h := float64(x1-x0), float64(y0-y1)
	tests := []struct {
		name   string
		points []load.CurvePoint
		xticks []tick
		yticks []tick
		curve  [][2]float64
	}{
		{
			name:   "three nines",
			points: pairs(0, 1, 0.9, 10, 0.99, 100, 0.999, 1000, 1, 1000),
			xticks: []tick{{x0, "0%"}, {x0 + w/3, "90%"}, {x0 + 2*w/3, "99%"}, {x1, "99.9%"}},
			yticks: []tick{{y0, "1"}, {y0 - h/3, "10"}, {y0 - 2*h/3, "100"}, {y1, "1000"}},
			curve:  [][2]float64{{x0, y0}, {x0 + w/3, y0 - h/3}, {x0 + 2*w/3, y0 - 2*h/3}, {x1, y1}, {x1, y1}},
		},
		{
			name:   "at least two decades",
			points: pairs(0, 1, 0.5, 10, 1, 10),
			xticks: []tick{{x0, "0%"}, {x0 + w/2, "90%"}, {x1, "99%"}},
			yticks: []tick{{y0, "1"}, {y0 - h*math.Log10(2), "2"}, {y0 - h*math.Log10(5), "5"}, {y1, "10"}},
			curve:  [][2]float64{{x0, y0}, {x0 + w/2*math.Log10(2), y1}, {x1, y1}},
		},
		{
			name:   "four nines",
			points: pairs(0, 2, 0.9999, 4, 1, 4),
			xticks: []tick{{x0, "0%"}, {x0 + w/4, "90%"}, {x0 + w/2, "99%"}, {x0 + 3*w/4, "99.9%"}, {x1, "99.99%"}},
			yticks: []tick{{y0, "2"}, {y0 - h*math.Log(1.5)/math.Log(2), "3"}, {y1, "4"}},
			curve:  [][2]float64{{x0, y0}, {x1, y1}, {x1, y1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := parse(t, PercentileChart{Title: "t", Desc: "d", Curves: []Curve{{Name: "latency", Points: tt.points}}}.SVG())
			if diff := cmp.Diff(tt.xticks, ticks(t, root, "xtick"), near); diff != "" {
				t.Errorf("x ticks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.yticks, ticks(t, root, "ytick"), near); diff != "" {
				t.Errorf("y ticks (-want +got):\n%s", diff)
			}
			curves := root.all("curve")
			if len(curves) != 1 {
				t.Fatalf("%d curves, want 1", len(curves))
			}
			if diff := cmp.Diff(tt.curve, points(t, curves[0]), near); diff != "" {
				t.Errorf("curve (-want +got):\n%s", diff)
			}
			if got := root.all("budget"); len(got) != 0 {
				t.Errorf("a budget line without a budget")
			}
		})
	}
}

func TestPercentileChartBudgetAndFailures(t *testing.T) {
	inf := math.Inf(1)
	c := PercentileChart{
		Title: "t", Desc: "d",
		Curves: []Curve{
			{Name: "latency", Points: pairs(0, 2, 0.5, math.NaN(), 0.9, 10, 0.99, inf, 1, inf)},
			{Name: "uncorrected", Dashed: true, Points: pairs(0, 1, 0.9, 8, 0.99, inf, 1, inf)},
		},
		Budget: 100,
	}
	root := parse(t, c.SVG())
	w, h := float64(x1-x0), float64(y0-y1)
	// y from 1 to 100 ms: the budget is the top of the plot.
	budget := root.all("budget")
	if len(budget) != 1 || math.Abs(budget[0].num(t, "y1")-y1) > 0.051 {
		t.Fatalf("budget lines %v, want one at y %d", budget, y1)
	}
	if got := root.all("budget-label"); len(got) != 1 || got[0].text() != "budget 100 ms" {
		t.Errorf("budget label %v, want \"budget 100 ms\"", got)
	}
	curves := root.all("curve")
	if len(curves) != 2 {
		t.Fatalf("%d curves, want 2", len(curves))
	}
	// The NaN is left out; the curve leaves the top at the first +Inf.
	want := [][2]float64{{x0, y0 - h*math.Log10(2)/2}, {x0 + w/2, y0 - h/2}, {x0 + w, y1}}
	if diff := cmp.Diff(want, points(t, curves[0]), near); diff != "" {
		t.Errorf("latency curve (-want +got):\n%s", diff)
	}
	if got := curves[1].attr("stroke-dasharray"); got == "" {
		t.Error("the dashed curve has no dash")
	}
	if got := curves[0].attr("stroke-dasharray"); got != "" {
		t.Errorf("the solid curve has dash %q", got)
	}
	off := root.all("offscale")
	if len(off) != 1 || !strings.Contains(off[0].text(), "+Inf") {
		t.Errorf("off-scale marks %v, want one labelled +Inf (both curves leave at 99%%)", off)
	}
	legend := ""
	for _, l := range root.all("legend") {
		legend += l.text() + "|"
	}
	if legend != "latency|uncorrected|budget 100 ms|" {
		t.Errorf("legend %q", legend)
	}
}

func TestPercentileChartEmpty(t *testing.T) {
	for name, c := range map[string]PercentileChart{
		"no curves":   {Title: "t", Desc: "d"},
		"no points":   {Title: "t", Desc: "d", Curves: []Curve{{Name: "latency"}}, Budget: 5},
		"lone +Inf":   {Title: "t", Desc: "d", Curves: []Curve{{Name: "latency", Points: pairs(1, math.Inf(1))}}},
		"zeros alone": {Title: "t", Desc: "d", Curves: []Curve{{Name: "latency", Points: pairs(0, 0, 1, 0)}}},
	} {
		t.Run(name, func(t *testing.T) {
			root := parse(t, c.SVG())
			hasPoints := len(c.Curves) > 0 && len(c.Curves[0].Points) > 0
			if got := len(root.all("empty")) == 1; got == hasPoints {
				t.Errorf("empty message shown %v with points %v", got, hasPoints)
			}
		})
	}
}

// pairs makes curve points of percentile, value pairs.
func pairs(pv ...float64) []load.CurvePoint {
	out := make([]load.CurvePoint, len(pv)/2)
	for i := range out {
		out[i] = load.CurvePoint{Percentile: pv[2*i], Value: pv[2*i+1]}
	}
	return out
}
