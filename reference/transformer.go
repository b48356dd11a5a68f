package reference

import (
	"fmt"
	"math"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/weightgen"
)

// Sizes of seed-transformer.
const (
	tfVocab  = 100 // token ids 0…99; logits per position
	tfModel  = 128 // d_model
	tfHeads  = 8
	tfHead   = tfModel / tfHeads // 16
	tfFFN    = 512
	tfLayers = 6
	// TransformerMaxLen is the longest sequence seed-transformer accepts.
	TransformerMaxLen = 64
	// tfChunk is the largest batch one gorgonia graph computes; larger
	// batches run in chunks of tfChunk sequences.
	tfChunk = 8
	// tfEps is LayerNorm's ε.
	tfEps = 1e-5
)

// SeedTransformerWeightSpecs lists seed-transformer's tensors in PyTorch's
// state_dict names and layouts (token embedding, six
// nn.TransformerEncoderLayer under encoder.layers.{i}., the head fc), with
// their initialisation rules (spec/v1/reference-models.md).
func SeedTransformerWeightSpecs() []weightgen.Spec {
	fan := weightgen.UniformFanIn
	specs := []weightgen.Spec{
		{Name: "token_embedding.weight", Shape: []int64{tfVocab, tfModel}, Init: weightgen.UniformBound(1)},
	}
	for l := 0; l < tfLayers; l++ {
		p := fmt.Sprintf("encoder.layers.%d.", l)
		specs = append(specs,
			weightgen.Spec{Name: p + "self_attn.in_proj_weight", Shape: []int64{3 * tfModel, tfModel}, Init: fan(tfModel)},
			weightgen.Spec{Name: p + "self_attn.in_proj_bias", Shape: []int64{3 * tfModel}, Init: fan(tfModel)},
			weightgen.Spec{Name: p + "self_attn.out_proj.weight", Shape: []int64{tfModel, tfModel}, Init: fan(tfModel)},
			weightgen.Spec{Name: p + "self_attn.out_proj.bias", Shape: []int64{tfModel}, Init: fan(tfModel)},
			weightgen.Spec{Name: p + "linear1.weight", Shape: []int64{tfFFN, tfModel}, Init: fan(tfModel)},
			weightgen.Spec{Name: p + "linear1.bias", Shape: []int64{tfFFN}, Init: fan(tfModel)},
			weightgen.Spec{Name: p + "linear2.weight", Shape: []int64{tfModel, tfFFN}, Init: fan(tfFFN)},
			weightgen.Spec{Name: p + "linear2.bias", Shape: []int64{tfModel}, Init: fan(tfFFN)},
			weightgen.Spec{Name: p + "norm1.weight", Shape: []int64{tfModel}, Init: weightgen.UniformAround(1, 0.1)},
			weightgen.Spec{Name: p + "norm1.bias", Shape: []int64{tfModel}, Init: weightgen.UniformBound(0.1)},
			weightgen.Spec{Name: p + "norm2.weight", Shape: []int64{tfModel}, Init: weightgen.UniformAround(1, 0.1)},
			weightgen.Spec{Name: p + "norm2.bias", Shape: []int64{tfModel}, Init: weightgen.UniformBound(0.1)},
		)
	}
	return append(specs,
		weightgen.Spec{Name: "fc.weight", Shape: []int64{tfVocab, tfModel}, Init: fan(tfModel)},
		weightgen.Spec{Name: "fc.bias", Shape: []int64{tfVocab}, Init: fan(tfModel)},
	)
}

