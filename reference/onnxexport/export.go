// Package onnxexport writes the aiconform reference models (seed-cnn,
// seed-rnn and seed-transformer, spec/v1/reference-models.md) as ONNX
// models in FP32, so that a vendor can deploy them on any serving stack and
// so that ONNX Runtime can cross-check the published goldens.
//
// The files are ONNX IR version 7 with the default operator set at version
// 13, encoded by hand with protowire (no generated code, no cgo). Every
// published weight is an initializer under its PyTorch state_dict name and
// shape, stored exactly as published; layout changes that ONNX operators
// need (the RNN's stacked weights, concatenated biases) are graph nodes over
// those initializers, which runtimes fold at load time. Graph inputs and
// outputs carry the names and shapes the models are served with, with the
// batch and sequence dimensions symbolic ("N", "T").
//
// One difference from the served signature: seed-transformer's
// attention_mask, optional when served, is a required input of the ONNX
// graph (ONNX has no optional graph inputs); callers without a mask pass
// all ones.
package onnxexport

import (
	"fmt"
	"math"

	"github.com/aiconform/aiconform/numerics"
)

// The model ids of spec v1 this package exports.
const (
	SeedCNN         = "seed-cnn"
	SeedRNN         = "seed-rnn"
	SeedTransformer = "seed-transformer"
)

// IRVersion and OpsetVersion are the ONNX IR version and the version of the
// default operator set ("" / ai.onnx) of the files Export writes.
const (
	IRVersion    = 7
	OpsetVersion = 13
)

// ProducerName is the producer_name of the files Export writes.
const ProducerName = "aiconform"

// FileExt is the file name extension of an exported model.
const FileExt = ".onnx"

// Models lists the model ids Export knows, in spec order.
func Models() []string { return []string{SeedCNN, SeedRNN, SeedTransformer} }

// Options are the descriptive fields of an exported file; they do not
// change the graph.
type Options struct {
	// ProducerVersion is written as producer_version (the aiconform version).
	ProducerVersion string
	// Metadata is appended to the model's metadata_props after the entries
	// Build writes itself (aiconform.model, aiconform.precision).
	Metadata []KeyValue
}

// Build returns the ONNX model of modelID computing in FP32 with weights,
// which must hold exactly the model's published tensors (names and shapes
// of spec/v1/reference-models.md, FP32).
func Build(modelID string, weights map[string]numerics.Tensor, opts Options) (*Model, error) {
	var (
		g   Graph
		doc string
		err error
	)
	switch modelID {
	case SeedCNN:
		g, err = buildCNN(weights)
		doc = "seed-cnn (aiconform spec v1) in FP32: input [N,1,28,28] -> logits [N,10], probabilities [N,10]."
	case SeedRNN:
		g, err = buildRNN(weights)
		doc = "seed-rnn (aiconform spec v1) in FP32: input [N,T,10] -> logits [N,2]."
	case SeedTransformer:
		g, err = buildTransformer(weights)
		doc = "seed-transformer (aiconform spec v1) in FP32: input_ids INT64 [N,T] (0..99, T <= 64) and " +
			"attention_mask INT64 [N,T] (1 token, 0 padding; ones followed by zeros) -> logits [N,T,100]. " +
			"attention_mask is required here although the served model makes it optional: pass all ones " +
			"when there is no padding. Logits at padded positions are unspecified."
	default:
		return nil, fmt.Errorf("onnxexport: unknown model %q (known: %v)", modelID, Models())
	}
	if err != nil {
		return nil, fmt.Errorf("onnxexport: %s: %w", modelID, err)
	}
	g.DocString = doc
	return &Model{
		IRVersion:       IRVersion,
		OpsetVersion:    OpsetVersion,
		ProducerName:    ProducerName,
		ProducerVersion: opts.ProducerVersion,
		Domain:          "org.aiconform",
		ModelVersion:    1,
		DocString:       doc,
		Metadata: append([]KeyValue{
			{Key: "aiconform.model", Value: modelID},
			{Key: "aiconform.precision", Value: "fp32"},
		}, opts.Metadata...),
		Graph: g,
	}, nil
}

