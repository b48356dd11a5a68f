package plot

import (
	"fmt"
	"math"

	"github.com/aiconform/aiconform/conformance/load"
)

// HistogramChart draws counts per latency bucket: a bar per bucket over
// its range on a log axis of milliseconds, its height the count.
type HistogramChart struct {
	// Title and Desc are the chart's accessible name and description.
	Title, Desc string
	// Buckets are in ascending order, as load.Distribution.Buckets gives
	// them.
	Buckets []load.Bucket
	// Noun names what is counted, for the y axis and each bar's title
	// (e.g. "queries").
	Noun string
}

// SVG draws the chart.
func (c HistogramChart) SVG() string {
	cv := newCanvas(c.Title, c.Desc)
	var most int64
	for _, b := range c.Buckets {
		most = max(most, b.Count)
	}
	if most == 0 {
		cv.axes("latency (ms, log scale)", c.Noun)
		cv.empty("no latencies were recorded")
		return cv.end()
	}
	step, topCount := niceStep(float64(most), 4)
	step = math.Max(step, 1)
	topCount = math.Max(topCount, step)
	yOf := func(count float64) float64 { return y0 - (y0-y1)*count/topCount }
	for v := 0.0; v <= topCount*(1+1e-9); v += step {
		cv.yTick(yOf(v), Number(v))
	}

	first, last := c.Buckets[0], c.Buckets[len(c.Buckets)-1]
	if !(first.Low > 0) || last.High <= first.Low {
		// One value, or zeros alone: one bar in the middle, named.
		xm := float64(x0+x1) / 2
		cv.xTick(xm, Number(last.High))
		cv.axes("latency (ms)", c.Noun)
		c.bar(cv, xm-30, xm+30, yOf, c.Buckets[0].Low, last.High, most)
		return cv.end()
	}
	lo, hi := logBounds(first.Low, last.High)
	xOf := func(v float64) float64 {
		return x0 + (x1-x0)*math.Log(v/lo)/math.Log(hi/lo)
	}
	for _, v := range logTicks(lo, hi) {
		cv.xTick(xOf(v), Number(v))
	}
	cv.axes("latency (ms, log scale)", c.Noun)
	for _, b := range c.Buckets {
		if b.Count > 0 {
			c.bar(cv, xOf(b.Low), xOf(b.High), yOf, b.Low, b.High, b.Count)
		}
	}
	return cv.end()
}

// bar draws the bar of one bucket between xa and xb, titled with its
// range and count.
func (c HistogramChart) bar(cv *canvas, xa, xb float64, yOf func(float64) float64, low, high float64, count int64) {
	w := math.Max(xb-xa-1, 1)
	y := yOf(float64(count))
	cv.f(`<rect class="bar" x="%s" y="%s" width="%s" height="%s" fill="%s" stroke="%s" stroke-width="0.5"><title>%s</title></rect>`,
		n(xa), n(y), n(w), n(y0-y), colBar, colMain,
		esc(fmt.Sprintf("%s to %s ms: %d %s", Number(round(low, 4)), Number(round(high, 4)), count, c.Noun)))
}
