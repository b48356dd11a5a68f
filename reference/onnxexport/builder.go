package onnxexport

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference/onnxexport/onnxpb"
)

// builder assembles a GraphProto. It records the first error and turns every
// later call into a no-op, so that the model code reads as a sequence of
// operations.
type builder struct {
	g       *onnxpb.GraphProto
	weights map[string]numerics.Tensor
	used    map[string]bool // weights turned into initializers
	names   map[string]bool // every value name defined so far
	counter map[string]int  // per op type, for node and value names
	scope   string
	err     error
}

func newBuilder(name string, weights map[string]numerics.Tensor) *builder {
	return &builder{
		g:       &onnxpb.GraphProto{Name: proto.String(name)},
		weights: weights,
		used:    map[string]bool{},
		names:   map[string]bool{},
		counter: map[string]int{},
	}
}

func (b *builder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf(format, args...)
	}
}

func (b *builder) define(name string) {
	if b.names[name] {
		b.fail("onnxexport: value %q is defined twice", name)
	}
	b.names[name] = true
}

// input declares a graph input.
func (b *builder) input(name string, elem onnxpb.TensorProto_DataType, shape ...*onnxpb.TensorShapeProto_Dimension) string {
	b.define(name)
	b.g.Input = append(b.g.Input, valueInfo(name, elem, shape...))
	return name
}

// output declares a graph output; the value must already be defined.
func (b *builder) output(name string, elem onnxpb.TensorProto_DataType, shape ...*onnxpb.TensorShapeProto_Dimension) {
	if !b.names[name] {
		b.fail("onnxexport: graph output %q is not computed by the graph", name)
	}
	b.g.Output = append(b.g.Output, valueInfo(name, elem, shape...))
}

// weight makes the published tensor name an initializer (once) after
// checking that it exists as FP32 with the given shape, and returns its name.
func (b *builder) weight(name string, shape ...int64) string {
	if b.err != nil {
		return name
	}
	t, ok := b.weights[name]
	if !ok {
		b.fail("onnxexport: the weights have no tensor %q", name)
		return name
	}
	if t.DType != numerics.FP32 || !slices.Equal(t.Shape, shape) {
		b.fail("onnxexport: weight %q is %s %v, want FP32 %v", name, t.DType, t.Shape, shape)
		return name
	}
	if err := t.Validate(); err != nil {
		b.fail("onnxexport: weight %q: %w", name, err)
		return name
	}
	if !b.used[name] {
		b.used[name] = true
		b.initializer(name, t)
	}
	return name
}

// constant adds a named constant initializer (once per name; a second call
// with the same name must pass the same tensor, which is not re-checked).
func (b *builder) constant(name string, t numerics.Tensor) string {
	if b.err != nil || b.names[name] {
		return name
	}
	if err := t.Validate(); err != nil {
		b.fail("onnxexport: constant %q: %w", name, err)
		return name
	}
	b.initializer(name, t)
	return name
}

// initializer defines name as the initializer t.
func (b *builder) initializer(name string, t numerics.Tensor) {
	b.define(name)
	tp, err := tensorProto(name, t)
	if err != nil {
		b.fail("%w", err)
		return
	}
	b.g.Initializer = append(b.g.Initializer, tp)
}

// ints adds an INT64 constant of shape [len(v)] named after its values.
func (b *builder) ints(v ...int64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprint(x)
	}
	return b.constant("const.i64["+strings.Join(parts, ",")+"]", numerics.NewI64([]int64{int64(len(v))}, v))
}

// scalarInt adds an INT64 scalar (shape []) constant.
func (b *builder) scalarInt(v int64) string {
	return b.constant(fmt.Sprintf("const.i64.%d", v), numerics.NewI64([]int64{}, []int64{v}))
}

// scalarFloat adds an FP32 scalar (shape []) constant under name.
func (b *builder) scalarFloat(name string, v float32) string {
	return b.constant(name, numerics.NewF32([]int64{}, []float32{v}))
}

// withScope runs f with value and node names prefixed by scope.
func (b *builder) withScope(scope string, f func()) {
	saved := b.scope
	b.scope = scope
	f()
	b.scope = saved
}

// op adds a node with one output, named after the scope and the op type,
// and returns the output's name.
func (b *builder) op(opType string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	return b.opOut("", opType, inputs, attrs...)
}

// opOut adds a node with one output named out ("" for an automatic name).
func (b *builder) opOut(out, opType string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	outs := b.opN([]string{out}, opType, inputs, attrs...)
	return outs[0]
}

// opN adds a node whose outputs are named outs; an empty name gets an
// automatic one, except for optional outputs marked with "-", which stay
// empty (omitted, in ONNX terms).
func (b *builder) opN(outs []string, opType string, inputs []string, attrs ...*onnxpb.AttributeProto) []string {
	k := b.counter[b.scope+opType]
	b.counter[b.scope+opType] = k + 1
	nodeName := fmt.Sprintf("%s%s_%d", b.scope, opType, k)
	names := make([]string, len(outs))
	for i, o := range outs {
		switch o {
		case "-":
			names[i] = ""
			continue
		case "":
			o = nodeName
			if len(outs) > 1 {
				o = fmt.Sprintf("%s:%d", nodeName, i)
			}
		}
		names[i] = o
	}
	if b.err != nil {
		return names
	}
	for _, in := range inputs {
		if in != "" && !b.names[in] {
			b.fail("onnxexport: node %s reads %q before it is defined", nodeName, in)
			return names
		}
	}
	for _, n := range names {
		if n != "" {
			b.define(n)
		}
	}
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{
		Input:     slices.Clone(inputs),
		Output:    names,
		Name:      proto.String(nodeName),
		OpType:    proto.String(opType),
		Attribute: attrs,
	})
	return names
}

// finish returns the graph, or the first error, or an error naming the
// weights the graph did not use.
func (b *builder) finish() (*onnxpb.GraphProto, error) {
	if b.err != nil {
		return nil, b.err
	}
	var unused []string
	for n := range b.weights {
		if !b.used[n] {
			unused = append(unused, n)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		return nil, fmt.Errorf("onnxexport: graph %s does not use the weights %q", b.g.GetName(), unused)
	}
	return b.g, nil
}