// seedTransformer is seed-transformer computed with gorgonia.
//
// The token embedding lookup, the scaling by √128 and the sinusoidal
// positional encoding are computed in plain Go before the graph, in the
// version's datatype (√128 and PE computed in float64 and rounded to it):
// they are a table lookup and one multiply-add per element, which gorgonia
// has no gather op for. Everything after, from the first attention
// projection to the logits, is the gorgonia graph.
//
// Concurrency is that of seedCNN: Forward runs each chunk on a program of
// its own, for its (batch, length), from the model's pool; batches larger
// than tfChunk run in chunks; the pool is bounded as seed-cnn's; building a
// program takes the package-wide graphMu.
type seedTransformer struct {
	// graphModel's params holds the graph's parameters keyed by graph
	// name: weight matrices transposed to [in,out] (in_proj split into its
	// Q, K and V parts; "….q.weightT", "….q.bias"), biases and LayerNorm
	// parameters as they are (the graph shapes them [1,out]). Transposing
	// and splitting only move values.
	graphModel
	// emb is token_embedding.weight ([]float32 or []float64, [100,128]).
	emb any
	// pe is the positional encoding of positions 0…63 in float64, [64,128].
	pe []float64
}

// NewSeedTransformer returns seed-transformer at the version computing in
// dtype (FP32 or FP64) with the given weights (names and shapes of
// SeedTransformerWeightSpecs, FP32 or FP64 values, all finite; FP32 values
// are widened exactly for FP64, FP64 values are rounded to nearest for
// FP32). Extra tensors are an error.
func NewSeedTransformer(weights map[string]numerics.Tensor, dtype numerics.DType) (Model, error) {
	gm, err := newGraphModel(SeedTransformerID, dtype, SeedTransformerWeightSpecs(), weights)
	if err != nil {
		return nil, err
	}
	w := gm.params // the weights, converted to dtype
	m := &seedTransformer{graphModel: gm, emb: w["token_embedding.weight"], pe: positionalEncoding(TransformerMaxLen)}
	m.params = map[string]any{}
	for l := 0; l < tfLayers; l++ {
		p := fmt.Sprintf("encoder.layers.%d.", l)
		for i, qkv := range []string{"q", "k", "v"} {
			m.params[p+"self_attn."+qkv+".weightT"] = transposed(w[p+"self_attn.in_proj_weight"], i*tfModel, tfModel, tfModel)
			m.params[p+"self_attn."+qkv+".bias"] = section(w[p+"self_attn.in_proj_bias"], i*tfModel, (i+1)*tfModel)
		}
		m.params[p+"self_attn.out_proj.weightT"] = transposed(w[p+"self_attn.out_proj.weight"], 0, tfModel, tfModel)
		m.params[p+"linear1.weightT"] = transposed(w[p+"linear1.weight"], 0, tfFFN, tfModel)
		m.params[p+"linear2.weightT"] = transposed(w[p+"linear2.weight"], 0, tfModel, tfFFN)
		for _, name := range []string{"self_attn.out_proj.bias", "linear1.bias", "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"} {
			m.params[p+name] = w[p+name]
		}
	}
	m.params["fc.weightT"] = transposed(w["fc.weight"], 0, tfVocab, tfModel)
	m.params["fc.bias"] = w["fc.bias"]
	if err := m.start(newGraphPool(m.build), progKey{batch: 1, length: 1}); err != nil {
		return nil, err
	}
	return m, nil
}

// scalar returns a constant of the model's dtype (v rounded to it).
func (m *seedTransformer) scalar(v float64) *G.Node {
	if m.dtype == numerics.FP32 {
		return G.NewConstant(float32(v))
	}
	return G.NewConstant(v)
}

// tfBuilder adds the parts of seed-transformer to one program's graph.
type tfBuilder struct {
	m *seedTransformer
	g *G.ExprGraph
}

// linear returns x·Wᵀ + b for x [rows,in], with the weight stored
// transposed as [in,out] under wName and the bias [out] under bName.
func (b *tfBuilder) linear(x *G.Node, wName, bName string, in, out int) (*G.Node, error) {
	y, err := G.Mul(x, b.m.param(b.g, wName, in, out))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", wName, err)
	}
	if y, err = G.BroadcastAdd(y, b.m.param(b.g, bName, 1, out), nil, []byte{0}); err != nil {
		return nil, fmt.Errorf("%s: %w", bName, err)
	}
	return y, nil
}