// Export returns the bytes of the ONNX file of modelID (see Build). The
// bytes are a deterministic function of the arguments.
func Export(modelID string, weights map[string]numerics.Tensor, opts Options) ([]byte, error) {
	m, err := Build(modelID, weights, opts)
	if err != nil {
		return nil, err
	}
	b, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("onnxexport: %s: %w", modelID, err)
	}
	return b, nil
}

// buildCNN: Conv, Relu, MaxPool twice, Flatten (NCHW order), Gemm, Softmax.
func buildCNN(w map[string]numerics.Tensor) (Graph, error) {
	b := newBuilder("seed_cnn", w)
	x := b.input("input", ElemFloat, sym("N"), fixed(1), fixed(28), fixed(28))
	block := func(x, conv string, in, out int64) string {
		c := b.op("Conv", []string{x, b.weight(conv+".weight", out, in, 3, 3), b.weight(conv+".bias", out)},
			AttrInts("kernel_shape", 3, 3), AttrInts("pads", 1, 1, 1, 1), AttrInts("strides", 1, 1), AttrInts("dilations", 1, 1), AttrInt("group", 1))
		r := b.op("Relu", []string{c})
		return b.op("MaxPool", []string{r}, AttrInts("kernel_shape", 2, 2), AttrInts("strides", 2, 2))
	}
	x = block(x, "conv1", 1, 32)
	x = block(x, "conv2", 32, 64)
	f := b.op("Flatten", []string{x}, AttrInt("axis", 1))
	logits := b.opOut("logits", "Gemm", []string{f, b.weight("fc.weight", 10, 3136), b.weight("fc.bias", 10)}, AttrInt("transB", 1))
	b.opOut("probabilities", "Softmax", []string{logits}, AttrInt("axis", -1))
	b.output("logits", ElemFloat, sym("N"), fixed(10))
	b.output("probabilities", ElemFloat, sym("N"), fixed(10))
	return b.finish()
}

// RNN sizes of spec v1.
const (
	rnnInput  = 10
	rnnHidden = 50
	rnnLayers = 2
	rnnOut    = 2
)

// buildRNN: the ONNX RNN operator (tanh, forward) per layer over the
// sequence-major input, W = weight_ih, R = weight_hh, B = [bias_ih, bias_hh],
// the second layer reading the first's Y; Gemm on the last hidden state.
func buildRNN(w map[string]numerics.Tensor) (Graph, error) {
	b := newBuilder("seed_rnn", w)
	in := b.input("input", ElemFloat, sym("N"), sym("T"), fixed(rnnInput))
	// [N,T,10] -> [T,N,10]: opset 13's RNN is sequence-major (no layout attribute).
	x := b.op("Transpose", []string{in}, AttrInts("perm", 1, 0, 2))
	axis0 := b.ints(0)
	var last string
	for l := 0; l < rnnLayers; l++ {
		inSize := int64(rnnHidden)
		if l == 0 {
			inSize = rnnInput
		}
		p := fmt.Sprintf("rnn.%%s_l%d", l)
		b.withScope(fmt.Sprintf("rnn.l%d/", l), func() {
			wIH := b.op("Unsqueeze", []string{b.weight(fmt.Sprintf(p, "weight_ih"), rnnHidden, inSize), axis0})
			wHH := b.op("Unsqueeze", []string{b.weight(fmt.Sprintf(p, "weight_hh"), rnnHidden, rnnHidden), axis0})
			bias := b.op("Concat", []string{b.weight(fmt.Sprintf(p, "bias_ih"), rnnHidden), b.weight(fmt.Sprintf(p, "bias_hh"), rnnHidden)}, AttrInt("axis", 0))
			bias = b.op("Unsqueeze", []string{bias, axis0})
			attrs := []Attr{AttrInt("hidden_size", rnnHidden), AttrStrings("activations", "Tanh"), AttrString("direction", "forward")}
			if l < rnnLayers-1 {
				// Y [T,1,N,50] -> [T,N,50], the next layer's input.
				y := b.opN([]string{"", "-"}, "RNN", []string{x, wIH, wHH, bias}, attrs...)[0]
				x = b.op("Squeeze", []string{y, b.ints(1)})
			} else {
				// Y_h [1,N,50] is the state after the last step.
				yh := b.opN([]string{"-", ""}, "RNN", []string{x, wIH, wHH, bias}, attrs...)[1]
				last = b.op("Squeeze", []string{yh, axis0})
			}
		})
	}
	b.opOut("logits", "Gemm", []string{last, b.weight("fc.weight", rnnOut, rnnHidden), b.weight("fc.bias", rnnOut)}, AttrInt("transB", 1))
	b.output("logits", ElemFloat, sym("N"), fixed(rnnOut))
	return b.finish()
}

