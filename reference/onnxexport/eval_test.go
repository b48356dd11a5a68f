package onnxexport

import (
	"fmt"
	"math"
	"slices"

	"github.com/aiconform/aiconform/reference/onnxexport/onnxpb"
)

// This file is a small float64 interpreter for the operators the exported
// graphs use, with the semantics of the ONNX operator specification at
// opset 13, so that `go test` checks what the graphs compute without
// ONNX Runtime. (crosscheck/onnx runs the same files in ONNX Runtime.)

// value is a tensor during evaluation: floats in f, or integers in i when
// isInt is set.
type value struct {
	shape []int
	f     []float64
	i     []int64
	isInt bool
}

func (v value) size() int { return sizeOf(v.shape) }

func sizeOf(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for k := len(shape) - 1; k >= 0; k-- {
		s[k] = acc
		acc *= shape[k]
	}
	return s
}

func (v value) ints() []int64 {
	if v.isInt {
		return v.i
	}
	out := make([]int64, len(v.f))
	for k, x := range v.f {
		out[k] = int64(x)
	}
	return out
}

func axis(a int64, rank int) int {
	if a < 0 {
		a += int64(rank)
	}
	return int(a)
}

// getAttr returns the attribute name of n, if n has it.
func getAttr(n *onnxpb.NodeProto, name string) (*onnxpb.AttributeProto, bool) {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a, true
		}
	}
	return nil, false
}

func getInt(n *onnxpb.NodeProto, name string, def int64) int64 {
	if a, ok := getAttr(n, name); ok {
		return a.GetI()
	}
	return def
}

func getInts(n *onnxpb.NodeProto, name string) []int64 {
	a, _ := getAttr(n, name)
	return a.GetInts()
}

// evalGraph runs g on inputs and returns its outputs.
func evalGraph(g *onnxpb.GraphProto, inputs map[string]value) (map[string]value, error) {
	env := map[string]value{}
	for _, in := range g.GetInitializer() {
		t, err := tensorOf(in)
		if err != nil {
			return nil, err
		}
		env[in.GetName()] = toValue(t)
	}
	for _, in := range g.GetInput() {
		v, ok := inputs[in.GetName()]
		if !ok {
			return nil, fmt.Errorf("no value for graph input %q", in.GetName())
		}
		env[in.GetName()] = v
	}
	for _, n := range g.GetNode() {
		args := make([]value, len(n.GetInput()))
		for k, name := range n.GetInput() {
			if name == "" {
				continue
			}
			v, ok := env[name]
			if !ok {
				return nil, fmt.Errorf("node %s: no value %q", n.GetName(), name)
			}
			args[k] = v
		}
		outs, err := evalNode(n, args)
		if err != nil {
			return nil, fmt.Errorf("node %s (%s): %w", n.GetName(), n.GetOpType(), err)
		}
		for k, name := range n.GetOutput() {
			if name != "" {
				env[name] = outs[k]
			}
		}
	}
	res := map[string]value{}
	for _, out := range g.GetOutput() {
		res[out.GetName()] = env[out.GetName()]
	}
	return res, nil
}

