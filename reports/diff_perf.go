package reports

import (
	"math"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/numerics"
)

// percentiles are the percentiles of a latency distribution a comparison
// holds to the latency tolerance, with their names in report.json.
var percentiles = []struct {
	name string
	of   func(load.Distribution) numerics.Float
}{
	{"p50", func(d load.Distribution) numerics.Float { return d.P50 }},
	{"p90", func(d load.Distribution) numerics.Float { return d.P90 }},
	{"p95", func(d load.Distribution) numerics.Float { return d.P95 }},
	{"p99", func(d load.Distribution) numerics.Float { return d.P99 }},
	{"p99.9", func(d load.Distribution) numerics.Float { return d.P999 }},
}

// scenarios compares the performance scenarios a check ran on the same
// served model in both reports: the scenario's status, every percentile
// of its latency (from scheduled send time), and its judged figure.
func (d *differ) scenarios(b, a *conformance.Result) {
	after := map[string]*conformance.ScenarioEvidence{}
	for i := range a.Evidence.Performance {
		p := &a.Evidence.Performance[i]
		after[modelLabel(p.Model, p.Version)] = p
	}
	inBefore := map[string]bool{}
	for i := range b.Evidence.Performance {
		bp := &b.Evidence.Performance[i]
		model := modelLabel(bp.Model, bp.Version)
		inBefore[model] = true
		ap, ok := after[model]
		if !ok {
			d.add(Change{Effect: Note, Kind: ChangeScenario, Check: a.ID, Requirements: a.Requirements, Subject: model,
				Old: string(bp.Status), New: absent, Message: "the new report did not run the scenario on the model"})
			continue
		}
		if bp.Status != ap.Status {
			d.add(Change{Effect: rankEffect(statusRank[bp.Status], statusRank[ap.Status]), Kind: ChangeScenario, Check: a.ID,
				Requirements: a.Requirements, Subject: model, Old: string(bp.Status), New: string(ap.Status), Message: ap.Message})
		}
		if bp.Result != nil && ap.Result != nil {
			for _, pc := range percentiles {
				d.figure(a, model, pc.name, ChangeLatency, bp.Result.Latency.Unit,
					float64(pc.of(bp.Result.Latency)), float64(pc.of(ap.Result.Latency)), false)
			}
		}
		d.judged(a, model, bp, ap)
	}
	for i := range a.Evidence.Performance {
		ap := &a.Evidence.Performance[i]
		if model := modelLabel(ap.Model, ap.Version); !inBefore[model] {
			d.add(Change{Effect: Note, Kind: ChangeScenario, Check: a.ID, Requirements: a.Requirements, Subject: model,
				Old: absent, New: string(ap.Status), Message: "only the new report ran the scenario on the model"})
		}
	}
}

// judged compares the figure a scenario judged: a latency must not grow,
// a throughput or the cache audit's ratio must not fall, by more than
// the latency tolerance. Figures of different bases are not compared.
func (d *differ) judged(a *conformance.Result, model string, bp, ap *conformance.ScenarioEvidence) {
	bm, am := bp.Measured, ap.Measured
	if bm.Unit == "" || am.Unit == "" {
		return
	}
	if bp.Basis != ap.Basis || bm.Unit != am.Unit {
		d.add(Change{Effect: Note, Kind: judgedKind(am.Unit), Check: a.ID, Requirements: a.Requirements, Subject: model,
			Figure: "judged figure", Old: bp.Basis + " (" + bm.Unit + ")", New: ap.Basis + " (" + am.Unit + ")",
			Message: "the scenario judged figures of different bases, which are not compared"})
		return
	}
	d.figure(a, model, ap.Basis, judgedKind(am.Unit), am.Unit, float64(bm.Value), float64(am.Value), am.Unit != conformance.UnitMillisecond)
}

// judgedKind is the kind of change of a judged figure in unit.
func judgedKind(unit string) ChangeKind {
	switch unit {
	case conformance.UnitMillisecond:
		return ChangeLatency
	case conformance.UnitCount:
		return ChangeRatio
	}
	return ChangeThroughput
}

// figure compares one measured figure under the latency tolerance. A
// figure that is not a number (nothing was measured) counts as the worst
// value: +Inf when lower is better, −Inf when higher is.
func (d *differ) figure(a *conformance.Result, model, name string, k ChangeKind, unit string, was, is float64, higherIsBetter bool) {
	worst := math.Inf(1)
	if higherIsBetter {
		worst = math.Inf(-1)
	}
	old, cur := was, is
	if math.IsNaN(old) {
		old = worst
	}
	if math.IsNaN(cur) {
		cur = worst
	}
	t := d.o.LatencyTolerance
	grew, fell := cur > old*(1+t), cur < old*(1-t)
	var e Effect
	switch {
	case old == cur:
		return
	case grew && !higherIsBetter, fell && higherIsBetter:
		e = Regression
	case fell && !higherIsBetter, grew && higherIsBetter:
		e = Improvement
	default:
		return
	}
	c := figureChange(e, k, unit, was, is)
	c.Check, c.Requirements, c.Subject, c.Figure = a.ID, a.Requirements, model, name
	d.add(c)
}
