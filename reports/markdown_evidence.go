package reports

import (
	"fmt"
	"math"
	"strings"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/spec"
)

// The renderings for people show at most this many exchanges and cases of
// a check; report.json has them all.
const (
	maxShownExchanges = 20
	maxShownCases     = 10
)

// mdEvidence writes what a failed check saw: its exchanges, figures,
// cases, TLS handshakes and performance measurements. message is the
// check's, which a scenario's message need not repeat.
func mdEvidence(b *strings.Builder, ev conformance.Evidence, message string) {
	mdExchanges(b, ev.Exchanges)
	mdFigures(b, ev.Figures)
	mdCases(b, ev.Cases)
	mdTLS(b, ev.TLS)
	for _, sc := range ev.Performance {
		mdScenario(b, sc, message)
	}
}

// mdExchanges writes each exchange with its request and response
// excerpts in fenced code blocks.
func mdExchanges(b *strings.Builder, exs []conformance.Exchange) {
	for i, ex := range exs {
		if i == maxShownExchanges {
			fmt.Fprintf(b, "… and %d more exchanges in report.json.\n\n", len(exs)-i)
			break
		}
		fmt.Fprintf(b, "**Exchange %d of %d:** %s\n\n", i+1, len(exs), mdText(exchangeLine(ex)))
		if ex.RequestExcerpt != "" {
			b.WriteString("Request excerpt:\n\n")
			mdCodeBlock(b, ex.RequestExcerpt, "")
			b.WriteString("\n")
		}
		if ex.ResponseExcerpt != "" {
			b.WriteString("Response excerpt:\n\n")
			mdCodeBlock(b, ex.ResponseExcerpt, "")
			b.WriteString("\n")
		}
	}
}

// exchangeLine is one line about an exchange: the request and what came
// back (status, the gRPC status it is judged from, content type, size,
// time) or the transport error.
func exchangeLine(ex conformance.Exchange) string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s %s → ", ex.Method, ex.Path)
	if ex.StatusCode == 0 {
		s.WriteString("no response")
	} else {
		if ex.GRPCStatus != "" {
			fmt.Fprintf(&s, "%s, judged as ", ex.GRPCStatus)
		}
		fmt.Fprintf(&s, "%d", ex.StatusCode)
		if ex.ContentType != "" {
			fmt.Fprintf(&s, " %s", ex.ContentType)
		}
	}
	fmt.Fprintf(&s, ", %s in %s", formatMeasure(ex.ResponseBytes), formatMeasure(ex.Duration))
	if ex.BodyOverLimit {
		s.WriteString(" (body over the limit, cut there)")
	}
	if ex.Error != "" {
		fmt.Fprintf(&s, "; error: %s", ex.Error)
	}
	return s.String()
}

// mdFigures writes the measured figures, by name.
func mdFigures(b *strings.Builder, figs map[string]conformance.Measure) {
	if len(figs) == 0 {
		return
	}
	b.WriteString("| Figure | Value |\n|---|---|\n")
	for _, k := range sortedKeys(figs) {
		fmt.Fprintf(b, "| %s | %s |\n", mdText(k), mdText(formatMeasure(figs[k])))
	}
	b.WriteString("\n")
}

// shownCases returns the cases worth showing: those that did not pass
// (at most maxShownCases, with how many more there are), or, when every
// case passed, the one that came closest to its tolerance.
func shownCases(cases []conformance.CaseEvidence) (shown []conformance.CaseEvidence, more int, worst bool) {
	for _, c := range cases {
		if c.Status != spec.Pass {
			shown = append(shown, c)
		}
	}
	if len(shown) > maxShownCases {
		return shown[:maxShownCases], len(shown) - maxShownCases, false
	}
	if len(shown) > 0 || len(cases) == 0 {
		return shown, 0, false
	}
	w := 0
	for i, c := range cases {
		if caseRatio(c) > caseRatio(cases[w]) {
			w = i
		}
	}
	return cases[w : w+1], 0, true
}

// caseRatio is the largest share of its tolerance any output of c used,
// a NaN counting as +Inf.
func caseRatio(c conformance.CaseEvidence) float64 {
	r := 0.0
	for _, o := range c.Outputs {
		v := o.WorstRatio
		if math.IsNaN(v) {
			v = math.Inf(1)
		}
		r = max(r, v)
	}
	return r
}

