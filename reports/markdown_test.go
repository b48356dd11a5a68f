package reports

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/spec"
)

// injection is text a target could put in its error bodies to break out of
// a Markdown page: HTML, the end of the collapsible block, table pipes,
// code fences, links, emphasis, math, and line breaks that would open a
// heading, a list, an HTML block or a code block.
const injection = "x</details><script>alert(1)</script> | a | b ```` ``` `code` [link](https://evil.example) " +
	"![img](https://evil.example/i.png) <img src=x onerror=alert(1)> &lt; *bold* _it_ ~~s~~ $x$ \\ " +
	"\n# INJECTED heading\n- INJECTED item\n```\n\n</details>\n<details><summary>INJECTED</summary>\r\n1. INJECTED\r    INJECTED code\x00\x1b[31m\xff"

// unescapeMarkdown undoes mdText: backslash escapes and the three
// character references it writes. ok is false when s holds a character
// mdText must escape, unescaped.
func unescapeMarkdown(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) || !strings.ContainsRune("\\`*_[]~$#|-+=.)", rune(s[i+1])) {
				return "", false
			}
			i++
			b.WriteByte(s[i])
		case c == '&':
			ref := ""
			for _, r := range []string{"&amp;", "&lt;", "&gt;"} {
				if strings.HasPrefix(s[i:], r) {
					ref = r
				}
			}
			if ref == "" {
				return "", false
			}
			b.WriteString(map[string]string{"&amp;": "&", "&lt;": "<", "&gt;": ">"}[ref])
			i += len(ref) - 1
		case strings.IndexByte("`*_[]~$#|<>\n\r", c) >= 0:
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func TestMdText(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"plain text, 1.5 ms", "plain text, 1.5 ms"},
		{"a | b", `a \| b`},
		{"<script>alert('x')</script>", "&lt;script&gt;alert('x')&lt;/script&gt;"},
		{"</details>", "&lt;/details&gt;"},
		{"&lt;", "&amp;lt;"},
		{"[link](http://x) ![i](y)", `\[link\](http://x) !\[i\](y)`},
		{"```code```", "\\`\\`\\`code\\`\\`\\`"},
		{"*a* _b_ ~c~ $d$ #e \\f", `\*a\* \_b\_ \~c\~ \$d\$ \#e \\f`},
		{"line one\nline two\r\nthree\rfour", "line one line two three four"},
		{"# heading", `\# heading`},
		{"- item", `\- item`},
		{"+ item", `\+ item`},
		{"---", `\---`},
		{"=", `\=`},
		{"-Inf", "-Inf"},
		{"+Inf", "+Inf"},
		{"1. item", `1\. item`},
		{"12) item", `12\) item`},
		{"1.2.3", "1.2.3"},
		{"    indented code", "indented code"},
		{"nul\x00 esc\x1b bad\xff", "nul\uFFFD esc\uFFFD bad\uFFFD"},
		{"précision 精度 ошибка", "précision 精度 ошибка"},
	}
	for _, tt := range tests {
		if got := mdText(tt.in); got != tt.want {
			t.Errorf("mdText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Whatever the input, the output holds no special character
	// unescaped and no line break, and reads back as the input's text.
	for _, in := range append([]string{injection}, strings.Split(injection, " ")...) {
		out := mdText(in)
		back, ok := unescapeMarkdown(out)
		if !ok {
			t.Errorf("mdText(%q) = %q leaves a special character unescaped", in, out)
			continue
		}
		if want := strings.TrimSpace(oneLine(in)); back != want {
			t.Errorf("mdText(%q) reads back as %q, want %q", in, back, want)
		}
	}
}

// codeBlocks splits a Markdown document into the contents of its fenced
// code blocks (backtick fences) and its other lines, as CommonMark does:
// a block closes at a line of at least as many backticks as opened it,
// and nothing else. open reports a block left open at the end.
func codeBlocks(doc string) (blocks []string, other []string, open bool) {
	fence := 0
	var cur strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		n := len(line) - len(strings.TrimLeft(line, "`"))
		switch {
		case fence == 0 && n >= 3:
			fence = n
			cur.Reset()
		case fence > 0 && n >= fence && strings.TrimRight(line, "`") == "":
			fence = 0
			blocks = append(blocks, cur.String())
		case fence > 0:
			cur.WriteString(line + "\n")
		default:
			other = append(other, line)
		}
	}
	return blocks, other, fence > 0
}

func TestMdCodeBlock(t *testing.T) {
	for _, in := range []string{
		"plain",
		"```\nnot the end\n```",
		"`````` six ``` three",
		"</details>\n# heading\r\n| a | b |\rlast",
		"trailing newline\n",
		injection,
	} {
		var b strings.Builder
		b.WriteString("before\n\n")
		mdCodeBlock(&b, in, "")
		b.WriteString("\nafter\n")
		blocks, other, open := codeBlocks(b.String())
		if open || len(blocks) != 1 {
			t.Errorf("%q: %d blocks, open %v:\n%s", in, len(blocks), open, b.String())
			continue
		}
		want := cleanText(in, true)
		if !strings.HasSuffix(want, "\n") {
			want += "\n"
		}
		if blocks[0] != want {
			t.Errorf("%q: the block holds %q, want %q", in, blocks[0], want)
		}
		if strings.Join(other, "|") != "before|||after|" {
			t.Errorf("%q: text outside the block: %q", in, other)
		}
	}
}

// injectionReport is sample() with injection text in every string a target
// or a report file could control.
func injectionReport() *conformance.Report {
	rep := sample()
	rep.Target = injection
	rep.Profile.Name, rep.Profile.Source, rep.Profile.SHA256 = injection, injection, injection
	rep.Goldens.Source = injection
	rep.ModelCard = &conformance.DocumentRef{Source: injection, SHA256: injection}
	rep.Tool.Version = injection
	rep.Seed = injection
	rep.Stopped = injection
	rep.Warnings = []string{injection}
	rep.Uncovered = map[spec.Level][]string{spec.Core: {injection, "OIP-X"}}
	rep.Levels[spec.Level(injection)] = spec.Verdict(injection)
	rep.Claim = []conformance.LevelClaim{{Level: spec.Core, Reasons: []string{injection, "rule 1: " + injection}}}
	g := &rep.Checks[1]
	g.ID, g.Requirements, g.Message = injection, []string{injection, "NUM-GOLDEN"}, injection
	g.Evidence.Figures[injection] = conformance.Measure{Value: numerics.Float(math.NaN()), Unit: injection}
	c := &g.Evidence.Cases[0]
	c.Model, c.Version, c.Set, c.Case, c.Message = injection, injection, injection, injection, injection
	c.Tolerance.Class = injection
	c.Outputs[0].Name = injection
	c.Outputs = append(c.Outputs, spec.OutputDiff{Name: injection, Diff: numerics.Diff{Problem: injection}})
	g.Evidence.Exchanges = []conformance.Exchange{{Method: injection, Path: injection, StatusCode: 500, ContentType: injection,
		RequestExcerpt: injection, ResponseExcerpt: injection, Error: injection, ResponseBytes: conformance.Bytes(56)}}
	notAfter := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	g.Evidence.TLS = &conformance.TLSEvidence{Version: injection, CipherSuite: injection, CertificateNotAfter: &notAfter, LegacyHandshake: injection}
	g.Evidence.Performance = []conformance.ScenarioEvidence{{Scenario: injection, Model: injection, Version: injection, Status: spec.Fail, Message: injection,
		Budget: conformance.Measure{Value: 250, Unit: injection}, BudgetSource: injection, Basis: injection,
		Minimums: conformance.MinimumsEvidence{Count: 10, Unit: injection},
		Arms:     []conformance.ArmEvidence{{Arm: injection}},
		Accuracy: &conformance.AccuracyEvidence{Tolerance: injection, Message: injection},
		Result: &load.Result{Errors: map[string]int64{injection: 3}, Doubt: injection,
			Latency: load.Distribution{Unit: injection, P99: numerics.Float(math.Inf(1))}}}}
	rep.Checks[2].Status, rep.Checks[2].Message = spec.Error, injection
	return rep
}

// TestMarkdownHostile: text from the report cannot add HTML, close the
// collapsible blocks, split table cells, open or close code blocks, or
// start a heading or a list.
func TestMarkdownHostile(t *testing.T) {
	rep := injectionReport()
	var b bytes.Buffer
	if err := Markdown(&b, rep); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	blocks, lines, open := codeBlocks(doc)
	if open {
		t.Fatalf("a code block is left open:\n%s", doc)
	}
	// The excerpts are the only code blocks, each holding its text.
	want := cleanText(injection, true) + "\n"
	if len(blocks) != 2 || blocks[0] != want || blocks[1] != want {
		t.Errorf("code blocks %q, want the request and the response excerpts, %q each", blocks, want)
	}
	failedChecks := 0
	for _, c := range rep.Checks {
		if failedOrErred(c) {
			failedChecks++
		}
	}
	headings := map[string]bool{"# Conformance report": true, "## Verdict": true, "## Claims": true, "## Checks": true,
		"## Failures": true, "## Warnings": true, "## Uncovered requirements": true, "## Stopped": true}
	tags := map[string]int{}
	columns := 0
	for _, line := range lines {
		// The only HTML is the renderer's own, one tag per line or a
		// summary with no tag inside.
		for i := strings.IndexByte(line, '<'); i >= 0; i = strings.IndexByte(line, '<') {
			tag := line[i:]
			if j := strings.IndexByte(tag, '>'); j >= 0 {
				tag = tag[:j+1]
			}
			switch tag {
			case "<details>", "</details>", "<summary>", "</summary>":
				tags[tag]++
			default:
				t.Errorf("HTML %q outside a code block: %q", tag, line)
			}
			line = line[i+len(tag):]
		}
	}
	for _, tag := range []string{"<details>", "</details>", "<summary>", "</summary>"} {
		if tags[tag] != failedChecks {
			t.Errorf("%d %s tags, want one per failed check (%d)", tags[tag], tag, failedChecks)
		}
	}
	for _, line := range lines {
		if strings.HasPrefix(line, "#") && !headings[line] {
			t.Errorf("a heading the renderer did not write: %q", line)
		}
		// Hostile text stays on the line where it starts: its line
		// breaks cannot open a block.
		if strings.Contains(line, "INJECTED") && !strings.Contains(line, "x&lt;/details&gt;") {
			t.Errorf("injection text opens a line: %q", line)
		}
		// Every row of a table has as many cells as its header.
		if !strings.HasPrefix(line, "|") {
			columns = 0
			continue
		}
		n := unescapedPipes(line)
		if columns == 0 {
			columns = n
		} else if n != columns {
			t.Errorf("a table row has %d cell borders, its header %d: %q", n, columns, line)
		}
	}
}

// unescapedPipes counts the | of a line that a backslash does not escape.
func unescapedPipes(line string) int {
	n := 0
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case '|':
			n++
		}
	}
	return n
}

