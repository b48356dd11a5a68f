package onnxexport

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/onnxexport/onnxpb"
	"github.com/aiconform/aiconform/reference/weightgen"
)

// specShapes lists each model's tensors as spec/v1/reference-models.md
// states them (written out here independently of package reference).
func specShapes(model string) map[string][]int64 {
	s := map[string][]int64{}
	switch model {
	case "seed-cnn":
		s["conv1.weight"] = []int64{32, 1, 3, 3}
		s["conv1.bias"] = []int64{32}
		s["conv2.weight"] = []int64{64, 32, 3, 3}
		s["conv2.bias"] = []int64{64}
		s["fc.weight"] = []int64{10, 3136}
		s["fc.bias"] = []int64{10}
	case "seed-rnn":
		for l, in := range []int64{10, 50} {
			s[fmt.Sprintf("rnn.weight_ih_l%d", l)] = []int64{50, in}
			s[fmt.Sprintf("rnn.weight_hh_l%d", l)] = []int64{50, 50}
			s[fmt.Sprintf("rnn.bias_ih_l%d", l)] = []int64{50}
			s[fmt.Sprintf("rnn.bias_hh_l%d", l)] = []int64{50}
		}
		s["fc.weight"] = []int64{2, 50}
		s["fc.bias"] = []int64{2}
	case "seed-transformer":
		s["token_embedding.weight"] = []int64{100, 128}
		for l := 0; l < 6; l++ {
			p := fmt.Sprintf("encoder.layers.%d.", l)
			s[p+"self_attn.in_proj_weight"] = []int64{384, 128}
			s[p+"self_attn.in_proj_bias"] = []int64{384}
			s[p+"self_attn.out_proj.weight"] = []int64{128, 128}
			s[p+"self_attn.out_proj.bias"] = []int64{128}
			s[p+"linear1.weight"] = []int64{512, 128}
			s[p+"linear1.bias"] = []int64{512}
			s[p+"linear2.weight"] = []int64{128, 512}
			s[p+"linear2.bias"] = []int64{128}
			for _, n := range []string{"norm1", "norm2"} {
				s[p+n+".weight"] = []int64{128}
				s[p+n+".bias"] = []int64{128}
			}
		}
		s["fc.weight"] = []int64{100, 128}
		s["fc.bias"] = []int64{100}
	}
	return s
}

