package reference

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/internal/racedetect"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/plainref"
	"github.com/aiconform/aiconform/reference/weightgen"
)

// tfModels are seed-transformer's models at both versions, shared by the
// tests that do not care how the model was built.
var tfModels = sync.OnceValues(func() (map[numerics.DType]Model, error) {
	w, err := generatedWeights[SeedTransformerID]()
	if err != nil {
		return nil, err
	}
	out := map[numerics.DType]Model{}
	for _, dt := range []numerics.DType{numerics.FP32, numerics.FP64} {
		if out[dt], err = NewSeedTransformer(w, dt); err != nil {
			return nil, err
		}
	}
	return out, nil
})

func testTF(t testing.TB, dtype numerics.DType) Model {
	t.Helper()
	ms, err := tfModels()
	if err != nil {
		t.Fatal(err)
	}
	return ms[dtype]
}

// tfTokens returns n random sequences of T ids from the named stream.
func tfTokens(name string, n, T int) numerics.Tensor {
	r := weightgen.Stream("test", name)
	ids := make([]int64, n*T)
	for i := range ids {
		ids[i] = randomToken(r)
	}
	return numerics.NewI64([]int64{int64(n), int64(T)}, ids)
}

// tfMask returns the attention mask [len(lengths), T] of the given lengths.
func tfMask(T int, lengths ...int) numerics.Tensor {
	m := make([]int64, len(lengths)*T)
	for s, l := range lengths {
		for t := range l {
			m[s*T+t] = 1
		}
	}
	return numerics.NewI64([]int64{int64(len(lengths)), int64(T)}, m)
}

// tfInputs builds an input map; a mask with no dtype is left out.
func tfInputs(ids, mask numerics.Tensor) map[string]numerics.Tensor {
	in := map[string]numerics.Tensor{"input_ids": ids}
	if mask.DType != "" {
		in["attention_mask"] = mask
	}
	return in
}

func tfForward(t testing.TB, m Model, ids, mask numerics.Tensor) numerics.Tensor {
	t.Helper()
	out, err := m.Forward(tfInputs(ids, mask))
	if err != nil {
		t.Fatalf("%s/%s Forward: %v", m.ID(), m.Version(), err)
	}
	l := out["logits"]
	if want := []int64{ids.Shape[0], ids.Shape[1], 100}; !slices.Equal(l.Shape, want) || len(out) != 1 {
		t.Fatalf("outputs %v, logits shape %v; want only logits %v", len(out), l.Shape, want)
	}
	return l
}

// validLogits returns the logits [N,T,100] of the token positions (all
// positions when lengths is nil) as [positions,100], in FP64.
func validLogits(l numerics.Tensor, lengths []int) numerics.Tensor {
	n, T := int(l.Shape[0]), int(l.Shape[1])
	var out []float64
	for s := 0; s < n; s++ {
		k := T
		if lengths != nil {
			k = lengths[s]
		}
		for i := s * T * 100; i < (s*T+k)*100; i++ {
			out = append(out, l.At(i))
		}
	}
	return numerics.NewF64([]int64{int64(len(out) / 100), 100}, out)
}

// checkFinite fails on a NaN or infinite logit anywhere, padding included.
func checkFinite(t *testing.T, l numerics.Tensor) {
	t.Helper()
	if i, bad := firstNonFinite(l); bad {
		t.Fatalf("logits element %v is %v, want finite everywhere (padding included)", numerics.IndexOf(l.Shape, i), l.At(i))
	}
}

var tfTol64 = numerics.Tolerance{Class: "plain-go", RTol: 1e-12, ATol: 1e-12}

