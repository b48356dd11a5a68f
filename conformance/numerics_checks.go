package conformance

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/spec"
)

// observation is one 200 inference response a numerics check received:
// the inputs sent, the outputs returned and, where the check knows them,
// the expected outputs. NUM-TOP1 examines those with expected outputs,
// NUM-OUTPUT-VALID all of them.
type observation struct {
	where  string
	m      *modelUnderTest
	inputs map[string]numerics.Tensor
	got    map[string]numerics.Tensor
	want   map[string]numerics.Tensor
	tol    numerics.Tolerance
}

func (e *env) observe(o observation) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.observed = append(e.observed, o)
}

func (e *env) observations() []observation {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.observed)
}

// caseTally accumulates compared cases into a check's evidence and keeps
// the worst failure for the message.
type caseTally struct {
	r          *recorder
	total      int
	failed     int
	worstRatio float64
	worstFail  float64
	worstMsg   string
}

// compare judges one case: got against want under tol. It records the
// case evidence and returns whether the case agreed.
func (t *caseTally) compare(ce CaseEvidence, where string, c spec.Contract, inputs, got, want map[string]numerics.Tensor, tol numerics.Tolerance) (bool, error) {
	t.total++
	diffs, err := c.Compare(inputs, got, want, tol)
	if err != nil {
		return false, err
	}
	ce.Tolerance = tol
	ce.Status = spec.Pass
	ce.Outputs = diffs
	for _, d := range diffs {
		ratio := d.WorstRatio
		if d.Problem != "" || math.IsNaN(ratio) {
			ratio = math.Inf(1)
		}
		t.worstRatio = max(t.worstRatio, ratio)
		if d.OK() {
			continue
		}
		if ce.Status == spec.Pass {
			ce.Status = spec.Fail
			ce.Message = fmt.Sprintf("output %s: %s", d.Name, d.Summary(tol))
		}
		if ratio > t.worstFail || t.worstMsg == "" {
			t.worstFail = ratio
			t.worstMsg = fmt.Sprintf("%s output %s: %s", where, d.Name, d.Summary(tol))
		}
	}
	if ce.Status == spec.Fail {
		t.failed++
	}
	t.r.ev.Cases = append(t.r.ev.Cases, ce)
	return ce.Status == spec.Pass, nil
}

// answer checks an inference response of a case: a schema-valid answer
// with the contract's outputs, decoded; otherwise the case is recorded as
// failed, with the exchange, and ok is false.
func (t *caseTally) answer(resp *response, m *modelUnderTest, ins []namedTensor, ce CaseEvidence, where string) (*inferOutcome, bool) {
	var sub recorder
	out, ok := sub.expectInference(resp, m, ins, nil)
	if !ok {
		t.r.add(resp)
		t.unanswered(ce, where, sub.failures[0])
	}
	return out, ok
}

// unanswered records a case whose request failed.
func (t *caseTally) unanswered(ce CaseEvidence, where, why string) {
	t.total++
	t.failed++
	ce.Status = spec.Fail
	ce.Message = why
	t.r.ev.Cases = append(t.r.ev.Cases, ce)
	if !math.IsInf(t.worstFail, 1) || t.worstMsg == "" {
		t.worstFail = math.Inf(1)
		t.worstMsg = fmt.Sprintf("%s: %s", where, why)
	}
}

// result ends the check: a fail naming the worst case, or a pass.
func (t *caseTally) result(what string) Result {
	t.r.figure("cases", Count(t.total))
	t.r.figure("casesFailed", Count(t.failed))
	t.r.figure("worstToleranceRatio", Measure{Value: numerics.Float(t.worstRatio), Unit: UnitCount})
	if t.failed > 0 {
		return Result{Status: spec.Fail, Evidence: t.r.ev, Message: fmt.Sprintf("%s; %d of %d %s failed", t.worstMsg, t.failed, t.total, what)}
	}
	return Result{Status: spec.Pass, Evidence: t.r.ev,
		Message: fmt.Sprintf("%d %s agree within tolerance; the worst element used %.2g%% of its allowed error", t.total, what, 100*t.worstRatio)}
}

// checkGolden sends every golden case of every profile model and compares
// each output with the expected one under the set's tolerance class.
func checkGolden(ctx context.Context, e *env) Result {
	var r recorder
	tally := caseTally{r: &r}
	for _, m := range e.models {
		for _, gs := range m.sets {
			for _, c := range gs.cases {
				if res := e.sendGolden(ctx, &r, &tally, m, gs, c, true); res != nil {
					return *res
				}
			}
		}
	}
	return tally.result("golden cases")
}