// Transformer sizes of spec v1.
const (
	tfVocab   = 100
	tfModel   = 128
	tfHeads   = 8
	tfHeadDim = tfModel / tfHeads
	tfFFN     = 512
	tfLayers  = 6
	tfMaxLen  = 64
	tfLNEps   = 1e-5
	// tfMaskBias is added to the attention scores of padded keys. It is
	// finite, so that no 0·∞ or ∞−∞ can make a NaN, and so large that
	// exp(score + tfMaskBias − max) is exactly 0 in FP32, as with −∞.
	tfMaskBias = -1e9
)

// PositionalEncoding returns the [64,128] sinusoidal table of
// seed-transformer, PE[t,2i] = sin(t/10000^(2i/128)) and
// PE[t,2i+1] = cos(t/10000^(2i/128)), computed in float64 and rounded to
// float32.
func PositionalEncoding() numerics.Tensor {
	pe := make([]float32, tfMaxLen*tfModel)
	for t := 0; t < tfMaxLen; t++ {
		for i := 0; i < tfModel/2; i++ {
			angle := float64(t) / math.Pow(10000, float64(2*i)/tfModel)
			pe[t*tfModel+2*i] = float32(math.Sin(angle))
			pe[t*tfModel+2*i+1] = float32(math.Cos(angle))
		}
	}
	return numerics.NewF32([]int64{tfMaxLen, tfModel}, pe)
}

