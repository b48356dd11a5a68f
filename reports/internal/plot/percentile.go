package plot

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/aiconform/aiconform/conformance/load"
)

// PercentileChart draws latency against percentile in the style of
// HdrHistogram's plots: the x axis is log₁₀(1/(1−p)), so that 90%, 99%,
// 99.9%… lie one decade apart, from 0% to as many nines as the curves
// reach (at least 99%); the y axis is the latency in milliseconds on a log
// scale. A point at percentile 1, the maximum, sits at the right edge. An
// infinite value (a failed query) takes its curve off the top of the
// plot, where a mark labelled +Inf shows where; a NaN is left out.
type PercentileChart struct {
	// Title and Desc are the chart's accessible name and description.
	Title, Desc string
	// Curves are drawn in order; the legend names them.
	Curves []Curve
	// Budget, when positive and finite, is a latency in milliseconds,
	// drawn as a horizontal line and named in the legend.
	Budget float64
}

// Curve is one percentile curve of a PercentileChart.
type Curve struct {
	// Name is the curve's legend.
	Name   string
	Points []load.CurvePoint
	// Dashed draws the curve dashed, to tell it from a solid one in
	// print and without colour.
	Dashed bool
}

// percentileX is the position of percentile p on the axis of
// HdrHistogram's plots, log₁₀(1/(1−p)): 0 at 0%, 1 at 90%, 2 at 99%;
// +Inf at 100%.
func percentileX(p float64) float64 { return -math.Log10(1 - p) }

// percentileLabel names the k-th decade of the axis: 0%, 90%, 99%,
// 99.9%, 99.99%…
func percentileLabel(k int) string {
	if k == 0 {
		return "0%"
	}
	return strconv.FormatFloat(100*(1-math.Pow(10, -float64(k))), 'f', max(k-2, 0), 64) + "%"
}

// decades is how many decades of the percentile axis the curves need:
// enough for their last point below 100%, and at least two (99%).
func (c PercentileChart) decades() int {
	d := 2
	for _, cv := range c.Curves {
		for _, p := range cv.Points {
			if p.Percentile < 1 {
				d = max(d, int(math.Ceil(percentileX(p.Percentile)-1e-9)))
			}
		}
	}
	return d
}

// SVG draws the chart.
func (c PercentileChart) SVG() string {
	cv := newCanvas(c.Title, c.Desc)
	budget := c.Budget > 0 && !math.IsInf(c.Budget, 0)
	lo, hi := math.Inf(1), math.Inf(-1)
	points := 0
	for _, cu := range c.Curves {
		for _, p := range cu.Points {
			points++
			if v := p.Value; v > 0 && !math.IsInf(v, 0) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if points == 0 {
		cv.axes("percentile", "latency (ms, log scale)")
		cv.empty("no latencies were recorded")
		return cv.end()
	}
	if budget {
		lo, hi = math.Min(lo, c.Budget), math.Max(hi, c.Budget)
	}
	if math.IsInf(lo, 1) { // no positive finite value: zeros or failures only
		lo, hi = 1, 1
	}
	lo, hi = logBounds(lo, hi)
	if lo == hi {
		lo, hi = lo/2, hi*2
	}
	d := c.decades()
	xOf := func(p float64) float64 {
		x := float64(d)
		if p < 1 {
			x = math.Min(percentileX(p), float64(d))
		}
		return x0 + (x1-x0)*x/float64(d)
	}
	yOf := func(v float64) float64 {
		if v <= lo {
			return y0
		}
		return y0 - (y0-y1)*math.Log(v/lo)/math.Log(hi/lo)
	}
	for k := 0; k <= d; k++ {
		cv.xTick(x0+(x1-x0)*float64(k)/float64(d), percentileLabel(k))
	}
	for _, v := range logTicks(lo, hi) {
		cv.yTick(yOf(v), Number(v))
	}
	cv.axes("percentile (log scale of 1/(1−p))", "latency (ms, log scale)")

	colours := []string{colMain, colSecond}
	offscale := map[float64]bool{}
	lx := float64(x0)
	for i, cu := range c.Curves {
		colour := colours[i%len(colours)]
		dash := ""
		if cu.Dashed {
			dash = "7 4"
		}
		var pts []string
		var last [2]float64
		for _, p := range cu.Points {
			if math.IsNaN(p.Value) {
				continue
			}
			x, y := xOf(p.Percentile), yOf(p.Value)
			if math.IsInf(p.Value, 1) {
				y = y1
				offscale[x] = true
			}
			pts = append(pts, n(x)+","+n(y))
			last = [2]float64{x, y}
			if math.IsInf(p.Value, 1) {
				break
			}
		}
		cv.f(`<polyline class="curve" points="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"%s><title>%s</title></polyline>`,
			strings.Join(pts, " "), colour, dashAttr(dash), esc(cu.Name))
		if len(pts) == 1 { // a lone point draws no line
			cv.f(`<circle class="point" cx="%s" cy="%s" r="3" fill="%s"/>`, n(last[0]), n(last[1]), colour)
		}
		lx = cv.legendItem(lx, cu.Name, func(xa, xb, y float64) { cv.line("legend-sample", xa, y, xb, y, colour, 2, dash) })
	}
	for _, x := range slices.Sorted(maps.Keys(offscale)) {
		cv.f(`<g class="offscale"><path d="M%s %s l-5 8 h10 z" fill="%s"/>`, n(x), n(y1-8), colAlert)
		cv.text(x, y1-11, anchorNear(x), "offscale-label", "+Inf (failed queries)")
		cv.f(`</g>`)
	}
	if budget {
		y := yOf(c.Budget)
		label := fmt.Sprintf("budget %s ms", Number(c.Budget))
		cv.line("budget", x0, y, x1, y, colAlert, 1.5, "2 3")
		cv.text(x1-4, y-5, "end", "budget-label", label)
		cv.legendItem(lx, label, func(xa, xb, y float64) { cv.line("legend-sample", xa, y, xb, y, colAlert, 1.5, "2 3") })
	}
	return cv.end()
}

// dashAttr is a stroke-dasharray attribute, or nothing for "".
func dashAttr(dash string) string {
	if dash == "" {
		return ""
	}
	return ` stroke-dasharray="` + dash + `"`
}
