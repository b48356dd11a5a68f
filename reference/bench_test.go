package reference_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/plainref"
)

// The forward-pass benchmarks of docs/performance.md. Every model runs at
// batch 1 and 8 (seed-rnn and seed-transformer at length benchSeqLen) on
// the inputs of a published golden case, in three implementations:
// gorgonia FP32, gorgonia FP64 (reference.Builtin) and plain-Go float64
// (package plainref). Run them with
//
//	go test ./reference -run '^$' -bench Forward -benchtime 2s -count 5
//
// crosscheck/torch/bench.py times PyTorch on the same inputs and counts
// FLOPs with the same formulas (forwardFLOPs).

// benchSeqLen is the sequence length of the seed-rnn and seed-transformer
// benchmarks: the longest the spec allows the transformer.
const benchSeqLen = 64

// benchBatches are the batch sizes benchmarked.
var benchBatches = []int{1, 8}

// forwardFLOPs returns the floating-point operations of one forward pass of
// model at batch n and sequence length T (T is ignored for seed-cnn),
// counting a multiply-add as 2 FLOPs and counting only the multiply-adds of
// convolutions, matrix products and attention (biases, activations,
// pooling, softmax, LayerNorm and the embedding lookup are left out; they
// are a few percent at most):
//
//	seed-cnn:         2·n·(28²·32·1·9 + 14²·64·32·9 + 3136·10)           = 7 739 648·n
//	seed-rnn:         2·n·(T·(10·50 + 50·50 + 50·50 + 50·50) + 50·2)     = n·(16 000·T + 200)
//	seed-transformer: 2·n·(6·(T·128·384 + 2·8·T²·16 + T·128·128
//	                          + 2·T·128·512) + T·128·100)
//
// In the transformer layer, T·128·384 is the Q, K and V projections,
// 2·8·T²·16 the scores Q·Kᵀ and the products A·V of 8 heads of 16, T·128·128
// the output projection and 2·T·128·512 the two feed-forward layers; the
// last term is the head. At T = 64 that is 165 216 256·n FLOPs. The
// transformer's count is for T computed positions per sequence, padded or
// not. crosscheck/torch/bench.py uses the same formulas.
func forwardFLOPs(model string, n, T int) float64 {
	switch model {
	case reference.SeedCNNID:
		return 2 * float64(n) * (28*28*32*1*9 + 14*14*64*32*9 + 3136*10)
	case reference.SeedRNNID:
		return 2 * float64(n) * (float64(T)*(10*50+50*50+50*50+50*50) + 50*2)
	case reference.SeedTransformerID:
		const d, heads, dh, ffn, layers, vocab = 128, 8, 16, 512, 6, 100
		t := float64(T)
		layer := t*d*3*d + 2*heads*t*t*dh + t*d*d + 2*t*d*ffn
		return 2 * float64(n) * (layers*layer + t*d*vocab)
	}
	panic("forwardFLOPs: unknown model " + model)
}

// benchInputs returns the inputs of the first published golden case of
// model with batch n (and, for the sequence models, length benchSeqLen),
// and the case's name: the rule crosscheck/torch/bench.py follows, so both
// time the same inputs.
func benchInputs(tb testing.TB, model string, n int) (map[string]numerics.Tensor, string) {
	tb.Helper()
	cases, err := reference.GoldenInputs(model)
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range cases {
		x, ok := c.Inputs["input"]
		if model == reference.SeedTransformerID {
			x, ok = c.Inputs["input_ids"]
		}
		if !ok {
			tb.Fatalf("%s %s: no input tensor", model, c.Name)
		}
		if x.Shape[0] != int64(n) || (model != reference.SeedCNNID && x.Shape[1] != benchSeqLen) {
			continue
		}
		return c.Inputs, c.Name
	}
	tb.Fatalf("%s: no golden case of batch %d (length %d)", model, n, benchSeqLen)
	return nil, ""
}

// widenInputs returns inputs with FP32 tensors widened exactly to FP64, as
// the fp64 golden sets carry them.
func widenInputs(in map[string]numerics.Tensor) map[string]numerics.Tensor {
	out := make(map[string]numerics.Tensor, len(in))
	for k, t := range in {
		if t.DType == numerics.FP32 {
			t = numerics.NewF64(t.Shape, t.Float64s())
		}
		out[k] = t
	}
	return out
}