// sendGolden sends golden case c of set gs to model m and compares the
// answer as NUM-GOLDEN does, recording the case in tally and the exchange
// of a failing case in r. With observe, the answer is kept for NUM-TOP1
// and NUM-OUTPUT-VALID. It returns the result to end the check with when
// the suite itself failed, else nil.
func (e *env) sendGolden(ctx context.Context, r *recorder, tally *caseTally, m *modelUnderTest, gs goldenSet, c golden.Loaded, observe bool) *Result {
	where := fmt.Sprintf("%s case %s (golden set %s)", m.ref.Label(), c.Name, gs.label())
	ce := CaseEvidence{Model: m.ref.Name, Version: m.ref.Version, Set: gs.label(), Case: c.Name, Tolerance: gs.tol}
	ins := ordered(m.contract, c.Inputs)
	resp := e.infer(ctx, m, inferRequest{inputs: ins})
	if resp.encodeErr {
		res := errorResult(fmt.Sprintf("cannot encode %s: %v", where, resp.err))
		return &res
	}
	out, ok := tally.answer(resp, m, ins, ce, where)
	if observe && out != nil {
		o := observation{where: "golden " + where, m: m, inputs: c.Inputs, got: out.outputs, tol: gs.tol}
		if ok {
			o.want = c.Outputs
		}
		e.observe(o)
	}
	if !ok {
		return nil
	}
	agreed, err := tally.compare(ce, where, m.contract, c.Inputs, out.outputs, c.Outputs, gs.tol)
	if err != nil {
		res := errorResult(fmt.Sprintf("%s: %v", where, err))
		return &res
	}
	if !agreed {
		r.add(resp)
	}
	return nil
}

// Live draws: NUM-LIVE sends liveSingles requests of one sample and
// liveBatches requests of liveBatch samples per model.
const (
	liveSingles = 8
	liveBatches = 2
	liveBatch   = 4
)

// liveRequest is one request NUM-LIVE sends.
type liveRequest struct {
	n       int
	t       int64
	lengths []int64 // padded lengths, or nil
}

// livePlan draws the requests of NUM-LIVE for one model: single samples
// whose sequence lengths include the shortest and the longest, then
// batches, padded where the model has a mask input.
func livePlan(s *sampler, c spec.Contract) []liveRequest {
	var plan []liveRequest
	for i := 0; i < liveSingles; i++ {
		t := s.length(c)
		if c.Sequence != nil && i == 0 {
			t = c.Sequence.Min
		}
		if c.Sequence != nil && i == 1 {
			t = c.Sequence.Max
		}
		plan = append(plan, liveRequest{n: 1, t: t})
	}
	masked := slices.ContainsFunc(c.Inputs, func(t spec.Tensor) bool { return t.Domain != nil && t.Domain.Mask })
	for i := 0; i < liveBatches; i++ {
		lr := liveRequest{n: liveBatch, t: s.length(c)}
		if masked && c.Sequence != nil {
			lr.lengths = make([]int64, lr.n)
			for j := range lr.lengths {
				lr.lengths[j] = 1 + s.rng.Int64N(lr.t)
			}
			lr.lengths[0] = lr.t // the batch is as long as its longest sequence
		}
		plan = append(plan, lr)
	}
	return plan
}