// TestSeedTransformerMatchesPlainGo checks gorgonia against the plain-Go
// float64 forward pass at the token positions: FP64 to about 1e-12, FP32
// within the spec's fp32 class; padded positions must be finite.
func TestSeedTransformerMatchesPlainGo(t *testing.T) {
	w := testWeights(t, SeedTransformerID)
	extremes := numerics.NewI64([]int64{2, 7}, []int64{0, 99, 0, 99, 99, 0, 0, 99, 99, 99, 99, 99, 99, 99})
	tests := []struct {
		name    string
		ids     numerics.Tensor
		lengths []int // nil: no mask
	}{
		{"T1 N1", tfTokens("p1", 1, 1), nil},
		{"T7 N1", tfTokens("p2", 1, 7), nil},
		{"T64 N1", tfTokens("p3", 1, 64), nil},
		{"T1 N8", tfTokens("p4", 8, 1), nil},
		{"T7 N8", tfTokens("p5", 8, 7), nil},
		{"T7 N8 padded", tfTokens("p6", 8, 7), []int{7, 1, 3, 7, 2, 5, 6, 4}},
		{"T64 N1 padded", tfTokens("p7", 1, 64), []int{9}},
		{"T64 N8 padded", tfTokens("p8", 8, 64), []int{64, 1, 1, 2, 33, 64, 7, 16}},
		{"T64 N8 all ones mask", tfTokens("p9", 8, 64), []int{64, 64, 64, 64, 64, 64, 64, 64}},
		{"ids 0 and 99", extremes, nil},
	}
	tol32 := mustTolerance(t, "fp32")
	for _, tt := range tests {
		if racedetect.Enabled && tt.ids.Shape[0]*tt.ids.Shape[1] > 56 {
			t.Logf("%s: left out under the race detector (too slow); go test without -race runs it", tt.name)
			continue
		}
		var mask numerics.Tensor
		if tt.lengths != nil {
			mask = tfMask(int(tt.ids.Shape[1]), tt.lengths...)
		}
		want, err := plainref.SeedTransformer(w, tt.ids, mask)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			dtype numerics.DType
			tol   numerics.Tolerance
		}{{numerics.FP64, tfTol64}, {numerics.FP32, tol32}} {
			t.Run(fmt.Sprintf("%s/%s", tt.name, c.dtype), func(t *testing.T) {
				got := tfForward(t, testTF(t, c.dtype), tt.ids, mask)
				if got.DType != c.dtype {
					t.Errorf("logits are %s, want %s", got.DType, c.dtype)
				}
				checkFinite(t, got)
				if d := numerics.Compare(validLogits(got, tt.lengths), validLogits(want, tt.lengths), c.tol); !d.OK() {
					t.Errorf("logits at the token positions: %s", d.Summary(c.tol))
				}
			})
		}
	}
}

// TestSeedTransformerPaddingInvariance checks that a sequence padded to a
// longer length, alone or beside others, gets the logits it gets unpadded
// at its token positions, and that the ids in the padding do not matter.
func TestSeedTransformerPaddingInvariance(t *testing.T) {
	alone := tfTokens("pad-seq", 1, 7)
	// pad returns the batch [len(lengths),T] whose row `at` is alone's 7
	// tokens followed by padding ids from stream name; other rows random.
	pad := func(name string, T, at int, lengths ...int) numerics.Tensor {
		ids := tfTokens(name, len(lengths), T)
		copy(ids.I64[at*T:], alone.I64)
		return ids
	}
	tests := []struct {
		name    string
		ids     numerics.Tensor
		lengths []int
		at      int
	}{
		{"padded to 8", pad("pad-8", 8, 0, 7), []int{7}, 0},
		{"padded to 16 in a batch of 3", pad("pad-16", 16, 1, 16, 7, 2), []int{16, 7, 2}, 1},
		{"padded to 64 beside a full row", pad("pad-64", 64, 0, 7, 64), []int{7, 64}, 0},
	}
	for _, dtype := range []numerics.DType{numerics.FP32, numerics.FP64} {
		tol := tfTol64
		if dtype == numerics.FP32 {
			tol = mustTolerance(t, "fp32")
		}
		m := testTF(t, dtype)
		want := tfForward(t, m, alone, numerics.Tensor{})
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%s", tt.name, dtype), func(t *testing.T) {
				T := int(tt.ids.Shape[1])
				if racedetect.Enabled && T == 64 {
					t.Skip("left out under the race detector (too slow); go test without -race runs it")
				}
				mask := tfMask(T, tt.lengths...)
				got := tfForward(t, m, tt.ids, mask)
				checkFinite(t, got)
				row := numerics.Tensor{DType: got.DType, Shape: []int64{1, 7, 100}}
				if dtype == numerics.FP32 {
					row.F32 = got.F32[tt.at*T*100 : (tt.at*T+7)*100]
				} else {
					row.F64 = got.F64[tt.at*T*100 : (tt.at*T+7)*100]
				}
				if d := numerics.Compare(row, want, tol); !d.OK() {
					t.Errorf("padded sequence against the unpadded one: %s", d.Summary(tol))
				}
				// Other ids in the padding give the same logits at the
				// token positions, bit for bit: padding keys get weight 0.
				other := tt.ids.Clone()
				for s, l := range tt.lengths {
					for i := l; i < T; i++ {
						other.I64[s*T+i] = (other.I64[s*T+i] + 37) % 100
					}
				}
				again := tfForward(t, m, other, mask)
				a, b := validLogits(got, tt.lengths), validLogits(again, tt.lengths)
				if !slices.Equal(a.F64, b.F64) {
					t.Errorf("changing the ids in the padding changed the logits at the token positions: %s", numerics.Compare(b, a, tol).Summary(tol))
				}
			})
		}
	}
}

