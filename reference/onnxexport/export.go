// Package onnxexport writes the aiconform reference models (seed-cnn,
// seed-rnn and seed-transformer, spec/v1/reference-models.md) as ONNX
// models in FP32, so that a vendor can deploy them on any serving stack and
// so that ONNX Runtime can cross-check the published goldens.
//
// The files are ONNX IR version 7 with the default operator set at version
// 13, built as the messages of package onnxpb (the Go code protoc generates
// from ONNX's onnx.proto) and encoded deterministically, without cgo. Every
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
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/onnxexport/onnxpb"
	"github.com/aiconform/aiconform/spec"
)

// graphs holds the graph of each reference model Export knows. A graph
// function gets the names of the contract's inputs and outputs, in the
// contract's order, after Build has declared the inputs.
var graphs = map[string]func(b *builder, in, out []string){
	reference.SeedCNNID:         buildCNN,
	reference.SeedRNNID:         buildRNN,
	reference.SeedTransformerID: buildTransformer,
}

// precision is the reference version the exported graphs compute in.
const precision = reference.VersionFP32

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

// Options are the descriptive fields of an exported file; they do not
// change the graph.
type Options struct {
	// ProducerVersion is written as producer_version (the aiconform version).
	ProducerVersion string
	// Metadata is appended to the model's metadata_props after the entries
	// Build writes itself (aiconform.model, aiconform.precision).
	Metadata []KeyValue
}

// KeyValue is an entry of a model's metadata_props.
type KeyValue struct{ Key, Value string }

// Build returns the ONNX model of modelID computing in FP32 with weights,
// which must hold exactly the model's published tensors (names and shapes
// of spec/v1/reference-models.md, FP32). The graph's inputs and outputs
// are the model's contract at version fp32 (spec.ModelContract): every
// input, optional ones included, since ONNX has no optional graph inputs.
// Marshal encodes the model as Export does.
func Build(modelID string, weights map[string]numerics.Tensor, opts Options) (*onnxpb.ModelProto, error) {
	graph, ok := graphs[modelID]
	if !ok {
		return nil, fmt.Errorf("onnxexport: unknown model %q (known: %v)", modelID, reference.ModelIDs())
	}
	c, err := spec.ModelContract(modelID, precision)
	if err != nil {
		return nil, fmt.Errorf("onnxexport: %w", err)
	}
	b := newBuilder(strings.ReplaceAll(modelID, "-", "_"), weights)
	var in, out []string
	for _, t := range c.Inputs {
		elem, dims, err := valueType(c, t)
		if err != nil {
			return nil, fmt.Errorf("onnxexport: %s: %w", modelID, err)
		}
		in = append(in, b.input(t.Name, elem, dims...))
	}
	for _, t := range c.Outputs {
		out = append(out, t.Name)
	}
	graph(b, in, out)
	for _, t := range c.Outputs {
		elem, dims, err := valueType(c, t)
		if err != nil {
			return nil, fmt.Errorf("onnxexport: %s: %w", modelID, err)
		}
		b.output(t.Name, elem, dims...)
	}
	g, err := b.finish()
	if err != nil {
		return nil, fmt.Errorf("onnxexport: %s: %w", modelID, err)
	}
	doc := docString(c)
	g.DocString = proto.String(doc)
	return &onnxpb.ModelProto{
		IrVersion: proto.Int64(IRVersion),
		// The default domain "" is left implicit.
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(OpsetVersion)}},
		ProducerName:    proto.String(ProducerName),
		ProducerVersion: optString(opts.ProducerVersion),
		Domain:          proto.String("org.aiconform"),
		ModelVersion:    proto.Int64(1),
		DocString:       proto.String(doc),
		Graph:           g,
		MetadataProps: metadataProps(append([]KeyValue{
			{Key: "aiconform.model", Value: modelID},
			{Key: "aiconform.precision", Value: precision},
		}, opts.Metadata...)),
	}, nil
}

// valueType returns the ONNX element type and dimensions of a contract
// tensor: the batch axis is "N", the sequence axis (where the contract has
// one) "T".
func valueType(c spec.Contract, t spec.Tensor) (onnxpb.TensorProto_DataType, []*onnxpb.TensorShapeProto_Dimension, error) {
	var elem onnxpb.TensorProto_DataType
	switch t.Datatype {
	case numerics.FP32:
		elem = onnxpb.TensorProto_FLOAT
	case numerics.INT64:
		elem = onnxpb.TensorProto_INT64
	default:
		return 0, nil, fmt.Errorf("%s is %s, which the FP32 graph has no element type for", t.Name, t.Datatype)
	}
	dims := make([]*onnxpb.TensorShapeProto_Dimension, len(t.Shape))
	for i, d := range t.Shape {
		switch {
		case d >= 0:
			dims[i] = fixed(d)
		case i == 0:
			dims[i] = sym("N")
		case c.Sequence != nil && i == c.Sequence.Axis:
			dims[i] = sym("T")
		default:
			return 0, nil, fmt.Errorf("%s has a variable dimension %d that is neither the batch nor the sequence axis", t.Name, i)
		}
	}
	return elem, dims, nil
}