// layerNorm is (y − μ)/√(σ² + ε)·w + b over the 128 features of each row
// of y [rows,128], with μ the mean and σ² the biased variance, composed
// from Sum, Sub, Square, Add, Sqrt, Div, Mul (gorgonia has no LayerNorm).
func (b *tfBuilder) layerNorm(y *G.Node, prefix string) (*G.Node, error) {
	mean := func(x *G.Node) (*G.Node, error) {
		s, err := G.Sum(x, 1)
		if err != nil {
			return nil, err
		}
		return G.HadamardDiv(s, b.m.scalar(tfModel))
	}
	mu, err := mean(y)
	if err != nil {
		return nil, err
	}
	c, err := G.BroadcastSub(y, mu, nil, []byte{1})
	if err != nil {
		return nil, err
	}
	sq, err := G.Square(c)
	if err != nil {
		return nil, err
	}
	variance, err := mean(sq)
	if err != nil {
		return nil, err
	}
	d, err := G.Add(variance, b.m.scalar(tfEps))
	if err != nil {
		return nil, err
	}
	if d, err = G.Sqrt(d); err != nil {
		return nil, err
	}
	out, err := G.BroadcastHadamardDiv(c, d, nil, []byte{1})
	if err != nil {
		return nil, err
	}
	if out, err = G.BroadcastHadamardProd(out, b.m.param(b.g, prefix+".weight", 1, tfModel), nil, []byte{0}); err != nil {
		return nil, err
	}
	return G.BroadcastAdd(out, b.m.param(b.g, prefix+".bias", 1, tfModel), nil, []byte{0})
}

// splitHeads turns x [n·T,128] into [n·8,T,16]: sequence s, head h is
// batch s·8+h and reads columns 16h…16h+15.
func splitHeads(x *G.Node, n, T int) (*G.Node, error) {
	r, err := G.Reshape(x, tensor.Shape{n, T, tfHeads, tfHead})
	if err != nil {
		return nil, err
	}
	if r, err = G.Transpose(r, 0, 2, 1, 3); err != nil {
		return nil, err
	}
	return G.Reshape(r, tensor.Shape{n * tfHeads, T, tfHead})
}

// mergeHeads is the inverse of splitHeads: [n·8,T,16] → [n·T,128].
func mergeHeads(x *G.Node, n, T int) (*G.Node, error) {
	r, err := G.Reshape(x, tensor.Shape{n, tfHeads, T, tfHead})
	if err != nil {
		return nil, err
	}
	if r, err = G.Transpose(r, 0, 2, 1, 3); err != nil {
		return nil, err
	}
	return G.Reshape(r, tensor.Shape{n * T, tfModel})
}