// TestSeedTransformerBatchInvariance checks that each sequence of a batch
// larger than a graph chunk gets the logits it gets alone.
func TestSeedTransformerBatchInvariance(t *testing.T) {
	const n, T = tfChunk + 2, 5
	lengths := []int{5, 1, 3, 5, 2, 4, 5, 1, 2, 5}
	ids := tfTokens("batch", n, T)
	mask := tfMask(T, lengths...)
	for _, dtype := range []numerics.DType{numerics.FP32, numerics.FP64} {
		t.Run(string(dtype), func(t *testing.T) {
			m := testTF(t, dtype)
			all := tfForward(t, m, ids, mask)
			for _, s := range []int{0, 1, tfChunk - 1, tfChunk, n - 1} {
				one := numerics.NewI64([]int64{1, T}, ids.I64[s*T:(s+1)*T])
				alone := tfForward(t, m, one, tfMask(T, lengths[s]))
				for i := 0; i < lengths[s]*100; i++ {
					a, b := all.At(s*T*100+i), alone.At(i)
					if math.Abs(a-b) > 1e-6*math.Max(1, math.Abs(b)) {
						t.Fatalf("sequence %d logit %v: %v in the batch of %d, %v alone", s, numerics.IndexOf([]int64{T, 100}, i), a, n, b)
					}
				}
			}
		})
	}
}

func TestSeedTransformerMetadata(t *testing.T) {
	testMetadata(t, "seed-transformer", testTF)
}

