package plainref

import (
	"fmt"
	"math"

	"github.com/aiconform/aiconform/numerics"
)

// Sizes of seed-transformer.
const (
	tfVocab  = 100 // token ids 0…99, logits per position
	tfModel  = 128 // d_model
	tfHeads  = 8
	tfHead   = tfModel / tfHeads // 16
	tfFFN    = 512
	tfLayers = 6
	tfMaxLen = 64
	tfEps    = 1e-5
)

// tfLayer holds one encoder layer's parameters as float64.
type tfLayer struct {
	inW, inB   []float64 // [384,128], [384]: Q, K, V stacked
	outW, outB []float64 // [128,128], [128]
	l1W, l1B   []float64 // [512,128], [512]
	l2W, l2B   []float64 // [128,512], [128]
	n1W, n1B   []float64 // [128]
	n2W, n2B   []float64 // [128]
}

// tfWeights reads seed-transformer's tensors.
func tfWeights(w map[string]numerics.Tensor) (emb, fcW, fcB []float64, layers []tfLayer, err error) {
	if emb, err = weight(w, "token_embedding.weight", tfVocab, tfModel); err != nil {
		return
	}
	if fcW, err = weight(w, "fc.weight", tfVocab, tfModel); err != nil {
		return
	}
	if fcB, err = weight(w, "fc.bias", tfVocab); err != nil {
		return
	}
	for l := 0; l < tfLayers; l++ {
		p := fmt.Sprintf("encoder.layers.%d.", l)
		var L tfLayer
		for _, t := range []struct {
			dst   *[]float64
			name  string
			shape []int64
		}{
			{&L.inW, "self_attn.in_proj_weight", []int64{3 * tfModel, tfModel}},
			{&L.inB, "self_attn.in_proj_bias", []int64{3 * tfModel}},
			{&L.outW, "self_attn.out_proj.weight", []int64{tfModel, tfModel}},
			{&L.outB, "self_attn.out_proj.bias", []int64{tfModel}},
			{&L.l1W, "linear1.weight", []int64{tfFFN, tfModel}},
			{&L.l1B, "linear1.bias", []int64{tfFFN}},
			{&L.l2W, "linear2.weight", []int64{tfModel, tfFFN}},
			{&L.l2B, "linear2.bias", []int64{tfModel}},
			{&L.n1W, "norm1.weight", []int64{tfModel}},
			{&L.n1B, "norm1.bias", []int64{tfModel}},
			{&L.n2W, "norm2.weight", []int64{tfModel}},
			{&L.n2B, "norm2.bias", []int64{tfModel}},
		} {
			if *t.dst, err = weight(w, p+t.name, t.shape...); err != nil {
				return
			}
		}
		layers = append(layers, L)
	}
	return
}

// linear returns x·Wᵀ + b for x [rows,in], W [out,in], b [out].
func linear(x []float64, rows, in int, wt, b []float64, out int) []float64 {
	y := make([]float64, rows*out)
	for r := 0; r < rows; r++ {
		for o := 0; o < out; o++ {
			s := b[o]
			for i := 0; i < in; i++ {
				s += x[r*in+i] * wt[o*in+i]
			}
			y[r*out+o] = s
		}
	}
	return y
}

// layerNorm normalises each row of y [rows,tfModel] in place:
// (y − μ)/√(σ² + ε)·w + b with the biased variance σ².
func layerNorm(y []float64, rows int, w, b []float64) {
	for r := 0; r < rows; r++ {
		row := y[r*tfModel : (r+1)*tfModel]
		var mu float64
		for _, v := range row {
			mu += v
		}
		mu /= tfModel
		var v2 float64
		for _, v := range row {
			v2 += (v - mu) * (v - mu)
		}
		v2 /= tfModel
		d := math.Sqrt(v2 + tfEps)
		for i, v := range row {
			row[i] = (v-mu)/d*w[i] + b[i]
		}
	}
}

