package reports

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/spec"
)

// Markdown writes rep as GitHub-flavoured Markdown, for a pull request or
// a published compliance page: a header naming the tool, the standard,
// the target, the profile, the goldens, the model card, the seed and the
// run's start and duration; the verdict of every level and the overall
// verdict; the claim per requested level with every reason against it; a
// table of the checks; each failed or erred check with its evidence in a
// collapsible block; then the warnings, the uncovered requirements and
// why the run stopped, when it did.
//
// Every string of the report is untrusted (a target controls its error
// bodies): it is escaped so that it shows as text and never becomes
// Markdown or HTML (see mdText, mdCodeBlock and mdHTML). The output is
// a function of rep alone.
func Markdown(w io.Writer, rep *conformance.Report) error {
	var b strings.Builder
	mdHeader(&b, rep)
	mdVerdicts(&b, rep)
	mdClaims(&b, rep)
	mdChecks(&b, rep)
	mdFailures(&b, rep)
	mdNotes(&b, rep)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("reports: writing the Markdown report: %w", err)
	}
	return nil
}

// mdHeader writes the title and what the run was.
func mdHeader(b *strings.Builder, rep *conformance.Report) {
	b.WriteString("# Conformance report\n\n")
	fmt.Fprintf(b, "- **Tool:** %s %s\n", mdText(rep.Tool.Name), mdText(rep.Tool.Version))
	fmt.Fprintf(b, "- **Standard:** aiconform %s\n", mdText(rep.SpecVersion))
	fmt.Fprintf(b, "- **Target:** %s\n", mdText(rep.Target))
	fmt.Fprintf(b, "- **Profile:** %s from %s, sha256 %s\n", mdText(rep.Profile.Name), mdText(rep.Profile.Source), mdText(rep.Profile.SHA256))
	fmt.Fprintf(b, "- **Goldens:** %s, sha256 %s\n", mdText(rep.Goldens.Source), mdText(rep.Goldens.SHA256))
	if mc := rep.ModelCard; mc != nil {
		fmt.Fprintf(b, "- **Model card:** %s, sha256 %s\n", mdText(mc.Source), mdText(mc.SHA256))
	}
	if rep.Seed != "" {
		fmt.Fprintf(b, "- **Seed:** %s (rerun with %s to send the same inputs)\n", mdText(rep.Seed), mdText("--seed "+rep.Seed))
	}
	fmt.Fprintf(b, "- **Started:** %s, ran %s", rep.StartTime.UTC().Format(time.RFC3339Nano), formatMeasure(rep.Duration))
	if rep.Deadline != nil {
		fmt.Fprintf(b, " (deadline %s)", formatMeasure(*rep.Deadline))
	}
	b.WriteString("\n\n")
}