func evalNode(n *onnxpb.NodeProto, a []value) ([]value, error) {
	one := func(v value) ([]value, error) { return []value{v}, nil }
	switch n.GetOpType() {
	case "Relu":
		return one(mapF(a[0], func(x float64) float64 { return math.Max(x, 0) }))
	case "Sqrt":
		return one(mapF(a[0], math.Sqrt))
	case "Add", "Sub", "Mul", "Div":
		return broadcast(n.GetOpType(), a[0], a[1])
	case "Cast":
		if getInt(n, "to", 0) != int64(onnxpb.TensorProto_FLOAT) {
			return nil, fmt.Errorf("Cast to %d", getInt(n, "to", 0))
		}
		v := value{shape: a[0].shape, f: make([]float64, a[0].size())}
		for k, x := range a[0].ints() {
			v.f[k] = float64(x)
		}
		return one(v)
	case "Shape":
		v := value{shape: []int{len(a[0].shape)}, isInt: true}
		for _, d := range a[0].shape {
			v.i = append(v.i, int64(d))
		}
		return one(v)
	case "Reshape":
		return one(reshape(a[0], a[1].ints()))
	case "Flatten":
		ax := axis(getInt(n, "axis", 1), len(a[0].shape))
		v := a[0]
		v.shape = []int{sizeOf(v.shape[:ax]), sizeOf(v.shape[ax:])}
		return one(v)
	case "Unsqueeze":
		shape := slices.Clone(a[0].shape)
		axes := a[1].ints()
		rank := len(shape) + len(axes)
		sorted := make([]int, len(axes))
		for k, x := range axes {
			sorted[k] = axis(x, rank)
		}
		slices.Sort(sorted)
		for _, ax := range sorted {
			shape = slices.Insert(shape, ax, 1)
		}
		v := a[0]
		v.shape = shape
		return one(v)
	case "Squeeze":
		var shape []int
		drop := map[int]bool{}
		for _, x := range a[1].ints() {
			ax := axis(x, len(a[0].shape))
			if a[0].shape[ax] != 1 {
				return nil, fmt.Errorf("squeezing axis %d of %v", ax, a[0].shape)
			}
			drop[ax] = true
		}
		for k, d := range a[0].shape {
			if !drop[k] {
				shape = append(shape, d)
			}
		}
		v := a[0]
		v.shape = shape
		return one(v)
	case "Transpose":
		return one(transpose(a[0], getInts(n, "perm")))
	case "Concat":
		return one(concat(a, axis(getInt(n, "axis", 0), len(a[0].shape))))
	case "Slice":
		return one(slice(a[0], a[1].ints(), a[2].ints(), a[3].ints()))
	case "Gather":
		if getInt(n, "axis", 0) != 0 {
			return nil, fmt.Errorf("Gather on axis %d", getInt(n, "axis", 0))
		}
		return gather(a[0], a[1])
	case "Gemm":
		return gemm(a[0], a[1], a[2], getInt(n, "transB", 0) == 1)
	case "MatMul":
		return matmul(a[0], a[1])
	case "Softmax":
		if axis(getInt(n, "axis", -1), len(a[0].shape)) != len(a[0].shape)-1 {
			return nil, fmt.Errorf("Softmax on axis %d", getInt(n, "axis", -1))
		}
		return one(lastAxis(a[0], false, func(row []float64) {
			m := math.Inf(-1)
			for _, x := range row {
				m = math.Max(m, x)
			}
			s := 0.0
			for k, x := range row {
				row[k] = math.Exp(x - m)
				s += row[k]
			}
			for k := range row {
				row[k] /= s
			}
		}))
	case "ReduceMean":
		axes := getInts(n, "axes")
		if len(axes) != 1 || axis(axes[0], len(a[0].shape)) != len(a[0].shape)-1 || getInt(n, "keepdims", 1) != 1 {
			return nil, fmt.Errorf("ReduceMean over %v keepdims %d", axes, getInt(n, "keepdims", 1))
		}
		return one(lastAxis(a[0], true, func(row []float64) {
			s := 0.0
			for _, x := range row {
				s += x
			}
			row[0] = s / float64(len(row))
		}))
	case "Conv":
		return conv(n, a[0], a[1], a[2])
	case "MaxPool":
		return maxPool(n, a[0])
	case "RNN":
		return rnn(n, a)
	}
	return nil, fmt.Errorf("operator %s is not implemented by the test interpreter", n.GetOpType())
}

func mapF(v value, f func(float64) float64) value {
	out := value{shape: v.shape, f: make([]float64, len(v.f))}
	for k, x := range v.f {
		out.f[k] = f(x)
	}
	return out
}