// layer appends encoder layer l (post-LN) to x [n·T,128].
func (b *tfBuilder) layer(x, maskBias *G.Node, l, n, T int) (*G.Node, error) {
	p := fmt.Sprintf("encoder.layers.%d.", l)
	var heads [3]*G.Node
	for i, qkv := range []string{"q", "k", "v"} {
		y, err := b.linear(x, p+"self_attn."+qkv+".weightT", p+"self_attn."+qkv+".bias", tfModel, tfModel)
		if err != nil {
			return nil, err
		}
		if heads[i], err = splitHeads(y, n, T); err != nil {
			return nil, fmt.Errorf("%sself_attn %s heads: %w", p, qkv, err)
		}
	}
	// scores [n·8,T,T] = Qₕ·Kₕᵀ/√16 + mask, softmax over the keys.
	scores, err := G.BatchedMatMul(heads[0], heads[1], false, true)
	if err != nil {
		return nil, fmt.Errorf("%sself_attn scores: %w", p, err)
	}
	if scores, err = G.Reshape(scores, tensor.Shape{n * tfHeads * T, T}); err != nil {
		return nil, fmt.Errorf("%sself_attn scores: %w", p, err)
	}
	if scores, err = G.HadamardDiv(scores, b.m.scalar(math.Sqrt(tfHead))); err != nil {
		return nil, fmt.Errorf("%sself_attn scale: %w", p, err)
	}
	if scores, err = G.Add(scores, maskBias); err != nil {
		return nil, fmt.Errorf("%sself_attn mask: %w", p, err)
	}
	attn, err := softmaxRows(scores)
	if err != nil {
		return nil, fmt.Errorf("%sself_attn softmax: %w", p, err)
	}
	if attn, err = G.Reshape(attn, tensor.Shape{n * tfHeads, T, T}); err != nil {
		return nil, fmt.Errorf("%sself_attn weights: %w", p, err)
	}
	ctx, err := G.BatchedMatMul(attn, heads[2])
	if err != nil {
		return nil, fmt.Errorf("%sself_attn values: %w", p, err)
	}
	if ctx, err = mergeHeads(ctx, n, T); err != nil {
		return nil, fmt.Errorf("%sself_attn merge: %w", p, err)
	}
	o, err := b.linear(ctx, p+"self_attn.out_proj.weightT", p+"self_attn.out_proj.bias", tfModel, tfModel)
	if err != nil {
		return nil, err
	}
	if x, err = G.Add(x, o); err != nil {
		return nil, fmt.Errorf("%sresidual 1: %w", p, err)
	}
	if x, err = b.layerNorm(x, p+"norm1"); err != nil {
		return nil, fmt.Errorf("%snorm1: %w", p, err)
	}
	f, err := b.linear(x, p+"linear1.weightT", p+"linear1.bias", tfModel, tfFFN)
	if err != nil {
		return nil, err
	}
	if f, err = G.Rectify(f); err != nil {
		return nil, fmt.Errorf("%srelu: %w", p, err)
	}
	if f, err = b.linear(f, p+"linear2.weightT", p+"linear2.bias", tfFFN, tfModel); err != nil {
		return nil, err
	}
	if x, err = G.Add(x, f); err != nil {
		return nil, fmt.Errorf("%sresidual 2: %w", p, err)
	}
	if x, err = b.layerNorm(x, p+"norm2"); err != nil {
		return nil, fmt.Errorf("%snorm2: %w", p, err)
	}
	return x, nil
}

// build compiles the graph of seed-transformer for n = key.batch sequences
// of length T = key.length:
//
//	x [n·T,128] (embedded, see seedTransformer)
//	6× { Q, K, V = x·W_{q,k,v}ᵀ + b; per head softmax(QₕKₕᵀ/4 + mask)·Vₕ;
//	     x = LN₁(x + concat·W_oᵀ + b_o); x = LN₂(x + ReLU(x·W₁ᵀ + b₁)·W₂ᵀ + b₂) }
//	logits = x·fc.weightᵀ + fc.bias [n·T,100]
//
// The heads are a reshape [n,T,8,16] and a transpose to [n,8,T,16], so that
// BatchedMatMul computes all n·8 heads at once. The softmax is softmaxRows
// (composed from Max, Sub, Exp, Sum, Div; gorgonia's SoftMax op seeds each
// row's maximum with the tensor's first element); the mask adds −∞ to
// padding keys, and every row keeps at least one finite score (each
// sequence has a token), so no NaN arises: exp(−∞ − max) is 0. The
// program's inputs are x [n·T,128] (see embed) and the mask bias
// [n·8·T,T] added to the scores, 0 for a token key and −∞ for a padding key
// (see maskBias).
func (m *seedTransformer) build(key progKey) (*program, error) {
	return m.compile(key, func(g *G.ExprGraph) ([]programInput, []programOutput, error) {
		n, T := key.batch, key.length
		b := &tfBuilder{m: m, g: g}
		x := G.NewTensor(g, m.dt, 2, G.WithShape(n*T, tfModel), G.WithName("x"))
		maskBias := G.NewTensor(g, m.dt, 2, G.WithShape(n*tfHeads*T, T), G.WithName("mask_bias"))
		h := x
		for l := 0; l < tfLayers; l++ {
			var err error
			if h, err = b.layer(h, maskBias, l, n, T); err != nil {
				return nil, nil, fmt.Errorf("reference: %s: %w", SeedTransformerID, err)
			}
		}
		logits, err := b.linear(h, "fc.weightT", "fc.bias", tfModel, tfVocab)
		if err != nil {
			return nil, nil, fmt.Errorf("reference: %s: %w", SeedTransformerID, err)
		}
		return []programInput{{node: x, what: "the input"}, {node: maskBias, what: "the mask"}},
			[]programOutput{{name: "logits", size: n * T * tfVocab, node: logits}}, nil
	})
}

