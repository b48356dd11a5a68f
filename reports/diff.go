package reports

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/numerics"
)

// DiffKind is the document kind of a comparison's JSON form.
const DiffKind = "report-diff"

// DiffOptions are the tolerances of Compare (spec/v1/report.md,
// "Comparing reports"). Every tolerance is relative, a fraction: 0.1 is
// 10%. Zero is strict: any change counts.
type DiffOptions struct {
	// LatencyTolerance is how much a latency may grow, and a throughput
	// or the cache audit's ratio fall, before it is a regression; a change
	// the other way by more is an improvement.
	LatencyTolerance float64 `json:"latencyTolerance"`
	// NumericTolerance is how much an output's worst share of its
	// allowance may grow, relative to the old share, and NumericFloor how
	// much it may grow in absolute terms: the growth is a regression only
	// when it exceeds both, so 0 → 1e-9 is not one and 0.1 → 0.6 is.
	NumericTolerance float64 `json:"numericTolerance"`
	NumericFloor     float64 `json:"numericFloor"`
}

// DefaultDiffOptions are the tolerances `aiconform report diff` uses when
// not told others: latencies 10%, shares of the allowance 25% and at
// least 0.05 of the allowance.
func DefaultDiffOptions() DiffOptions {
	return DiffOptions{LatencyTolerance: 0.10, NumericTolerance: 0.25, NumericFloor: 0.05}
}

// Validate reports a tolerance that is negative or not a finite number.
func (o DiffOptions) Validate() error {
	for _, t := range []struct {
		name string
		v    float64
	}{{"latency tolerance", o.LatencyTolerance}, {"numeric tolerance", o.NumericTolerance}, {"numeric floor", o.NumericFloor}} {
		if math.IsNaN(t.v) || math.IsInf(t.v, 0) || t.v < 0 {
			return fmt.Errorf("reports: the %s is %g, want a finite number at least 0", t.name, t.v)
		}
	}
	return nil
}

// Effect says how a change bears on the gate: only a regression fails it.
type Effect string

// The effects of a change, in the order a comparison lists them.
const (
	// Regression is something that got worse: it fails the gate.
	Regression Effect = "regression"
	// Improvement is something that got better.
	Improvement Effect = "improvement"
	// Note is a change that is neither, such as a check only the new
	// report has, or a fact that makes the comparison weaker.
	Note Effect = "note"
)

// ChangeKind says what changed.
type ChangeKind string

// The kinds of change, in the order a comparison lists them within an
// effect.
const (
	// ChangeVerdict is the overall verdict.
	ChangeVerdict ChangeKind = "verdict"
	// ChangeLevel is a level's verdict, or whether the level is requested.
	ChangeLevel ChangeKind = "level"
	// ChangeClaim is whether a level is claimable.
	ChangeClaim ChangeKind = "claim"
	// ChangeCheck is the status of a MUST check.
	ChangeCheck ChangeKind = "check"
	// ChangeWarning is the status of a SHOULD check, whose failure is a
	// warning rather than a verdict.
	ChangeWarning ChangeKind = "warning"
	// ChangeScenario is a performance scenario's status on one model.
	ChangeScenario ChangeKind = "scenario"
	// ChangeCase is the status of one compared case.
	ChangeCase ChangeKind = "case"
	// ChangeNumerics is an output's worst share of its allowance.
	ChangeNumerics ChangeKind = "numerics"
	// ChangeLatency is a latency: a percentile, or the judged figure of a
	// latency scenario.
	ChangeLatency ChangeKind = "latency"
	// ChangeThroughput is the judged throughput of the offline scenario.
	ChangeThroughput ChangeKind = "throughput"
	// ChangeRatio is the judged ratio of the cache audit.
	ChangeRatio ChangeKind = "ratio"
	// ChangeContext is a fact about the runs: the tool, target, profile,
	// goldens, model card, models or seed.
	ChangeContext ChangeKind = "context"
)