func checkLive(ctx context.Context, e *env) Result {
	var r recorder
	if e.oracle == nil {
		return notChecked(r.ev, "not checked: no reference oracle was given to the run, so no expected outputs can be computed for fresh inputs")
	}
	r.figure("seed", Measure{Value: numerics.Float(float64(e.seed)), Unit: UnitCount})
	tally := caseTally{r: &r}
	samples := 0
	for _, m := range e.models {
		s := newSampler(e.seed, "numerics/live", m.ref.Label())
		for i, lr := range livePlan(s, m.contract) {
			ins, err := s.draw(m.contract, lr.n, lr.t, lr.lengths)
			if err != nil {
				return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
			}
			name := fmt.Sprintf("live-%02d", i)
			if m.contract.Sequence != nil {
				name += fmt.Sprintf(" (%d×%d)", lr.n, lr.t)
			} else {
				name += fmt.Sprintf(" (%d)", lr.n)
			}
			where := fmt.Sprintf("%s %s", m.ref.Label(), name)
			ce := CaseEvidence{Model: m.ref.Name, Version: m.ref.Version, Set: "live", Case: name, Tolerance: m.tol}
			in := tensors(ins)
			want, err := e.oracle.Predict(ctx, m.ref.Reference, m.ref.ReferenceVersion, in)
			if err != nil {
				return errorResult(fmt.Sprintf("the reference oracle failed on %s: %v", where, err))
			}
			samples += lr.n
			resp := e.infer(ctx, m, inferRequest{inputs: ins})
			out, ok := tally.answer(resp, m, ins, ce, where)
			if !ok {
				continue
			}
			e.observe(observation{where: "live " + where, m: m, inputs: in, got: out.outputs, want: want, tol: m.tol})
			agreed, err := tally.compare(ce, where, m.contract, in, out.outputs, want, m.tol)
			if err != nil {
				return errorResult(fmt.Sprintf("%s: %v", where, err))
			}
			if !agreed {
				r.add(resp)
			}
		}
	}
	r.figure("samples", Count(samples))
	res := tally.result(fmt.Sprintf("requests of fresh inputs (%d samples, seed %d)", samples, e.seed))
	return res
}

func checkBatchInvariance(ctx context.Context, e *env) Result {
	var r recorder
	tally := caseTally{r: &r}
	for _, m := range e.models {
		s := newSampler(e.seed, "numerics/batch-invariance", m.ref.Label())
		ins, err := s.draw(m.contract, 8, s.length(m.contract), nil)
		if err != nil {
			return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
		}
		singles := make([][]namedTensor, 8)
		for i := range singles {
			singles[i] = sampleRows(ins, i, i+1)
		}
		if res, ok := e.compareBatch(ctx, &r, &tally, m, "batch of 8", ins, singles, nil); !ok {
			return res
		}
		mask := slices.IndexFunc(m.contract.Inputs, func(t spec.Tensor) bool { return t.Domain != nil && t.Domain.Mask })
		if mask < 0 || m.contract.Sequence == nil {
			continue
		}
		// Four sequences of different lengths, padded on the right to the
		// longest, against each sent alone without a mask.
		lengths := distinctLengths(s, m.contract, 4)
		padded, err := s.draw(m.contract, 4, slices.Max(lengths), lengths)
		if err != nil {
			return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
		}
		alone := make([][]namedTensor, 4)
		for i := range alone {
			for _, in := range sampleRows(padded, i, i+1) {
				if in.name == m.contract.Inputs[mask].Name {
					continue
				}
				alone[i] = append(alone[i], namedTensor{name: in.name, t: truncate(in.t, lengths[i])})
			}
		}
		if res, ok := e.compareBatch(ctx, &r, &tally, m, fmt.Sprintf("padded batch of lengths %v", lengths), padded, alone, lengths); !ok {
			return res
		}
	}
	return tally.result("samples sent in a batch and alone")
}