// Forward computes logits [N,T,100] for inputs["input_ids"] and the
// optional inputs["attention_mask"]. Inputs outside the model's domain give
// an *InvalidInputError.
func (m *seedTransformer) Forward(inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	ids, valid, err := m.checkInputs(inputs)
	if err != nil {
		return nil, err
	}
	n, T := int(ids.Shape[0]), int(ids.Shape[1])
	outs, err := m.forward(n, tfChunk, func(start, size int) (progKey, []any) {
		return progKey{batch: size, length: T}, []any{m.embed(ids.I64[start*T:(start+size)*T], T), m.maskBias(valid[start:start+size], T)}
	})
	if err != nil {
		return nil, err
	}
	return map[string]numerics.Tensor{"logits": m.tensor([]int64{int64(n), int64(T), tfVocab}, outs[0])}, nil
}

// positionalEncoding returns PE [T,128] in float64 (its first t rows are
// PE of length t): PE[t,2i] =
// sin(t / 10000^(2i/128)), PE[t,2i+1] = cos(t / 10000^(2i/128)), with the
// angle computed as float64(t) / math.Pow(10000, float64(2i)/128).
func positionalEncoding(T int) []float64 {
	pe := make([]float64, T*tfModel)
	for t := 0; t < T; t++ {
		for i := 0; i < tfModel/2; i++ {
			a := float64(t) / math.Pow(10000, float64(2*i)/tfModel)
			pe[t*tfModel+2*i] = math.Sin(a)
			pe[t*tfModel+2*i+1] = math.Cos(a)
		}
	}
	return pe
}

// embed returns token_embedding.weight[id]·√128 + PE[t] for the sequences
// ids [n·T] as the graph's input backing [n·T,128] in the model's dtype:
// each product and sum is rounded to the dtype, √128 and PE are computed in
// float64 and rounded to it.
func (m *seedTransformer) embed(ids []int64, T int) any {
	pe := m.pe
	scale := math.Sqrt(tfModel)
	switch emb := m.emb.(type) {
	case []float32:
		out := make([]float32, len(ids)*tfModel)
		s := float32(scale)
		for k, id := range ids {
			t := k % T
			for j := 0; j < tfModel; j++ {
				// The conversion forbids fusing into an FMA (Go spec).
				out[k*tfModel+j] = float32(emb[int(id)*tfModel+j]*s) + float32(pe[t*tfModel+j])
			}
		}
		return out
	case []float64:
		out := make([]float64, len(ids)*tfModel)
		for k, id := range ids {
			t := k % T
			for j := 0; j < tfModel; j++ {
				out[k*tfModel+j] = float64(emb[int(id)*tfModel+j]*scale) + pe[t*tfModel+j]
			}
		}
		return out
	}
	panic(fmt.Sprintf("reference: unexpected embedding backing %T", m.emb))
}

// maskBias returns the additive attention mask [n·8·T, T] for sequences
// whose first valid[s] positions are tokens: row (s·8 + h)·T + i holds 0 at
// the token keys and −∞ at the padding keys.
func (m *seedTransformer) maskBias(valid []int, T int) any {
	n := len(valid)
	bias := make([]float64, n*tfHeads*T*T)
	for s, k := range valid {
		for r := 0; r < tfHeads*T; r++ {
			row := bias[(s*tfHeads*T+r)*T : (s*tfHeads*T+r+1)*T]
			for j := k; j < T; j++ {
				row[j] = math.Inf(-1)
			}
		}
	}
	if m.dtype == numerics.FP64 {
		return bias
	}
	f := make([]float32, len(bias))
	for i, v := range bias {
		f[i] = float32(v)
	}
	return f
}

