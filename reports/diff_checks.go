package reports

import (
	"fmt"
	"math"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/spec"
)

// statusRank orders check and case statuses from worst to best: a skip
// decided nothing, which is better than a failure or an error and worse
// than a pass.
var statusRank = map[spec.Status]int{spec.Fail: 0, spec.Error: 0, spec.Skip: 1, spec.Pass: 2}

// failing reports whether s fails or errs.
func failing(s spec.Status) bool { return s == spec.Fail || s == spec.Error }

// checkKind is ChangeCheck for a MUST check, ChangeWarning for a SHOULD one.
func checkKind(r conformance.Result) ChangeKind {
	if r.Must() {
		return ChangeCheck
	}
	return ChangeWarning
}

// checks compares the checks by id: the status of each, then what the
// checks in both reports measured and compared.
func (d *differ) checks() {
	after := make(map[string]*conformance.Result, len(d.after.Checks))
	for i := range d.after.Checks {
		after[d.after.Checks[i].ID] = &d.after.Checks[i]
	}
	inBefore := make(map[string]bool, len(d.before.Checks))
	for i := range d.before.Checks {
		b := &d.before.Checks[i]
		inBefore[b.ID] = true
		a, ok := after[b.ID]
		if !ok {
			c := Change{Effect: Note, Kind: checkKind(*b), Check: b.ID, Requirements: b.Requirements, Old: string(b.Status), New: absent,
				Message: "the new report has no such check"}
			if b.Status == spec.Pass {
				c.Effect = Regression
			}
			d.add(c)
			continue
		}
		d.status(b, a)
		d.scenarios(b, a)
		d.cases(b, a)
	}
	for _, a := range d.after.Checks {
		if !inBefore[a.ID] {
			d.add(Change{Effect: Note, Kind: checkKind(a), Check: a.ID, Requirements: a.Requirements, Old: absent, New: string(a.Status),
				Message: "only the new report has the check: " + a.Message})
		}
	}
}

// status compares the status of a check in both reports: a worse rank is
// a regression, a better one an improvement, and a fail that became an
// error (or back) a note.
func (d *differ) status(b, a *conformance.Result) {
	if b.Status == a.Status {
		return
	}
	d.add(Change{Effect: rankEffect(statusRank[b.Status], statusRank[a.Status]), Kind: checkKind(*a), Check: a.ID, Requirements: a.Requirements,
		Old: string(b.Status), New: string(a.Status), Message: a.Message})
}

// caseKey identifies a case within a check: its model, version, set and
// name, and how many cases of the check had the same before it.
type caseKey struct {
	model, version, set, name string
	n                         int
}

func caseKeys(cs []conformance.CaseEvidence) []caseKey {
	seen := map[caseKey]int{}
	keys := make([]caseKey, len(cs))
	for i, c := range cs {
		k := caseKey{model: c.Model, version: c.Version, set: c.Set, name: c.Case}
		keys[i] = caseKey{model: c.Model, version: c.Version, set: c.Set, name: c.Case, n: seen[k]}
		seen[k]++
	}
	return keys
}

func (k caseKey) subject() string {
	return fmt.Sprintf("%s, set %s, case %s", modelLabel(k.model, k.version), k.set, k.name)
}