func TestSeedTransformerRejectsBadInputs(t *testing.T) {
	m := testTF(t, numerics.FP32)
	ids := tfTokens("bad", 2, 4)
	i64 := func(shape []int64, v ...int64) numerics.Tensor { return numerics.NewI64(shape, v) }
	withID := func(i int, v int64) numerics.Tensor {
		c := ids.Clone()
		c.I64[i] = v
		return c
	}
	testRejectsBadInputs(t, m, true, []badInput{
		{"missing ids", map[string]numerics.Tensor{"attention_mask": tfMask(4, 4, 4)}, `missing input "input_ids"`},
		{"extra input", map[string]numerics.Tensor{"input_ids": ids, "token_type_ids": ids}, `unexpected input "token_type_ids"`},
		{"float ids", map[string]numerics.Tensor{"input_ids": numerics.NewF32([]int64{2, 4}, make([]float32, 8))}, `"input_ids" has datatype FP32, want INT64`},
		{"rank 1", map[string]numerics.Tensor{"input_ids": i64([]int64{4}, 1, 2, 3, 4)}, "shape [4], want [N,T]"},
		{"rank 3", map[string]numerics.Tensor{"input_ids": i64([]int64{1, 2, 2}, 1, 2, 3, 4)}, "shape [1 2 2], want [N,T]"},
		{"empty batch", map[string]numerics.Tensor{"input_ids": i64([]int64{0, 4})}, "N ≥ 1"},
		{"empty sequence", map[string]numerics.Tensor{"input_ids": i64([]int64{2, 0})}, "1 ≤ T ≤ 64"},
		{"too long", map[string]numerics.Tensor{"input_ids": tfTokens("long", 1, 65)}, "shape [1 65], want [N,T] with N ≥ 1 and 1 ≤ T ≤ 64"},
		{"short data", map[string]numerics.Tensor{"input_ids": i64([]int64{2, 4}, 1, 2, 3)}, "needs 8 elements, have 3"},
		{"id 100", map[string]numerics.Tensor{"input_ids": withID(5, 100)}, `"input_ids" element [1 1] is 100, want a token id in 0…99`},
		{"id -1", map[string]numerics.Tensor{"input_ids": withID(0, -1)}, "element [0 0] is -1"},
		{"huge id", map[string]numerics.Tensor{"input_ids": withID(7, math.MaxInt64)}, "element [1 3] is 9223372036854775807"},
		{"float mask", map[string]numerics.Tensor{"input_ids": ids, "attention_mask": numerics.NewF64([]int64{2, 4}, make([]float64, 8))}, `"attention_mask" has datatype FP64, want INT64`},
		{"mask shape", map[string]numerics.Tensor{"input_ids": ids, "attention_mask": tfMask(4, 4)}, `"attention_mask" has shape [1 4], want [2 4]`},
		{"mask transposed", map[string]numerics.Tensor{"input_ids": ids, "attention_mask": i64([]int64{4, 2}, 1, 1, 1, 1, 1, 1, 1, 1)}, "shape [4 2], want [2 4]"},
		{"mask short data", map[string]numerics.Tensor{"input_ids": ids, "attention_mask": i64([]int64{2, 4}, 1, 1)}, "needs 8 elements, have 2"},
		{"mask value 2", map[string]numerics.Tensor{"input_ids": ids, "attention_mask": i64([]int64{2, 4}, 1, 1, 1, 1, 1, 2, 0, 0)}, "element [1 1] is 2, want 1 (token) or 0 (padding)"},
		{"mask value -1 in padding", map[string]numerics.Tensor{"input_ids": ids, "attention_mask": i64([]int64{2, 4}, 1, 0, -1, 0, 1, 1, 1, 1)}, "element [0 2] is -1"},
		{"mask row without token", map[string]numerics.Tensor{"input_ids": ids, "attention_mask": i64([]int64{2, 4}, 1, 1, 1, 1, 0, 0, 0, 0)}, "row 1 has no 1"},
		{"left padding", map[string]numerics.Tensor{"input_ids": ids, "attention_mask": i64([]int64{2, 4}, 0, 0, 1, 1, 1, 1, 1, 1)}, "row 0 has no 1"},
		{"hole in the mask", map[string]numerics.Tensor{"input_ids": ids, "attention_mask": i64([]int64{2, 4}, 1, 1, 1, 1, 1, 0, 1, 0)}, "row 1 has a 1 at position 2 after a 0 at position 1"},
	})
	// The rejections left the model working.
	if _, err := m.Forward(tfInputs(ids, tfMask(4, 4, 1))); err != nil {
		t.Fatalf("Forward after the rejections: %v", err)
	}
}

func TestNewSeedTransformerRejectsBadWeights(t *testing.T) {
	testRejectsBadWeights(t, SeedTransformerID, NewSeedTransformer, []badWeights{
		{"missing", func(w map[string]numerics.Tensor) { delete(w, "encoder.layers.3.norm2.bias") }, numerics.FP32, `lack tensor "encoder.layers.3.norm2.bias"`},
		{"extra", func(w map[string]numerics.Tensor) { w["encoder.norm.weight"] = w["fc.bias"] }, numerics.FP32, `unexpected tensor "encoder.norm.weight"`},
		{"transposed", func(w map[string]numerics.Tensor) {
			w["encoder.layers.0.linear1.weight"] = numerics.NewF32([]int64{128, 512}, w["encoder.layers.0.linear1.weight"].F32)
		}, numerics.FP64, `"encoder.layers.0.linear1.weight" has shape [128 512], want [512 128]`},
		{"int", func(w map[string]numerics.Tensor) { w["fc.bias"] = numerics.NewI64([]int64{100}, make([]int64, 100)) }, numerics.FP32, `"fc.bias" is INT64`},
		{"inf", func(w map[string]numerics.Tensor) {
			w["token_embedding.weight"].F32[130] = float32(math.Inf(1))
		}, numerics.FP32, `"token_embedding.weight": element [1 2] is +Inf`},
		{"short", func(w map[string]numerics.Tensor) {
			w["encoder.layers.5.norm1.weight"] = numerics.NewF32([]int64{128}, make([]float32, 127))
		}, numerics.FP32, "needs 128 elements, have 127"},
		{"dtype", nil, numerics.INT64, `"INT64"`},
	})
}