// distinctLengths draws k different sequence lengths.
func distinctLengths(s *sampler, c spec.Contract, k int) []int64 {
	var out []int64
	for len(out) < k {
		t := s.length(c)
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// compareBatch sends a batch and each of its samples alone, and compares
// each sample's batched outputs (cut to lengths[i] positions when lengths
// is set) with its outputs alone. It returns false with the result to end
// the check with when the suite itself failed.
func (e *env) compareBatch(ctx context.Context, r *recorder, tally *caseTally, m *modelUnderTest, what string, batch []namedTensor, singles [][]namedTensor, lengths []int64) (Result, bool) {
	where := fmt.Sprintf("%s %s", m.ref.Label(), what)
	resp := e.infer(ctx, m, inferRequest{inputs: batch})
	if resp.encodeErr {
		return errorResult(resp.err.Error()), false
	}
	bout, ok := tally.answer(resp, m, batch, CaseEvidence{Model: m.ref.Name, Version: m.ref.Version, Set: "batch-invariance", Case: what, Tolerance: m.tol}, where)
	if !ok {
		return Result{}, true
	}
	e.observe(observation{where: "batch " + where, m: m, inputs: tensors(batch), got: bout.outputs, tol: m.tol})
	for i, single := range singles {
		swhere := fmt.Sprintf("%s sample %d", where, i)
		ce := CaseEvidence{Model: m.ref.Name, Version: m.ref.Version, Set: "batch-invariance", Case: fmt.Sprintf("%s, sample %d", what, i), Tolerance: m.tol}
		sresp := e.infer(ctx, m, inferRequest{inputs: single})
		sout, ok := tally.answer(sresp, m, single, ce, swhere+" alone")
		if !ok {
			continue
		}
		in := tensors(single)
		e.observe(observation{where: "alone " + swhere, m: m, inputs: in, got: sout.outputs, tol: m.tol})
		got := map[string]numerics.Tensor{}
		for name, x := range bout.outputs {
			if _, ok := m.contract.Output(name); !ok || len(x.Shape) == 0 || x.Shape[0] != int64(len(singles)) {
				continue
			}
			row := rowsOf(x, i, i+1)
			if lengths != nil {
				row = truncate(row, lengths[i])
			}
			got[name] = row
		}
		agreed, err := tally.compare(ce, swhere, m.contract, in, got, sout.outputs, m.tol)
		if err != nil {
			return errorResult(fmt.Sprintf("%s: %v", swhere, err)), false
		}
		if !agreed {
			r.add(sresp)
		}
	}
	return Result{}, true
}

// Repeats of NUM-DETERMINISM: sent one after another, then at once.
const (
	repeatsInSequence = 5
	repeatsAtOnce     = 5
)

func checkDeterminism(ctx context.Context, e *env) Result {
	var r recorder
	tally := caseTally{r: &r}
	var maxULP uint64
	identical := true
	for _, m := range e.models {
		s := newSampler(e.seed, "numerics/determinism", m.ref.Label())
		ins, err := s.draw(m.contract, 2, s.length(m.contract), nil)
		if err != nil {
			return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
		}
		in := tensors(ins)
		var first map[string]numerics.Tensor
		// judge judges answer i as soon as it is in, so that no body is
		// held longer than it takes (the bodies of the answers sent at
		// once are held together, at most repeatsAtOnce of them).
		judge := func(i int, resp *response) error {
			how := "in sequence"
			if i >= repeatsInSequence {
				how = "at once"
			}
			where := fmt.Sprintf("%s answer %d of %d (%s)", m.ref.Label(), i+1, repeatsInSequence+repeatsAtOnce, how)
			ce := CaseEvidence{Model: m.ref.Name, Version: m.ref.Version, Set: "determinism", Case: fmt.Sprintf("answer %d (%s)", i+1, how), Tolerance: m.tol}
			out, ok := tally.answer(resp, m, ins, ce, where)
			if !ok {
				return nil
			}
			e.observe(observation{where: "repeat " + where, m: m, inputs: in, got: out.outputs, tol: m.tol})
			if first == nil {
				first = out.outputs
				return nil
			}
			agreed, err := tally.compare(ce, where+" against the first", m.contract, in, out.outputs, first, m.tol)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			if !agreed {
				r.add(resp)
			}
			for _, d := range tally.r.ev.Cases[len(tally.r.ev.Cases)-1].Outputs {
				maxULP = max(maxULP, d.MaxULP)
				if d.MaxAbs != 0 || d.Problem != "" {
					identical = false
				}
			}
			return nil
		}
		for i := 0; i < repeatsInSequence; i++ {
			if err := judge(i, e.infer(ctx, m, inferRequest{inputs: ins})); err != nil {
				return errorResult(err.Error())
			}
		}
		resps := make([]*response, repeatsAtOnce)
		var wg sync.WaitGroup
		for i := range resps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resps[i] = e.infer(ctx, m, inferRequest{inputs: ins})
			}()
		}
		wg.Wait()
		for i, resp := range resps {
			if err := judge(repeatsInSequence+i, resp); err != nil {
				return errorResult(err.Error())
			}
			resps[i] = nil
		}
	}
	r.figure("maxUlp", Count(int(min(maxULP, math.MaxInt32))))
	bitwise := 0
	if identical {
		bitwise = 1
	}
	r.figure("bitwiseIdentical", Count(bitwise))
	res := tally.result("repeated answers")
	if res.Status == spec.Pass {
		res.Message += fmt.Sprintf("; largest distance %d ULP, bitwise identical: %v", maxULP, identical)
	}
	return res
}

