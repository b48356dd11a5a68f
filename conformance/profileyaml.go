package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aiconform/aiconform/spec"
)

// YAML renders the drafted profile as a commented YAML document that
// ParseProfile reads back as d.Profile: where it came from, the members
// left at their defaults or commented out (bearer auth, the latency
// budgets, notApplicable), and, in comments, the models left out and why.
// It errs when the draft has no profile.
func (d *ProfileDraft) YAML() ([]byte, error) {
	p := d.Profile
	if p == nil {
		return nil, fmt.Errorf("conformance: profile draft of %s: %w", d.Target, ErrNoModelFits)
	}
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# A profile drafted by `aiconform profile init` from the metadata of\n# %s", oneLine(d.Target))
	switch {
	case d.ServerProblem != "":
		w(";\n# its server metadata could not be read: %s.\n", oneLine(d.ServerProblem))
	default:
		ext := oneLine(strings.Join(d.Server.Extensions, ", "))
		if ext == "" {
			ext = "none"
		}
		w(":\n# server %s, version %s, extensions: %s.\n", yamlString(d.Server.Name), yamlString(d.Server.Version), ext)
	}
	w("# Review it before a run: each served model below stands for the reference\n" +
		"# model beside it because its metadata declares that model's tensors.\n")
	w("kind: %s\n", p.Kind)
	w("specVersion: %s\n", p.SpecVersion)
	w("name: %s\n", yamlString(p.Name))
	w("# The levels requested; this build of aiconform has checks for: %s.\n", strings.Join(checkedLevels(), ", "))
	w("levels: [%s]\n", strings.Join(levelStrings(p.Levels), ", "))
	w("goldens: %s\n", p.goldensSource())
	w("timeouts:\n  request: %s\n", time.Duration(*p.Timeouts.Request))
	w("auth:\n  scheme: %s\n", p.Auth.Scheme)
	if p.Auth.Scheme == AuthBearer {
		w("  tokenEnv: %s # the variable's value is the token; it is never written here\n", p.Auth.TokenEnv)
	} else {
		w("# For a bearer token, read from an environment variable during the run:\n#   scheme: bearer\n#   tokenEnv: AICONFORM_TOKEN\n")
	}
	w("# The budgets of the performance level (example values; they are checked\n" +
		"# only with performance among the levels), held by every model below, and\n" +
		"# the minimums of its runs (conformance, the default and the only ones a\n" +
		"# claim accepts, or development for short runs):\n" +
		"# latency:\n#   singleStreamP90: 100ms\n#   serverQPS: 50\n#   serverP99: 250ms\n#   offlineMinThroughput: 200\n#   minimums: conformance\n" +
		"# Or take each served model's budgets from its model card (service.models[].latency),\n" +
		"# a path relative to this file; then declare no budgets under latency:\n" +
		"# modelCard: modelcard.yaml\n")
	w("# A requirement with an Applies-when condition may be declared not applicable,\n"+
		"# with a justification reports show; those requirements are\n#   %s.\n"+
		"# notApplicable:\n#   - requirement: OIP-BINARY-DATA\n#     justification: why its condition is false for this target\n",
		strings.Join(conditionalRequirements(), ", "))
	w("models:\n")
	for _, m := range p.Models {
		w("  - name: %s\n", yamlString(m.Name))
		if m.Version != "" {
			w("    version: %s\n", yamlString(m.Version))
		}
		w("    reference: %s\n    referenceVersion: %s\n", m.Reference, m.ReferenceVersion)
	}
	if len(d.Unfit) > 0 {
		w("# Served models left out (they fit no reference contract, or their\n# metadata could not be read):\n")
		for _, u := range d.Unfit {
			w("#   %s: %s\n", yamlString(u.Label), oneLine(u.Reason))
		}
	}
	if len(d.NotServed) > 0 {
		w("# Reference model names tried as served names and not served (404): %s.\n", strings.Join(d.NotServed, ", "))
	}
	return b.Bytes(), nil
}

// yamlString quotes s as a YAML double-quoted scalar (JSON's string syntax,
// which YAML reads alike), so that no name is read as a number, a boolean
// or YAML syntax.
func yamlString(s string) string {
	j, err := json.Marshal(s)
	if err != nil { // a Go string always marshals
		return `""`
	}
	return string(j)
}

// checkedLevels lists the levels this build has checks for, in report
// order.
func checkedLevels() []string {
	var out []string
	for _, l := range spec.Levels {
		if slices.ContainsFunc(checks, func(c check) bool { return c.Level == l }) {
			out = append(out, string(l))
		}
	}
	return out
}

func levelStrings(levels []spec.Level) []string {
	out := make([]string, len(levels))
	for i, l := range levels {
		out[i] = string(l)
	}
	return out
}