// mdVerdicts writes the overall verdict and the verdict of every level.
func mdVerdicts(b *strings.Builder, rep *conformance.Report) {
	b.WriteString("## Verdict\n\n")
	levels := make([]string, len(rep.RequestedLevels))
	for i, l := range rep.RequestedLevels {
		levels[i] = mdText(string(l))
	}
	at := strings.Join(levels, ", ")
	if at == "" {
		at = "no requested level"
	}
	switch {
	case rep.Conformant():
		fmt.Fprintf(b, "**CONFORMANT** at %s\n\n", at)
	case rep.Interrupted != "":
		fmt.Fprintf(b, "**INTERRUPTED, NOT RUN** at %s\n\n", at)
	default:
		fmt.Fprintf(b, "**NOT CONFORMANT** at %s\n\n", at)
	}
	b.WriteString("| Level | Requested | Verdict |\n|---|---|---|\n")
	for _, l := range levelKeys(rep.Levels) {
		req := "no"
		if requested(rep, l) {
			req = "yes"
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", mdText(string(l)), req, mdText(string(rep.Levels[l])))
	}
	b.WriteString("\n")
}

// mdClaims writes, per requested level, whether the report supports a
// claim, with every reason against it.
func mdClaims(b *strings.Builder, rep *conformance.Report) {
	if len(rep.Claim) == 0 {
		return
	}
	b.WriteString("## Claims\n\n")
	for _, c := range rep.Claim {
		if c.Claimable {
			fmt.Fprintf(b, "- **%s:** claimable\n", mdText(string(c.Level)))
			continue
		}
		fmt.Fprintf(b, "- **%s:** not claimable\n", mdText(string(c.Level)))
		for _, r := range c.Reasons {
			fmt.Fprintf(b, "  - %s\n", mdText(r))
		}
	}
	b.WriteString("\n")
}

// mdChecks writes the counts and one row per check.
func mdChecks(b *strings.Builder, rep *conformance.Report) {
	s := rep.Summary
	b.WriteString("## Checks\n\n")
	fmt.Fprintf(b, "%d checks: %d pass, %d fail, %d skip, %d error\n\n", s.Total, s.Pass, s.Fail, s.Skip, s.Error)
	if len(rep.Checks) == 0 {
		return
	}
	b.WriteString("| Check | Requirements | Level | Status | Message |\n|---|---|---|---|---|\n")
	for _, c := range rep.Checks {
		status := mdText(string(c.Status))
		if failedOrErred(c) {
			status = "**" + status + "**"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", mdText(c.ID), mdText(strings.Join(c.Requirements, " ")), mdText(string(c.Level)), status, mdText(c.Message))
	}
	b.WriteString("\n")
}

// failedOrErred reports whether a check failed or erred.
func failedOrErred(c conformance.Result) bool {
	return c.Status == spec.Fail || c.Status == spec.Error
}

// mdFailures writes each failed or erred check with its evidence in a
// collapsible block.
func mdFailures(b *strings.Builder, rep *conformance.Report) {
	opened := false
	for _, c := range rep.Checks {
		if !failedOrErred(c) {
			continue
		}
		if !opened {
			b.WriteString("## Failures\n\n")
			opened = true
		}
		fmt.Fprintf(b, "<details>\n<summary>%s %s (%s)</summary>\n\n", mdHTML(string(c.Status)), mdHTML(c.ID), mdHTML(strings.Join(c.Requirements, " ")))
		fmt.Fprintf(b, "**Message:** %s\n\n", mdText(c.Message))
		mdEvidence(b, c.Evidence, c.Message)
		b.WriteString("</details>\n\n")
	}
}

// mdNotes writes the warnings, the uncovered requirements and why the run
// stopped.
func mdNotes(b *strings.Builder, rep *conformance.Report) {
	if len(rep.Warnings) > 0 {
		b.WriteString("## Warnings\n\nSHOULD checks that failed or erred; they do not change a verdict.\n\n")
		for _, wn := range rep.Warnings {
			fmt.Fprintf(b, "- %s\n", mdText(wn))
		}
		b.WriteString("\n")
	}
	uncovered := false
	for _, ids := range rep.Uncovered {
		uncovered = uncovered || len(ids) > 0
	}
	if uncovered {
		b.WriteString("## Uncovered requirements\n\nMUST requirements of a requested level that no check of the run cites.\n\n")
		for _, l := range levelKeys(rep.Uncovered) {
			ids := rep.Uncovered[l]
			if len(ids) == 0 {
				continue
			}
			fmt.Fprintf(b, "- **%s:** %s\n", mdText(string(l)), mdText(strings.Join(ids, ", ")))
		}
		b.WriteString("\n")
	}
	if rep.Stopped != "" {
		fmt.Fprintf(b, "## Stopped\n\nThe run gave up on its target: %s\n", mdText(rep.Stopped))
	}
	if rep.Interrupted != "" {
		fmt.Fprintf(b, "## Interrupted\n\nThis run is incomplete: %s. The checks it did not run are skipped, each saying so.\n", mdText(rep.Interrupted))
	}
}