func checkTop1(_ context.Context, e *env) Result {
	var r recorder
	rows, agree := 0, 0
	for _, o := range e.observations() {
		if o.want == nil {
			continue
		}
		for _, ct := range o.m.contract.Outputs {
			g, okg := o.got[ct.Name]
			w, okw := o.want[ct.Name]
			if !ct.Classification || !okg || !okw || !slices.Equal(g.Shape, w.Shape) || len(w.Shape) == 0 {
				continue
			}
			mask, err := o.m.contract.ComparedMask(ct.Name, o.inputs, w.Shape)
			if err != nil {
				return errorResult(fmt.Sprintf("%s: %v", o.where, err))
			}
			width := int(w.Shape[len(w.Shape)-1])
			for start := 0; start+width <= w.Len(); start += width {
				if mask != nil && !mask[start] {
					continue
				}
				rows++
				k := argmax(g, start, width)
				wk := argmax(w, start, width)
				best := w.At(start + wk)
				allow := 2 * (o.tol.ATol + o.tol.RTol*math.Abs(best))
				if k >= 0 && w.At(start+k) >= best-allow {
					agree++
					continue
				}
				index := numerics.IndexOf(w.Shape, start)
				index = index[:len(index)-1]
				if k < 0 {
					r.failf("%s output %s row %v: every returned value is NaN", o.where, ct.Name, index)
					continue
				}
				r.failf("%s output %s row %v: the returned top class is %d (expected value %.6g), the expected top class is %d (%.6g); the allowance is %.3g",
					o.where, ct.Name, index, k, w.At(start+k), wk, best, allow)
			}
		}
	}
	if rows == 0 {
		return notChecked(r.ev, "not checked: the numerics checks received no classification rows with expected values")
	}
	r.figure("rows", Count(rows))
	r.figure("rowsAgreeing", Count(agree))
	res := r.result(fmt.Sprintf("the top class of all %d compared rows agrees", rows))
	if res.Status == spec.Fail {
		res.Message = fmt.Sprintf("%d of %d rows (%.2f%%) agree on the top class; %s", agree, rows, 100*float64(agree)/float64(rows), res.Message)
	}
	return res
}

// argmax returns the lowest index of a largest value among x[start :
// start+width], NaN left out, or −1 when every value is NaN.
func argmax(x numerics.Tensor, start, width int) int {
	k := -1
	best := math.Inf(-1)
	for j := 0; j < width; j++ {
		v := x.At(start + j)
		if math.IsNaN(v) {
			continue
		}
		if k < 0 || v > best {
			k, best = j, v
		}
	}
	return k
}

func checkOutputValid(_ context.Context, e *env) Result {
	var r recorder
	values, rows, responses := 0, 0, 0
	for _, o := range e.observations() {
		responses++
		for _, ct := range o.m.contract.Outputs {
			g, ok := o.got[ct.Name]
			if !ok || !g.DType.IsFloat() || len(g.Shape) == 0 {
				continue
			}
			mask, err := o.m.contract.ComparedMask(ct.Name, o.inputs, g.Shape)
			if err != nil {
				continue // a shape the response checks already failed
			}
			bad := 0
			for i := 0; i < g.Len(); i++ {
				if mask != nil && !mask[i] {
					continue
				}
				values++
				v := g.At(i)
				switch {
				case math.IsNaN(v) || math.IsInf(v, 0):
					if bad == 0 {
						r.failf("%s output %s element %v is %v, want a finite value", o.where, ct.Name, numerics.IndexOf(g.Shape, i), v)
					}
					bad++
				case ct.Distribution && (v < 0 || v > 1):
					if bad == 0 {
						r.failf("%s output %s element %v is %.9g, want a probability in [0, 1]", o.where, ct.Name, numerics.IndexOf(g.Shape, i), v)
					}
					bad++
				}
			}
			if !ct.Distribution {
				continue
			}
			width := int(g.Shape[len(g.Shape)-1])
			for start := 0; start+width <= g.Len(); start += width {
				if mask != nil && !mask[start] {
					continue
				}
				rows++
				sum := 0.0
				for j := 0; j < width; j++ {
					sum += g.At(start + j)
				}
				if d := math.Abs(sum - 1); !(d <= o.tol.ATol+o.tol.RTol) {
					index := numerics.IndexOf(g.Shape, start)
					r.failf("%s output %s row %v sums to %.12g, want 1 within %.3g (atol + rtol of %s)", o.where, ct.Name, index[:len(index)-1], sum, o.tol.ATol+o.tol.RTol, o.tol.Class)
				}
			}
		}
	}
	if values == 0 {
		return notChecked(r.ev, "not checked: the numerics checks received no output values to examine (%d responses)", responses)
	}
	r.figure("responses", Count(responses))
	r.figure("values", Count(values))
	r.figure("distributionRows", Count(rows))
	return r.result(fmt.Sprintf("all %d values of %d responses are finite and all %d probability rows are distributions", values, responses, rows))
}
