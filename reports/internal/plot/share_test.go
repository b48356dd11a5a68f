package plot

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestShareChart(t *testing.T) {
	w, h := float64(x1-x0), float64(y0-y1)
	bars := []Bar{
		{Label: "a", Value: 0.5},
		{Label: "b", Value: 1},
		{Label: "c", Value: 0},
		{Label: "d", Value: math.NaN(), Failed: true},
		{Label: "e", Value: math.Inf(1), Failed: true},
		{Label: "f", Value: 3, Failed: true},
		{Label: "g", Value: -0.5},
		{Label: "h", Value: 1.5, Failed: true},
	}
	root := parse(t, ShareChart{Title: "t", Desc: "d", XLabel: "cases", ThresholdLabel: "tolerance", Bars: bars, Max: 2, Threshold: 1}.SVG())
	wantY := []tick{{y0, "0%"}, {y0 - h/4, "50%"}, {y0 - h/2, "100%"}, {y0 - 3*h/4, "150%"}, {y1, "200%"}}
	if diff := cmp.Diff(wantY, ticks(t, root, "ytick"), near); diff != "" {
		t.Errorf("y ticks (-want +got):\n%s", diff)
	}
	slot := w / float64(len(bars))
	bw := slot * 0.7
	mid := func(i int) float64 { return x0 + slot*(float64(i)+0.5) }
	wantBars := []rect{
		{mid(0) - bw/2, bw, y0 - h/4, h / 4},
		{mid(1) - bw/2, bw, y0 - h/2, h / 2},
		{mid(7) - bw/2, bw, y0 - 3*h/4, 3 * h / 4},
	}
	got, _ := rects(t, root)
	if diff := cmp.Diff(wantBars, got, near); diff != "" {
		t.Errorf("bars (-want +got):\n%s", diff)
	}
	var titles, labels []string
	for _, g := range root.all("share") {
		titles = append(titles, g.first(t, "title").text())
	}
	for _, g := range root.all("offscale") {
		titles = append(titles, g.first(t, "title").text())
		labels = append(labels, g.first(t, "text").text())
	}
	if diff := cmp.Diff([]string{"a: 50%", "b: 100%", "c: 0%", "h: 150% (failed)", "d: NaN (failed)", "e: +Inf (failed)", "f: 300% (failed)", "g: -50%"}, titles); diff != "" {
		t.Errorf("titles (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"NaN", "+Inf", "300%", "-50%"}, labels); diff != "" {
		t.Errorf("off-scale labels (-want +got):\n%s", diff)
	}
	if got := len(root.all("point")); got != 4 {
		t.Errorf("%d points, want one per bar within the axis, 4", got)
	}
	if got := root.all("failed-mark"); len(got) != 4 {
		t.Errorf("%d failed marks, want 4", len(got))
	}
	th := root.all("threshold")
	if len(th) != 1 || math.Abs(th[0].num(t, "y1")-(y0-h/2)) > 0.051 {
		t.Errorf("threshold lines %v, want one at 100%%", th)
	}
	if got := root.all("threshold-label"); len(got) != 1 || got[0].text() != "tolerance" {
		t.Errorf("threshold label %v", got)
	}
}

func TestShareChartNarrowBars(t *testing.T) {
	bars := make([]Bar, 200)
	for i := range bars {
		bars[i] = Bar{Label: "case", Value: float64(i) / 100}
	}
	bars[7].Value = math.Inf(1)
	bars[8].Failed = true
	root := parse(t, ShareChart{Title: "t", Desc: "d", Bars: bars, Max: 2, Threshold: 1}.SVG())
	if got := len(root.all("share")) + len(root.all("offscale")); got != 200 {
		t.Errorf("%d items drawn, want 200", got)
	}
	off := root.all("offscale")
	if len(off) != 1 || off[0].first(t, "title").text() != "case: +Inf" {
		t.Errorf("off-scale marks %v", off)
	}
	for _, g := range off {
		for _, c := range g.Nodes {
			if c.XMLName.Local == "text" {
				t.Error("a bar too narrow for a label has one")
			}
		}
	}
	if got := root.all("failed-mark"); len(got) != 0 {
		t.Errorf("%d failed marks on bars too narrow for them", len(got))
	}
}

func TestShareChartEmpty(t *testing.T) {
	root := parse(t, ShareChart{Title: "t", Desc: "d", Max: 2, Threshold: 1}.SVG())
	if len(root.all("empty")) != 1 {
		t.Error("a chart without bars does not say so")
	}
}

func TestPercent(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0%"}, {0.42, "42%"}, {1, "100%"}, {1.23456, "123%"}, {1e-5, "0.001%"}, {math.NaN(), "NaN"}, {math.Inf(1), "+Inf"}, {math.Inf(-1), "-Inf"},
	}
	for _, tt := range tests {
		if got := Percent(tt.v); got != tt.want {
			t.Errorf("Percent(%g) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