// benchForward is one implementation's forward pass on fixed inputs; it
// returns the first output (logits) so that the warm-up can check it.
type benchForward func() (numerics.Tensor, error)

// gorgoniaForward runs the built-in gorgonia model at version on inputs
// (widened for fp64).
func gorgoniaForward(tb testing.TB, model, version string, in map[string]numerics.Tensor) benchForward {
	tb.Helper()
	models, err := reference.Builtin()
	if err != nil {
		tb.Fatal(err)
	}
	m := reference.Find(models, model, version)
	if m == nil {
		tb.Fatalf("no built-in %s %s", model, version)
	}
	if version == reference.VersionFP64 {
		in = widenInputs(in)
	}
	return func() (numerics.Tensor, error) {
		out, err := m.Forward(in)
		return out["logits"], err
	}
}

// plainForward runs the plain-Go float64 implementation on inputs with the
// published FP32 weights (plainref widens them on every call; that copy is
// about 1.2 M values for the transformer, a few percent of its time).
func plainForward(tb testing.TB, model string, in map[string]numerics.Tensor) benchForward {
	tb.Helper()
	w, _, err := reference.LoadWeights(aiconform.Weights(), model)
	if err != nil {
		tb.Fatal(err)
	}
	switch model {
	case reference.SeedCNNID:
		return func() (numerics.Tensor, error) {
			logits, _, err := plainref.SeedCNN(w, in["input"])
			return logits, err
		}
	case reference.SeedRNNID:
		return func() (numerics.Tensor, error) { return plainref.SeedRNN(w, in["input"]) }
	case reference.SeedTransformerID:
		return func() (numerics.Tensor, error) {
			return plainref.SeedTransformer(w, in["input_ids"], in["attention_mask"])
		}
	}
	tb.Fatalf("plainref: unknown model %s", model)
	return nil
}

// wantLogitsShape is the logits shape of model at batch n, length T.
func wantLogitsShape(model string, n, T int) []int64 {
	switch model {
	case reference.SeedCNNID:
		return []int64{int64(n), 10}
	case reference.SeedRNNID:
		return []int64{int64(n), 2}
	}
	return []int64{int64(n), int64(T), 100}
}

// BenchmarkForward times one forward pass per iteration for every model,
// batch size and implementation, named
// model=<id>/batch=<n>/impl=<gorgonia-fp32|gorgonia-fp64|plain-fp64> so
// that benchstat can put the implementations side by side (-col /impl).
// Graph building is excluded: each benchmark runs the model once (which
// builds and caches the gorgonia program for the shape) before timing, and
// checks that warm-up's output. It reports GFLOP/s (forwardFLOPs per
// second) and samples/s besides ns/op.
func BenchmarkForward(b *testing.B) {
	impls := []string{"gorgonia-fp32", "gorgonia-fp64", "plain-fp64"}
	for _, model := range reference.ModelIDs() {
		for _, n := range benchBatches {
			for _, impl := range impls {
				b.Run(fmt.Sprintf("model=%s/batch=%d/impl=%s", model, n, impl), func(b *testing.B) {
					in, _ := benchInputs(b, model, n)
					var f benchForward
					switch impl {
					case "gorgonia-fp32":
						f = gorgoniaForward(b, model, reference.VersionFP32, in)
					case "gorgonia-fp64":
						f = gorgoniaForward(b, model, reference.VersionFP64, in)
					default:
						f = plainForward(b, model, in)
					}
					logits, err := f() // warm-up: builds the gorgonia program
					if err != nil {
						b.Fatal(err)
					}
					checkBenchLogits(b, logits, wantLogitsShape(model, n, benchSeqLen))
					iters := 0
					for b.Loop() {
						if _, err := f(); err != nil {
							b.Fatal(err)
						}
						iters++
					}
					s := b.Elapsed().Seconds()
					b.ReportMetric(forwardFLOPs(model, n, benchSeqLen)*float64(iters)/s/1e9, "GFLOP/s")
					b.ReportMetric(float64(n*iters)/s, "samples/s")
				})
			}
		}
	}
}

