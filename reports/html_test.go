package reports

import (
	"bytes"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/spec"
)

// renderHTML renders rep through Render, failing the test on an error.
func renderHTML(t *testing.T, rep *conformance.Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, rep, FormatHTML, Options{}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestHTMLGolden(t *testing.T) {
	checkGolden(t, "fixture.html", []byte(renderHTML(t, fixture(t))))
}

func TestHTMLDeterministic(t *testing.T) {
	first := renderHTML(t, fixture(t))
	for range 5 {
		if renderHTML(t, fixture(t)) != first {
			t.Fatal("two renderings of the same report differ")
		}
	}
}

// hostile is text a target controls that would be markup if not escaped.
const hostile = `</title></pre></td><script>alert(1)</script><img src=x onerror=alert(2)><a href="javascript:alert(3)">x</a>`

// markup finds elements and attributes that would run or load something:
// escaped text has no "<" to start them.
var markup = regexp.MustCompile(`(?i)<(?:script|img|iframe|link|object|embed)\b|<[a-z][^>]*\son[a-z]+\s*=|<[a-z][^>]*=\s*["']?\s*javascript:`)

func TestHTMLEscapesTheReport(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *conformance.Report)
	}{
		{"target", func(r *conformance.Report) { r.Target = hostile }},
		{"profile", func(r *conformance.Report) { r.Profile.Name, r.Profile.Source = hostile, hostile }},
		{"stopped", func(r *conformance.Report) { r.Stopped = hostile }},
		{"claim reason", func(r *conformance.Report) { r.Claim[0].Reasons = []string{hostile} }},
		{"warning", func(r *conformance.Report) { r.Warnings = []string{hostile} }},
		{"check", func(r *conformance.Report) {
			r.Checks[0].ID, r.Checks[0].Message, r.Checks[0].Requirements = hostile, hostile, []string{hostile}
		}},
		{"exchange", func(r *conformance.Report) {
			c := &r.Checks[0]
			c.Status = spec.Fail // its evidence is shown in full
			e := &c.Evidence.Exchanges[0]
			e.Path, e.ContentType, e.RequestExcerpt, e.ResponseExcerpt, e.Error = hostile, hostile, hostile, hostile, hostile
		}},
		{"figure", func(r *conformance.Report) {
			r.Checks[0].Evidence.Figures = map[string]conformance.Measure{hostile: {Value: 1, Unit: hostile}}
		}},
		{"case", func(r *conformance.Report) {
			c := &r.Checks[3].Evidence.Cases[0]
			c.Model, c.Version, c.Set, c.Case, c.Message, c.Tolerance.Class = hostile, hostile, hostile, hostile, hostile, hostile
			c.Outputs[0].Name, c.Outputs[1].Problem = hostile, hostile
		}},
		{"scenario", func(r *conformance.Report) {
			p := &r.Checks[5].Evidence.Performance[0]
			p.Scenario, p.Model, p.Message, p.Basis, p.BudgetSource, p.Result.Doubt = hostile, hostile, hostile, hostile, hostile, hostile
			p.Result.Errors = map[string]int64{hostile: 1}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := fixture(t)
			tt.change(rep)
			page := renderHTML(t, rep)
			if m := markup.FindAllString(page, -1); len(m) > 0 {
				t.Errorf("the page holds live markup %q", m)
			}
			if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
				t.Error("the hostile text is not on the page, escaped")
			}
		})
	}
}

func TestHTMLScriptInEvidenceIsInert(t *testing.T) {
	page := renderHTML(t, fixture(t))
	// safety/malformed-json failed on a body with a <script> element.
	if !strings.Contains(page, "<pre>\n&lt;html&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") {
		t.Error("the hostile response excerpt is not shown escaped in a <pre>")
	}
	if m := markup.FindAllString(page, -1); len(m) > 0 {
		t.Errorf("the page holds live markup %q", m)
	}
}