// cases compares the cases of a check present in both reports: a case
// that fails now and did not is a regression (also a case the old report
// lacks when the old check compared its model); a case that failed and
// does not is an improvement; otherwise each output's worst share of its
// allowance is compared under the numeric tolerance.
func (d *differ) cases(b, a *conformance.Result) {
	bk, ak := caseKeys(b.Evidence.Cases), caseKeys(a.Evidence.Cases)
	after := make(map[caseKey]*conformance.CaseEvidence, len(ak))
	for i, k := range ak {
		after[k] = &a.Evidence.Cases[i]
	}
	inBefore := make(map[caseKey]bool, len(bk))
	missing := 0
	for i, k := range bk {
		inBefore[k] = true
		bc := &b.Evidence.Cases[i]
		ac, ok := after[k]
		if !ok {
			missing++
			continue
		}
		c := Change{Kind: ChangeCase, Check: a.ID, Requirements: a.Requirements, Subject: k.subject(), Figure: shareFigure,
			Old: string(bc.Status), New: string(ac.Status), OldValue: caseShare(bc), NewValue: caseShare(ac)}
		switch {
		case failing(ac.Status) && !failing(bc.Status):
			c.Effect, c.Message = Regression, ac.Message
			d.add(c)
		case failing(bc.Status) && !failing(ac.Status):
			c.Effect = Improvement
			d.add(c)
		default:
			d.outputs(a, k, bc, ac)
		}
	}
	models := checkModels(b)
	added := 0
	for i, k := range ak {
		if inBefore[k] {
			continue
		}
		ac := &a.Evidence.Cases[i]
		if failing(ac.Status) && models[modelLabel(k.model, k.version)] {
			d.add(Change{Effect: Regression, Kind: ChangeCase, Check: a.ID, Requirements: a.Requirements, Subject: k.subject(), Figure: shareFigure,
				Old: absent, New: string(ac.Status), NewValue: caseShare(ac), Message: ac.Message})
			continue
		}
		added++
	}
	if missing > 0 {
		d.add(Change{Effect: Note, Kind: ChangeCase, Check: a.ID, Requirements: a.Requirements, Old: fmt.Sprint(missing), New: absent,
			Message: fmt.Sprintf("%s of the old report %s not in the new one", plural(missing, "case", "cases"), isAre(missing))})
	}
	if added > 0 {
		d.add(Change{Effect: Note, Kind: ChangeCase, Check: a.ID, Requirements: a.Requirements, Old: absent, New: fmt.Sprint(added),
			Message: fmt.Sprintf("%s of the new report %s not in the old one", plural(added, "case", "cases"), isAre(added))})
	}
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// checkModels is the set of served models (model@version) a check
// compared: in its cases and its performance scenarios.
func checkModels(r *conformance.Result) map[string]bool {
	out := map[string]bool{}
	for _, c := range r.Evidence.Cases {
		out[modelLabel(c.Model, c.Version)] = true
	}
	for _, p := range r.Evidence.Performance {
		out[modelLabel(p.Model, p.Version)] = true
	}
	return out
}

// shareFigure names the share of the allowance an output's worst element
// used (numerics.Diff.WorstRatio): above 1 it is outside its tolerance.
const shareFigure = "worst share of allowance"

// outputShare is the worst share of its allowance an output used; an
// output that could not be compared at all (its Problem is set), and a
// share that is not a number, count as +Inf.
func outputShare(o spec.OutputDiff) float64 {
	if o.Problem != "" || math.IsNaN(o.WorstRatio) {
		return math.Inf(1)
	}
	return o.WorstRatio
}

// caseShare is the worst share of any output of a case, nil when the case
// has no outputs.
func caseShare(c *conformance.CaseEvidence) *conformance.Measure {
	if len(c.Outputs) == 0 {
		return nil
	}
	worst := math.Inf(-1)
	for _, o := range c.Outputs {
		worst = max(worst, outputShare(o))
	}
	return &conformance.Measure{Value: numerics.Float(worst), Unit: conformance.UnitCount}
}

// outputs compares the worst share of each output the case has in both
// reports: a growth beyond both the numeric tolerance and the floor is a
// regression, a fall beyond both an improvement.
func (d *differ) outputs(a *conformance.Result, k caseKey, bc, ac *conformance.CaseEvidence) {
	for _, bo := range bc.Outputs {
		for _, ao := range ac.Outputs {
			if ao.Name != bo.Name {
				continue
			}
			old, cur := outputShare(bo), outputShare(ao)
			var effect Effect
			switch {
			case cur > old*(1+d.o.NumericTolerance) && cur-old > d.o.NumericFloor:
				effect = Regression
			case cur < old*(1-d.o.NumericTolerance) && old-cur > d.o.NumericFloor:
				effect = Improvement
			default:
				continue
			}
			c := figureChange(effect, ChangeNumerics, conformance.UnitCount, old, cur)
			c.Check, c.Requirements, c.Subject, c.Figure = a.ID, a.Requirements, k.subject()+", output "+ao.Name, shareFigure
			if effect == Regression {
				c.Message = ac.Message
			}
			d.add(c)
		}
	}
}

// figureChange is a change of a measured figure from old to cur.
func figureChange(e Effect, k ChangeKind, unit string, old, cur float64) Change {
	c := Change{Effect: e, Kind: k,
		OldValue: &conformance.Measure{Value: numerics.Float(old), Unit: unit},
		NewValue: &conformance.Measure{Value: numerics.Float(cur), Unit: unit}}
	if g := cur/old - 1; old != 0 && !math.IsInf(old, 0) && !math.IsNaN(old) && !math.IsInf(cur, 0) && !math.IsNaN(cur) {
		gf := numerics.Float(g)
		c.Growth = &gf
	}
	return c
}
