package conformance

import (
	"context"
	"fmt"
	"math"

	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/spec"
)

// checkGolden sends every golden case of every profile model and compares
// each output with the expected one under the set's tolerance class. The
// message names the worst failing case: its tensor, the worst element's
// index, the values, the error and the tolerance.
func checkGolden(ctx context.Context, e *env) Result {
	var r recorder
	total, failed, unsent := 0, 0, 0
	worstRatio := 0.0
	worstMsg := ""
	worstFail := -1.0
	for _, m := range e.models {
		for _, gs := range m.sets {
			tol := ToleranceRef{Class: gs.tol.Class, RTol: gs.tol.RTol, ATol: gs.tol.ATol}
			stop := false
			for _, c := range gs.cases {
				total++
				ce := CaseEvidence{Model: m.ref.Name, Version: m.ref.Version, Set: gs.label(), Case: c.Name, Tolerance: tol}
				where := fmt.Sprintf("%s case %s (golden set %s)", m.ref.Label(), c.Name, gs.label())
				if stop {
					unsent++
					ce.Status = spec.Skip
					ce.Message = "not sent: an earlier case of this model got no response"
					r.ev.Cases = append(r.ev.Cases, ce)
					continue
				}
				body, err := inferBody(m.contract, c.Inputs, "")
				if err != nil {
					return errorResult(fmt.Sprintf("cannot encode %s: %v", where, err))
				}
				resp := e.c.post(ctx, inferPath(m.ref), body)
				var sub recorder
				out, ok := sub.expectInference(resp, m, c.Outputs)
				if !ok {
					failed++
					r.add(resp)
					ce.Status = spec.Fail
					ce.Message = sub.failures[0]
					r.ev.Cases = append(r.ev.Cases, ce)
					if worstFail < math.Inf(1) {
						worstFail = math.Inf(1)
						worstMsg = fmt.Sprintf("%s: %s", where, sub.failures[0])
					}
					// A target that does not answer would cost a timeout per
					// case; the rest of this model's cases are not sent.
					stop = resp.err != nil
					continue
				}
				ce.Status = spec.Pass
				for _, ct := range m.contract.Outputs {
					want, ok := c.Outputs[ct.Name]
					if !ok {
						continue
					}
					compared, err := golden.ComparedMask(m.ref.Reference, ct.Name, c.Inputs, want.Shape)
					if err != nil {
						return errorResult(fmt.Sprintf("%s: %v", where, err))
					}
					d := numerics.CompareMasked(out.outputs[ct.Name], want, gs.tol, compared)
					ce.Outputs = append(ce.Outputs, outputEvidence(ct.Name, d))
					ratio := d.WorstRatio
					if d.Problem != "" {
						ratio = math.Inf(1)
					}
					if ratio > worstRatio {
						worstRatio = ratio
					}
					if d.OK() {
						continue
					}
					if ce.Status == spec.Pass {
						ce.Status = spec.Fail
						ce.Message = fmt.Sprintf("output %s: %s", ct.Name, d.Summary(gs.tol))
					}
					if ratio > worstFail {
						worstFail = ratio
						worstMsg = fmt.Sprintf("%s output %s: %s", where, ct.Name, d.Summary(gs.tol))
					}
				}
				if ce.Status == spec.Fail {
					failed++
					r.add(resp)
				}
				r.ev.Cases = append(r.ev.Cases, ce)
			}
		}
	}
	r.figure("cases", Count(total))
	r.figure("casesFailed", Count(failed))
	r.figure("casesNotSent", Count(unsent))
	r.figure("worstToleranceRatio", Measure{Value: Float(worstRatio), Unit: UnitCount})
	if failed > 0 || unsent > 0 {
		msg := fmt.Sprintf("%s; %d of %d golden cases failed", worstMsg, failed, total)
		if unsent > 0 {
			msg += fmt.Sprintf(", %d not sent", unsent)
		}
		return Result{Status: spec.Fail, Message: msg, Evidence: r.ev}
	}
	return Result{Status: spec.Pass, Evidence: r.ev,
		Message: fmt.Sprintf("%d golden cases agree within tolerance; the worst element used %.2g%% of its allowed error", total, 100*worstRatio)}
}

func outputEvidence(name string, d numerics.Diff) OutputEvidence {
	return OutputEvidence{
		Name:       name,
		Elements:   d.Elements,
		Violations: d.Violations,
		MaxAbs:     Float(d.MaxAbs),
		MaxRel:     Float(d.MaxRel),
		MaxULP:     d.MaxULP,
		WorstIndex: d.WorstIndex,
		WorstGot:   Float(d.WorstGot),
		WorstWant:  Float(d.WorstWant),
		WorstRatio: Float(d.WorstRatio),
		Problem:    d.Problem,
	}
}