// testWeights draws a model's tensors with weightgen under a test seed.
func testWeights(t *testing.T, model string) map[string]numerics.Tensor {
	t.Helper()
	var specs []weightgen.Spec
	for name, shape := range specShapes(model) {
		specs = append(specs, weightgen.Spec{Name: name, Shape: shape, Init: weightgen.UniformFanIn(int(shape[len(shape)-1]))})
	}
	w, err := weightgen.Generate("onnxexport-test", specs)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestExport(t *testing.T) {
	tests := []struct {
		model   string
		inputs  []string // graph inputs as describe writes them
		outputs []string
		ops     []string // every op type the graph must use
		nodes   int
		doc     string // what the doc string must say
	}{
		{
			model:   "seed-cnn",
			inputs:  []string{"input FLOAT [N,1,28,28]"},
			outputs: []string{"logits FLOAT [N,10]", "probabilities FLOAT [N,10]"},
			ops:     []string{"Conv", "Flatten", "Gemm", "MaxPool", "Relu", "Softmax"},
			nodes:   9,
			doc:     "seed-cnn (aiconform spec v1) in FP32: input FP32 [N,1,28,28] -> logits FP32 [N,10], probabilities FP32 [N,10].",
		},
		{
			model:   "seed-rnn",
			inputs:  []string{"input FLOAT [N,T,10]"},
			outputs: []string{"logits FLOAT [N,2]"},
			ops:     []string{"Concat", "Gemm", "RNN", "Squeeze", "Transpose", "Unsqueeze"},
			nodes:   14,
		},
		{
			model:   "seed-transformer",
			inputs:  []string{"input_ids INT64 [N,T]", "attention_mask INT64 [N,T]"},
			outputs: []string{"logits FLOAT [N,T,100]"},
			ops: []string{"Add", "Cast", "Concat", "Div", "Gather", "Gemm", "MatMul", "Mul", "ReduceMean",
				"Relu", "Reshape", "Shape", "Slice", "Softmax", "Sqrt", "Sub", "Transpose", "Unsqueeze"},
			// 13 in the embedding and mask, 6 × 38 per layer (16 for attention,
			// 4 for the feed-forward block, 9 per LayerNorm), 2 in the head.
			nodes: 13 + 6*38 + 2,
			doc: "seed-transformer (aiconform spec v1) in FP32: input_ids INT64 [N,T], attention_mask INT64 [N,T] -> logits FP32 [N,T,100]. T <= 64. " +
				"attention_mask is required here although the served model makes it optional: pass all ones when there is no padding. " +
				"logits at positions where attention_mask is 0 are unspecified.",
		},
	}
	for _, tc := range tests {
		t.Run(tc.model, func(t *testing.T) {
			w := testWeights(t, tc.model)
			opts := Options{ProducerVersion: "test", Metadata: []KeyValue{{"k", "v"}}}
			b, err := Export(tc.model, w, opts)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Export(tc.model, w, opts)
			if err != nil || !bytes.Equal(b, again) {
				t.Fatalf("a second Export gives different bytes (err %v)", err)
			}
			m, err := decodeModel(b)
			if err != nil {
				t.Fatalf("decoding the export: %v", err)
			}
			built, err := Build(tc.model, w, opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(built, m, protocmp.Transform()); diff != "" {
				t.Errorf("decoded export differs from Build (-built +decoded):\n%s", diff)
			}

			opset := m.GetOpsetImport()
			if m.GetIrVersion() != 7 || len(opset) != 1 || opset[0].GetDomain() != "" || opset[0].GetVersion() != 13 ||
				m.GetProducerName() != "aiconform" || m.GetProducerVersion() != "test" || m.GetDomain() != "org.aiconform" || m.GetModelVersion() != 1 {
				t.Errorf("ir_version %d, opset_import %v, producer %q %q, domain %q, model_version %d; want 7, [version:13], aiconform test, org.aiconform, 1",
					m.GetIrVersion(), opset, m.GetProducerName(), m.GetProducerVersion(), m.GetDomain(), m.GetModelVersion())
			}
			var meta []KeyValue
			for _, e := range m.GetMetadataProps() {
				meta = append(meta, KeyValue{e.GetKey(), e.GetValue()})
			}
			wantMeta := []KeyValue{{"aiconform.model", tc.model}, {"aiconform.precision", "fp32"}, {"k", "v"}}
			if !slices.Equal(meta, wantMeta) {
				t.Errorf("metadata %v, want %v", meta, wantMeta)
			}
			g := m.GetGraph()
			if tc.doc != "" && (m.GetDocString() != tc.doc || g.GetDocString() != tc.doc) {
				t.Errorf("doc strings %q and %q, want %q", m.GetDocString(), g.GetDocString(), tc.doc)
			}
			for _, c := range []struct {
				what string
				got  []*onnxpb.ValueInfoProto
				want []string
			}{{"inputs", g.GetInput(), tc.inputs}, {"outputs", g.GetOutput(), tc.outputs}} {
				var got []string
				for _, v := range c.got {
					d, err := describe(v)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, d)
				}
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Errorf("graph %s (-want +got):\n%s", c.what, diff)
				}
			}

			// Every published tensor is an initializer under its name,
			// bit for bit; the only other initializers are constants.
			inits := map[string]numerics.Tensor{}
			for _, tp := range g.GetInitializer() {
				name := tp.GetName()
				if _, dup := inits[name]; dup {
					t.Errorf("initializer %q appears twice", name)
				}
				tensor, err := tensorOf(tp)
				if err != nil {
					t.Fatal(err)
				}
				inits[name] = tensor
				if _, isWeight := w[name]; !isWeight && !strings.HasPrefix(name, "const.") {
					t.Errorf("initializer %q is neither a published weight nor a const.* constant", name)
				}
			}
			for name, want := range w {
				got, ok := inits[name]
				if !ok {
					t.Errorf("weight %q is not an initializer", name)
					continue
				}
				if !sameTensor(got, want) {
					t.Errorf("initializer %q is %s %v, not the weight bit for bit", name, got.DType, got.Shape)
				}
			}

			// Nodes are in topological order, in the default domain, and
			// define each value once; their attributes are well typed;
			// the graph outputs are computed.
			defined := map[string]bool{}
			for _, in := range g.GetInput() {
				defined[in.GetName()] = true
			}
			for n := range inits {
				defined[n] = true
			}
			ops := map[string]bool{}
			for _, n := range g.GetNode() {
				ops[n.GetOpType()] = true
				if n.Domain != nil {
					t.Errorf("node %s has domain %q, want the default domain left implicit", n.GetName(), n.GetDomain())
				}
				for _, a := range n.GetAttribute() {
					if err := checkAttribute(a); err != nil {
						t.Errorf("node %s: %v", n.GetName(), err)
					}
				}
				for _, in := range n.GetInput() {
					if in != "" && !defined[in] {
						t.Errorf("node %s (%s) reads %q before it is defined", n.GetName(), n.GetOpType(), in)
					}
				}
				for _, out := range n.GetOutput() {
					if out == "" {
						continue
					}
					if defined[out] {
						t.Errorf("node %s redefines %q", n.GetName(), out)
					}
					defined[out] = true
				}
			}
			for _, out := range g.GetOutput() {
				if !defined[out.GetName()] {
					t.Errorf("graph output %q is never computed", out.GetName())
				}
			}
			var gotOps []string
			for op := range ops {
				gotOps = append(gotOps, op)
			}
			slices.Sort(gotOps)
			if !slices.Equal(gotOps, tc.ops) {
				t.Errorf("op types %v, want %v", gotOps, tc.ops)
			}
			if len(g.GetNode()) != tc.nodes {
				t.Errorf("%d nodes, want %d", len(g.GetNode()), tc.nodes)
			}
		})
	}
}

