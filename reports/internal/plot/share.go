package plot

import (
	"fmt"
	"math"
)

// ShareChart draws a share per item, 1 being 100%: a bar and a point per
// item, in order, on a linear axis from 0 to Max, with a line at
// Threshold. A share above Max, infinite or NaN is drawn as a mark above
// the plot area, a negative one below it, each labelled with its value
// where the bars are wide enough for a label (every bar's title names its
// value). A failed item is marked ✗ under the axis besides its colour.
type ShareChart struct {
	// Title and Desc are the chart's accessible name and description.
	Title, Desc string
	// XLabel names the items; Threshold is labelled ThresholdLabel.
	XLabel, ThresholdLabel string
	Bars                   []Bar
	// Max is the top of the axis (e.g. 2 for 200%); Threshold the line
	// (e.g. 1). A Max that is not positive is taken as 1.
	Max, Threshold float64
}

// Bar is one item of a ShareChart.
type Bar struct {
	// Label names the item in its title.
	Label string
	// Value is the share, 1 being 100%.
	Value float64
	// Failed marks the item as failed, whatever its value.
	Failed bool
}

// labelSlot is the narrowest slot, in viewBox units, that gets the label
// of an off-scale mark and the ✗ of a failed item.
const labelSlot = 12

// SVG draws the chart.
func (c ShareChart) SVG() string {
	cv := newCanvas(c.Title, c.Desc)
	top := c.Max
	if !(top > 0) || math.IsInf(top, 0) {
		top = 1
	}
	yOf := func(v float64) float64 { return y0 - (y0-y1)*v/top }
	step, _ := niceStep(top, 4)
	for v := 0.0; v <= top*(1+1e-9); v += step {
		cv.yTick(yOf(v), Percent(v))
	}
	cv.axes(c.XLabel, "share of the tolerance used")
	if len(c.Bars) == 0 {
		cv.empty("no cases")
		return cv.end()
	}
	slot := float64(x1-x0) / float64(len(c.Bars))
	bw := math.Max(slot*0.7, 0.5)
	for i, b := range c.Bars {
		xm := x0 + slot*(float64(i)+0.5)
		fill := colBar
		if b.Failed {
			fill = colAlert
		}
		title := esc(fmt.Sprintf("%s: %s", b.Label, Percent(b.Value)))
		if b.Failed {
			title += " (failed)"
		}
		v := b.Value
		switch {
		case math.IsNaN(v) || v > top:
			cv.f(`<g class="offscale"><title>%s</title>`, title)
			cv.f(`<path d="M%s %s l-4 8 h8 z" fill="%s"/>`, n(xm), n(y1-9), colAlert)
			if slot >= labelSlot {
				cv.text(xm, y1-12, "middle", "offscale-label", Percent(v))
			}
			cv.f(`</g>`)
		case v < 0:
			cv.f(`<g class="offscale"><title>%s</title>`, title)
			cv.f(`<path d="M%s %s l-4 -8 h8 z" fill="%s"/>`, n(xm), n(y0+22), colAlert)
			if slot >= labelSlot {
				cv.text(xm, y0+34, "middle", "offscale-label", Percent(v))
			}
			cv.f(`</g>`)
		default:
			y := yOf(v)
			cv.f(`<g class="share"><title>%s</title>`, title)
			if y < y0 { // a zero share is its point alone
				cv.f(`<rect class="bar" x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, n(xm-bw/2), n(y), n(bw), n(y0-y), fill)
			}
			cv.f(`<circle class="point" cx="%s" cy="%s" r="%s" fill="%s"/>`, n(xm), n(y), n(math.Min(3, math.Max(bw/2, 1))), fill)
			cv.f(`</g>`)
		}
		if b.Failed && slot >= labelSlot {
			cv.text(xm, y0+14, "middle", "failed-mark", "✗")
		}
	}
	yt := yOf(c.Threshold)
	cv.line("threshold", x0, yt, x1, yt, colInk, 1.5, "6 3")
	cv.text(x1-4, yt-5, "end", "threshold-label", c.ThresholdLabel)
	return cv.end()
}

// Percent formats a share as a percentage with three significant digits
// at most, and NaN, +Inf, -Inf as such.
func Percent(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return Number(v)
	}
	return Number(round(100*v, 3)) + "%"
}