// TestMarkdownContents: the rendering shows what the report holds, in
// the order the standard asks for.
func TestMarkdownContents(t *testing.T) {
	rep := fixture(t)
	var b bytes.Buffer
	if err := Markdown(&b, rep); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	last := -1
	for _, want := range []string{
		"aiconform 1.2.3", rep.Profile.SHA256, rep.Goldens.SHA256, rep.ModelCard.SHA256, rep.Seed, "2026-03-04T05:06:07.89Z", "31.25 s",
		"**NOT CONFORMANT** at core, performance, safety", "| performance | yes | fail |",
		"- **core:** not claimable", "rule 2: MUST requirement NUM-OUTPUT-VALID",
		"| api/health-live | OIP-HEALTH-LIVE | core | pass | GET /v2/health/live answered 200 |",
		"<summary>fail numerics/golden (NUM-GOLDEN)</summary>", "| logits | 3 of 10 | NaN | +Inf | [0 7] | NaN | 0.1187 | +Inf |",
		"<summary>error performance/single-stream (LAT-SINGLE-STREAM)</summary>", "| measured (early-stopping bound of p90 at 99% confidence) | 18.143 ms |",
		"| doubt | p99 send lateness 212 ms exceeds the bound 100 ms |",
		"<summary>fail safety/malformed-json (SAFE-MALFORMED-JSON)</summary>", "→ 500 text/html; charset=utf-8",
		"<html><script>alert('x')</script> | `pipe` ** not markdown ** — ошибка\n```",
		"## Warnings", "## Uncovered requirements", "- **performance:** LAT-OFFLINE",
	} {
		i := strings.Index(doc, want)
		if i < 0 {
			t.Errorf("the rendering lacks %q", want)
			continue
		}
		if i < last {
			t.Errorf("%q is out of order", want)
		}
		last = i
	}
	// Each failed or erred check, and only those, has its block.
	for _, c := range rep.Checks {
		has := strings.Contains(doc, "<summary>"+string(c.Status)+" "+c.ID+" ")
		if has != failedOrErred(c) {
			t.Errorf("%s (%s): collapsible block %v", c.ID, c.Status, has)
		}
	}
}

