package reports

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reports/internal/plot"
	"github.com/aiconform/aiconform/spec"
)

//go:embed templates/report.html.tmpl
var htmlTemplate string

//go:embed templates/report.css
var htmlStyle string

// reportTemplate is the HTML page; every value from the report goes
// through html/template's escaping.
var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"num":       shortNumber,
	"measure":   shortMeasure,
	"percent":   func(v any) string { return plot.Percent(toFloat(v)) },
	"status":    statusText,
	"verdict":   verdictText,
	"timestamp": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	"join":      strings.Join,
	"plan":      planText,
	"label":     modelLabel,
}).Parse(htmlTemplate))

// HTML writes rep as one self-contained HTML page: the verdict of every
// level with its claim, the facts of the run, a row per check with its
// evidence, the uncovered requirements and warnings, a table and a chart
// per model version of the numeric cases' errors against their
// tolerance, and per scenario and model the latency percentiles and
// histogram drawn as SVG. The page loads nothing (its
// Content-Security-Policy forbids it) and runs no script.
func HTML(w io.Writer, rep *conformance.Report) error {
	v, err := newHTMLView(rep)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := reportTemplate.Execute(&b, v); err != nil {
		return fmt.Errorf("reports: rendering HTML: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("reports: writing HTML: %w", err)
	}
	return nil
}

// htmlView is what the page template reads: the report, and what the page
// derives from it for display.
type htmlView struct {
	R *conformance.Report
	// CSS is the page's style sheet, embedded in it.
	CSS         template.CSS
	Levels      []levelView
	Checks      []checkView
	Uncovered   []uncoveredView
	Numerics    []numericsGroup
	Performance []perfView
}

// levelView is the verdict banner of one level.
type levelView struct {
	Level     spec.Level
	Verdict   spec.Verdict
	Requested bool
	// Claim is the level's claim; nil for a level not requested.
	Claim *conformance.LevelClaim
}

// uncoveredView lists the uncovered requirements of one level.
type uncoveredView struct {
	Level spec.Level
	IDs   []string
}

// checkView is one row of the requirements table.
type checkView struct {
	*conformance.Result
	// Anchor is the row's id in the page.
	Anchor string
	// Full shows every exchange with its excerpts; a check that passed
	// or was skipped lists its exchanges without them.
	Full bool
	// Figures are the evidence's figures by name.
	Figures []namedMeasure
	// NotPassed are the cases that did not pass.
	NotPassed []conformance.CaseEvidence
	// CaseGroups link to the numerics tables that hold the check's cases.
	CaseGroups []groupLink
	// Performance link to the sections of the check's scenario runs.
	Performance []groupLink
	// Summary counts the evidence; empty when there is none.
	Summary string
}

// namedMeasure is one figure of a check's evidence.
type namedMeasure struct {
	Name string
	conformance.Measure
}

// groupLink names a section of the page.
type groupLink struct {
	Anchor, Text string
}

// newHTMLView derives the page's view of rep.
func newHTMLView(rep *conformance.Report) (*htmlView, error) {
	v := &htmlView{R: rep, CSS: template.CSS(htmlStyle)}
	claims := map[spec.Level]*conformance.LevelClaim{}
	for i := range rep.Claim {
		claims[rep.Claim[i].Level] = &rep.Claim[i]
	}
	for _, l := range spec.Levels {
		v.Levels = append(v.Levels, levelView{Level: l, Verdict: rep.Levels[l], Requested: requested(rep, l), Claim: claims[l]})
		if ids := rep.Uncovered[l]; len(ids) > 0 {
			v.Uncovered = append(v.Uncovered, uncoveredView{Level: l, IDs: ids})
		}
	}
	v.Numerics = numericsGroups(rep)
	perf, err := performanceViews(rep)
	if err != nil {
		return nil, err
	}
	v.Performance = perf
	for i := range rep.Checks {
		c := &rep.Checks[i]
		cv := checkView{Result: c, Anchor: fmt.Sprintf("check-%d", i+1), Full: c.Status == spec.Fail || c.Status == spec.Error}
		for _, name := range slices.Sorted(maps.Keys(c.Evidence.Figures)) {
			cv.Figures = append(cv.Figures, namedMeasure{name, c.Evidence.Figures[name]})
		}
		cv.Summary = evidenceSummary(&c.Evidence)
		for _, ce := range c.Evidence.Cases {
			if ce.Status != spec.Pass {
				cv.NotPassed = append(cv.NotPassed, ce)
			}
		}
		for _, g := range v.Numerics {
			if slices.ContainsFunc(g.Cases, func(nc numericsCase) bool { return nc.Check == c.ID }) {
				cv.CaseGroups = append(cv.CaseGroups, groupLink{g.Anchor, modelLabel(g.Model, g.Version)})
			}
		}
		for _, p := range v.Performance {
			if p.Check == c.ID {
				cv.Performance = append(cv.Performance, groupLink{p.Anchor, fmt.Sprintf("%s on %s: %s", p.Scenario, modelLabel(p.Model, p.Version), p.Status)})
			}
		}
		v.Checks = append(v.Checks, cv)
	}
	return v, nil
}

// shortNumber formats a figure for the page with four significant
// digits at most, and NaN, +Inf, -Inf by name.
func shortNumber(v any) string {
	f := toFloat(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return plot.Number(f)
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 4, 64), 64)
	return plot.Number(r)
}