// TestSeedTransformerDoesNotAliasItsArguments checks that Forward changes
// neither its inputs nor depends on the caller's weights after
// construction.
func TestSeedTransformerDoesNotAliasItsArguments(t *testing.T) {
	w := testWeights(t, SeedTransformerID)
	m, err := NewSeedTransformer(w, numerics.FP32)
	if err != nil {
		t.Fatal(err)
	}
	ids, mask := tfTokens("alias", 2, 5), tfMask(5, 5, 3)
	ids0, mask0 := ids.Clone(), mask.Clone()
	first := tfForward(t, m, ids, mask)
	if !slices.Equal(ids.I64, ids0.I64) || !slices.Equal(mask.I64, mask0.I64) {
		t.Fatal("Forward changed its inputs")
	}
	for _, v := range w {
		clear(v.F32)
	}
	second := tfForward(t, m, ids, mask)
	if !slices.Equal(first.F32, second.F32) {
		t.Fatal("zeroing the caller's weight tensors changed the model's outputs")
	}
}

// TestSeedTransformerConcurrentForward runs Forward from many goroutines
// with more (batch, length) shapes than the pool keeps and checks every
// result equals the sequential one bit for bit, and that the pool stays
// bounded. Run it with -race.
func TestSeedTransformerConcurrentForward(t *testing.T) {
	m, err := NewSeedTransformer(testWeights(t, SeedTransformerID), numerics.FP32)
	if err != nil {
		t.Fatal(err)
	}
	var inputs []map[string]numerics.Tensor
	for i, s := range [][2]int{{1, 1}, {1, 2}, {2, 3}, {1, 1}, {3, 2}, {1, 4}, {2, 1}, {1, 3}, {2, 2}, {1, 5}, {4, 1}, {1, 2}, {2, 3}, {1, 1}} {
		n, T := s[0], s[1]
		lengths := make([]int, n)
		for j := range lengths {
			lengths[j] = 1 + (i+j)%T
		}
		inputs = append(inputs, tfInputs(tfTokens(fmt.Sprintf("concurrent-%d", i), n, T), tfMask(T, lengths...)))
	}
	testConcurrentForward(t, m, inputs)
}

