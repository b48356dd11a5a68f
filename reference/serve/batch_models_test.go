package serve

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/spec"
)

// builtinModel returns the built-in reference model id at version.
func builtinModel(t testing.TB, id, version string) reference.Model {
	t.Helper()
	models, err := reference.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	m := reference.Find(models, id, version)
	if m == nil {
		t.Fatalf("no built-in model %s %s", id, version)
	}
	return m
}

// cnnImages returns n seed-cnn images with pixels uniform in [0,1).
func cnnImages(r *rand.Rand, n int) map[string]numerics.Tensor {
	x := make([]float32, n*28*28)
	for i := range x {
		x[i] = r.Float32()
	}
	return map[string]numerics.Tensor{"input": numerics.NewF32([]int64{int64(n), 1, 28, 28}, x)}
}

// rnnSequences returns n seed-rnn sequences of length steps, features
// uniform in [-1,1).
func rnnSequences(r *rand.Rand, n, steps int) map[string]numerics.Tensor {
	x := make([]float32, n*steps*10)
	for i := range x {
		x[i] = 2*r.Float32() - 1
	}
	return map[string]numerics.Tensor{"input": numerics.NewF32([]int64{int64(n), int64(steps), 10}, x)}
}

// tfTokens returns n seed-transformer sequences of length T, with an
// attention mask padding the last pad positions of each row when mask is
// set; bad puts an out-of-vocabulary token in the first row.
func tfTokens(r *rand.Rand, n, T int, mask bool, pad int, bad bool) map[string]numerics.Tensor {
	ids := make([]int64, n*T)
	for i := range ids {
		ids[i] = r.Int64N(100)
	}
	if bad {
		ids[0] = 100
	}
	shape := []int64{int64(n), int64(T)}
	in := map[string]numerics.Tensor{"input_ids": numerics.NewI64(shape, ids)}
	if mask {
		m := make([]int64, n*T)
		for s := range n {
			for k := range T - pad {
				m[s*T+k] = 1
			}
		}
		in["attention_mask"] = numerics.NewI64(shape, m)
	}
	return in
}

// TestBatchedReferenceModelsMatchUnbatched sends concurrent requests to
// batched reference models and compares each answer with the model's
// answer to the request alone, under the fp32 tolerance class: gorgonia
// computes each row as it would alone, up to the order of summations.
func TestBatchedReferenceModelsMatchUnbatched(t *testing.T) {
	tol, ok := spec.Tolerance("fp32")
	if !ok {
		t.Fatal("no fp32 tolerance class")
	}
	r := rand.New(rand.NewPCG(4, 3))
	type request struct {
		in  map[string]numerics.Tensor
		bad bool // an input the model rejects
	}
	for _, tc := range []struct {
		model      string
		reqs       []request
		wantMerged int64 // the least number of merged forward passes
	}{
		{reference.SeedCNNID, []request{
			{in: cnnImages(r, 1)}, {in: cnnImages(r, 1)}, {in: cnnImages(r, 2)}, {in: cnnImages(r, 1)}, {in: cnnImages(r, 1)},
		}, 1},
		{reference.SeedRNNID, []request{
			{in: rnnSequences(r, 1, 5)}, {in: rnnSequences(r, 1, 9)}, {in: rnnSequences(r, 1, 5)},
			{in: rnnSequences(r, 2, 9)}, {in: rnnSequences(r, 1, 5)},
		}, 2},
		{reference.SeedTransformerID, []request{
			{in: tfTokens(r, 1, 6, false, 0, false)}, {in: tfTokens(r, 1, 6, true, 2, false)},
			{in: tfTokens(r, 1, 6, false, 0, false)}, {in: tfTokens(r, 1, 6, true, 0, false)},
			{in: tfTokens(r, 1, 6, false, 0, true), bad: true},
		}, 2},
	} {
		t.Run(tc.model, func(t *testing.T) {
			m := builtinModel(t, tc.model, reference.VersionFP32)
			b := newTestBatcher(t, m, BatchConfig{MaxBatch: 8, MaxDelay: 500 * time.Millisecond})
			loaded(t, b) // the requests gather for MaxDelay
			answers := make([]answer, len(tc.reqs))
			var wg sync.WaitGroup
			for i, q := range tc.reqs {
				wg.Go(func() {
					out, err := b.Forward(q.in)
					answers[i] = answer{out, err}
				})
			}
			waitFor(t, &wg, 60*time.Second)
			if got := b.stats().Merged; got < tc.wantMerged {
				t.Errorf("%d merged forward passes, want at least %d: the test compared nothing batched", got, tc.wantMerged)
			}
			for i, q := range tc.reqs {
				a := answers[i]
				if q.bad {
					if !reference.IsInvalidInput(a.err) {
						t.Errorf("request %d (bad input): error %v, want an input error", i, a.err)
					}
					continue
				}
				if a.err != nil {
					t.Errorf("request %d: %v", i, a.err)
					continue
				}
				want, err := m.Forward(q.in)
				if err != nil {
					t.Fatalf("request %d alone: %v", i, err)
				}
				if len(a.out) != len(want) {
					t.Errorf("request %d: %d outputs, want %d", i, len(a.out), len(want))
				}
				for name, w := range want {
					if d := numerics.Compare(a.out[name], w, tol); !d.OK() {
						t.Errorf("request %d output %q: batched differs from alone: %s", i, name, d.Summary(tol))
					}
				}
			}
		})
	}
}