// docString describes the graph from the contract: its tensors, the
// optional inputs that are required here, and the outputs whose padded
// positions are unspecified.
func docString(c spec.Contract) string {
	describe := func(ts []spec.Tensor) string {
		parts := make([]string, len(ts))
		for i, t := range ts {
			_, dims, _ := valueType(c, t)
			shape := make([]string, len(dims))
			for j, d := range dims {
				shape[j] = d.GetDimParam()
				if shape[j] == "" {
					shape[j] = fmt.Sprint(d.GetDimValue())
				}
			}
			parts[i] = fmt.Sprintf("%s %s [%s]", t.Name, t.Datatype, strings.Join(shape, ","))
		}
		return strings.Join(parts, ", ")
	}
	doc := fmt.Sprintf("%s (aiconform spec %s) in FP32: %s -> %s.", c.Model, spec.Version, describe(c.Inputs), describe(c.Outputs))
	if c.Sequence != nil {
		doc += fmt.Sprintf(" T <= %d.", c.Sequence.Max)
	}
	for _, t := range c.Inputs {
		if t.Optional {
			doc += fmt.Sprintf(" %s is required here although the served model makes it optional", t.Name)
			if t.Domain != nil && t.Domain.Mask {
				doc += ": pass all ones when there is no padding"
			}
			doc += "."
		}
	}
	for _, t := range c.Outputs {
		if t.MaskedBy != "" {
			doc += fmt.Sprintf(" %s at positions where %s is 0 are unspecified.", t.Name, t.MaskedBy)
		}
	}
	return doc
}

// Export returns the bytes of the ONNX file of modelID (see Build). The
// bytes are a deterministic function of the arguments.
func Export(modelID string, weights map[string]numerics.Tensor, opts Options) ([]byte, error) {
	m, err := Build(modelID, weights, opts)
	if err != nil {
		return nil, err
	}
	b, err := Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("onnxexport: %s: %w", modelID, err)
	}
	return b, nil
}