// mdCases writes the cases that failed, or the worst one.
func mdCases(b *strings.Builder, cases []conformance.CaseEvidence) {
	shown, more, worst := shownCases(cases)
	if len(shown) == 0 {
		return
	}
	if worst {
		fmt.Fprintf(b, "Every one of the %d cases passed; the closest to its tolerance:\n\n", len(cases))
	} else {
		fmt.Fprintf(b, "%d of %d cases did not pass:\n\n", len(shown)+more, len(cases))
	}
	for _, c := range shown {
		fmt.Fprintf(b, "**%s**: %s\n\n", mdText(caseLine(c)), mdText(string(c.Status)))
		if c.Message != "" {
			fmt.Fprintf(b, "%s\n\n", mdText(c.Message))
		}
		if len(c.Outputs) == 0 {
			continue
		}
		b.WriteString("| Output | Outside tolerance | Max abs error | Max rel error | Worst index | Got | Want | Share of allowance |\n|---|---|---|---|---|---|---|---|\n")
		for _, o := range c.Outputs {
			if o.Problem != "" {
				fmt.Fprintf(b, "| %s | %s | | | | | | |\n", mdText(o.Name), mdText(o.Problem))
				continue
			}
			fmt.Fprintf(b, "| %s | %d of %d | %s | %s | %s | %s | %s | %s |\n", mdText(o.Name), o.Violations, o.Elements,
				formatNumber(o.MaxAbs), formatNumber(o.MaxRel), formatIndex(o.WorstIndex),
				formatExact(o.WorstGot), formatExact(o.WorstWant), formatNumber(o.WorstRatio))
		}
		b.WriteString("\n")
	}
	if more > 0 {
		fmt.Fprintf(b, "… and %d more cases that did not pass in report.json.\n\n", more)
	}
}

// caseLine names a case: model, set, case and tolerance class.
func caseLine(c conformance.CaseEvidence) string {
	return fmt.Sprintf("%s case %s (set %s), tolerance class %s (rtol %s, atol %s)",
		modelLabel(c.Model, c.Version), c.Case, c.Set, c.Tolerance.Class, formatNumber(c.Tolerance.RTol), formatNumber(c.Tolerance.ATol))
}

// mdTLS writes what the TLS handshakes found.
func mdTLS(b *strings.Builder, t *conformance.TLSEvidence) {
	if t == nil {
		return
	}
	for _, line := range tlsLines(t) {
		fmt.Fprintf(b, "- %s\n", mdText(line))
	}
	b.WriteString("\n")
}

// tlsLines describes the TLS evidence, one line per fact.
func tlsLines(t *conformance.TLSEvidence) []string {
	var out []string
	if t.Version != "" || t.CipherSuite != "" {
		out = append(out, fmt.Sprintf("TLS handshake: %s %s", t.Version, t.CipherSuite))
	}
	if t.CertificateNotAfter != nil {
		out = append(out, "certificate not after: "+t.CertificateNotAfter.UTC().Format("2006-01-02T15:04:05Z07:00"))
	}
	if t.LegacyHandshake != "" {
		out = append(out, "handshake offering at most TLS 1.1: "+t.LegacyHandshake)
	}
	return out
}

// mdScenario writes what one performance scenario measured on one model;
// its message when it is not the check's.
func mdScenario(b *strings.Builder, sc conformance.ScenarioEvidence, checkMessage string) {
	fmt.Fprintf(b, "**%s on %s**: %s\n\n", mdText(sc.Scenario), mdText(modelLabel(sc.Model, sc.Version)), mdText(string(sc.Status)))
	if sc.Message != "" && sc.Message != checkMessage {
		fmt.Fprintf(b, "%s\n\n", mdText(sc.Message))
	}
	b.WriteString("| Measure | Value |\n|---|---|\n")
	for _, row := range scenarioRows(sc) {
		fmt.Fprintf(b, "| %s | %s |\n", mdText(row[0]), mdText(row[1]))
	}
	b.WriteString("\n")
}

