package conformance

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aiconform/aiconform/spec"
)

// LevelClaim says whether a report supports a claim of conformance at one
// requested level, by the rules of spec/v1/README.md ("Conformance
// claims"), and why not.
type LevelClaim struct {
	Level     spec.Level `json:"level"`
	Claimable bool       `json:"claimable"`
	// Reasons lists every rule the report does not meet; empty when
	// Claimable.
	Reasons []string `json:"reasons"`
}

// uncovered returns, for each requested level, the MUST requirements of
// the catalog that no check of the results cites.
func uncovered(requested []spec.Level, results []Result) map[spec.Level][]string {
	out := map[spec.Level][]string{}
	for _, l := range requested {
		ids := []string{}
		for _, req := range spec.MustLoad().Requirements {
			if req.Level != l || req.Strength != spec.Must {
				continue
			}
			if !slices.ContainsFunc(results, func(r Result) bool { return slices.Contains(r.Requirements, req.ID) }) {
				ids = append(ids, req.ID)
			}
		}
		out[l] = ids
	}
	return out
}

// Must reports whether r is a MUST check: one that cites a MUST
// requirement (spec/v1/README.md, "Check results"). Any other check is a
// SHOULD check, whose failure is a warning, not a verdict.
func (r Result) Must() bool {
	for _, id := range r.Requirements {
		if req, ok := spec.Lookup(id); ok && req.Strength == spec.Must {
			return true
		}
	}
	return false
}

// warnings lists the SHOULD checks that failed or erred.
func warnings(results []Result) []string {
	out := []string{}
	for _, r := range results {
		if !r.Must() && (r.Status == spec.Fail || r.Status == spec.Error) {
			out = append(out, fmt.Sprintf("%s (%s): %s", r.ID, strings.Join(r.Requirements, ", "), r.Status))
		}
	}
	return out
}

// binding is the binding the run spoke: REST for a report that names
// none.
func (r *Report) binding() spec.Binding {
	if r.Binding == "" {
		return spec.REST
	}
	return r.Binding
}

// claims computes the claim rules for every requested level of rep.
func claims(rep *Report) []LevelClaim {
	var out []LevelClaim
	for _, l := range rep.RequestedLevels {
		c := LevelClaim{Level: l, Reasons: []string{}}
		if v := rep.Levels[l]; v != spec.VerdictPass {
			c.Reasons = append(c.Reasons, fmt.Sprintf("rule 1: the verdict of level %s is %s, not pass", l, v))
		}
		for _, req := range spec.MustLoad().Requirements {
			if req.Level != l || req.Strength != spec.Must {
				continue
			}
			if why := coveredBy(req, rep.Checks, rep.binding()); why != "" {
				c.Reasons = append(c.Reasons, "rule 2: "+why)
			}
		}
		for _, r := range rep.Checks {
			if r.Level == l && r.Status == spec.Skip && r.Must() && !strings.HasPrefix(r.Message, spec.NotApplicablePrefix) {
				c.Reasons = append(c.Reasons, fmt.Sprintf("rule 3: MUST check %s was not checked: %s", r.ID, r.Message))
			}
		}
		if l == spec.Performance {
			c.Reasons = append(c.Reasons, minimumsReasons(rep.Checks)...)
		}
		switch {
		case rep.SpecVersion == "":
			c.Reasons = append(c.Reasons, "rule 5: the report names no version of the standard")
		case rep.Tool.Version == "" || rep.Tool.Version == "unknown":
			c.Reasons = append(c.Reasons, "rule 5: the report names no tool version")
		case rep.Profile.SHA256 == "":
			c.Reasons = append(c.Reasons, "rule 5: the report names no profile sha256")
		}
		c.Claimable = len(c.Reasons) == 0
		out = append(out, c)
	}
	return out
}

// coveredBy returns "" when a MUST requirement is cited by a check that
// passed, or by a check skipped as not applicable where the requirement
// has an Applies-when condition or is not applicable over the run's
// binding b; otherwise why it is not covered.
func coveredBy(req spec.Requirement, results []Result, b spec.Binding) string {
	_, notOver := req.NotApplicableOver(b)
	var citing []string
	for _, r := range results {
		if !slices.Contains(r.Requirements, req.ID) {
			continue
		}
		switch {
		case r.Status == spec.Pass:
			return ""
		case r.Status == spec.Skip && strings.HasPrefix(r.Message, spec.NotApplicablePrefix) && (req.AppliesWhen != "" || notOver):
			return ""
		}
		citing = append(citing, fmt.Sprintf("%s %s", r.ID, r.Status))
	}
	if len(citing) == 0 {
		return fmt.Sprintf("MUST requirement %s is not covered by any check of the run", req.ID)
	}
	return fmt.Sprintf("MUST requirement %s is cited only by checks that did not pass (%s)", req.ID, strings.Join(citing, ", "))
}

// minimumsReasons applies claim rule 4: every scenario that ran on a
// served model used at least the conformance minimums
// (spec/v1/performance.md, rule 7) and met them, or ended by the
// early-stopping rule after the minimum duration.
func minimumsReasons(results []Result) []string {
	var out []string
	for _, r := range results {
		if r.Level != spec.Performance {
			continue
		}
		for _, ev := range r.Evidence.Performance {
			label := ModelRef{Name: ev.Model, Version: ev.Version}.Label()
			switch {
			case !ev.Minimums.Conformance:
				out = append(out, fmt.Sprintf("rule 4: %s ran the %s scenario on %s with minimums below the conformance minimums (%d %s, %v, send lateness bound %v)",
					r.ID, ev.Scenario, label, ev.Minimums.Count, ev.Minimums.Unit, fmtMeasure(ev.Minimums.Duration), fmtMeasure(ev.Minimums.MaxSendLateness)))
			case !ev.Minimums.Met:
				out = append(out, fmt.Sprintf("rule 4: %s did not meet the conformance minimums of the %s scenario on %s", r.ID, ev.Scenario, label))
			}
		}
	}
	return out
}