// buildCNN: Conv, Relu, MaxPool twice, Flatten (NCHW order), Gemm, Softmax;
// in is the image input, out the logits and probabilities.
func buildCNN(b *builder, in, out []string) {
	x := in[0]
	block := func(x, conv string, in, out int64) string {
		c := b.op("Conv", []string{x, b.weight(conv+".weight", out, in, 3, 3), b.weight(conv+".bias", out)},
			attrInts("kernel_shape", 3, 3), attrInts("pads", 1, 1, 1, 1), attrInts("strides", 1, 1), attrInts("dilations", 1, 1), attrInt("group", 1))
		r := b.op("Relu", []string{c})
		return b.op("MaxPool", []string{r}, attrInts("kernel_shape", 2, 2), attrInts("strides", 2, 2))
	}
	x = block(x, "conv1", 1, 32)
	x = block(x, "conv2", 32, 64)
	f := b.op("Flatten", []string{x}, attrInt("axis", 1))
	logits := b.opOut(out[0], "Gemm", []string{f, b.weight("fc.weight", 10, 3136), b.weight("fc.bias", 10)}, attrInt("transB", 1))
	b.opOut(out[1], "Softmax", []string{logits}, attrInt("axis", -1))
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
// in is the sequence input, out the logits.
func buildRNN(b *builder, in, out []string) {
	// [N,T,10] -> [T,N,10]: opset 13's RNN is sequence-major (no layout attribute).
	x := b.op("Transpose", []string{in[0]}, attrInts("perm", 1, 0, 2))
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
			bias := b.op("Concat", []string{b.weight(fmt.Sprintf(p, "bias_ih"), rnnHidden), b.weight(fmt.Sprintf(p, "bias_hh"), rnnHidden)}, attrInt("axis", 0))
			bias = b.op("Unsqueeze", []string{bias, axis0})
			attrs := []*onnxpb.AttributeProto{attrInt("hidden_size", rnnHidden), attrStrings("activations", "Tanh"), attrString("direction", "forward")}
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
	b.opOut(out[0], "Gemm", []string{last, b.weight("fc.weight", rnnOut, rnnHidden), b.weight("fc.bias", rnnOut)}, attrInt("transB", 1))
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
// published [out,in] weight. in is the token ids and the attention mask,
// out the logits.
func buildTransformer(b *builder, in, out []string) {
	ids, mask := in[0], in[1]

	var x, maskBias, qkvShape, logitsShape string
	b.withScope("embed/", func() {
		shapeNT := b.op("Shape", []string{ids}) // [N, T]
		t := b.op("Slice", []string{shapeNT, b.ints(1), b.ints(2), b.ints(0)})
		qkvShape = b.op("Concat", []string{shapeNT, b.ints(3, tfHeads, tfHeadDim)}, attrInt("axis", 0))
		logitsShape = b.op("Concat", []string{shapeNT, b.ints(tfVocab)}, attrInt("axis", 0))

		e := b.op("Gather", []string{b.weight("token_embedding.weight", tfVocab, tfModel), ids}, attrInt("axis", 0))
		e = b.op("Mul", []string{e, b.scalarFloat("const.sqrt_d_model", float32(math.Sqrt(tfModel)))})
		pe := b.op("Slice", []string{b.constant("const.positional_encoding", PositionalEncoding()), b.ints(0), t, b.ints(0)})
		e = b.op("Add", []string{e, pe}) // [N,T,128]
		x = b.op("Reshape", []string{e, b.ints(-1, tfModel)})

		// (1 − mask)·(−1e9), as [N,1,1,T] to broadcast over heads and queries.
		m := b.op("Cast", []string{mask}, attrInt("to", int64(onnxpb.TensorProto_FLOAT)))
		m = b.op("Sub", []string{b.scalarFloat("const.one", 1), m})
		m = b.op("Mul", []string{m, b.scalarFloat("const.mask_bias", tfMaskBias)})
		maskBias = b.op("Unsqueeze", []string{m, b.ints(1, 2)})
	})

	for l := 0; l < tfLayers; l++ {
		p := fmt.Sprintf("encoder.layers.%d.", l)
		b.withScope(p, func() {
			// Self-attention: [N·T,384] -> [N,T,3,8,16] -> Q, K, V [N,8,T,16].
			qkv := b.op("Gemm", []string{x, b.weight(p+"self_attn.in_proj_weight", 3*tfModel, tfModel), b.weight(p+"self_attn.in_proj_bias", 3*tfModel)}, attrInt("transB", 1))
			qkv = b.op("Reshape", []string{qkv, qkvShape})
			qkvT := b.op("Transpose", []string{qkv}, attrInts("perm", 2, 0, 3, 1, 4)) // [3,N,8,T,16]
			q := b.op("Gather", []string{qkvT, b.scalarInt(0)}, attrInt("axis", 0))
			k := b.op("Gather", []string{qkvT, b.scalarInt(1)}, attrInt("axis", 0))
			v := b.op("Gather", []string{qkvT, b.scalarInt(2)}, attrInt("axis", 0))
			kT := b.op("Transpose", []string{k}, attrInts("perm", 0, 1, 3, 2)) // [N,8,16,T]
			s := b.op("MatMul", []string{q, kT})                               // [N,8,T,T]
			s = b.op("Div", []string{s, b.scalarFloat("const.sqrt_head_dim", float32(math.Sqrt(tfHeadDim)))})
			s = b.op("Add", []string{s, maskBias})
			a := b.op("Softmax", []string{s}, attrInt("axis", -1))
			o := b.op("MatMul", []string{a, v})                              // [N,8,T,16]
			o = b.op("Transpose", []string{o}, attrInts("perm", 0, 2, 1, 3)) // [N,T,8,16]
			o = b.op("Reshape", []string{o, b.ints(-1, tfModel)})
			o = b.op("Gemm", []string{o, b.weight(p+"self_attn.out_proj.weight", tfModel, tfModel), b.weight(p+"self_attn.out_proj.bias", tfModel)}, attrInt("transB", 1))
			x = b.layerNorm(b.op("Add", []string{x, o}), p+"norm1")

			h := b.op("Gemm", []string{x, b.weight(p+"linear1.weight", tfFFN, tfModel), b.weight(p+"linear1.bias", tfFFN)}, attrInt("transB", 1))
			h = b.op("Relu", []string{h})
			h = b.op("Gemm", []string{h, b.weight(p+"linear2.weight", tfModel, tfFFN), b.weight(p+"linear2.bias", tfModel)}, attrInt("transB", 1))
			x = b.layerNorm(b.op("Add", []string{x, h}), p+"norm2")
		})
	}
	b.withScope("head/", func() {
		y := b.op("Gemm", []string{x, b.weight("fc.weight", tfVocab, tfModel), b.weight("fc.bias", tfVocab)}, attrInt("transB", 1))
		b.opOut(out[0], "Reshape", []string{y, logitsShape})
	})
}

// layerNorm over the last axis of a [rows,128] value, composed from
// primitive operators (LayerNormalization needs opset 17):
// (y − μ)/√(σ² + ε)·weight + bias with the biased variance σ².
func (b *builder) layerNorm(y, norm string) string {
	mu := b.op("ReduceMean", []string{y}, attrInts("axes", -1), attrInt("keepdims", 1))
	d := b.op("Sub", []string{y, mu})
	v := b.op("ReduceMean", []string{b.op("Mul", []string{d, d})}, attrInts("axes", -1), attrInt("keepdims", 1))
	sd := b.op("Sqrt", []string{b.op("Add", []string{v, b.scalarFloat("const.layer_norm_eps", tfLNEps)})})
	n := b.op("Div", []string{d, sd})
	n = b.op("Mul", []string{n, b.weight(norm+".weight", tfModel)})
	return b.op("Add", []string{n, b.weight(norm+".bias", tfModel)})
}
