package plot

import (
	"encoding/xml"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// node is an element of a parsed SVG.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []node     `xml:",any"`
}

// parse parses svg as XML, failing the test when it is not well formed
// or not one svg element with a title and a desc.
func parse(t *testing.T, svg string) node {
	t.Helper()
	var root node
	if err := xml.Unmarshal([]byte(svg), &root); err != nil {
		t.Fatalf("the SVG is not well-formed XML: %v\n%s", err, svg)
	}
	if root.XMLName.Local != "svg" || root.attr("viewBox") != "0 0 640 320" {
		t.Fatalf("root element %s viewBox %q, want svg 0 0 640 320", root.XMLName.Local, root.attr("viewBox"))
	}
	if len(root.Nodes) < 2 || root.Nodes[0].XMLName.Local != "title" || root.Nodes[1].XMLName.Local != "desc" {
		t.Fatal("the SVG does not start with a title and a desc")
	}
	return root
}

func (e node) attr(name string) string {
	for _, a := range e.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (e node) num(t *testing.T, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(e.attr(name), 64)
	if err != nil {
		t.Fatalf("%s attribute %s: %v", e.XMLName.Local, name, err)
	}
	return v
}

// all returns the elements under e (e included) with the given class.
func (e node) all(class string) []node {
	var out []node
	if e.attr("class") == class {
		out = append(out, e)
	}
	for _, c := range e.Nodes {
		out = append(out, c.all(class)...)
	}
	return out
}

// text is the character data of e and everything under it.
func (e node) text() string {
	s := e.Text
	for _, c := range e.Nodes {
		s += c.text()
	}
	return s
}

// first returns the first element named name under e.
func (e node) first(t *testing.T, name string) node {
	t.Helper()
	for _, c := range e.Nodes {
		if c.XMLName.Local == name {
			return c
		}
	}
	t.Fatalf("no %s element in %s", name, e.XMLName.Local)
	return node{}
}

// tick is a tick of an axis: its position and label.
type tick struct {
	Pos   float64
	Label string
}

// ticks returns the ticks of an axis: class xtick or ytick.
func ticks(t *testing.T, root node, class string) []tick {
	t.Helper()
	var out []tick
	for _, g := range root.all(class) {
		l := g.first(t, "line")
		pos := l.num(t, "x1")
		if class == "ytick" {
			pos = l.num(t, "y1")
		}
		out = append(out, tick{pos, g.first(t, "text").text()})
	}
	return out
}

func TestEscapesText(t *testing.T) {
	hostile := `</title><script>alert("x")</script>&`
	svgs := map[string]string{
		"percentile": PercentileChart{Title: hostile, Desc: hostile, Curves: []Curve{{Name: hostile}}}.SVG(),
		"histogram":  HistogramChart{Title: hostile, Desc: hostile, Noun: hostile}.SVG(),
		"share":      ShareChart{Title: hostile, Desc: hostile, XLabel: hostile, ThresholdLabel: hostile, Bars: []Bar{{Label: hostile, Value: 0.5}}, Max: 2, Threshold: 1}.SVG(),
	}
	for name, svg := range svgs {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(svg, "<script") {
				t.Errorf("hostile text is not escaped:\n%s", svg)
			}
			root := parse(t, svg)
			if got := root.Nodes[0].text(); got != hostile {
				t.Errorf("title = %q, want %q", got, hostile)
			}
		})
	}
}

func TestNumber(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"}, {1, "1"}, {2.5, "2.5"}, {1000, "1000"}, {0.001, "0.001"}, {1e-5, "1e-05"}, {2e6, "2e+06"},
		{-3.25, "-3.25"}, {math.NaN(), "NaN"}, {math.Inf(1), "+Inf"}, {math.Inf(-1), "-Inf"},
	}
	for _, tt := range tests {
		if got := Number(tt.v); got != tt.want {
			t.Errorf("Number(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestNiceStep(t *testing.T) {
	tests := []struct {
		hi        float64
		k         int
		step, top float64
	}{
		{2, 4, 0.5, 2},
		{7, 4, 2, 8},
		{100, 4, 50, 100},
		{101, 4, 50, 150},
		{1, 4, 0.5, 1},
		{3, 4, 1, 3},
		{0, 4, 1, 1},
		{math.Inf(1), 4, 1, 1},
	}
	for _, tt := range tests {
		step, top := niceStep(tt.hi, tt.k)
		if math.Abs(step-tt.step) > 1e-12 || math.Abs(top-tt.top) > 1e-12 {
			t.Errorf("niceStep(%g, %d) = %g, %g; want %g, %g", tt.hi, tt.k, step, top, tt.step, tt.top)
		}
	}
}

func TestLogBoundsAndTicks(t *testing.T) {
	tests := []struct {
		lo, hi         float64
		wantLo, wantHi float64
		ticks          []float64
	}{
		{1, 1000, 1, 1000, []float64{1, 10, 100, 1000}},
		{2.6, 750, 2, 800, []float64{2, 5, 10, 20, 50, 100, 200, 500}},
		{2.503, 3.7, 2, 4, []float64{2, 3, 4}},
		{0.3, 16.2, 0.3, 20, []float64{0.5, 1, 2, 5, 10, 20}},
		{1, 10, 1, 10, []float64{1, 2, 5, 10}},
	}
	for _, tt := range tests {
		lo, hi := logBounds(tt.lo, tt.hi)
		if lo != tt.wantLo || hi != tt.wantHi {
			t.Errorf("logBounds(%g, %g) = %g, %g; want %g, %g", tt.lo, tt.hi, lo, hi, tt.wantLo, tt.wantHi)
		}
		if diff := cmp.Diff(tt.ticks, logTicks(lo, hi), cmpopts.EquateApprox(1e-12, 0)); diff != "" {
			t.Errorf("logTicks(%g, %g) (-want +got):\n%s", lo, hi, diff)
		}
	}
}