// buildTransformer: embedding·√128 + PE[:T], six post-LN encoder layers
// (multi-head attention with a key padding mask, ReLU feed-forward), and a
// linear head at every position. Activations are kept as [N·T,128] between
// the layers so that every linear layer is one Gemm with transB=1 on the
// published [out,in] weight.
func buildTransformer(w map[string]numerics.Tensor) (Graph, error) {
	b := newBuilder("seed_transformer", w)
	ids := b.input("input_ids", ElemInt64, sym("N"), sym("T"))
	mask := b.input("attention_mask", ElemInt64, sym("N"), sym("T"))

	var x, maskBias, qkvShape, logitsShape string
	b.withScope("embed/", func() {
		shapeNT := b.op("Shape", []string{ids}) // [N, T]
		t := b.op("Slice", []string{shapeNT, b.ints(1), b.ints(2), b.ints(0)})
		qkvShape = b.op("Concat", []string{shapeNT, b.ints(3, tfHeads, tfHeadDim)}, AttrInt("axis", 0))
		logitsShape = b.op("Concat", []string{shapeNT, b.ints(tfVocab)}, AttrInt("axis", 0))

		e := b.op("Gather", []string{b.weight("token_embedding.weight", tfVocab, tfModel), ids}, AttrInt("axis", 0))
		e = b.op("Mul", []string{e, b.scalarFloat("const.sqrt_d_model", float32(math.Sqrt(tfModel)))})
		pe := b.op("Slice", []string{b.constant("const.positional_encoding", PositionalEncoding()), b.ints(0), t, b.ints(0)})
		e = b.op("Add", []string{e, pe}) // [N,T,128]
		x = b.op("Reshape", []string{e, b.ints(-1, tfModel)})

		// (1 − mask)·(−1e9), as [N,1,1,T] to broadcast over heads and queries.
		m := b.op("Cast", []string{mask}, AttrInt("to", int64(ElemFloat)))
		m = b.op("Sub", []string{b.scalarFloat("const.one", 1), m})
		m = b.op("Mul", []string{m, b.scalarFloat("const.mask_bias", tfMaskBias)})
		maskBias = b.op("Unsqueeze", []string{m, b.ints(1, 2)})
	})

	for l := 0; l < tfLayers; l++ {
		p := fmt.Sprintf("encoder.layers.%d.", l)
		b.withScope(p, func() {
			// Self-attention: [N·T,384] -> [N,T,3,8,16] -> Q, K, V [N,8,T,16].
			qkv := b.op("Gemm", []string{x, b.weight(p+"self_attn.in_proj_weight", 3*tfModel, tfModel), b.weight(p+"self_attn.in_proj_bias", 3*tfModel)}, AttrInt("transB", 1))
			qkv = b.op("Reshape", []string{qkv, qkvShape})
			qkvT := b.op("Transpose", []string{qkv}, AttrInts("perm", 2, 0, 3, 1, 4)) // [3,N,8,T,16]
			q := b.op("Gather", []string{qkvT, b.scalarInt(0)}, AttrInt("axis", 0))
			k := b.op("Gather", []string{qkvT, b.scalarInt(1)}, AttrInt("axis", 0))
			v := b.op("Gather", []string{qkvT, b.scalarInt(2)}, AttrInt("axis", 0))
			kT := b.op("Transpose", []string{k}, AttrInts("perm", 0, 1, 3, 2)) // [N,8,16,T]
			s := b.op("MatMul", []string{q, kT})                               // [N,8,T,T]
			s = b.op("Div", []string{s, b.scalarFloat("const.sqrt_head_dim", float32(math.Sqrt(tfHeadDim)))})
			s = b.op("Add", []string{s, maskBias})
			a := b.op("Softmax", []string{s}, AttrInt("axis", -1))
			o := b.op("MatMul", []string{a, v})                              // [N,8,T,16]
			o = b.op("Transpose", []string{o}, AttrInts("perm", 0, 2, 1, 3)) // [N,T,8,16]
			o = b.op("Reshape", []string{o, b.ints(-1, tfModel)})
			o = b.op("Gemm", []string{o, b.weight(p+"self_attn.out_proj.weight", tfModel, tfModel), b.weight(p+"self_attn.out_proj.bias", tfModel)}, AttrInt("transB", 1))
			x = b.layerNorm(b.op("Add", []string{x, o}), p+"norm1")

			h := b.op("Gemm", []string{x, b.weight(p+"linear1.weight", tfFFN, tfModel), b.weight(p+"linear1.bias", tfFFN)}, AttrInt("transB", 1))
			h = b.op("Relu", []string{h})
			h = b.op("Gemm", []string{h, b.weight(p+"linear2.weight", tfModel, tfFFN), b.weight(p+"linear2.bias", tfModel)}, AttrInt("transB", 1))
			x = b.layerNorm(b.op("Add", []string{x, h}), p+"norm2")
		})
	}
	b.withScope("head/", func() {
		y := b.op("Gemm", []string{x, b.weight("fc.weight", tfVocab, tfModel), b.weight("fc.bias", tfVocab)}, AttrInt("transB", 1))
		b.opOut("logits", "Reshape", []string{y, logitsShape})
	})
	b.output("logits", ElemFloat, sym("N"), sym("T"), fixed(tfVocab))
	return b.finish()
}

// layerNorm over the last axis of a [rows,128] value, composed from
// primitive operators (LayerNormalization needs opset 17):
// (y − μ)/√(σ² + ε)·weight + bias with the biased variance σ².
func (b *builder) layerNorm(y, norm string) string {
	mu := b.op("ReduceMean", []string{y}, AttrInts("axes", -1), AttrInt("keepdims", 1))
	d := b.op("Sub", []string{y, mu})
	v := b.op("ReduceMean", []string{b.op("Mul", []string{d, d})}, AttrInts("axes", -1), AttrInt("keepdims", 1))
	sd := b.op("Sqrt", []string{b.op("Add", []string{v, b.scalarFloat("const.layer_norm_eps", tfLNEps)})})
	n := b.op("Div", []string{d, sd})
	n = b.op("Mul", []string{n, b.weight(norm+".weight", tfModel)})
	return b.op("Add", []string{n, b.weight(norm+".bias", tfModel)})
}
