// Package plot draws the charts of the HTML report as inline SVG: the
// percentile curve and the histogram of a latency distribution, and the
// share of its tolerance each numeric case used. It uses no chart
// library and no script; every chart carries a <title> and a <desc>, axis
// labels and a legend in text, and scales with its viewBox. Text from the
// report is escaped. The output is a pure function of the input.
package plot

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"

	"github.com/aiconform/aiconform/numerics"
)

// The canvas, in viewBox units, and the plot area inside it.
const (
	width  = 640
	height = 320
	left   = 64
	right  = 24
	top    = 44
	bottom = 56
	x0     = left
	x1     = width - right
	y0     = height - bottom // the baseline
	y1     = top
)

// Colours. The charts keep a white ground on screen and in print; no
// status is told by colour alone.
const (
	colInk    = "#1b1f24"
	colGrid   = "#d5d9de"
	colMain   = "#1f5fbf"
	colSecond = "#b3541e"
	colAlert  = "#b00020"
	colBar    = "#6d93cf"
)

// canvas accumulates one SVG document.
type canvas struct{ b strings.Builder }

// newCanvas opens an SVG with its accessible title and description.
func newCanvas(title, desc string) *canvas {
	c := &canvas{}
	c.f(`<svg xmlns="http://www.w3.org/2000/svg" class="plot" role="img" viewBox="0 0 %d %d" width="%d" height="%d" font-family="system-ui, sans-serif" font-size="13" fill="%s">`,
		width, height, width, height, colInk)
	c.f(`<title>%s</title><desc>%s</desc>`, esc(title), esc(desc))
	c.f(`<rect class="ground" x="0" y="0" width="%d" height="%d" fill="#fff"/>`, width, height)
	return c
}

// f appends formatted text and a newline; callers escape what comes from
// the report.
func (c *canvas) f(format string, args ...any) {
	fmt.Fprintf(&c.b, format, args...)
	c.b.WriteByte('\n')
}

// text appends a text element; s is escaped.
func (c *canvas) text(x, y float64, anchor, class, s string) {
	c.f(`<text class="%s" x="%s" y="%s" text-anchor="%s">%s</text>`, class, n(x), n(y), anchor, esc(s))
}

// line appends a line; dash is a stroke-dasharray or "".
func (c *canvas) line(class string, xa, ya, xb, yb float64, colour string, w float64, dash string) {
	d := ""
	if dash != "" {
		d = ` stroke-dasharray="` + dash + `"`
	}
	c.f(`<line class="%s" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="%s"%s/>`,
		class, n(xa), n(ya), n(xb), n(yb), colour, n(w), d)
}

// axes draws the frame of the plot area and the axis labels.
func (c *canvas) axes(xLabel, yLabel string) {
	c.line("axis", x0, y0, x1, y0, colInk, 1, "")
	c.line("axis", x0, y0, x0, y1, colInk, 1, "")
	c.text((x0+x1)/2, height-12, "middle", "xlabel", xLabel)
	c.f(`<text class="ylabel" x="0" y="0" text-anchor="middle" transform="translate(16 %s) rotate(-90)">%s</text>`, n((y0+y1)/2), esc(yLabel))
}

// xTick draws a tick of the x axis at x with a grid line.
func (c *canvas) xTick(x float64, label string) {
	c.f(`<g class="xtick">`)
	c.line("grid", x, y0, x, y1, colGrid, 1, "")
	c.line("tick", x, y0, x, y0+5, colInk, 1, "")
	c.text(x, y0+18, "middle", "ticklabel", label)
	c.f(`</g>`)
}

// yTick draws a tick of the y axis at y with a grid line.
func (c *canvas) yTick(y float64, label string) {
	c.f(`<g class="ytick">`)
	c.line("grid", x0, y, x1, y, colGrid, 1, "")
	c.line("tick", x0-5, y, x0, y, colInk, 1, "")
	c.text(x0-8, y+4, "end", "ticklabel", label)
	c.f(`</g>`)
}

// empty writes why a chart has nothing to draw.
func (c *canvas) empty(why string) {
	c.text(width/2, height/2, "middle", "empty", why)
}

// legendItem draws one legend entry at x on the legend row and returns
// the x of the next; sample draws its symbol between x and x+24.
func (c *canvas) legendItem(x float64, label string, sample func(xa, xb, y float64)) float64 {
	const y = 14
	sample(x, x+24, y-4)
	c.text(x+30, y, "start", "legend", label)
	return x + 30 + 7.5*float64(len([]rune(label))) + 18
}

// end closes the SVG and returns it.
func (c *canvas) end() string {
	c.b.WriteString(`</svg>`)
	return c.b.String()
}

// esc escapes text for an SVG text node or attribute value.
func esc(s string) string { return html.EscapeString(s) }

// n formats a coordinate with one decimal, without a trailing ".0".
func n(v float64) string {
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	if s == "-0" {
		return "0"
	}
	return s
}

// Number formats a value for a label: plain decimals where they are
// short, an exponent where they are not, and NaN, +Inf, -Inf as such.
func Number(v float64) string {
	if name, ok := numerics.NonFinite(v); ok {
		return name
	}
	if v == 0 {
		return "0"
	}
	a := math.Abs(v)
	if a >= 1e-4 && a < 1e6 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// niceStep returns a step of 1, 2 or 5 times a power of ten that cuts
// [0, hi] into about k intervals, and hi rounded up to a multiple of it.
// A hi that is not positive gives the step 1 and the top 1.
func niceStep(hi float64, k int) (step, top float64) {
	if !(hi > 0) || math.IsInf(hi, 0) {
		return 1, 1
	}
	raw := hi / float64(k)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if raw <= m*mag*(1+1e-9) {
			step = m * mag
			break
		}
	}
	return step, math.Ceil(hi/step-1e-9) * step
}

// logTicks returns values of the form m·10^k inside [lo, hi] for a log
// axis: the powers of ten, and 2 and 5 times them when those are fewer
// than three, and every digit when those are fewer than three still. With
// fewer than two in the range, it returns lo and hi, rounded to three
// significant digits.
func logTicks(lo, hi float64) []float64 {
	var out []float64
	for _, ms := range [][]float64{{1}, {1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}} {
		out = out[:0]
		for k := math.Floor(math.Log10(lo)) - 1; k <= math.Ceil(math.Log10(hi))+1; k++ {
			for _, m := range ms {
				v := round(m*math.Pow(10, k), 12)
				if v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
					out = append(out, v)
				}
			}
		}
		if len(out) >= 3 {
			return out
		}
	}
	if len(out) >= 2 {
		return out
	}
	if round(lo, 3) == round(hi, 3) {
		return []float64{round(lo, 3)}
	}
	return []float64{round(lo, 3), round(hi, 3)}
}

// round rounds v to d significant digits.
func round(v float64, d int) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', d, 64), 64)
	return r
}

// logBounds widens [lo, hi] (both positive) to the nearest values of the
// form m·10^k with a digit m, which logTicks then marks.
func logBounds(lo, hi float64) (float64, float64) {
	kl := math.Pow(10, math.Floor(math.Log10(lo)+1e-12))
	kh := math.Pow(10, math.Floor(math.Log10(hi)+1e-12))
	return round(math.Floor(lo/kl*(1+1e-12))*kl, 12), round(math.Ceil(hi/kh*(1-1e-12))*kh, 12)
}

// anchorNear is the text-anchor that keeps a label at x inside the plot
// area's width: "end" near its right edge, "start" near its left.
func anchorNear(x float64) string {
	switch {
	case x > x1-70:
		return "end"
	case x < x0+70:
		return "start"
	}
	return "middle"
}
