package reports

import (
	"cmp"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/reports/internal/plot"
	"github.com/aiconform/aiconform/spec"
)

// shareAxisTop is the top of the axis of the tolerance-share charts: the
// tolerance (100%) lies half-way up.
const shareAxisTop = 2

// numericsGroup is the numeric cases of one model version, from every
// check that compared outputs of it.
type numericsGroup struct {
	Model, Version string
	Anchor         string
	Cases          []numericsCase
	// NotPassed counts the cases that did not pass.
	NotPassed int
	// Chart draws each case's worst share of its tolerance.
	Chart template.HTML
}

// numericsCase is one case of a numericsGroup.
type numericsCase struct {
	// Check is the id of the check the case belongs to.
	Check string
	*conformance.CaseEvidence
	// Worst is the largest share of the tolerance any output used.
	Worst float64
	// Rows is how many table rows the case takes: one per output, at
	// least one.
	Rows int
	// Head starts a run of cases of the same check, set and tolerance,
	// which the table names once.
	Head bool
}

// worstShare is the largest share of its tolerance any output of c used
// (numerics.Diff.WorstRatio): +Inf when one is, NaN when one is NaN,
// when an output could not be compared at all, or when c has no outputs.
func worstShare(c *conformance.CaseEvidence) float64 {
	if len(c.Outputs) == 0 {
		return math.NaN()
	}
	shares := make([]float64, len(c.Outputs))
	for i, o := range c.Outputs {
		shares[i] = o.WorstRatio
		if o.Problem != "" {
			shares[i] = math.NaN()
		}
	}
	return worstOf(shares)
}

// worstOf is the largest of shares: +Inf when one is, else NaN when one
// is, else the largest finite one; -Inf when there are none.
func worstOf(shares []float64) float64 {
	worst, nan := math.Inf(-1), false
	for _, s := range shares {
		if math.IsNaN(s) {
			nan = true
		} else {
			worst = math.Max(worst, s)
		}
	}
	if nan && !math.IsInf(worst, 1) {
		return math.NaN()
	}
	return worst
}

// numericsGroups gathers the cases of every check by model version,
// ordered by model and version, each in report order.
func numericsGroups(rep *conformance.Report) []numericsGroup {
	byKey := map[[2]string]*numericsGroup{}
	for i := range rep.Checks {
		c := &rep.Checks[i]
		for j := range c.Evidence.Cases {
			ce := &c.Evidence.Cases[j]
			k := [2]string{ce.Model, ce.Version}
			g := byKey[k]
			if g == nil {
				g = &numericsGroup{Model: ce.Model, Version: ce.Version}
				byKey[k] = g
			}
			nc := numericsCase{Check: c.ID, CaseEvidence: ce, Worst: worstShare(ce), Rows: max(len(ce.Outputs), 1)}
			if n := len(g.Cases); n == 0 || g.Cases[n-1].Check != nc.Check || g.Cases[n-1].Set != ce.Set || g.Cases[n-1].Tolerance != ce.Tolerance {
				nc.Head = true
			}
			g.Cases = append(g.Cases, nc)
			if ce.Status != spec.Pass {
				g.NotPassed++
			}
		}
	}
	var out []numericsGroup
	for _, g := range byKey {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b numericsGroup) int {
		return cmp.Or(strings.Compare(a.Model, b.Model), strings.Compare(a.Version, b.Version))
	})
	for i := range out {
		out[i].Anchor = fmt.Sprintf("numerics-%d", i+1)
		out[i].Chart = template.HTML(out[i].chart())
	}
	return out
}

// chart draws the worst share of the tolerance of each case of g.
func (g *numericsGroup) chart() string {
	label := modelLabel(g.Model, g.Version)
	bars := make([]plot.Bar, len(g.Cases))
	var checks []string
	above, nonFinite := 0, 0
	shares := make([]float64, len(g.Cases))
	for i, c := range g.Cases {
		bars[i] = plot.Bar{Label: c.Check + " " + c.Case, Value: c.Worst, Failed: c.Status != spec.Pass}
		if !slices.Contains(checks, c.Check) {
			checks = append(checks, c.Check)
		}
		switch {
		case math.IsNaN(c.Worst) || math.IsInf(c.Worst, 0):
			nonFinite++
		case c.Worst > 1:
			above++
		}
		shares[i] = c.Worst
	}
	desc := fmt.Sprintf("The worst share of its tolerance each of the %d cases of %s used, one bar per case in the order of the table below (checks %s); the dashed line at 100%% is the tolerance. Worst share: %s. Cases above the tolerance with a finite share: %d; with a non-finite share, drawn as marks above the plot: %d; not passed, marked ✗: %d.",
		len(g.Cases), label, strings.Join(checks, ", "), plot.Percent(worstOf(shares)), above, nonFinite, g.NotPassed)
	return plot.ShareChart{
		Title:          "Share of the tolerance used per case, " + label,
		Desc:           desc,
		XLabel:         fmt.Sprintf("%d cases, in table order", len(g.Cases)),
		ThresholdLabel: "tolerance (100%)",
		Bars:           bars,
		Max:            shareAxisTop,
		Threshold:      1,
	}.SVG()
}