// broadcast applies a binary operator with numpy broadcasting.
func broadcast(op string, x, y value) ([]value, error) {
	rank := max(len(x.shape), len(y.shape))
	pad := func(s []int) []int { return append(slices.Repeat([]int{1}, rank-len(s)), s...) }
	xs, ys := pad(x.shape), pad(y.shape)
	shape := make([]int, rank)
	for k := range shape {
		switch {
		case xs[k] == ys[k] || ys[k] == 1:
			shape[k] = xs[k]
		case xs[k] == 1:
			shape[k] = ys[k]
		default:
			return nil, fmt.Errorf("cannot broadcast %v and %v", x.shape, y.shape)
		}
	}
	xst, yst, st := strides(xs), strides(ys), strides(shape)
	out := value{shape: shape, f: make([]float64, sizeOf(shape))}
	for flat := range out.f {
		xi, yi := 0, 0
		for k := range shape {
			c := flat / st[k] % shape[k]
			if xs[k] != 1 {
				xi += c * xst[k]
			}
			if ys[k] != 1 {
				yi += c * yst[k]
			}
		}
		a, b := x.f[xi], y.f[yi]
		switch op {
		case "Add":
			out.f[flat] = a + b
		case "Sub":
			out.f[flat] = a - b
		case "Mul":
			out.f[flat] = a * b
		case "Div":
			out.f[flat] = a / b
		}
	}
	return []value{out}, nil
}

func reshape(v value, spec []int64) value {
	shape := make([]int, len(spec))
	infer := -1
	known := 1
	for k, d := range spec {
		switch {
		case d == 0:
			shape[k] = v.shape[k]
		case d == -1:
			infer = k
			continue
		default:
			shape[k] = int(d)
		}
		known *= shape[k]
	}
	if infer >= 0 {
		shape[infer] = v.size() / known
	}
	v.shape = shape
	return v
}

func transpose(v value, perm []int64) value {
	rank := len(v.shape)
	shape := make([]int, rank)
	for k, p := range perm {
		shape[k] = v.shape[p]
	}
	in, st := strides(v.shape), strides(shape)
	out := value{shape: shape, f: make([]float64, v.size())}
	for flat := range out.f {
		src := 0
		for k := range shape {
			src += (flat / st[k] % shape[k]) * in[perm[k]]
		}
		out.f[flat] = v.f[src]
	}
	return out
}

func concat(vs []value, ax int) value {
	shape := slices.Clone(vs[0].shape)
	shape[ax] = 0
	for _, v := range vs {
		shape[ax] += v.shape[ax]
	}
	outer := sizeOf(shape[:ax])
	out := value{shape: shape, isInt: vs[0].isInt}
	for o := 0; o < outer; o++ {
		for _, v := range vs {
			chunk := sizeOf(v.shape[ax:])
			if v.isInt {
				out.i = append(out.i, v.i[o*chunk:(o+1)*chunk]...)
			} else {
				out.f = append(out.f, v.f[o*chunk:(o+1)*chunk]...)
			}
		}
	}
	return out
}

func slice(v value, starts, ends, axes []int64) value {
	lo := make([]int, len(v.shape))
	hi := slices.Clone(v.shape)
	for k, a := range axes {
		ax := axis(a, len(v.shape))
		clamp := func(x int64) int {
			if x < 0 {
				x += int64(v.shape[ax])
			}
			return int(min(max(x, 0), int64(v.shape[ax])))
		}
		lo[ax], hi[ax] = clamp(starts[k]), clamp(ends[k])
	}
	shape := make([]int, len(v.shape))
	for k := range shape {
		shape[k] = hi[k] - lo[k]
	}
	in, st := strides(v.shape), strides(shape)
	out := value{shape: shape, isInt: v.isInt}
	for flat := 0; flat < sizeOf(shape); flat++ {
		src := 0
		for k := range shape {
			src += (flat/st[k]%shape[k] + lo[k]) * in[k]
		}
		if v.isInt {
			out.i = append(out.i, v.i[src])
		} else {
			out.f = append(out.f, v.f[src])
		}
	}
	return out
}