// evidenceSummary counts what the evidence holds, e.g. "3 exchanges · 1
// figure"; empty when it holds nothing.
func evidenceSummary(e *conformance.Evidence) string {
	var parts []string
	for _, c := range []struct {
		n    int
		noun string
	}{
		{len(e.Exchanges), "exchange"},
		{len(e.Figures), "figure"},
		{len(e.Cases), "case"},
		{len(e.Performance), "scenario run"},
	} {
		if c.n > 0 {
			parts = append(parts, plural(c.n, c.noun, c.noun+"s"))
		}
	}
	if e.TLS != nil {
		parts = append(parts, "TLS handshakes")
	}
	return strings.Join(parts, " · ")
}

// toFloat converts the numbers the page formats to float64.
func toFloat(v any) float64 {
	switch x := v.(type) {
	case numerics.Float:
		return float64(x)
	case float64:
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	}
	panic(fmt.Sprintf("reports: %T is not a number", v))
}

// shortMeasure writes a measure for the page with its unit: none for a
// dimensionless count (unit "1"), seconds for a thousand milliseconds and
// more.
func shortMeasure(m conformance.Measure) string {
	v := float64(m.Value)
	switch {
	case m.Unit == conformance.UnitCount || m.Unit == "":
		return shortNumber(m.Value)
	case m.Unit == conformance.UnitMillisecond && math.Abs(v) >= 1000 && !math.IsInf(v, 0):
		return shortNumber(v/1000) + " s"
	}
	return shortNumber(m.Value) + " " + m.Unit
}

// statusText is a status as a symbol and a word, so that it never rests
// on colour alone.
func statusText(s spec.Status) string {
	switch s {
	case spec.Pass:
		return "✓ pass"
	case spec.Fail:
		return "✗ fail"
	case spec.Skip:
		return "– skip"
	case spec.Error:
		return "! error"
	}
	return string(s)
}

// verdictText is a verdict as a symbol and words.
func verdictText(v spec.Verdict) string {
	switch v {
	case spec.VerdictPass:
		return "✓ PASS"
	case spec.VerdictFail:
		return "✗ FAIL"
	case spec.VerdictNotRun:
		return "– NOT RUN"
	}
	return strings.ToUpper(string(v))
}

// planText describes the load a plan asked for.
func planText(p load.Plan) string {
	var parts []string
	if p.Concurrency > 0 {
		parts = append(parts, fmt.Sprintf("closed loop, %d outstanding", p.Concurrency))
	} else {
		arrival := string(p.Arrival)
		if arrival == "" {
			arrival = string(load.Poisson)
		}
		parts = append(parts, fmt.Sprintf("open loop, %s queries/s (%s arrivals)", shortNumber(p.Rate), arrival))
	}
	parts = append(parts, fmt.Sprintf("at least %d queries and %s", p.MinQueries, p.Duration))
	parts = append(parts, fmt.Sprintf("%d warm-up queries", p.Warmup))
	parts = append(parts, fmt.Sprintf("seed %d", p.Seed))
	if p.Shard.Count > 1 {
		parts = append(parts, fmt.Sprintf("shard %d of %d", p.Shard.Index, p.Shard.Count))
	}
	return strings.Join(parts, ", ")
}
