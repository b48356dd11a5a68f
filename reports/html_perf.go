package reports

import (
	"fmt"
	"html/template"
	"maps"
	"math"
	"slices"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/reports/internal/plot"
)

// Resolution of the latency charts.
const (
	// curvePerDecade is the points of a percentile curve per decade of
	// its axis (90%, 99%, 99.9%…).
	curvePerDecade = 20
	// histogramBuckets is the bars of a latency histogram.
	histogramBuckets = 40
)

// perfView is one scenario run on one model: its evidence and charts.
type perfView struct {
	// Check is the id of the check the run belongs to.
	Check  string
	Anchor string
	*conformance.ScenarioEvidence
	// Distributions are the load generator's three distributions, named.
	Distributions []namedDistribution
	// Errors are the failed queries by kind.
	Errors []namedCount
	// Percentiles and Histogram draw the latencies; empty without a
	// load generator result.
	Percentiles, Histogram template.HTML
}

// namedDistribution is one distribution of a load result.
type namedDistribution struct {
	Name string
	*load.Distribution
}

// namedCount is how many failed queries were of one kind.
type namedCount struct {
	Kind  string
	Count int64
}

// performanceViews gathers the scenario runs of every check, in report
// order, with their charts.
func performanceViews(rep *conformance.Report) ([]perfView, error) {
	var out []perfView
	for i := range rep.Checks {
		c := &rep.Checks[i]
		for j := range c.Evidence.Performance {
			se := &c.Evidence.Performance[j]
			v := perfView{Check: c.ID, Anchor: fmt.Sprintf("performance-%d", len(out)+1), ScenarioEvidence: se}
			if r := se.Result; r != nil {
				v.Distributions = []namedDistribution{
					{"latency (from scheduled send)", &r.Latency},
					{"uncorrected latency (from actual send)", &r.Uncorrected},
					{"send lateness", &r.Lateness},
				}
				for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
					v.Errors = append(v.Errors, namedCount{k, r.Errors[k]})
				}
				var err error
				if v.Percentiles, v.Histogram, err = latencyCharts(c.ID, se); err != nil {
					return nil, err
				}
			}
			out = append(out, v)
		}
	}
	return out, nil
}

// latencyCharts draws the percentile curve and the histogram of the
// latencies of one scenario run.
func latencyCharts(check string, se *conformance.ScenarioEvidence) (curve, hist template.HTML, err error) {
	r := se.Result
	label := modelLabel(se.Model, se.Version)
	lat, err := r.Latency.Curve(r.Sent, curvePerDecade)
	if err != nil {
		return "", "", fmt.Errorf("reports: %s on %s: latency: %w", check, label, err)
	}
	unc, err := r.Uncorrected.Curve(r.Sent, curvePerDecade)
	if err != nil {
		return "", "", fmt.Errorf("reports: %s on %s: uncorrected latency: %w", check, label, err)
	}
	buckets, err := r.Latency.Buckets(histogramBuckets)
	if err != nil {
		return "", "", fmt.Errorf("reports: %s on %s: latency: %w", check, label, err)
	}
	budget := math.NaN()
	budgetText := "no latency budget"
	if se.Budget.Unit == conformance.UnitMillisecond {
		budget = float64(se.Budget.Value)
		budgetText = "budget " + shortMeasure(se.Budget) + " (dotted line)"
	}
	pc := plot.PercentileChart{
		Title: fmt.Sprintf("Latency by percentile, %s scenario, %s", se.Scenario, label),
		Desc: fmt.Sprintf("Latency of %d timed queries (%d failed, counted as infinitely slow) by percentile on a log scale of 1/(1−p): from each query's scheduled send time (solid) and from its actual send time (dashed, uncorrected); p50 %s ms, p90 %s ms, p99 %s ms, max %s ms; %s.",
			r.Sent, r.Failed, shortNumber(r.Latency.P50), shortNumber(r.Latency.P90), shortNumber(r.Latency.P99), shortNumber(r.Latency.Max), budgetText),
		Curves: []plot.Curve{{Name: "latency", Points: lat}, {Name: "uncorrected latency", Points: unc, Dashed: true}},
		Budget: budget,
	}
	lo, hi := span(buckets)
	hc := plot.HistogramChart{
		Title: fmt.Sprintf("Latency histogram, %s scenario, %s", se.Scenario, label),
		Desc: fmt.Sprintf("Successful queries per latency bucket (from scheduled send time), %d buckets of equal width on a log scale from %s ms to %s ms; %d queries failed and are not counted.",
			len(buckets), shortNumber(lo), shortNumber(hi), r.Failed),
		Buckets: buckets,
		Noun:    "queries",
	}
	return template.HTML(pc.SVG()), template.HTML(hc.SVG()), nil
}

// span is where the buckets start and end, zero without buckets.
func span(b []load.Bucket) (lo, hi float64) {
	if len(b) == 0 {
		return 0, 0
	}
	return b[0].Low, b[len(b)-1].High
}