func gather(data, idx value) ([]value, error) {
	row := sizeOf(data.shape[1:])
	out := value{shape: append(slices.Clone(idx.shape), data.shape[1:]...)}
	for _, j := range idx.ints() {
		if j < 0 || int(j) >= data.shape[0] {
			return nil, fmt.Errorf("index %d out of [0,%d)", j, data.shape[0])
		}
		out.f = append(out.f, data.f[int(j)*row:(int(j)+1)*row]...)
	}
	return []value{out}, nil
}

func gemm(x, w, b value, transB bool) ([]value, error) {
	m, k := x.shape[0], x.shape[1]
	nOut := w.shape[1]
	if transB {
		nOut = w.shape[0]
	}
	out := value{shape: []int{m, nOut}, f: make([]float64, m*nOut)}
	for i := 0; i < m; i++ {
		for j := 0; j < nOut; j++ {
			s := 0.0
			for p := 0; p < k; p++ {
				wv := w.f[p*nOut+j]
				if transB {
					wv = w.f[j*k+p]
				}
				s += x.f[i*k+p] * wv
			}
			out.f[i*nOut+j] = s + b.f[j%len(b.f)]
		}
	}
	return []value{out}, nil
}

func matmul(x, y value) ([]value, error) {
	r := len(x.shape)
	if len(y.shape) != r || !slices.Equal(x.shape[:r-2], y.shape[:r-2]) {
		return nil, fmt.Errorf("MatMul of %v and %v", x.shape, y.shape)
	}
	m, k, n := x.shape[r-2], x.shape[r-1], y.shape[r-1]
	batch := sizeOf(x.shape[:r-2])
	out := value{shape: append(slices.Clone(x.shape[:r-2]), m, n)}
	out.f = make([]float64, batch*m*n)
	for b := 0; b < batch; b++ {
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				s := 0.0
				for p := 0; p < k; p++ {
					s += x.f[b*m*k+i*k+p] * y.f[b*k*n+p*n+j]
				}
				out.f[b*m*n+i*n+j] = s
			}
		}
	}
	return []value{out}, nil
}

// lastAxis applies f to each row along the last axis of a copy of v; with
// reduce, the result keeps only element 0 of each row (keepdims).
func lastAxis(v value, reduce bool, f func([]float64)) value {
	w := v.shape[len(v.shape)-1]
	rows := v.size() / w
	out := value{shape: slices.Clone(v.shape), f: slices.Clone(v.f)}
	for r := 0; r < rows; r++ {
		f(out.f[r*w : (r+1)*w])
	}
	if reduce {
		out.shape[len(out.shape)-1] = 1
		red := make([]float64, rows)
		for r := range red {
			red[r] = out.f[r*w]
		}
		out.f = red
	}
	return out
}

func conv(n *onnxpb.NodeProto, x, w, b value) ([]value, error) {
	pads, strd := getInts(n, "pads"), getInts(n, "strides")
	if getInt(n, "group", 1) != 1 || !slices.Equal(getInts(n, "dilations"), []int64{1, 1}) {
		return nil, fmt.Errorf("only group 1, dilation 1")
	}
	N, C, H, W := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	O, KH, KW := w.shape[0], w.shape[2], w.shape[3]
	pt, pl, pb, pr := int(pads[0]), int(pads[1]), int(pads[2]), int(pads[3])
	sh, sw := int(strd[0]), int(strd[1])
	OH, OW := (H+pt+pb-KH)/sh+1, (W+pl+pr-KW)/sw+1
	out := value{shape: []int{N, O, OH, OW}, f: make([]float64, N*O*OH*OW)}
	for nn := 0; nn < N; nn++ {
		for o := 0; o < O; o++ {
			for i := 0; i < OH; i++ {
				for j := 0; j < OW; j++ {
					s := b.f[o]
					for c := 0; c < C; c++ {
						for u := 0; u < KH; u++ {
							for v := 0; v < KW; v++ {
								hi, wi := i*sh+u-pt, j*sw+v-pl
								if hi < 0 || hi >= H || wi < 0 || wi >= W {
									continue
								}
								s += w.f[((o*C+c)*KH+u)*KW+v] * x.f[((nn*C+c)*H+hi)*W+wi]
							}
						}
					}
					out.f[((nn*O+o)*OH+i)*OW+j] = s
				}
			}
		}
	}
	return []value{out}, nil
}

