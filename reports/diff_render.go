package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aiconform/aiconform/conformance"
)

// DiffJSON returns the comparison as indented JSON with a trailing
// newline.
func DiffJSON(c *Comparison) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("reports: encoding the comparison: %w", err)
	}
	return b.Bytes(), nil
}

// diffHeadings are the headings of the sections of the terminal rendering.
var diffHeadings = map[Effect]string{Regression: "regressions", Improvement: "improvements", Note: "notes"}

// WriteDiff writes the comparison for the terminal: a line naming the
// reports, the regressions, then the improvements, then the notes, one
// line per change, and a last line with the counts. Messages are not cut.
func WriteDiff(w io.Writer, c *Comparison) error {
	var b strings.Builder
	fmt.Fprintf(&b, "report diff: %s → %s (latency tolerance %s, numeric tolerance %s above %s of the allowance)\n",
		orDefault(c.Old, "old report"), orDefault(c.New, "new report"), percent(c.Options.LatencyTolerance), percent(c.Options.NumericTolerance), formatNumber(c.Options.NumericFloor))
	for _, e := range effectOrder {
		heading := false
		for _, ch := range c.Changes {
			if ch.Effect != e {
				continue
			}
			if !heading {
				fmt.Fprintf(&b, "%s:\n", diffHeadings[e])
				heading = true
			}
			fmt.Fprintf(&b, "  %s\n", ch.Line())
		}
	}
	fmt.Fprintf(&b, "%s, %s, %s\n",
		plural(c.Regressions, "regression", "regressions"), plural(c.Improvements, "improvement", "improvements"), plural(c.Notes, "note", "notes"))
	_, err := io.WriteString(w, b.String())
	return err
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Line is the change on one line: its kind, what changed, from what to
// what, and the message.
func (c Change) Line() string {
	head := []string{string(c.Kind)}
	if c.Check != "" {
		check := c.Check
		if len(c.Requirements) > 0 {
			check += " (" + strings.Join(c.Requirements, ", ") + ")"
		}
		head = append(head, check)
	}
	for _, s := range []string{c.Subject, c.Figure} {
		if s != "" {
			head = append(head, s)
		}
	}
	var moves []string
	if c.Old != "" || c.New != "" {
		moves = append(moves, orAbsent(c.Old)+" → "+orAbsent(c.New))
	}
	if c.OldValue != nil || c.NewValue != nil {
		m := formatFigure(c.OldValue) + " → " + formatFigure(c.NewValue)
		if c.Growth != nil {
			m += fmt.Sprintf(" (%+.1f%%)", float64(*c.Growth)*100)
		}
		moves = append(moves, m)
	}
	line := strings.Join(head, " ")
	if len(moves) > 0 {
		line += ": " + strings.Join(moves, ", ")
	}
	if c.Message != "" {
		line += ": " + c.Message
	}
	return line
}

// formatFigure writes a figure of a change, or absent when one of the
// reports lacks it.
func formatFigure(m *conformance.Measure) string {
	if m == nil {
		return absent
	}
	return formatMeasure(*m)
}

func percent(v float64) string { return strconv.FormatFloat(v*100, 'g', 6, 64) + "%" }