// scenarioRows describes a scenario's evidence as (measure, value) rows.
func scenarioRows(sc conformance.ScenarioEvidence) [][2]string {
	rows := [][2]string{{"measured (" + sc.Basis + ")", formatMeasure(sc.Measured)}}
	budget := formatMeasure(sc.Budget)
	if sc.BudgetSource != "" {
		budget += ", declared in " + sc.BudgetSource
	}
	rows = append(rows, [2]string{"budget", budget})
	if sc.ServerQPS != nil {
		rows = append(rows, [2]string{"arrival rate asked", formatMeasure(*sc.ServerQPS)})
	}
	rows = append(rows, [2]string{"achieved", fmt.Sprintf("%s, throughput %s (%s per query), failed share %s",
		formatMeasure(sc.AchievedRate), formatMeasure(sc.Throughput), plural(sc.SamplesPerQuery, "sample", "samples"), formatMeasure(sc.FailedShare))})
	if r := sc.Result; r != nil {
		rows = append(rows,
			[2]string{"queries", fmt.Sprintf("%d sent, %d succeeded, %d failed, at most %d outstanding", r.Sent, r.Succeeded, r.Failed, r.PeakOutstanding)},
			[2]string{"latency " + distributionColumns, distributionText(r.Latency)},
			[2]string{"latency from actual send " + distributionColumns, distributionText(r.Uncorrected)},
			[2]string{"send lateness " + distributionColumns, distributionText(r.Lateness)},
		)
		if len(r.Errors) > 0 {
			errs := make([]string, 0, len(r.Errors))
			for _, k := range sortedKeys(r.Errors) {
				errs = append(errs, fmt.Sprintf("%s: %d", k, r.Errors[k]))
			}
			rows = append(rows, [2]string{"errors", strings.Join(errs, "; ")})
		}
	}
	rows = append(rows, [2]string{"minimums", minimumsText(sc.Minimums)})
	for _, a := range sc.Arms {
		rows = append(rows, [2]string{"arm " + a.Arm, fmt.Sprintf("%d queries, %d failed, p90 %s", a.Queries, a.Failed, formatMeasure(a.P90))})
	}
	if len(sc.AuditRatios) > 0 {
		rs := make([]string, len(sc.AuditRatios))
		for i, r := range sc.AuditRatios {
			rs[i] = formatNumber(float64(r))
		}
		rows = append(rows, [2]string{"audit ratios", strings.Join(rs, ", ")})
	}
	if a := sc.Accuracy; a != nil {
		v := fmt.Sprintf("%d compared, %d disagreed, worst share of allowance %s (class %s)", a.Compared, a.Failed, formatNumber(float64(a.WorstToleranceRatio)), a.Tolerance)
		if a.Message != "" {
			v += ": " + a.Message
		}
		rows = append(rows, [2]string{"accuracy sample", v})
	}
	if st := sc.Stability; st != nil {
		ps := make([]string, len(st.LastP99))
		for i, m := range st.LastP99 {
			ps[i] = formatMeasure(m)
		}
		stable := "stable"
		if !st.Stable {
			stable = "not stable"
		}
		rows = append(rows, [2]string{"stability", fmt.Sprintf("p99 of the last windows %s, spread %s, %s", strings.Join(ps, ", "), formatNumber(float64(st.Spread)), stable)})
	}
	if sc.LateBodies > 0 {
		rows = append(rows, [2]string{"late bodies", plural(sc.LateBodies, "request body", "request bodies") + " encoded on the timed path"})
	}
	if sc.Result != nil && sc.Result.Doubt != "" {
		rows = append(rows, [2]string{"doubt", sc.Result.Doubt})
	}
	return rows
}

// distributionColumns names what distributionText lists.
const distributionColumns = "p50 / p90 / p95 / p99 / p99.9 / max"

// distributionText lists a distribution's percentiles with its unit and
// count.
func distributionText(d load.Distribution) string {
	vs := []float64{float64(d.P50), float64(d.P90), float64(d.P95), float64(d.P99), float64(d.P999), float64(d.Max)}
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = formatNumber(v)
	}
	out := fmt.Sprintf("%s %s (%d values)", strings.Join(s, " / "), d.Unit, d.Count)
	if d.Clamped > 0 {
		out += fmt.Sprintf(", %d clamped to an hour", d.Clamped)
	}
	return out
}

// minimumsText describes the minimums a scenario used and whether it met
// them.
func minimumsText(m conformance.MinimumsEvidence) string {
	s := fmt.Sprintf("%d %s", m.Count, m.Unit)
	if v := float64(m.Duration.Value); v > 0 {
		s += " and " + formatMeasure(m.Duration)
	}
	if m.Conformance {
		s += " (conformance minimums)"
	} else {
		s += " (development minimums)"
	}
	switch {
	case m.EarlyStopped:
		s += ", ended by early stopping"
	case m.Met:
		s += ", met"
	default:
		s += ", not met"
	}
	return s + ", send lateness bound " + formatMeasure(m.MaxSendLateness)
}
