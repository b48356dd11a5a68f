package faults

import (
	"bytes"
	"container/list"
	"encoding/json"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
	"github.com/aiconform/aiconform/spec"
)

// This file and new_faults_test.go show each fault's misbehaviour directly
// over HTTP (in process), next to the conforming server's behaviour on the
// same requests; matrix_test.go shows what the conformance engine makes of
// each.

func TestFaultRegistry(t *testing.T) {
	all := All()
	ids := spec.IDs()
	names := Names()
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("fault names %v are not sorted and unique", names)
	}
	if len(all) != len(names) {
		t.Fatalf("All has %d faults, Names %d", len(all), len(names))
	}
	for i, f := range all {
		if f.Name != names[i] {
			t.Errorf("All()[%d] is %q, Names()[%d] is %q", i, f.Name, i, names[i])
		}
		if !slices.Contains(ids, f.Requirement) {
			t.Errorf("fault %s: requirement %q is not a requirement of spec %s", f.Name, f.Requirement, spec.Version)
		}
		for _, id := range f.Also {
			if !slices.Contains(ids, id) || id == f.Requirement {
				t.Errorf("fault %s: Also holds %q, want other requirements of spec %s", f.Name, id, spec.Version)
			}
		}
		if f.Description == "" || strings.ContainsAny(f.Description, "\n\t") {
			t.Errorf("fault %s: description %q, want one non-empty line", f.Name, f.Description)
		}
		if f.options == nil {
			t.Errorf("fault %s has no options", f.Name)
		}
		if f.String() != f.Name {
			t.Errorf("String() = %q, want %q", f.String(), f.Name)
		}
		// A fault shows over every binding its requirement applies over
		// but those it names, each with a reason; over a binding its
		// requirement has no meaning in, it cannot show.
		req, _ := spec.Lookup(f.Requirement)
		for _, b := range spec.Bindings {
			why, notOver := f.NotOver[b]
			if _, na := req.NotApplicableOver(b); na && !notOver {
				t.Errorf("fault %s: %s is not applicable over %s, but the fault does not say it cannot show there", f.Name, f.Requirement, b.Name())
			}
			if notOver && strings.TrimSpace(why) == "" {
				t.Errorf("fault %s: cannot show over %s, with no reason", f.Name, b.Name())
			}
		}
		for b := range f.NotOver {
			if !slices.Contains(spec.Bindings, b) {
				t.Errorf("fault %s: NotOver names %q, not a binding of the standard", f.Name, b)
			}
		}
	}
	if got := slices.DeleteFunc(slices.Clone(all), func(f Fault) bool { return len(f.NotOver) == 0 }); len(got) != 2 || got[0].Name != "accepts-malformed-json" || got[1].Name != "flat-data-only" {
		t.Errorf("faults that cannot show over a binding: %v, want accepts-malformed-json and flat-data-only (over gRPC)", got)
	}
	// Every core requirement has a fault that breaks it.
	for _, id := range ids {
		r, _ := spec.Lookup(id)
		if r.Level == spec.Core && !slices.ContainsFunc(all, func(f Fault) bool { return f.Requirement == id }) {
			t.Errorf("core requirement %s has no fault that breaks it", id)
		}
	}
	// The registry hands out copies.
	withAlso := slices.IndexFunc(all, func(f Fault) bool { return len(f.Also) > 0 })
	if withAlso < 0 {
		t.Fatal("no fault lists Also")
	}
	all[0].Name = "changed"
	all[withAlso].Also[0] = "changed"
	looked, err := Lookup(names[withAlso])
	if err != nil {
		t.Fatal(err)
	}
	looked[0].Also[0] = "changed"
	for _, f := range All() {
		if f.Name == "changed" || slices.Contains(f.Also, "changed") {
			t.Errorf("changing what All or Lookup returned changed the registry: %+v", f)
		}
	}
}

func TestLookup(t *testing.T) {
	fs, err := Lookup("wrong-class", "bad-metadata")
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || fs[0].Name != "wrong-class" || fs[1].Name != "bad-metadata" || fs[0].Requirement != "NUM-TOP1" {
		t.Errorf("Lookup = %v, want wrong-class then bad-metadata", fs)
	}
	_, err = Lookup("numeric-drift", "no-such-fault")
	if err == nil {
		t.Fatal("Lookup(no-such-fault) succeeded")
	}
	for _, name := range append(Names(), `"no-such-fault"`) {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if _, err := Lookup("slow-tail", "slow-tail"); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("Lookup(slow-tail twice) = %v, want an error saying so", err)
	}
}