func TestHTMLIsSelfContained(t *testing.T) {
	page := renderHTML(t, fixture(t))
	const csp = `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`
	if !strings.Contains(page, csp) {
		t.Errorf("the page lacks %s", csp)
	}
	if !strings.Contains(page, `<meta name="viewport" content="width=device-width, initial-scale=1">`) {
		t.Error("the page lacks its viewport meta")
	}
	// Links are anchors inside the page; nothing is loaded.
	for _, m := range regexp.MustCompile(`(?i)\s(?:src|href|srcset|action|data)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "#") {
			t.Errorf("the page refers to %q", m[1])
		}
	}
	for _, s := range []string{"@import", "url(", "@font-face", "<script"} {
		if strings.Contains(strings.ToLower(page), s) {
			t.Errorf("the page holds %q", s)
		}
	}
	if n := strings.Count(page, "<details"); n != strings.Count(page, "</details>") || n == 0 {
		t.Errorf("%d <details> elements, %d closed", n, strings.Count(page, "</details>"))
	}
}

func TestHTMLContents(t *testing.T) {
	page := renderHTML(t, fixture(t))
	for _, want := range []string{
		// The verdicts, with the claims and their reasons.
		`<p class="big">✗ NOT CONFORMANT at core, performance, safety</p>`,
		`<div class="banner level fail" id="verdict-core">`,
		`<h3>performance: <span class="verdict">✗ FAIL</span></h3>`,
		`<p>requested · ✗ not claimable</p>`,
		`<li>rule 2: MUST requirement LAT-OFFLINE is not covered by any check of the run</li>`,
		// The facts of the run.
		`<code>18446744073709551615</code>`,
		`<dt>Deadline</dt><dd>600 s</dd>`,
		`acme-édition 模型`,
		// A failed check's evidence is open; a passing one's is closed.
		`<details open>` + "\n" + `<summary>Evidence of safety/malformed-json: 3 exchanges · 1 figure</summary>`,
		`<details>` + "\n" + `<summary>Evidence of api/health-live: 1 exchange</summary>`,
		`<strong>no response</strong>`,
		// Non-finite numbers by name (html/template writes + as &#43;).
		`<td class="num">NaN</td><td class="num">&#43;Inf</td><td class="num">&#43;Inf</td>`,
		`<tr><th scope="row">worstToleranceRatio</th><td class="num">&#43;Inf</td></tr>`,
		// The numerics tables and the performance sections.
		`numerics/golden · seed-cnn/fp32 (cpu) · tolerance class fp32: rtol 0.0001, atol 1e-05`,
		`<td class="num">10</td><td class="num">0</td><td class="num">2.5e-06</td><td class="num">3.1e-05</td><td class="num">42%</td>`,
		`<h3>cache-audit · seed-cnn@fp32 <span class="status fail">✗ fail</span></h3>`,
		`<dt>Audit ratios</dt><dd>0.224, 0.209, 0.216</dd>`,
		`<title>Latency by percentile, server scenario, seed-rnn@fp32</title>`,
		`<title>Latency histogram, cache-audit scenario, seed-cnn@fp32</title>`,
		`<title>Share of the tolerance used per case, seed-cnn@fp32</title>`,
		`<text class="budget-label" x="612" `,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

func TestWorstShare(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	out := func(r float64, problem string) spec.OutputDiff {
		return spec.OutputDiff{Name: "o", Diff: numerics.Diff{WorstRatio: r, Problem: problem}}
	}
	tests := []struct {
		name    string
		outputs []spec.OutputDiff
		want    float64
	}{
		{"largest", []spec.OutputDiff{out(0.2, ""), out(0.7, ""), out(0.1, "")}, 0.7},
		{"zero", []spec.OutputDiff{out(0, "")}, 0},
		{"infinite wins", []spec.OutputDiff{out(nan, ""), out(inf, ""), out(0.3, "")}, inf},
		{"NaN over finite", []spec.OutputDiff{out(0.3, ""), out(nan, "")}, nan},
		{"a problem has no share", []spec.OutputDiff{out(0.3, ""), out(0, "output is missing")}, nan},
		{"no outputs", nil, nan},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := worstShare(&conformance.CaseEvidence{Outputs: tt.outputs})
			if !(got == tt.want || math.IsNaN(got) && math.IsNaN(tt.want)) {
				t.Errorf("worstShare = %g, want %g", got, tt.want)
			}
		})
	}
}

func TestHTMLFormatting(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"rounded", shortNumber(numerics.Float(18.97872791744477)), "18.98"},
		{"integer", shortNumber(numerics.Float(31250)), "31250"},
		{"small", shortNumber(1e-5), "1e-05"},
		{"NaN", shortNumber(numerics.Float(math.NaN())), "NaN"},
		{"-Inf", shortNumber(math.Inf(-1)), "-Inf"},
		{"measure", shortMeasure(conformance.Measure{Value: 750, Unit: "ms"}), "750 ms"},
		{"seconds", shortMeasure(conformance.Measure{Value: 31250, Unit: "ms"}), "31.25 s"},
		{"count", shortMeasure(conformance.Measure{Value: 4, Unit: conformance.UnitCount}), "4"},
		{"+Inf measure", shortMeasure(conformance.Measure{Value: numerics.Float(math.Inf(1)), Unit: "ms"}), "+Inf ms"},
		{"status", statusText(spec.Error), "! error"},
		{"verdict", verdictText(spec.VerdictNotRun), "– NOT RUN"},
		{"model", modelLabel("m", "v"), "m@v"},
		{"model without version", modelLabel("m", ""), "m"},
		{"open loop", planText(load.Plan{Rate: 20, MinQueries: 128, Warmup: 32, Seed: 7, Duration: 500e6}),
			"open loop, 20 queries/s (poisson arrivals), at least 128 queries and 500ms, 32 warm-up queries, seed 7"},
		{"closed loop shard", planText(load.Plan{Concurrency: 4, Duration: 1e9, Shard: load.Shard{Index: 1, Count: 2}}),
			"closed loop, 4 outstanding, at least 0 queries and 1s, 0 warm-up queries, seed 0, shard 1 of 2"},
		{"evidence", evidenceSummary(&conformance.Evidence{Exchanges: make([]conformance.Exchange, 2), Figures: map[string]conformance.Measure{"a": {}}, TLS: &conformance.TLSEvidence{}}),
			"2 exchanges · 1 figure · TLS handshakes"},
		{"no evidence", evidenceSummary(&conformance.Evidence{}), ""},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestHTMLWithoutCasesOrPerformance(t *testing.T) {
	rep := fixture(t)
	var kept []conformance.Result
	for _, c := range rep.Checks {
		if len(c.Evidence.Cases) == 0 && len(c.Evidence.Performance) == 0 {
			kept = append(kept, c)
		}
	}
	rep.Checks = kept
	page := renderHTML(t, rep)
	for _, want := range []string{"<p>No check of the run compared outputs.</p>", "<p>No performance scenario ran.</p>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "<svg") {
		t.Error("a page with nothing to plot has a plot")
	}
}

func TestHTMLRefusesABrokenHistogram(t *testing.T) {
	rep := fixture(t)
	rep.Checks[6].Evidence.Performance[0].Result = &load.Result{Sent: 1, Latency: load.Distribution{Count: 1, Histogram: "not a histogram"}}
	var b bytes.Buffer
	err := HTML(&b, rep)
	if err == nil || !strings.Contains(err.Error(), "performance/server on seed-rnn@fp32: latency") {
		t.Errorf("HTML error = %v, want one naming the check and the model", err)
	}
}