func TestFormatNumber(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{math.NaN(), "NaN"}, {math.Inf(1), "+Inf"}, {math.Inf(-1), "-Inf"}, {math.Copysign(0, -1), "0"},
		{4, "4"}, {-3, "-3"}, {18446744073709551615, "1.84467e+19"}, {165.53222677012036, "165.532"}, {1e-05, "1e-05"}, {0.0001, "0.0001"},
	}
	for _, tt := range tests {
		if got := formatNumber(tt.v); got != tt.want {
			t.Errorf("formatNumber(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
	for _, tt := range []struct {
		m    conformance.Measure
		want string
	}{
		{conformance.Measure{Value: 31250, Unit: "ms"}, "31.25 s"},
		{conformance.Measure{Value: 0.5, Unit: "ms"}, "0.5 ms"},
		{conformance.Measure{Value: numerics.Float(math.Inf(1)), Unit: "ms"}, "+Inf ms"},
		{conformance.Measure{Value: 4, Unit: "1"}, "4"},
		{conformance.Measure{Value: 20, Unit: "queries/s"}, "20 queries/s"},
	} {
		if got := formatMeasure(tt.m); got != tt.want {
			t.Errorf("formatMeasure(%v) = %q, want %q", tt.m, got, tt.want)
		}
	}
}

// TestExchangeLineGRPC: a gRPC call's line names its status and the REST
// status it is judged as; a call without a status has no response.
func TestExchangeLineGRPC(t *testing.T) {
	ms := conformance.Millis(2 * time.Millisecond)
	for _, tt := range []struct {
		ex   conformance.Exchange
		want string
	}{
		{conformance.Exchange{Method: "GRPC", Path: "/inference.GRPCInferenceService/ModelInfer", StatusCode: 400, GRPCStatus: "INVALID_ARGUMENT", ResponseBytes: conformance.Bytes(12), Duration: ms},
			"GRPC /inference.GRPCInferenceService/ModelInfer → INVALID_ARGUMENT, judged as 400, 12 B in 2 ms"},
		{conformance.Exchange{Method: "GRPC", Path: "/inference.GRPCInferenceService/ServerLive", ResponseBytes: conformance.Bytes(0), Duration: ms, Error: "no complete response"},
			"GRPC /inference.GRPCInferenceService/ServerLive → no response, 0 B in 2 ms; error: no complete response"},
	} {
		if got := exchangeLine(tt.ex); got != tt.want {
			t.Errorf("exchangeLine = %q, want %q", got, tt.want)
		}
	}
}