func TestOptionsErrors(t *testing.T) {
	drift, _ := Lookup("numeric-drift")
	tests := []struct {
		name   string
		faults []Fault
		want   string
	}{
		{"not a registered fault", []Fault{{Name: "homemade", Requirement: "NUM-GOLDEN"}}, `"homemade" is not a fault of this package`},
		{"twice", append(drift, drift...), `fault "numeric-drift" is given twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Options(tc.faults...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Options = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// ignore-auth needs a token, given before or after it.
	models := []reference.Model{echoSum("fp32", numerics.FP32)}
	auth, _ := Lookup("ignore-auth")
	opts, err := Options(auth...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := serve.New(models, opts...); err == nil || !strings.Contains(err.Error(), "needs an auth token") {
		t.Errorf("New(ignore-auth) without a token = %v, want an error saying it needs one", err)
	}
	if _, err := serve.New(models, append(opts, serve.WithAuthToken("tok"))...); err != nil {
		t.Errorf("New(ignore-auth, WithAuthToken) = %v", err)
	}
}

// ftClass is the fp32 tolerance class.
func ftClass(t testing.TB, class string) numerics.Tolerance {
	t.Helper()
	tol, ok := spec.Tolerance(class)
	if !ok {
		t.Fatalf("no tolerance class %s", class)
	}
	return tol
}

// ftAgree reports whether got agrees with want under tol.
func ftAgree(got, want numerics.Tensor, tol numerics.Tolerance) (numerics.Diff, bool) {
	d := numerics.Compare(got, want, tol)
	return d, d.OK()
}

func TestFaultNumericDrift(t *testing.T) {
	models := ftModels(t)
	h := ftHandler(t, models, []string{"numeric-drift"})
	tol := ftClass(t, "fp32")
	for _, c := range []struct{ model, name string }{{"seed-cnn", "case-030"}, {"seed-rnn", "case-037"}} {
		gc := ftCase(t, c.model, "fp32", c.name)
		path := "/v2/models/" + c.model + "/versions/fp32/infer"
		_, got, _ := ftInfer(t, h, path, ftRequest(t, gc.Inputs, "", false))
		for name, want := range gc.Outputs {
			g := got[name]
			if d, ok := ftAgree(g, want, tol); ok {
				t.Errorf("%s %s %s agrees with the golden output (worst ratio %.2g); the drift must take it beyond class fp32", c.model, c.name, name, d.WorstRatio)
			}
			gv, wv := g.Float64s(), want.Float64s()
			worst := 0.0
			for i := range gv {
				if math.IsNaN(gv[i]) || math.IsInf(gv[i], 0) {
					t.Fatalf("%s %s: element %d is %v", c.model, name, i, gv[i])
				}
				if name != probabilitiesOutput {
					if e := math.Abs(gv[i] - wv[i]); e > 1.001*driftRelative*math.Abs(wv[i])+1e-7 {
						t.Errorf("%s %s[%d] = %v, golden %v: error %.3g beyond the drift of %.0e", c.model, name, i, gv[i], wv[i], e, driftRelative)
					} else if math.Abs(wv[i]) > 1e-3 {
						worst = math.Max(worst, e/math.Abs(wv[i]))
					}
				}
			}
			if name != probabilitiesOutput && worst < 0.9*driftRelative {
				t.Errorf("%s %s: largest relative error %.3g, want about %.0e", c.model, name, worst, driftRelative)
			}
			for r := 0; r < int(g.Shape[0]); r++ {
				if argmax(ftRow(g, r)) != argmax(ftRow(want, r)) {
					t.Errorf("%s %s row %d: top class %d, golden %d: the drift must keep it", c.model, name, r, argmax(ftRow(g, r)), argmax(ftRow(want, r)))
				}
				if name == probabilitiesOutput {
					sum := 0.0
					for _, p := range ftRow(g, r) {
						if p < 0 || p > 1 {
							t.Errorf("%s probabilities row %d holds %v", c.model, r, p)
						}
						sum += p
					}
					if math.Abs(sum-1) > 1e-6 {
						t.Errorf("%s probabilities row %d sums to %v", c.model, r, sum)
					}
				}
			}
		}
		// Deterministic, and a sample alone gets what it gets in the batch.
		_, again, _ := ftInfer(t, h, path, ftRequest(t, gc.Inputs, "", false))
		for name := range gc.Outputs {
			if d, ok := ftAgree(again[name], got[name], numerics.Tolerance{}); !ok {
				t.Errorf("%s %s: a repeated request got other values (%s)", c.model, name, d.Summary(numerics.Tolerance{}))
			}
		}
		samples := ftSamples(gc.Inputs)
		_, alone, _ := ftInfer(t, h, path, ftRequest(t, samples[1], "", false))
		for name := range gc.Outputs {
			if d, ok := ftAgree(alone[name], ftSample(got[name], 1), tol); !ok {
				t.Errorf("%s %s: sample 1 alone differs from sample 1 in the batch: %s", c.model, name, d.Summary(tol))
			}
		}
	}
}

func TestFaultWrongClass(t *testing.T) {
	models := ftModels(t)
	h := ftHandler(t, models, []string{"wrong-class"})
	tol := ftClass(t, "fp32")
	rows, changed := 0, 0
	for _, c := range []struct{ model, name string }{
		{"seed-cnn", "case-015"}, {"seed-cnn", "case-027"}, {"seed-rnn", "case-030"}, {"seed-rnn", "case-033"},
	} {
		gc := ftCase(t, c.model, "fp32", c.name)
		path := "/v2/models/" + c.model + "/infer"
		_, got, _ := ftInfer(t, h, path, ftRequest(t, gc.Inputs, "", false))
		logits := got[logitsOutput]
		for r := 0; r < int(logits.Shape[0]); r++ {
			rows++
			g, w := ftRow(logits, r), ftRow(gc.Outputs[logitsOutput], r)
			if argmax(g) == argmax(w) {
				if d, ok := ftAgree(numerics.NewF64([]int64{int64(len(g))}, g), numerics.NewF64([]int64{int64(len(w))}, w), tol); !ok {
					t.Errorf("%s %s row %d keeps its class but does not agree: %s", c.model, c.name, r, d.Summary(tol))
				}
				continue
			}
			changed++
			a, b := topTwo(w)
			swapped := slices.Clone(w)
			swapped[a], swapped[b] = swapped[b], swapped[a]
			if d, ok := ftAgree(numerics.NewF64([]int64{int64(len(g))}, g), numerics.NewF64([]int64{int64(len(w))}, swapped), tol); !ok {
				t.Errorf("%s %s row %d: %v is not the golden row %v with its top two swapped: %s", c.model, c.name, r, g, w, d.Summary(tol))
			}
			if p, ok := got[probabilitiesOutput]; ok {
				if argmax(ftRow(p, r)) != argmax(g) {
					t.Errorf("%s %s row %d: probabilities put class %d on top, logits %d", c.model, c.name, r, argmax(ftRow(p, r)), argmax(g))
				}
			}
		}
		// The choice of rows depends on the sample, not on its batch.
		for i, s := range ftSamples(gc.Inputs)[:3] {
			_, alone, _ := ftInfer(t, h, path, ftRequest(t, s, "", false))
			if a, b := argmax(ftRow(alone[logitsOutput], 0)), argmax(ftRow(logits, i)); a != b {
				t.Errorf("%s %s sample %d: top class %d alone, %d in the batch", c.model, c.name, i, a, b)
			}
		}
	}
	if changed == 0 || changed > rows/2 {
		t.Errorf("%d of %d rows changed their top class, want about one in %d", changed, rows, wrongClassEvery)
	}
	t.Logf("%d of %d rows changed their top class", changed, rows)

	// seed-transformer: a sequence padded in a batch keeps the choice of
	// rows it gets alone.
	ids := numerics.NewI64([]int64{2, 6}, []int64{5, 17, 42, 3, 99, 8, 61, 2, 33, 0, 0, 0})
	mask := numerics.NewI64([]int64{2, 6}, []int64{1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0})
	path := "/v2/models/seed-transformer/infer"
	_, batch, _ := ftInfer(t, h, path, ftRequest(t, map[string]numerics.Tensor{"input_ids": ids, "attention_mask": mask}, "", false))
	_, alone, _ := ftInfer(t, h, path, ftRequest(t, map[string]numerics.Tensor{"input_ids": numerics.NewI64([]int64{1, 3}, []int64{61, 2, 33})}, "", false))
	for pos := 0; pos < 3; pos++ {
		if a, b := argmax(ftRow(alone[logitsOutput], pos)), argmax(ftRow(batch[logitsOutput], 6+pos)); a != b {
			t.Errorf("seed-transformer position %d: top class %d alone, %d padded in a batch", pos, a, b)
		}
	}
}

func TestFaultBatchVariant(t *testing.T) {
	models := ftModels(t)
	h := ftHandler(t, models, []string{"batch-variant"})
	for _, version := range []string{"fp32", "fp64"} {
		tol := ftClass(t, version)
		gc := ftCase(t, "seed-cnn", version, "case-015")
		path := "/v2/models/seed-cnn/versions/" + version + "/infer"
		_, batch, _ := ftInfer(t, h, path, ftRequest(t, gc.Inputs, "", false))
		for name, want := range gc.Outputs {
			if d, ok := ftAgree(batch[name], want, tol); !ok {
				t.Errorf("%s batch %s does not agree with the golden outputs: %s", version, name, d.Summary(tol))
			}
		}
		_, again, _ := ftInfer(t, h, path, ftRequest(t, gc.Inputs, "", false))
		if d, ok := ftAgree(again[logitsOutput], batch[logitsOutput], numerics.Tolerance{}); !ok {
			t.Errorf("%s: a repeated batch got other logits: %s", version, d.Summary(numerics.Tolerance{}))
		}
		for i, s := range ftSamples(gc.Inputs)[:2] {
			_, alone, _ := ftInfer(t, h, path, ftRequest(t, s, "", false))
			if d, ok := ftAgree(alone[logitsOutput], ftSample(gc.Outputs[logitsOutput], i), tol); !ok {
				t.Errorf("%s sample %d alone does not agree with the golden outputs: %s", version, i, d.Summary(tol))
			}
			d, ok := ftAgree(ftSample(batch[logitsOutput], i), alone[logitsOutput], tol)
			if ok || d.WorstRatio < 1.4 {
				t.Errorf("%s sample %d: batched logits against the sample alone: worst ratio %.3g, want about %.2g", version, i, d.WorstRatio, 2*classShare)
			}
			if d, ok := ftAgree(ftSample(batch[probabilitiesOutput], i), alone[probabilitiesOutput], tol); !ok {
				t.Errorf("%s sample %d: probabilities must stay within the class: %s", version, i, d.Summary(tol))
			}
		}
	}
}

func TestFaultNondeterministic(t *testing.T) {
	models := ftModels(t)
	h := ftHandler(t, models, []string{"nondeterministic"})
	clean := ftHandler(t, models, nil)
	tol := ftClass(t, "fp32")
	gc := ftCase(t, "seed-cnn", "fp32", "case-019") // a batch of 2
	path := "/v2/models/seed-cnn/infer"
	var answers []map[string]numerics.Tensor
	for i, id := range []string{"", "a", "b"} {
		_, got, _ := ftInfer(t, h, path, ftRequest(t, gc.Inputs, id, false))
		answers = append(answers, got)
		for name, want := range gc.Outputs {
			if d, ok := ftAgree(got[name], want, tol); !ok {
				t.Errorf("answer %d %s does not agree with the golden outputs: %s", i, name, d.Summary(tol))
			}
		}
	}
	if d, ok := ftAgree(answers[1][logitsOutput], answers[0][logitsOutput], tol); ok || d.WorstRatio < 1.4 {
		t.Errorf("second answer against the first: worst ratio %.3g, want about %.2g", d.WorstRatio, 2*classShare)
	}
	if d, ok := ftAgree(answers[2][logitsOutput], answers[0][logitsOutput], numerics.Tolerance{}); !ok {
		t.Errorf("third answer differs from the first: %s", d.Summary(numerics.Tolerance{}))
	}
	_, exact, _ := ftInfer(t, clean, path, ftRequest(t, gc.Inputs, "", false))
	for i, a := range answers {
		if d, ok := ftAgree(a[probabilitiesOutput], exact[probabilitiesOutput], numerics.Tolerance{}); !ok {
			t.Errorf("answer %d: probabilities changed: %s", i, d.Summary(numerics.Tolerance{}))
		}
	}
	// A batch and its samples alone, each sent once, agree; binary outputs
	// are exact.
	for i, s := range ftSamples(gc.Inputs) {
		_, alone, _ := ftInfer(t, h, path, ftRequest(t, s, "", false))
		if d, ok := ftAgree(alone[logitsOutput], ftSample(answers[0][logitsOutput], i), tol); !ok {
			t.Errorf("sample %d alone against the batch: %s", i, d.Summary(tol))
		}
	}
	for range 2 {
		_, bin, _ := ftInfer(t, h, path, ftRequest(t, gc.Inputs, "", true))
		if d, ok := ftAgree(bin[logitsOutput], exact[logitsOutput], numerics.Tolerance{}); !ok {
			t.Errorf("binary logits are not exact: %s", d.Summary(numerics.Tolerance{}))
		}
	}
}

// ftSlowModel is a fake model that sleeps in Forward and counts its calls.
type ftSlowModel struct {
	*fakeModel
	calls chan struct{}
}

func ftSlowEcho(sleep time.Duration) *ftSlowModel {
	m := &ftSlowModel{fakeModel: echoSum("fp32", numerics.FP32), calls: make(chan struct{}, 1000)}
	inner := m.forward
	m.forward = func(in map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
		m.calls <- struct{}{}
		time.Sleep(sleep)
		return inner(in)
	}
	return m
}

// ftEchoRequest is an echo-sum request of n rows.
func ftEchoRequest(t testing.TB, n int, base float32, id string) []byte {
	x := make([]float32, 4*n)
	for i := range x {
		x[i] = base + float32(i)
	}
	return ftRequest(t, map[string]numerics.Tensor{"x": numerics.NewF32([]int64{int64(n), 4}, x)}, id, false)
}

func TestFaultSlowTail(t *testing.T) {
	h := ftHandler(t, []reference.Model{echoSum("fp32", numerics.FP32)}, []string{"slow-tail"})
	timed := func(body []byte) time.Duration {
		start := time.Now()
		ftInfer(t, h, "/v2/models/echo-sum/infer", body)
		return time.Since(start)
	}
	for i := range 2 * slowTailEvery {
		if d := timed(ftEchoRequest(t, 2, float32(i), "")); d > slowTailDelaySeconds*time.Second/2 {
			t.Fatalf("batch of 2 number %d took %s: only single samples are delayed", i, d)
		}
	}
	var slow []int
	var fast []time.Duration
	for i := 1; i <= slowTailEvery; i++ {
		d := timed(ftEchoRequest(t, 1, float32(i), ""))
		if d >= slowTailDelaySeconds*time.Second {
			slow = append(slow, i)
		} else {
			fast = append(fast, d)
		}
	}
	if !slices.Equal(slow, []int{slowTailEvery}) {
		t.Errorf("delayed single-sample requests %v, want only number %d", slow, slowTailEvery)
	}
	slices.Sort(fast)
	if p50 := fast[len(fast)/2]; p50 > 100*time.Millisecond {
		t.Errorf("median latency %s, want it unchanged", p50)
	}
}

func TestFaultResultCache(t *testing.T) {
	m := ftSlowEcho(40 * time.Millisecond)
	h := ftHandler(t, []reference.Model{m}, []string{"result-cache"})
	path := "/v2/models/echo-sum/infer"
	timed := func(body []byte) (oip.InferenceResponse, map[string]numerics.Tensor, time.Duration) {
		start := time.Now()
		resp, out, _ := ftInfer(t, h, path, body)
		return resp, out, time.Since(start)
	}
	_, first, d1 := timed(ftEchoRequest(t, 1, 1, "one"))
	resp, second, d2 := timed(ftEchoRequest(t, 1, 1, "two"))
	if n := len(m.calls); n != 1 {
		t.Errorf("the model ran %d times for one input sent twice, want 1", n)
	}
	if resp.ID != "two" {
		t.Errorf("cached answer has id %q, want the request's %q", resp.ID, "two")
	}
	if d2 > d1/2 {
		t.Errorf("cached answer took %s, the first %s: want it markedly faster", d2, d1)
	}
	for name := range first {
		if d, ok := ftAgree(second[name], first[name], numerics.Tolerance{}); !ok {
			t.Errorf("cached %s differs: %s", name, d.Summary(numerics.Tolerance{}))
		}
	}
	// The cached outputs are copies: an edit of an answer's tensors (by a
	// later wrapper) cannot reach the next answer.
	second["sum"].F32[0] = 12345
	_, third, _ := timed(ftEchoRequest(t, 1, 1, ""))
	if third["sum"].F32[0] != first["sum"].F32[0] {
		t.Errorf("cached sum changed to %v", third["sum"].F32[0])
	}
	timed(ftEchoRequest(t, 1, 2, ""))
	if n := len(m.calls); n != 2 {
		t.Errorf("the model ran %d times for two distinct inputs, want 2", n)
	}
}

func TestResultCacheEvictsLeastRecentlyUsed(t *testing.T) {
	entry := func(v float32) map[string]numerics.Tensor {
		return map[string]numerics.Tensor{"y": numerics.NewF32([]int64{1, 4}, []float32{v, v, v, v})} // 16 bytes
	}
	key := func(b byte) [32]byte { return [32]byte{b} }
	rc := &resultCache{max: 32, entries: map[[32]byte]*list.Element{}, order: list.New()}
	rc.put(key(1), entry(1))
	rc.put(key(2), entry(2))
	if _, ok := rc.get(key(1)); !ok { // 1 is now the most recent
		t.Fatal("entry 1 is missing")
	}
	rc.put(key(3), entry(3))
	if _, ok := rc.get(key(2)); ok {
		t.Error("entry 2, the least recently used, was not evicted")
	}
	for _, k := range []byte{1, 3} {
		if out, ok := rc.get(key(k)); !ok || out["y"].F32[0] != float32(k) {
			t.Errorf("entry %d = %v, %v", k, out, ok)
		}
	}
	if rc.size != 32 || len(rc.entries) != 2 || rc.order.Len() != 2 {
		t.Errorf("size %d, %d entries, %d in order; want 32, 2, 2", rc.size, len(rc.entries), rc.order.Len())
	}
	rc.put(key(9), map[string]numerics.Tensor{"y": numerics.NewF32([]int64{1, 9}, make([]float32, 9))})
	if _, ok := rc.get(key(9)); ok {
		t.Error("an answer larger than the cache was cached")
	}
}

func TestFaultNoIDEcho(t *testing.T) {
	h := ftHandler(t, []reference.Model{echoSum("fp32", numerics.FP32)}, []string{"no-id-echo"})
	clean := ftHandler(t, []reference.Model{echoSum("fp32", numerics.FP32)}, nil)
	path := "/v2/models/echo-sum/infer"
	for _, binaryOut := range []bool{false, true} {
		body := ftRequest(t, map[string]numerics.Tensor{"x": numerics.NewF32([]int64{1, 4}, []float32{1, 2, 3, 4})}, "req-7", binaryOut)
		resp, got, a := ftInfer(t, h, path, body)
		_, want, _ := ftInfer(t, clean, path, body)
		js, _, _ := oip.SplitBody(a.body, a.header.Get(oip.HeaderInferenceContentLength))
		var members map[string]json.RawMessage
		if err := json.Unmarshal(js, &members); err != nil {
			t.Fatal(err)
		}
		if _, ok := members["id"]; ok || resp.ID != "" {
			t.Errorf("binary %v: the answer has id %s", binaryOut, members["id"])
		}
		ftCheckSchema(t, "oip-infer-response", js)
		for name := range want {
			if d, ok := ftAgree(got[name], want[name], numerics.Tolerance{}); !ok {
				t.Errorf("binary %v: output %s changed: %s", binaryOut, name, d.Summary(numerics.Tolerance{}))
			}
		}
	}
	cleanResp, _, _ := ftInfer(t, clean, path, ftEchoRequest(t, 1, 0, "req-8"))
	if cleanResp.ID != "req-8" {
		t.Errorf("the conforming server echoed %q", cleanResp.ID)
	}
}

// ftCheckSchema fails unless body is a JSON document valid against the
// project's schema of kind.
func ftCheckSchema(t testing.TB, kind string, body []byte) {
	t.Helper()
	for _, v := range ntSchemaViolations(t, kind, body) {
		t.Errorf("%s schema: %s", kind, v)
	}
}

func TestFaultBadMetadata(t *testing.T) {
	models := ftModels(t)
	h := ftHandler(t, models, []string{"bad-metadata"})
	clean := ftHandler(t, models, nil)
	for _, path := range []string{"/v2/models/seed-cnn", "/v2/models/seed-cnn/versions/fp64", "/v2/models/seed-transformer"} {
		a := ftDo(t, h, http.MethodGet, path, nil, nil)
		c := ftDo(t, clean, http.MethodGet, path, nil, nil)
		if a.status != http.StatusOK {
			t.Fatalf("GET %s: %d", path, a.status)
		}
		ftCheckSchema(t, "oip-model-metadata", a.body)
		var got, want oip.ModelMetadata
		if err := json.Unmarshal(a.body, &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(c.body, &want); err != nil {
			t.Fatal(err)
		}
		for i := range want.Inputs {
			want.Inputs[i].Shape[0] = 1
		}
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(want)
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Errorf("GET %s:\n got %s\nwant %s (the conforming metadata with batch 1 on every input)", path, gotJSON, wantJSON)
		}
	}
	// Inference still takes any batch; other routes are untouched.
	gc := ftCase(t, "seed-cnn", "fp32", "case-019")
	ftInfer(t, h, "/v2/models/seed-cnn/infer", ftRequest(t, gc.Inputs, "", false))
	for _, path := range []string{"/v2", "/v2/models/seed-cnn/ready", "/v2/health/ready"} {
		a, c := ftDo(t, h, http.MethodGet, path, nil, nil), ftDo(t, clean, http.MethodGet, path, nil, nil)
		if a.status != c.status || !bytes.Equal(a.body, c.body) {
			t.Errorf("GET %s changed: %d %s, conforming %d %s", path, a.status, a.body, c.status, c.body)
		}
	}
}

func TestFaultServerErrorOnBadInput(t *testing.T) {
	models := ftModels(t)
	h := ftHandler(t, models, []string{"server-error-on-bad-input"})
	clean := ftHandler(t, models, nil)
	zeros := func(n int) string { return "[" + strings.TrimSuffix(strings.Repeat("0,", n), ",") + "]" }
	const binaryHeader = `{"inputs":[{"name":"input","datatype":"FP32","shape":[4,10],"parameters":{"binary_data_size":160}}]}`
	req := func(name, datatype, shape, data string) string {
		return `{"inputs":[{"name":"` + name + `","datatype":"` + datatype + `","shape":` + shape + `,"data":` + data + `}]}`
	}
	tests := []struct {
		name, path, body string
		header           map[string]string
		want             int
	}{
		{"rank too low", "/v2/models/seed-cnn/infer", req("input", "FP32", "[1,28,28]", zeros(784)), nil, 500},
		{"rank too high", "/v2/models/seed-cnn/versions/fp64/infer", req("input", "FP64", "[1,1,1,28,28]", zeros(784)), nil, 500},
		{"wrong fixed dimension", "/v2/models/seed-cnn/infer", req("input", "FP32", "[1,1,28,27]", zeros(756)), nil, 500},
		{"wrong channels", "/v2/models/seed-cnn/infer", req("input", "FP32", "[1,3,28,28]", zeros(3*784)), nil, 500},
		{"seed-rnn features", "/v2/models/seed-rnn/infer", req("input", "FP32", "[1,4,11]", zeros(44)), nil, 500},
		{"binary data, wrong rank", "/v2/models/seed-rnn/infer", string(oip.JoinBody([]byte(binaryHeader), make([]byte, 160))),
			map[string]string{oip.HeaderInferenceContentLength: strconv.Itoa(len(binaryHeader))}, 500},
		{"negative dimension", "/v2/models/seed-cnn/infer", req("input", "FP32", "[-1,1,28,28]", zeros(784)), nil, 400},
		{"sequence length 0", "/v2/models/seed-rnn/infer", req("input", "FP32", "[1,0,10]", "[]"), nil, 400},
		{"data too short", "/v2/models/seed-cnn/infer", req("input", "FP32", "[1,1,28,28]", zeros(783)), nil, 400},
		{"wrong datatype", "/v2/models/seed-cnn/infer", req("input", "FP64", "[1,1,28,28]", zeros(784)), nil, 400},
		{"unknown input", "/v2/models/seed-cnn/infer", req("nope", "FP32", "[1,28,28]", zeros(784)), nil, 400},
		{"shape a string", "/v2/models/seed-cnn/infer", req("input", "FP32", `"1,1,28,28"`, zeros(784)), nil, 400},
		{"malformed JSON", "/v2/models/seed-cnn/infer", `{"inputs": [`, nil, 400},
		{"valid", "/v2/models/seed-cnn/infer", req("input", "FP32", "[1,1,28,28]", zeros(784)), nil, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := ftDo(t, h, http.MethodPost, tc.path, []byte(tc.body), tc.header)
			c := ftDo(t, clean, http.MethodPost, tc.path, []byte(tc.body), tc.header)
			if a.status != tc.want {
				t.Errorf("status %d, want %d; body %.200s", a.status, tc.want, a.body)
			}
			if tc.want == 500 {
				if c.status != http.StatusBadRequest {
					t.Errorf("the conforming server answered %d, want 400: the case must be a bad request", c.status)
				}
				if string(a.body) != `{"error":"internal server error"}`+"\n" {
					t.Errorf("body %s, want the server's generic error", a.body)
				}
				return
			}
			if a.status != c.status || !bytes.Equal(a.body, c.body) {
				t.Errorf("answer changed: %d %.200s, conforming %d %.200s", a.status, a.body, c.status, c.body)
			}
		})
	}
}

// ftLeakPatterns are patterns of SAFE-ERROR-HYGIENE.
var ftLeakPatterns = []*regexp.Regexp{
	regexp.MustCompile(`goroutine \d+ \[`),
	regexp.MustCompile(`\w\.go:\d+`),
}

func TestFaultLeakyErrors(t *testing.T) {
	models := []reference.Model{echoSum("fp32", numerics.FP32)}
	h := ftHandler(t, models, []string{"leaky-errors"})
	clean := ftHandler(t, models, nil)
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{http.MethodPost, "/v2/models/echo-sum/infer", `{"inputs": 7}`, 400},
		{http.MethodGet, "/v2/models/no-such-model", "", 404},
		{http.MethodDelete, "/v2", "", 405},
	} {
		a := ftDo(t, h, tc.method, tc.path, []byte(tc.body), nil)
		c := ftDo(t, clean, tc.method, tc.path, []byte(tc.body), nil)
		if a.status != tc.status || c.status != tc.status {
			t.Errorf("%s %s: status %d (conforming %d), want %d", tc.method, tc.path, a.status, c.status, tc.status)
		}
		ftCheckSchema(t, "oip-error", a.body)
		var got, want oip.ErrorResponse
		if err := json.Unmarshal(a.body, &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(c.body, &want); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got.Error, want.Error+"\n") {
			t.Errorf("%s %s: message %.100q does not start with the conforming %q", tc.method, tc.path, got.Error, want.Error)
		}
		for _, p := range ftLeakPatterns {
			if !p.MatchString(got.Error) {
				t.Errorf("%s %s: message does not match %s: %.300s", tc.method, tc.path, p, got.Error)
			}
			if p.MatchString(want.Error) {
				t.Errorf("the conforming message matches %s: %s", p, want.Error)
			}
		}
	}
	body := ftEchoRequest(t, 1, 0, "x")
	a, c := ftDo(t, h, http.MethodPost, "/v2/models/echo-sum/infer", body, nil), ftDo(t, clean, http.MethodPost, "/v2/models/echo-sum/infer", body, nil)
	if a.status != 200 || !bytes.Equal(a.body, c.body) {
		t.Errorf("a valid inference changed: %d %s, conforming %s", a.status, a.body, c.body)
	}
}

func TestFaultIgnoreAuth(t *testing.T) {
	const token = "the-right-token"
	models := []reference.Model{echoSum("fp32", numerics.FP32)}
	h := ftHandler(t, models, []string{"ignore-auth"}, serve.WithAuthToken(token))
	clean := ftHandler(t, models, nil, serve.WithAuthToken(token))
	infer := ftEchoRequest(t, 1, 0, "")
	for _, cred := range []string{"", "Bearer wrong-token-0123456789abcdef0123", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer " + token} {
		for _, r := range []struct {
			method, path string
			body         []byte
		}{
			{http.MethodGet, "/v2", nil},
			{http.MethodGet, "/v2/models/echo-sum", nil},
			{http.MethodGet, "/v2/models/echo-sum/ready", nil},
			{http.MethodPost, "/v2/models/echo-sum/infer", infer},
		} {
			header := map[string]string{}
			if cred != "" {
				header["Authorization"] = cred
			}
			a := ftDo(t, h, r.method, r.path, r.body, header)
			c := ftDo(t, clean, r.method, r.path, r.body, header)
			if a.status != http.StatusOK {
				t.Errorf("%s %s with %q: %d, want 200", r.method, r.path, cred, a.status)
			}
			wantClean := http.StatusUnauthorized
			if cred == "Bearer "+token {
				wantClean = http.StatusOK
				if !bytes.Equal(a.body, c.body) {
					t.Errorf("%s %s with the token: answer changed", r.method, r.path)
				}
			}
			if c.status != wantClean {
				t.Errorf("the conforming server answered %s %s with %q: %d, want %d", r.method, r.path, cred, c.status, wantClean)
			}
			if bytes.Contains(a.body, []byte(token)) {
				t.Errorf("%s %s: the answer holds the token", r.method, r.path)
			}
		}
	}
}

func TestFaultDiesAfterAbuse(t *testing.T) {
	models := []reference.Model{echoSum("fp32", numerics.FP32)}
	h := ftHandler(t, models, []string{"dies-after-abuse"}, serve.WithMaxBodyBytes(1024))
	path := "/v2/models/echo-sum/infer"
	healthy := func(when string) {
		t.Helper()
		for _, p := range []string{"/v2/health/live", "/v2/models/echo-sum"} {
			if a := ftDo(t, h, http.MethodGet, p, nil, nil); a.status != http.StatusOK {
				t.Fatalf("%s: GET %s = %d, want 200", when, p, a.status)
			}
		}
		ftInfer(t, h, path, ftEchoRequest(t, 1, 0, ""))
	}
	bad := func(n int) {
		for i := range n {
			body, want := []byte(`{"inputs": "nope"}`), http.StatusBadRequest
			if i%2 == 1 {
				body, want = bytes.Repeat([]byte(" "), 2048), http.StatusRequestEntityTooLarge
			}
			if a := ftDo(t, h, http.MethodPost, path, body, nil); a.status != want {
				t.Fatalf("bad request %d: %d, want %d", i, a.status, want)
			}
		}
	}
	// Unknown models (404) are not rejections.
	for range abuseLimit {
		ftDo(t, h, http.MethodGet, "/v2/models/nope", nil, nil)
	}
	bad(abuseLimit - 1)
	healthy("after one rejection fewer than the limit")
	if a := ftDo(t, h, http.MethodGet, "/v2/health/ready", nil, nil); a.status != http.StatusOK {
		t.Fatalf("ready after %d rejections: %d", abuseLimit-1, a.status)
	}
	bad(1)
	healthy("after the limit, before a readiness probe")
	a := ftDo(t, h, http.MethodGet, "/v2/health/ready", nil, nil)
	if a.status != http.StatusServiceUnavailable {
		t.Fatalf("ready after %d rejections: %d, want 503", abuseLimit, a.status)
	}
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/v2/health/live"}, {http.MethodGet, "/v2/health/ready"}, {http.MethodGet, "/v2"},
		{http.MethodGet, "/v2/models/echo-sum"}, {http.MethodPost, path},
	} {
		a := ftDo(t, h, r.method, r.path, ftEchoRequest(t, 1, 0, ""), nil)
		if a.status != http.StatusServiceUnavailable {
			t.Errorf("%s %s after the wedge: %d, want 503", r.method, r.path, a.status)
		}
		ftCheckSchema(t, "oip-error", a.body)
	}
}

func TestFaultNaNOutput(t *testing.T) {
	models := ftModels(t)
	h := ftHandler(t, models, []string{"nan-output"})
	clean := ftHandler(t, models, nil)
	for _, c := range []struct{ version, name string }{{"fp32", "case-004"}, {"fp32", "case-030"}, {"fp64", "case-004"}} {
		gc := ftCase(t, "seed-cnn", c.version, c.name)
		path := "/v2/models/seed-cnn/versions/" + c.version + "/infer"
		want := gc.Outputs[probabilitiesOutput].Float64s()
		var nanAt []int
		for i, p := range want {
			if p < nanBelow {
				nanAt = append(nanAt, i)
			}
		}
		if len(nanAt) == 0 {
			t.Fatalf("%s %s has no probability below 2^-25: the case cannot show the fault", c.version, c.name)
		}
		// JSON: the string "NaN" where the probability underflows, the
		// conforming values elsewhere; the body stays schema-valid.
		a := ftDo(t, h, http.MethodPost, path, ftRequest(t, gc.Inputs, "", false), nil)
		ca := ftDo(t, clean, http.MethodPost, path, ftRequest(t, gc.Inputs, "", false), nil)
		ftCheckSchema(t, "oip-infer-response", a.body)
		var resp, cresp struct {
			Outputs []struct {
				Name string
				Data []any
			}
		}
		if err := json.Unmarshal(a.body, &resp); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(ca.body, &cresp); err != nil {
			t.Fatal(err)
		}
		for i, o := range resp.Outputs {
			for j, v := range o.Data {
				wantV := cresp.Outputs[i].Data[j]
				if o.Name == probabilitiesOutput && slices.Contains(nanAt, j) {
					wantV = "NaN"
				}
				if v != wantV {
					t.Errorf("%s %s %s[%d] = %v, want %v", c.version, c.name, o.Name, j, v, wantV)
				}
			}
		}
		// Binary: a NaN there.
		_, bin, _ := ftInfer(t, h, path, ftRequest(t, gc.Inputs, "", true))
		for j, p := range bin[probabilitiesOutput].Float64s() {
			if math.IsNaN(p) != slices.Contains(nanAt, j) {
				t.Errorf("%s %s binary probabilities[%d] = %v", c.version, c.name, j, p)
			}
		}
	}
	// In-domain inputs are untouched.
	body := ftRequest(t, ftCase(t, "seed-cnn", "fp32", "case-015").Inputs, "", false)
	a, ca := ftDo(t, h, http.MethodPost, "/v2/models/seed-cnn/infer", body, nil), ftDo(t, clean, http.MethodPost, "/v2/models/seed-cnn/infer", body, nil)
	if !bytes.Equal(a.body, ca.body) {
		t.Error("an in-domain answer changed")
	}
}

func TestFaultsCompose(t *testing.T) {
	models := []reference.Model{echoSum("fp32", numerics.FP32)}
	h := ftHandler(t, models, []string{"leaky-errors", "no-id-echo", "bad-metadata"})
	resp, _, _ := ftInfer(t, h, "/v2/models/echo-sum/infer", ftEchoRequest(t, 1, 0, "id-1"))
	if resp.ID != "" {
		t.Errorf("id %q echoed", resp.ID)
	}
	a := ftDo(t, h, http.MethodPost, "/v2/models/echo-sum/infer", []byte("{"), nil)
	if a.status != http.StatusBadRequest || !ftLeakPatterns[0].Match(a.body) {
		t.Errorf("bad request: %d %.200s, want 400 with a stack trace", a.status, a.body)
	}
	var md oip.ModelMetadata
	if err := json.Unmarshal(ftDo(t, h, http.MethodGet, "/v2/models/echo-sum", nil, nil).body, &md); err != nil || md.Inputs[0].Shape[0] != 1 {
		t.Errorf("metadata %+v (%v), want batch 1", md, err)
	}
}

// Each call of Options gives fresh fault state: a server wedged by
// dies-after-abuse leaves a server built from a later call healthy.
func TestOptionsGiveFreshState(t *testing.T) {
	fs, err := Lookup("dies-after-abuse")
	if err != nil {
		t.Fatal(err)
	}
	handler := func() http.Handler {
		opts, err := Options(fs...)
		if err != nil {
			t.Fatal(err)
		}
		s, err := serve.New([]reference.Model{echoSum("fp32", numerics.FP32)}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return s.Handler()
	}
	first, second := handler(), handler()
	for range abuseLimit {
		ftDo(t, first, http.MethodPost, "/v2/models/echo-sum/infer", []byte(`{"inputs": "nope"}`), nil)
	}
	if a := ftDo(t, first, http.MethodGet, "/v2/health/ready", nil, nil); a.status != http.StatusServiceUnavailable {
		t.Fatalf("the abused server is ready (%d): the test shows nothing", a.status)
	}
	if a := ftDo(t, second, http.MethodGet, "/v2/health/ready", nil, nil); a.status != http.StatusOK {
		t.Errorf("the second server answered ready with %d, want 200: it shares the first one's state", a.status)
	}
}