// TestSeedTransformerLayout pins the architecture and PyTorch layouts with
// hand-made weights whose result a few lines compute directly: Q, K and V
// are rows 0–127, 128–255 and 256–383 of in_proj; head 3 reads columns
// 48–63; scores are scaled by 1/√16; the mask removes padding keys;
// out_proj, linear1, linear2 and fc compute x·Wᵀ + b; post-LN with
// LayerNorm's weight and bias; embedding·√128 + PE with sin at even and cos
// at odd features. Both gorgonia (FP64) and plainref must match.
func TestSeedTransformerLayout(t *testing.T) {
	const d = 128
	w := map[string]numerics.Tensor{}
	for _, s := range SeedTransformerWeightSpecs() {
		n, _ := numerics.ShapeElements(s.Shape)
		w[s.Name] = numerics.NewF64(s.Shape, make([]float64, n))
	}
	set := func(name string, f func(v []float64)) { f(w[name].F64) }
	emb := func(id, j int) float64 { return float64((id*7+j*3)%11-5) / 8 }
	set("token_embedding.weight", func(v []float64) {
		for i := range v {
			v[i] = emb(i/d, i%d)
		}
	})
	permV := func(o int) int { return (5*o + 1) % d } // V[:,o] = x[:,permV(o)]
	permO := func(o int) int { return (3*o + 7) % d } // O[:,o] = ctx[:,permO(o)]
	n1w := func(j int) float64 { return 1 + 0.01*float64(j%5) }
	n1b := func(j int) float64 { return 0.02 * float64(j%4) }
	bv := func(o int) float64 { return 0.01 * float64(o%3) }
	const a, bk = 1.5, 0.5
	for l := 0; l < 6; l++ {
		p := fmt.Sprintf("encoder.layers.%d.", l)
		for _, nm := range []string{"norm1", "norm2"} {
			set(p+nm+".weight", func(v []float64) {
				for j := range v {
					v[j] = 1
				}
			})
		}
	}
	p := "encoder.layers.0."
	set(p+"self_attn.in_proj_weight", func(v []float64) {
		v[(3*16+2)*d+5] = a      // Q[:,50] = a·x[:,5]
		v[(d+3*16+2)*d+9] = a    // K[:,50] = a·x[:,9] + bk
		for o := 0; o < d; o++ { // V = x permuted
			v[(2*d+o)*d+permV(o)] = 1
		}
	})
	set(p+"self_attn.in_proj_bias", func(v []float64) {
		v[d+3*16+2] = bk
		for o := 0; o < d; o++ {
			v[2*d+o] = bv(o)
		}
	})
	set(p+"self_attn.out_proj.weight", func(v []float64) {
		for o := 0; o < d; o++ {
			v[o*d+permO(o)] = 1
		}
	})
	set(p+"norm1.weight", func(v []float64) {
		for j := range v {
			v[j] = n1w(j)
		}
	})
	set(p+"norm1.bias", func(v []float64) {
		for j := range v {
			v[j] = n1b(j)
		}
	})
	set(p+"linear1.weight", func(v []float64) { // hidden k < 128 is x[k]
		for k := 0; k < d; k++ {
			v[k*d+k] = 1
		}
	})
	set(p+"linear1.bias", func(v []float64) {
		for k := 0; k < 512; k++ {
			v[k] = -0.1
		}
	})
	set(p+"linear2.weight", func(v []float64) { // f[o] = -0.5·hidden[o]
		for o := 0; o < d; o++ {
			v[o*512+o] = -0.5
		}
	})
	set("fc.weight", func(v []float64) {
		for k := 0; k < 100; k++ {
			v[k*d+(k*3)%d] = 1
		}
	})
	set("fc.bias", func(v []float64) {
		for k := range v {
			v[k] = 0.001 * float64(k)
		}
	})

	ln := func(y []float64, wt, b func(int) float64) []float64 {
		var mu, v2 float64
		for _, x := range y {
			mu += x
		}
		mu /= d
		for _, x := range y {
			v2 += (x - mu) * (x - mu)
		}
		v2 /= d
		out := make([]float64, d)
		for j, x := range y {
			out[j] = (x-mu)/math.Sqrt(v2+1e-5)*wt(j) + b(j)
		}
		return out
	}
	one := func(int) float64 { return 1 }
	zero := func(int) float64 { return 0 }
	// expect computes the logits of one sequence whose first k ids are tokens.
	expect := func(ids []int64, k int) []float64 {
		T := len(ids)
		x := make([][]float64, T)
		for t := range x {
			x[t] = make([]float64, d)
			for j := 0; j < d; j++ {
				angle := float64(t) / math.Pow(10000, float64(j/2*2)/d)
				pe := math.Sin(angle)
				if j%2 == 1 {
					pe = math.Cos(angle)
				}
				x[t][j] = emb(int(ids[t]), j)*math.Sqrt(d) + pe
			}
		}
		var out []float64
		for i := 0; i < T; i++ {
			// Head 3 has scores a·x_i[5]·(a·x_j[9] + bk)/4 over the k
			// token keys; the other heads have scores 0: a plain mean.
			wts := make([]float64, k)
			var sum, mx float64 = 0, math.Inf(-1)
			for j := 0; j < k; j++ {
				wts[j] = a * x[i][5] * (a*x[j][9] + bk) / 4
				mx = math.Max(mx, wts[j])
			}
			for j := range wts {
				wts[j] = math.Exp(wts[j] - mx)
				sum += wts[j]
			}
			ctx := make([]float64, d)
			for c := 0; c < d; c++ {
				for j := 0; j < k; j++ {
					v := x[j][permV(c)] + bv(c)
					if c/16 == 3 {
						ctx[c] += wts[j] / sum * v
					} else {
						ctx[c] += v / float64(k)
					}
				}
			}
			y := make([]float64, d)
			for o := range y {
				y[o] = x[i][o] + ctx[permO(o)]
			}
			y = ln(y, n1w, n1b)
			for o := range y {
				y[o] += -0.5 * math.Max(y[o]-0.1, 0)
			}
			y = ln(y, one, zero)
			for range 5 { // layers 1–5 are LayerNorm twice
				y = ln(ln(y, one, zero), one, zero)
			}
			for c := 0; c < 100; c++ {
				out = append(out, y[(c*3)%d]+0.001*float64(c))
			}
		}
		return out
	}

	ids := numerics.NewI64([]int64{2, 6}, []int64{3, 99, 0, 54, 7, 7, 12, 88, 1, 0, 0, 0})
	lengths := []int{6, 3}
	mask := tfMask(6, lengths...)
	var want []float64
	for s, k := range lengths {
		want = append(want, expect(ids.I64[s*6:(s+1)*6], k)...)
	}
	wantT := validLogits(numerics.NewF64([]int64{2, 6, 100}, want), lengths)
	m, err := NewSeedTransformer(w, numerics.FP64)
	if err != nil {
		t.Fatal(err)
	}
	got := tfForward(t, m, ids, mask)
	if d := numerics.Compare(validLogits(got, lengths), wantT, tfTol64); !d.OK() {
		t.Errorf("gorgonia: %s", d.Summary(tfTol64))
	}
	plain, err := plainref.SeedTransformer(w, ids, mask)
	if err != nil {
		t.Fatal(err)
	}
	if d := numerics.Compare(validLogits(plain, lengths), wantT, tfTol64); !d.OK() {
		t.Errorf("plainref: %s", d.Summary(tfTol64))
	}
}