func maxPool(n *onnxpb.NodeProto, x value) ([]value, error) {
	k, s := getInts(n, "kernel_shape"), getInts(n, "strides")
	if _, padded := getAttr(n, "pads"); padded {
		return nil, fmt.Errorf("padded MaxPool")
	}
	N, C, H, W := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	KH, KW, SH, SW := int(k[0]), int(k[1]), int(s[0]), int(s[1])
	OH, OW := (H-KH)/SH+1, (W-KW)/SW+1
	out := value{shape: []int{N, C, OH, OW}, f: make([]float64, N*C*OH*OW)}
	for nc := 0; nc < N*C; nc++ {
		for i := 0; i < OH; i++ {
			for j := 0; j < OW; j++ {
				m := math.Inf(-1)
				for u := 0; u < KH; u++ {
					for v := 0; v < KW; v++ {
						m = math.Max(m, x.f[(nc*H+i*SH+u)*W+j*SW+v])
					}
				}
				out.f[(nc*OH+i)*OW+j] = m
			}
		}
	}
	return []value{out}, nil
}

// rnn is the ONNX RNN operator, forward, tanh, without sequence_lens or
// initial_h: H_t = tanh(X_t·Wᵀ + H_{t−1}·Rᵀ + Wb + Rb).
func rnn(n *onnxpb.NodeProto, a []value) ([]value, error) {
	if a, ok := getAttr(n, "activations"); ok && (len(a.GetStrings()) != 1 || string(a.GetStrings()[0]) != "Tanh") {
		return nil, fmt.Errorf("activations %q", a.GetStrings())
	}
	if a, ok := getAttr(n, "direction"); ok && string(a.GetS()) != "forward" {
		return nil, fmt.Errorf("direction %q", a.GetS())
	}
	if len(a) > 4 {
		return nil, fmt.Errorf("sequence_lens or initial_h given")
	}
	x, w, r, b := a[0], a[1], a[2], a[3]
	T, B, I := x.shape[0], x.shape[1], x.shape[2]
	Hn := int(getInt(n, "hidden_size", 0))
	if !slices.Equal(w.shape, []int{1, Hn, I}) || !slices.Equal(r.shape, []int{1, Hn, Hn}) || !slices.Equal(b.shape, []int{1, 2 * Hn}) {
		return nil, fmt.Errorf("W %v, R %v, B %v for hidden size %d, input size %d", w.shape, r.shape, b.shape, Hn, I)
	}
	y := value{shape: []int{T, 1, B, Hn}, f: make([]float64, T*B*Hn)}
	h := make([]float64, B*Hn)
	for t := 0; t < T; t++ {
		next := make([]float64, B*Hn)
		for bb := 0; bb < B; bb++ {
			for j := 0; j < Hn; j++ {
				s := b.f[j] + b.f[Hn+j]
				for p := 0; p < I; p++ {
					s += x.f[(t*B+bb)*I+p] * w.f[j*I+p]
				}
				for p := 0; p < Hn; p++ {
					s += h[bb*Hn+p] * r.f[j*Hn+p]
				}
				next[bb*Hn+j] = math.Tanh(s)
			}
		}
		h = next
		copy(y.f[t*B*Hn:], h)
	}
	return []value{y, {shape: []int{1, B, Hn}, f: h}}, nil
}