// checkBenchLogits fails tb unless logits has shape want and finite values.
func checkBenchLogits(tb testing.TB, logits numerics.Tensor, want []int64) {
	tb.Helper()
	if fmt.Sprint(logits.Shape) != fmt.Sprint(want) {
		tb.Fatalf("warm-up logits have shape %v, want %v", logits.Shape, want)
	}
	for i := 0; i < logits.Len(); i++ {
		if v := logits.At(i); math.IsNaN(v) || math.IsInf(v, 0) {
			tb.Fatalf("warm-up logits element %v is %v", numerics.IndexOf(logits.Shape, i), v)
		}
	}
}

// TestForwardFLOPs checks forwardFLOPs against a count derived from the
// published weight shapes (reference.WeightSpecs): each convolution weight
// [o,i,kh,kw] costs o·i·kh·kw multiply-adds per output pixel (28² for
// conv1, 14² for conv2), each matrix [out,in] out·in per row it is applied
// to (one row per sample for the heads of seed-cnn and seed-rnn, one per
// position otherwise), and each attention layer 2·T²·d for Q·Kᵀ and A·V
// over all heads (d = in_proj's input width). The embedding is a lookup.
func TestForwardFLOPs(t *testing.T) {
	for _, model := range reference.ModelIDs() {
		specs, err := reference.WeightSpecs(model)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ n, T int }{{1, 1}, {1, 64}, {8, 64}, {3, 7}} {
			macs := 0
			for _, s := range specs {
				sh := s.Shape
				switch {
				case !strings.Contains(s.Name, "weight") || strings.HasPrefix(s.Name, "token_embedding") || strings.Contains(s.Name, "norm"):
					// biases, LayerNorm parameters, the embedding table
				case len(sh) == 4:
					side := map[string]int{"conv1.weight": 28, "conv2.weight": 14}[s.Name]
					if side == 0 {
						t.Fatalf("%s: unexpected convolution %s", model, s.Name)
					}
					macs += tc.n * side * side * int(sh[0]*sh[1]*sh[2]*sh[3])
				case len(sh) == 2:
					rows := tc.n * tc.T
					if model != reference.SeedTransformerID && s.Name == "fc.weight" {
						rows = tc.n
					}
					macs += rows * int(sh[0]*sh[1])
					if strings.HasSuffix(s.Name, "in_proj_weight") {
						macs += tc.n * 2 * tc.T * tc.T * int(sh[1])
					}
				default:
					t.Fatalf("%s: unexpected weight %s %v", model, s.Name, sh)
				}
			}
			if got, want := forwardFLOPs(model, tc.n, tc.T), 2*float64(macs); got != want {
				t.Errorf("forwardFLOPs(%s, %d, %d) = %.0f, want %.0f from the weight shapes", model, tc.n, tc.T, got, want)
			}
		}
	}
	// The numbers docs/performance.md quotes.
	for _, tc := range []struct {
		model string
		n, T  int
		want  float64
	}{
		{reference.SeedCNNID, 1, 0, 7739648},
		{reference.SeedRNNID, 1, 64, 1024200},
		{reference.SeedTransformerID, 1, 64, 165216256},
	} {
		if got := forwardFLOPs(tc.model, tc.n, tc.T); got != tc.want {
			t.Errorf("forwardFLOPs(%s, %d, %d) = %.0f, want %.0f", tc.model, tc.n, tc.T, got, tc.want)
		}
	}
}

// TestBenchInputs checks that the benchmarks find their inputs: the golden
// case crosscheck/torch/bench.py picks by the same rule, with the shape the
// FLOP count assumes.
func TestBenchInputs(t *testing.T) {
	for _, model := range reference.ModelIDs() {
		for _, n := range benchBatches {
			in, name := benchInputs(t, model, n)
			key := "input"
			if model == reference.SeedTransformerID {
				key = "input_ids"
			}
			want := []int64{int64(n), benchSeqLen, 10}
			switch model {
			case reference.SeedCNNID:
				want = []int64{int64(n), 1, 28, 28}
			case reference.SeedTransformerID:
				want = want[:2]
			}
			if got := in[key].Shape; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s batch %d: %s %s has shape %v, want %v", model, n, name, key, got, want)
			}
		}
	}
}
