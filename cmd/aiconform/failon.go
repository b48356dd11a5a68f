package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/spec"
)

// failOnLevels checks the levels of --fail-on against the standard's
// levels and the levels the profile requests (nil: the built-in profile),
// and returns them; none given returns nil (every requested level).
func failOnLevels(names []string, p *conformance.Profile) ([]spec.Level, error) {
	if len(names) == 0 {
		return nil, nil
	}
	if p == nil {
		var err error
		if p, err = conformance.BuiltinProfile(); err != nil {
			return nil, fmt.Errorf("the built-in profile: %w", err)
		}
	}
	var out []spec.Level
	for _, n := range names {
		l := spec.Level(strings.TrimSpace(n))
		switch {
		case !slices.Contains(spec.Levels, l):
			return nil, fmt.Errorf("--fail-on: %q is not a level; want one or more of %s", n, joinLevels(spec.Levels))
		case !slices.Contains(p.Levels, l):
			return nil, fmt.Errorf("--fail-on: level %s is not requested by profile %s (levels %s), so it has no verdict to decide the exit code", l, p.Source(), joinLevels(p.Levels))
		case slices.Contains(out, l):
			continue
		}
		out = append(out, l)
	}
	return out, nil
}

// joinLevels writes levels as "core,safety", the form --fail-on takes.
func joinLevels(levels []spec.Level) string {
	s := make([]string, len(levels))
	for i, l := range levels {
		s[i] = string(l)
	}
	return strings.Join(s, ",")
}

// failOnVerdict describes the verdicts of the --fail-on levels: "pass",
// or "fail (core fail)" naming each level that did not pass.
func failOnVerdict(rep *conformance.Report, levels []spec.Level) string {
	var bad []string
	for _, l := range levels {
		if v := rep.Levels[l]; v != spec.VerdictPass {
			bad = append(bad, fmt.Sprintf("%s %s", l, v))
		}
	}
	if len(bad) == 0 {
		return string(spec.VerdictPass)
	}
	return fmt.Sprintf("%s (%s)", spec.VerdictFail, strings.Join(bad, ", "))
}