func TestSeedTransformerWeightSpecs(t *testing.T) {
	specs := SeedTransformerWeightSpecs()
	if len(specs) != 1+6*12+2 {
		t.Fatalf("%d tensors, want %d", len(specs), 1+6*12+2)
	}
	byName := map[string]weightgen.Spec{}
	for _, s := range specs {
		byName[s.Name] = s
	}
	fan := func(f int) weightgen.Init { return weightgen.UniformFanIn(f) }
	want := map[string]struct {
		shape []int64
		init  weightgen.Init
	}{
		"token_embedding.weight":                     {[]int64{100, 128}, weightgen.Init{Kind: weightgen.Uniform, Bound: 1}},
		"encoder.layers.0.self_attn.in_proj_weight":  {[]int64{384, 128}, fan(128)},
		"encoder.layers.5.self_attn.in_proj_bias":    {[]int64{384}, fan(128)},
		"encoder.layers.2.self_attn.out_proj.weight": {[]int64{128, 128}, fan(128)},
		"encoder.layers.3.linear1.weight":            {[]int64{512, 128}, fan(128)},
		"encoder.layers.3.linear2.weight":            {[]int64{128, 512}, fan(512)},
		"encoder.layers.4.linear2.bias":              {[]int64{128}, fan(512)},
		"encoder.layers.1.norm2.weight":              {[]int64{128}, weightgen.Init{Kind: weightgen.Uniform, Bound: 0.1, Center: 1}},
		"encoder.layers.1.norm1.bias":                {[]int64{128}, weightgen.Init{Kind: weightgen.Uniform, Bound: 0.1}},
		"fc.weight":                                  {[]int64{100, 128}, fan(128)},
		"fc.bias":                                    {[]int64{100}, fan(128)},
	}
	for name, wt := range want {
		s, ok := byName[name]
		if !ok || !slices.Equal(s.Shape, wt.shape) || s.Init != wt.init {
			t.Errorf("%s = %+v, want shape %v rule %+v", name, s, wt.shape, wt.init)
		}
	}
	// The published values follow the rules: LayerNorm weights in
	// [0.9, 1.1], biases in [-0.1, 0.1], the embedding in [-1, 1].
	w := testWeights(t, SeedTransformerID)
	for _, r := range []struct {
		name   string
		lo, hi float32
	}{
		{"encoder.layers.4.norm1.weight", 0.9, 1.1},
		{"encoder.layers.0.norm2.bias", -0.1, 0.1},
		{"token_embedding.weight", -1, 1},
	} {
		var lo, hi float32 = math.MaxFloat32, -math.MaxFloat32
		for _, v := range w[r.name].F32 {
			lo, hi = min(lo, v), max(hi, v)
		}
		// The draws fill the interval: the extremes lie within 10% of its ends.
		if lo < r.lo || hi > r.hi || lo > r.lo+(r.hi-r.lo)/10 || hi < r.hi-(r.hi-r.lo)/10 {
			t.Errorf("%s spans [%v, %v], want about [%v, %v]", r.name, lo, hi, r.lo, r.hi)
		}
	}
}