// PositionalEncoding returns the sinusoidal encoding PE[t, 2i] =
// sin(t / 10000^(2i/128)), PE[t, 2i+1] = cos(t / 10000^(2i/128)) of
// positions 0…T−1 as [T,128], computed in float64 as
// math.Sin(float64(t) / math.Pow(10000, float64(2i)/128)).
func PositionalEncoding(T int) []float64 {
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

// SeedTransformer computes seed-transformer on ids INT64 [N,T] (1 ≤ T ≤ 64,
// values 0…99) with an optional attention mask INT64 [N,T] (1 for a token,
// 0 for padding, ones followed by zeros, at least one 1 per row; a mask
// whose DType is "" is absent and means all ones) and the named weights
// (PyTorch layouts, see spec/v1/reference-models.md). It returns FP64
// logits [N,T,100]. Padded positions attend to the sequence's tokens like
// any other query, so their logits are finite; the spec leaves them
// unspecified.
func SeedTransformer(weights map[string]numerics.Tensor, ids, mask numerics.Tensor) (logits numerics.Tensor, err error) {
	emb, fcW, fcB, layers, err := tfWeights(weights)
	if err != nil {
		return logits, err
	}
	if err := ids.Validate(); err != nil {
		return logits, fmt.Errorf("plainref: input_ids: %w", err)
	}
	if ids.DType != numerics.INT64 || len(ids.Shape) != 2 || ids.Shape[0] < 1 || ids.Shape[1] < 1 || ids.Shape[1] > tfMaxLen {
		return logits, fmt.Errorf("plainref: input_ids is %s %v, want INT64 [N,T] with N ≥ 1 and 1 ≤ T ≤ %d", ids.DType, ids.Shape, tfMaxLen)
	}
	n, T := int(ids.Shape[0]), int(ids.Shape[1])
	for i, id := range ids.I64 {
		if id < 0 || id >= tfVocab {
			return logits, fmt.Errorf("plainref: input_ids element %v is %d, want 0…%d", numerics.IndexOf(ids.Shape, i), id, tfVocab-1)
		}
	}
	valid := make([]int, n) // number of tokens of each sequence
	for s := range valid {
		valid[s] = T
	}
	if mask.DType != "" {
		if err := mask.Validate(); err != nil {
			return logits, fmt.Errorf("plainref: attention_mask: %w", err)
		}
		if mask.DType != numerics.INT64 || len(mask.Shape) != 2 || mask.Shape[0] != ids.Shape[0] || mask.Shape[1] != ids.Shape[1] {
			return logits, fmt.Errorf("plainref: attention_mask is %s %v, want INT64 %v like input_ids", mask.DType, mask.Shape, ids.Shape)
		}
		for s := 0; s < n; s++ {
			row := mask.I64[s*T : (s+1)*T]
			k := 0
			for k < T && row[k] == 1 {
				k++
			}
			for j := k; j < T; j++ {
				if row[j] != 0 {
					return logits, fmt.Errorf("plainref: attention_mask row %d is %v, want ones followed by zeros", s, row)
				}
			}
			if k == 0 {
				return logits, fmt.Errorf("plainref: attention_mask row %d has no 1", s)
			}
			valid[s] = k
		}
	}
	pe := PositionalEncoding(T)
	scale := math.Sqrt(tfModel)
	out := make([]float64, 0, n*T*tfVocab)
	for s := 0; s < n; s++ {
		x := make([]float64, T*tfModel)
		for t := 0; t < T; t++ {
			id := int(ids.I64[s*T+t])
			for j := 0; j < tfModel; j++ {
				x[t*tfModel+j] = emb[id*tfModel+j]*scale + pe[t*tfModel+j]
			}
		}
		for _, L := range layers {
			x = encoderLayer(x, T, valid[s], L)
		}
		out = append(out, linear(x, T, tfModel, fcW, fcB, tfVocab)...)
	}
	return numerics.NewF64([]int64{int64(n), int64(T), tfVocab}, out), nil
}

// encoderLayer applies one post-LN encoder layer to one sequence x [T,128]
// whose first k positions are tokens (keys k…T−1 are masked out).
func encoderLayer(x []float64, T, k int, L tfLayer) []float64 {
	qkv := linear(x, T, tfModel, L.inW, L.inB, 3*tfModel) // [T,384]: Q | K | V
	concat := make([]float64, T*tfModel)
	scores := make([]float64, T*k)
	for h := 0; h < tfHeads; h++ {
		q, kk, v := h*tfHead, tfModel+h*tfHead, 2*tfModel+h*tfHead
		// Only the k unmasked keys enter the softmax: exp(−∞) = 0 for the rest.
		for i := 0; i < T; i++ {
			for j := 0; j < k; j++ {
				var d float64
				for c := 0; c < tfHead; c++ {
					d += qkv[i*3*tfModel+q+c] * qkv[j*3*tfModel+kk+c]
				}
				scores[i*k+j] = d / math.Sqrt(tfHead)
			}
		}
		a := Softmax(scores, T, k)
		for i := 0; i < T; i++ {
			for c := 0; c < tfHead; c++ {
				var s float64
				for j := 0; j < k; j++ {
					s += a[i*k+j] * qkv[j*3*tfModel+v+c]
				}
				concat[i*tfModel+h*tfHead+c] = s
			}
		}
	}
	o := linear(concat, T, tfModel, L.outW, L.outB, tfModel)
	y := make([]float64, T*tfModel)
	for i := range y {
		y[i] = x[i] + o[i]
	}
	layerNorm(y, T, L.n1W, L.n1B)
	f := linear(y, T, tfModel, L.l1W, L.l1B, tfFFN)
	for i, v := range f {
		f[i] = math.Max(v, 0)
	}
	f = linear(f, T, tfFFN, L.l2W, L.l2B, tfModel)
	for i := range y {
		y[i] += f[i]
	}
	layerNorm(y, T, L.n2W, L.n2B)
	return y
}