// checkInputs validates the inputs and returns the ids and the number of
// tokens of each sequence (T for every sequence when there is no mask).
// Every error is an *InvalidInputError.
func (m *seedTransformer) checkInputs(inputs map[string]numerics.Tensor) (numerics.Tensor, []int, error) {
	const who = "reference: seed-transformer"
	ids, ok := inputs["input_ids"]
	if !ok {
		return ids, nil, invalidInput(`%s: missing input "input_ids"`, who)
	}
	mask, hasMask := inputs["attention_mask"]
	for name := range inputs {
		if name != "input_ids" && name != "attention_mask" {
			return ids, nil, invalidInput(`%s: unexpected input %q (the inputs are "input_ids" and "attention_mask")`, who, name)
		}
	}
	if ids.DType != numerics.INT64 {
		return ids, nil, invalidInput(`%s: input "input_ids" has datatype %s, want INT64`, who, ids.DType)
	}
	if len(ids.Shape) != 2 || ids.Shape[0] < 1 || ids.Shape[1] < 1 || ids.Shape[1] > TransformerMaxLen {
		return ids, nil, invalidInput(`%s: input "input_ids" has shape %v, want [N,T] with N ≥ 1 and 1 ≤ T ≤ %d`, who, ids.Shape, TransformerMaxLen)
	}
	if err := ids.Validate(); err != nil {
		return ids, nil, invalidInput(`%s: input "input_ids": %v`, who, err)
	}
	for i, id := range ids.I64 {
		if id < 0 || id >= tfVocab {
			return ids, nil, invalidInput(`%s: input "input_ids" element %v is %d, want a token id in 0…%d`, who, numerics.IndexOf(ids.Shape, i), id, tfVocab-1)
		}
	}
	n, T := int(ids.Shape[0]), int(ids.Shape[1])
	valid := make([]int, n)
	if !hasMask {
		for s := range valid {
			valid[s] = T
		}
		return ids, valid, nil
	}
	if mask.DType != numerics.INT64 {
		return ids, nil, invalidInput(`%s: input "attention_mask" has datatype %s, want INT64`, who, mask.DType)
	}
	if !slices.Equal(mask.Shape, ids.Shape) {
		return ids, nil, invalidInput(`%s: input "attention_mask" has shape %v, want %v, the shape of "input_ids"`, who, mask.Shape, ids.Shape)
	}
	if err := mask.Validate(); err != nil {
		return ids, nil, invalidInput(`%s: input "attention_mask": %v`, who, err)
	}
	for s := 0; s < n; s++ {
		row := mask.I64[s*T : (s+1)*T]
		k := 0
		for k < T && row[k] == 1 {
			k++
		}
		if k < T && row[k] != 0 {
			return ids, nil, invalidInput(`%s: input "attention_mask" element [%d %d] is %d, want 1 (token) or 0 (padding)`, who, s, k, row[k])
		}
		if k == 0 {
			return ids, nil, invalidInput(`%s: input "attention_mask" row %d has no 1: every sequence needs at least one token`, who, s)
		}
		for j := k; j < T; j++ {
			switch row[j] {
			case 0:
			case 1:
				return ids, nil, invalidInput(`%s: input "attention_mask" row %d has a 1 at position %d after a 0 at position %d: padding belongs at the end (ones followed by zeros)`, who, s, j, k)
			default:
				return ids, nil, invalidInput(`%s: input "attention_mask" element [%d %d] is %d, want 1 (token) or 0 (padding)`, who, s, j, row[j])
			}
		}
		valid[s] = k
	}
	return ids, valid, nil
}

var _ Model = (*seedTransformer)(nil)