var (
	effectOrder = []Effect{Regression, Improvement, Note}
	kindOrder   = []ChangeKind{ChangeVerdict, ChangeLevel, ChangeClaim, ChangeCheck, ChangeWarning, ChangeScenario,
		ChangeCase, ChangeNumerics, ChangeLatency, ChangeThroughput, ChangeRatio, ChangeContext}
)

// Change is one difference between two reports. A state (a verdict, a
// status, claimable or not) is in Old and New; a measured figure is in
// OldValue and NewValue. "absent" and "not requested" stand for what one
// report does not have.
type Change struct {
	Effect Effect     `json:"effect"`
	Kind   ChangeKind `json:"kind"`
	// Check is the id of the check the change is in, with the
	// requirement IDs it cites.
	Check        string   `json:"check,omitempty"`
	Requirements []string `json:"requirements,omitempty"`
	// Subject names what changed: a level, a served model
	// (model@version), a case and output, or a fact about the runs.
	Subject string `json:"subject,omitempty"`
	// Figure names a measured figure: a percentile (p50 … p99.9), the
	// basis of a scenario's judged figure, or "worst share of allowance".
	Figure   string               `json:"figure,omitempty"`
	Old      string               `json:"old,omitempty"`
	New      string               `json:"new,omitempty"`
	OldValue *conformance.Measure `json:"oldValue,omitempty"`
	NewValue *conformance.Measure `json:"newValue,omitempty"`
	// Growth is NewValue/OldValue − 1 when both are finite and OldValue
	// is not zero.
	Growth *numerics.Float `json:"growth,omitempty"`
	// Message is the new report's message for what changed (the old
	// one's when the new report lacks it), or why the change is a note.
	Message string `json:"message,omitempty"`
}

// Comparison is what Compare found: every change, regressions first,
// then improvements, then notes.
type Comparison struct {
	Kind string `json:"kind"`
	// Old and New name the reports compared (their files); Compare leaves
	// them empty for the caller to fill.
	Old     string      `json:"old"`
	New     string      `json:"new"`
	Options DiffOptions `json:"options"`
	// Regressions, Improvements and Notes count Changes by effect.
	Regressions  int      `json:"regressions"`
	Improvements int      `json:"improvements"`
	Notes        int      `json:"notes"`
	Changes      []Change `json:"changes"`
}

// Regressed reports whether any change is a regression: the gate fails.
func (c *Comparison) Regressed() bool { return c.Regressions > 0 }

// ErrSpecVersion is the error of Compare for reports of different
// versions of the standard: their verdicts judge different requirements.
var ErrSpecVersion = errors.New("the reports judge different versions of the standard")

// Compare lists what changed from report before to report after, by the
// rules of spec/v1/report.md ("Comparing reports"). It refuses reports of
// different spec versions (ErrSpecVersion) and invalid options.
func Compare(before, after *conformance.Report, o DiffOptions) (*Comparison, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if before.SpecVersion != after.SpecVersion {
		return nil, fmt.Errorf("reports: %w (%s and %s), so they are not compared", ErrSpecVersion, before.SpecVersion, after.SpecVersion)
	}
	d := &differ{before: before, after: after, o: o}
	d.runContext()
	d.verdicts()
	d.claims()
	d.checks()
	sort.SliceStable(d.out, func(i, j int) bool {
		ei, ej := slices.Index(effectOrder, d.out[i].Effect), slices.Index(effectOrder, d.out[j].Effect)
		if ei != ej {
			return ei < ej
		}
		return slices.Index(kindOrder, d.out[i].Kind) < slices.Index(kindOrder, d.out[j].Kind)
	})
	c := &Comparison{Kind: DiffKind, Options: o, Changes: d.out}
	if c.Changes == nil {
		c.Changes = []Change{}
	}
	for _, ch := range c.Changes {
		switch ch.Effect {
		case Regression:
			c.Regressions++
		case Improvement:
			c.Improvements++
		case Note:
			c.Notes++
		}
	}
	return c, nil
}

// differ collects the changes between two reports.
type differ struct {
	before, after *conformance.Report
	o             DiffOptions
	out           []Change
}

func (d *differ) add(c Change) { d.out = append(d.out, c) }

// absent stands for what one of the reports does not have.
const absent = "absent"
