// Package reports renders conformance reports: the JSON document that
// validates against schemas/report/v1.schema.json, and the terminal
// summary. Renderers are pure functions of the report; files are written
// atomically (temporary file + rename), so a reader never sees half a report.
package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/internal/atomicfile"
	"github.com/aiconform/aiconform/spec"
)

// JSONFile is the name of the JSON report inside a report directory.
const JSONFile = "report.json"

// DefaultWidth is the width, in terminal columns, the summary table fits
// when the caller does not know the terminal's.
const DefaultWidth = 100

// minMessageWidth is the fewest columns the message column gets: a table
// whose other columns leave less is wider than asked.
const minMessageWidth = 16

// tableOverhead is what the table's borders and padding take on a line of
// n columns: "│ " before each cell, " " after it, and the last "│".
func tableOverhead(n int) int { return 3*n + 1 }

// JSON returns the report as indented JSON with a trailing newline.
func JSON(rep *conformance.Report) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return nil, fmt.Errorf("reports: encoding the report: %w", err)
	}
	return b.Bytes(), nil
}

// WriteJSON writes the report to dir/report.json atomically, creating dir
// if needed, and returns the file's path.
func WriteJSON(dir string, rep *conformance.Report) (string, error) {
	b, err := JSON(rep)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("reports: %w", err)
	}
	p := filepath.Join(dir, JSONFile)
	if err := atomicfile.WriteFile(p, b, 0o644); err != nil {
		return "", fmt.Errorf("reports: %w", err)
	}
	return p, nil
}

// Summary writes the terminal summary fitted to DefaultWidth columns; see
// SummaryWidth.
func Summary(w io.Writer, rep *conformance.Report) error {
	return SummaryWidth(w, rep, DefaultWidth)
}

// SummaryWidth writes the terminal summary: a table of the checks (check,
// requirements, status, message), the whole message of each failed check
// the table cut, the counts, the verdict of each level and the overall
// verdict. The table fits width columns (DefaultWidth when width is not
// positive): the other columns keep the width of their longest cell and
// the message column takes every column they leave, cutting a longer
// message. Only when they leave the message fewer than 16 columns is the
// table wider than asked. The lines below the table are not cut, so a
// failed check's message can be copied whole.
func SummaryWidth(w io.Writer, rep *conformance.Report, width int) error {
	if width <= 0 {
		width = DefaultWidth
	}
	msgWidth := messageWidth(rep, width)
	fmt.Fprintf(w, "aiconform %s · spec %s · target %s · profile %s\n",
		rep.Tool.Version, rep.SpecVersion, rep.Target, rep.Profile.Name)
	t := tablewriter.NewTable(w,
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAlignment(tw.AlignLeft),
	)
	t.Header(summaryHeader)
	for _, c := range rep.Checks {
		if err := t.Append([]string{c.ID, strings.Join(c.Requirements, " "), string(c.Status), truncate(c.Message, msgWidth)}); err != nil {
			return fmt.Errorf("reports: summary table: %w", err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("reports: summary table: %w", err)
	}
	// Messages of failed checks, and the justifications of checks the
	// profile declares not applicable, in full: the table cuts them.
	for _, c := range rep.Checks {
		declared := c.Status == spec.Skip && strings.HasSuffix(c.Message, conformance.DeclaredBySuffix)
		if (c.Status == spec.Fail || c.Status == spec.Error || declared) && twwidth.Width(c.Message) > msgWidth {
			fmt.Fprintf(w, "%s %s: %s\n", c.Status, c.ID, c.Message)
		}
	}
	s := rep.Summary
	fmt.Fprintf(w, "%d checks: %d pass, %d fail, %d skip, %d error · %s\n", s.Total, s.Pass, s.Fail, s.Skip, s.Error, duration(rep.Duration))
	levels := make([]string, 0, len(spec.Levels))
	for _, l := range spec.Levels {
		mark := ""
		if !requested(rep, l) {
			mark = " (not requested)"
		}
		levels = append(levels, fmt.Sprintf("%s %s%s", l, rep.Levels[l], mark))
	}
	fmt.Fprintf(w, "levels: %s\n", strings.Join(levels, " · "))
	if rep.Seed != "" {
		fmt.Fprintf(w, "seed: %s (rerun with --seed %s to send the same inputs)\n", rep.Seed, rep.Seed)
	}
	if rep.Stopped != "" {
		fmt.Fprintf(w, "stopped: %s\n", rep.Stopped)
	}
	for _, wn := range rep.Warnings {
		fmt.Fprintf(w, "warning: SHOULD check %s\n", wn)
	}
	for _, c := range rep.Claim {
		if c.Claimable {
			fmt.Fprintf(w, "claim: %s claimable\n", c.Level)
			continue
		}
		reasons := c.Reasons
		more := ""
		if len(reasons) > maxClaimReasons {
			more = fmt.Sprintf("; and %d more in report.json", len(reasons)-maxClaimReasons)
			reasons = reasons[:maxClaimReasons]
		}
		fmt.Fprintf(w, "claim: %s not claimable: %s%s\n", c.Level, strings.Join(reasons, "; "), more)
	}
	if rep.Interrupted != "" {
		fmt.Fprintf(w, "interrupted: %s\n", rep.Interrupted)
	}
	switch {
	case rep.Conformant():
		fmt.Fprintf(w, "verdict: CONFORMANT at %s\n", joinLevels(rep.RequestedLevels))
	case rep.Interrupted != "":
		fmt.Fprintf(w, "verdict: INTERRUPTED, NOT RUN at %s\n", joinLevels(rep.RequestedLevels))
	default:
		fmt.Fprintf(w, "verdict: NOT CONFORMANT at %s\n", joinLevels(rep.RequestedLevels))
	}
	return nil
}

// maxClaimReasons is how many reasons against a claim the summary prints.
const maxClaimReasons = 3

func requested(rep *conformance.Report, l spec.Level) bool {
	for _, r := range rep.RequestedLevels {
		if r == l {
			return true
		}
	}
	return false
}

func joinLevels(ls []spec.Level) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = string(l)
	}
	return strings.Join(s, ", ")
}

func duration(m conformance.Measure) string {
	return fmt.Sprintf("%.0f %s", float64(m.Value), m.Unit)
}

// summaryHeader names the columns of the summary table.
var summaryHeader = []string{"Check", "Requirements", "Status", "Message"}

// messageWidth is how many columns the message column of rep's table gets
// in a table width columns wide.
func messageWidth(rep *conformance.Report, width int) int {
	fixed := make([]int, len(summaryHeader)-1)
	for i := range fixed {
		fixed[i] = twwidth.Width(summaryHeader[i])
	}
	for _, c := range rep.Checks {
		for i, cell := range []string{c.ID, strings.Join(c.Requirements, " "), string(c.Status)} {
			fixed[i] = max(fixed[i], twwidth.Width(cell))
		}
	}
	n := width - tableOverhead(len(summaryHeader))
	for _, f := range fixed {
		n -= f
	}
	return max(n, minMessageWidth)
}

// truncate cuts s to at most n columns, marking a cut with "…".
func truncate(s string, n int) string {
	if twwidth.Width(s) <= n {
		return s
	}
	return twwidth.Truncate(s, n-1) + "…"
}