func sameTensor(a, b numerics.Tensor) bool {
	if a.DType != b.DType || !slices.Equal(a.Shape, b.Shape) || a.Len() != b.Len() {
		return false
	}
	for i := 0; i < a.Len(); i++ {
		switch a.DType {
		case numerics.FP32:
			if math.Float32bits(a.F32[i]) != math.Float32bits(b.F32[i]) {
				return false
			}
		case numerics.FP64:
			if math.Float64bits(a.F64[i]) != math.Float64bits(b.F64[i]) {
				return false
			}
		case numerics.INT64:
			if a.I64[i] != b.I64[i] {
				return false
			}
		}
	}
	return true
}

func TestExportRejectsWrongWeights(t *testing.T) {
	tests := []struct {
		name   string
		model  string
		change func(map[string]numerics.Tensor)
		want   string
	}{
		{"unknown model", "seed-mlp", func(map[string]numerics.Tensor) {}, `unknown model "seed-mlp"`},
		{"missing tensor", "seed-cnn", func(w map[string]numerics.Tensor) { delete(w, "conv2.bias") }, `no tensor "conv2.bias"`},
		{"transposed weight", "seed-rnn", func(w map[string]numerics.Tensor) {
			w["rnn.weight_ih_l0"] = numerics.NewF32([]int64{10, 50}, w["rnn.weight_ih_l0"].F32)
		}, `weight "rnn.weight_ih_l0" is FP32 [10 50], want FP32 [50 10]`},
		{"FP64 weight", "seed-transformer", func(w map[string]numerics.Tensor) {
			w["fc.bias"] = numerics.NewF64([]int64{100}, make([]float64, 100))
		}, `weight "fc.bias" is FP64 [100], want FP32 [100]`},
		{"short data", "seed-cnn", func(w map[string]numerics.Tensor) {
			w["fc.bias"] = numerics.NewF32([]int64{10}, make([]float32, 9))
		}, `weight "fc.bias"`},
		{"extra tensor", "seed-cnn", func(w map[string]numerics.Tensor) {
			w["fc2.weight"] = numerics.NewF32([]int64{1}, []float32{1})
		}, `does not use the weights ["fc2.weight"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w map[string]numerics.Tensor
			if tc.model == "seed-cnn" || tc.model == "seed-rnn" || tc.model == "seed-transformer" {
				w = testWeights(t, tc.model)
			}
			tc.change(w)
			_, err := Export(tc.model, w, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Export error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestPositionalEncoding(t *testing.T) {
	pe := PositionalEncoding()
	if !slices.Equal(pe.Shape, []int64{64, 128}) || pe.DType != numerics.FP32 {
		t.Fatalf("PositionalEncoding is %s %v, want FP32 [64 128]", pe.DType, pe.Shape)
	}
	at := func(pos, j int) float32 { return pe.F32[pos*128+j] }
	tests := []struct {
		pos, j int
		want   float64
	}{
		{0, 0, 0}, {0, 1, 1}, {0, 126, 0}, {0, 127, 1},
		{1, 0, math.Sin(1)}, {1, 1, math.Cos(1)},
		{5, 2, math.Sin(5 / math.Pow(10000, 2.0/128))},
		{63, 127, math.Cos(63 / math.Pow(10000, 126.0/128))},
		{63, 64, math.Sin(63 / math.Pow(10000, 64.0/128))},
	}
	for _, tc := range tests {
		if got := at(tc.pos, tc.j); got != float32(tc.want) {
			t.Errorf("PE[%d,%d] = %v, want %v", tc.pos, tc.j, got, float32(tc.want))
		}
	}
}

// TestExportsEveryReferenceModel checks that every model package reference
// implements can be exported from its generated weights, so the names and
// shapes of reference.WeightSpecs agree with the graphs here.
func TestExportsEveryReferenceModel(t *testing.T) {
	for _, id := range reference.ModelIDs() {
		t.Run(id, func(t *testing.T) {
			if _, ok := graphs[id]; !ok {
				t.Fatalf("reference model %s has no ONNX graph", id)
			}
			w, err := reference.GenerateWeights(id)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Export(id, w, Options{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