func TestTransformerGoldenInputs(t *testing.T) {
	in, err := GoldenInputs(SeedTransformerID)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) < 32 {
		t.Fatalf("%d golden inputs, want at least 32", len(in))
	}
	batches, lengths := map[int64]bool{}, map[int64]bool{}
	var noMask, padHeavy, randomPad, id0, id99, run bool
	bytes := 0
	m := testTF(t, numerics.FP32).(*seedTransformer)
	for i, c := range in {
		if c.Name != fmt.Sprintf("case-%03d", i) || c.Description == "" {
			t.Errorf("case %d is named %q (%q)", i, c.Name, c.Description)
		}
		ids, mask := c.Inputs["input_ids"], c.Inputs["attention_mask"]
		n, T := ids.Shape[0], ids.Shape[1]
		batches[n], lengths[T] = true, true
		bytes += int(n*T) * 100 * 12 // logits in FP32 and FP64
		id0 = id0 || slices.Contains(ids.I64, 0)
		id99 = id99 || slices.Contains(ids.I64, 99)
		run = run || (T == 64 && !slices.ContainsFunc(ids.I64, func(v int64) bool { return v != ids.I64[0] }))
		if mask.DType == "" {
			noMask = true
		} else {
			pad := 0
			for _, v := range mask.I64 {
				pad += int(1 - v)
			}
			padHeavy = padHeavy || (n == 8 && pad*2 > len(mask.I64))
			randomPad = randomPad || strings.Contains(c.Description, "padding holds random ids")
		}
		// Every case is a valid input.
		if _, _, err := m.checkInputs(c.Inputs); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	for _, T := range []int64{1, 7, 16, 33, 64} {
		if !lengths[T] {
			t.Errorf("no golden case of length %d", T)
		}
	}
	if !batches[1] || !batches[8] || !noMask || !padHeavy || !randomPad || !id0 || !id99 || !run {
		t.Errorf("golden inputs: batch 1 %v, batch 8 %v, no mask %v, pad-heavy %v, random padding %v, id 0 %v, id 99 %v, constant run %v; want all",
			batches[1], batches[8], noMask, padHeavy, randomPad, id0, id99, run)
	}
	if bytes > 8<<20 {
		t.Errorf("the transformer's golden logits take %d bytes, want at most 8 MiB", bytes)
	}
	again, err := GoldenInputs(SeedTransformerID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		for name, v := range in[i].Inputs {
			if !slices.Equal(v.I64, again[i].Inputs[name].I64) {
				t.Fatalf("%s %s differs between two calls", in[i].Name, name)
			}
		}
	}
}

// TestSeedTransformerPublishedLogitsFinite checks that the published
// logits of seed-transformer are finite at every position, padded ones
// included (TestFP32AgainstFP64 compares the token positions).
func TestSeedTransformerPublishedLogitsFinite(t *testing.T) {
	d := openPublished(t)
	for _, version := range Versions() {
		s := publishedSet(t, d, SeedTransformerID, version)
		if len(s.Loaded) < 32 {
			t.Errorf("the published set %s/%s has %d cases, want at least 32", SeedTransformerID, version, len(s.Loaded))
		}
		for _, l := range s.Loaded {
			checkFinite(t, l.Outputs["logits"])
		}
	}
}

// raceTrimGoldens leaves out of an opened golden directory the
// seed-transformer cases of more than 264 positions (the batches of 8
// sequences of 64). TestPublishedGoldensVerify uses it under the race
// detector, where those cases take seconds each; the runs without -race
// verify every case.
func raceTrimGoldens(t *testing.T, d *golden.Directory) {
	t.Helper()
	for i, s := range d.Sets {
		if s.Model == SeedTransformerID {
			d.Sets[i].Loaded = slices.DeleteFunc(slices.Clone(s.Loaded), func(l golden.Loaded) bool {
				ids := l.Inputs["input_ids"].Shape
				return ids[0]*ids[1] > 264
			})
		}
	}
}
