// Package plainref computes the aiconform reference models in plain Go
// float64 arithmetic, with straightforward loops and no framework, as an
// independent check of the gorgonia implementations in package reference.
// It favours obviousness over speed.
package plainref

import (
	"fmt"
	"math"
	"slices"

	"github.com/aiconform/aiconform/numerics"
)

// Sizes of seed-cnn.
const (
	cnnSide    = 28 // input height and width
	cnnC1      = 32 // conv1 output channels
	cnnC2      = 64 // conv2 output channels
	cnnPooled  = 7  // side after two 2×2 poolings
	cnnFlat    = cnnC2 * cnnPooled * cnnPooled
	cnnClasses = 10
)

// weight returns the named tensor widened to float64 after checking its shape.
func weight(w map[string]numerics.Tensor, name string, shape ...int64) ([]float64, error) {
	t, ok := w[name]
	if !ok {
		return nil, fmt.Errorf("plainref: weights lack tensor %q", name)
	}
	if !slices.Equal(t.Shape, shape) {
		return nil, fmt.Errorf("plainref: tensor %q has shape %v, want %v", name, t.Shape, shape)
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("plainref: tensor %q: %w", name, err)
	}
	if !t.DType.IsFloat() {
		return nil, fmt.Errorf("plainref: tensor %q is %s, want FP32 or FP64", name, t.DType)
	}
	return t.Float64s(), nil
}

// conv3x3ReLU is a 3×3 convolution with zero padding 1 and stride 1 of one
// image x [in,side,side] with weights [out,in,3,3] and bias [out], followed
// by ReLU; it returns [out,side,side].
func conv3x3ReLU(x []float64, in, side int, wt, bias []float64, out int) []float64 {
	y := make([]float64, out*side*side)
	for o := 0; o < out; o++ {
		for h := 0; h < side; h++ {
			for v := 0; v < side; v++ {
				s := bias[o]
				for c := 0; c < in; c++ {
					for kh := 0; kh < 3; kh++ {
						ih := h + kh - 1
						if ih < 0 || ih >= side {
							continue
						}
						for kw := 0; kw < 3; kw++ {
							iw := v + kw - 1
							if iw < 0 || iw >= side {
								continue
							}
							s += wt[((o*in+c)*3+kh)*3+kw] * x[(c*side+ih)*side+iw]
						}
					}
				}
				y[(o*side+h)*side+v] = math.Max(s, 0)
			}
		}
	}
	return y
}

// maxPool2 is a 2×2 max pooling with stride 2 of x [ch,side,side].
func maxPool2(x []float64, ch, side int) []float64 {
	half := side / 2
	y := make([]float64, ch*half*half)
	for c := 0; c < ch; c++ {
		for h := 0; h < half; h++ {
			for v := 0; v < half; v++ {
				m := math.Inf(-1)
				for dh := 0; dh < 2; dh++ {
					for dv := 0; dv < 2; dv++ {
						m = math.Max(m, x[(c*side+2*h+dh)*side+2*v+dv])
					}
				}
				y[(c*half+h)*half+v] = m
			}
		}
	}
	return y
}

// Softmax returns the numerically stable softmax of each row of x
// [rows,cols]: exp(x−max)/Σexp(x−max).
func Softmax(x []float64, rows, cols int) []float64 {
	y := make([]float64, len(x))
	for r := 0; r < rows; r++ {
		row := x[r*cols : (r+1)*cols]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v)
		}
		var sum float64
		for j, v := range row {
			e := math.Exp(v - m)
			y[r*cols+j] = e
			sum += e
		}
		for j := range row {
			y[r*cols+j] /= sum
		}
	}
	return y
}

// SeedCNN computes seed-cnn on input [N,1,28,28] (FP32 or FP64, widened to
// float64) with the named weights (PyTorch layouts: conv weights
// [out,in,kh,kw], fc.weight [10,3136], y = x·Wᵀ + b, flattening in NCHW
// order c·49 + h·7 + w). It returns FP64 logits [N,10] and probabilities
// [N,10] (the softmax of the logits).
func SeedCNN(weights map[string]numerics.Tensor, input numerics.Tensor) (logits, probabilities numerics.Tensor, err error) {
	w1, err := weight(weights, "conv1.weight", cnnC1, 1, 3, 3)
	if err != nil {
		return logits, probabilities, err
	}
	b1, err := weight(weights, "conv1.bias", cnnC1)
	if err != nil {
		return logits, probabilities, err
	}
	w2, err := weight(weights, "conv2.weight", cnnC2, cnnC1, 3, 3)
	if err != nil {
		return logits, probabilities, err
	}
	b2, err := weight(weights, "conv2.bias", cnnC2)
	if err != nil {
		return logits, probabilities, err
	}
	wf, err := weight(weights, "fc.weight", cnnClasses, cnnFlat)
	if err != nil {
		return logits, probabilities, err
	}
	bf, err := weight(weights, "fc.bias", cnnClasses)
	if err != nil {
		return logits, probabilities, err
	}
	if err := input.Validate(); err != nil {
		return logits, probabilities, fmt.Errorf("plainref: input: %w", err)
	}
	if !input.DType.IsFloat() || len(input.Shape) != 4 || input.Shape[0] < 1 || input.Shape[1] != 1 || input.Shape[2] != cnnSide || input.Shape[3] != cnnSide {
		return logits, probabilities, fmt.Errorf("plainref: input is %s %v, want FP32 or FP64 [N,1,28,28] with N ≥ 1", input.DType, input.Shape)
	}
	n := int(input.Shape[0])
	x := input.Float64s()
	out := make([]float64, n*cnnClasses)
	for i := 0; i < n; i++ {
		img := x[i*cnnSide*cnnSide : (i+1)*cnnSide*cnnSide]
		a := maxPool2(conv3x3ReLU(img, 1, cnnSide, w1, b1, cnnC1), cnnC1, cnnSide)
		a = maxPool2(conv3x3ReLU(a, cnnC1, cnnSide/2, w2, b2, cnnC2), cnnC2, cnnSide/2)
		// a is [64,7,7] in NCHW order: a[c*49+h*7+w] is the flat feature.
		for k := 0; k < cnnClasses; k++ {
			s := bf[k]
			for j := 0; j < cnnFlat; j++ {
				s += a[j] * wf[k*cnnFlat+j]
			}
			out[i*cnnClasses+k] = s
		}
	}
	shape := []int64{int64(n), cnnClasses}
	return numerics.NewF64(shape, out), numerics.NewF64(shape, Softmax(out, n, cnnClasses)), nil
}

// Sizes of seed-rnn.
const (
	rnnFeatures = 10 // input features per step
	rnnHidden   = 50 // hidden units per layer
	rnnLayers   = 2
	rnnClasses  = 2
)

// SeedRNN computes seed-rnn on input [N,T,10] (FP32 or FP64, widened to
// float64; N ≥ 1, T ≥ 1) with the named weights (PyTorch nn.RNN layouts:
// rnn.weight_ih_l0 [50,10], rnn.weight_hh_l0 [50,50], rnn.bias_ih_l0 [50],
// rnn.bias_hh_l0 [50], the same for l1 with weight_ih_l1 [50,50]; fc.weight
// [2,50], fc.bias [2]). For each layer and step,
// hₜ = tanh(xₜ·W_ihᵀ + b_ih + hₜ₋₁·W_hhᵀ + b_hh) with h₋₁ = 0, layer 1
// reading layer 0's outputs; it returns the FP64 logits [N,2] of fc applied
// to layer 1's last output.
func SeedRNN(weights map[string]numerics.Tensor, input numerics.Tensor) (logits numerics.Tensor, err error) {
	type layer struct{ wih, whh, bih, bhh []float64 }
	var layers [rnnLayers]layer
	for l := range layers {
		in := int64(rnnFeatures)
		if l > 0 {
			in = rnnHidden
		}
		p := &layers[l]
		for _, w := range []struct {
			dst   *[]float64
			name  string
			shape []int64
		}{
			{&p.wih, fmt.Sprintf("rnn.weight_ih_l%d", l), []int64{rnnHidden, in}},
			{&p.whh, fmt.Sprintf("rnn.weight_hh_l%d", l), []int64{rnnHidden, rnnHidden}},
			{&p.bih, fmt.Sprintf("rnn.bias_ih_l%d", l), []int64{rnnHidden}},
			{&p.bhh, fmt.Sprintf("rnn.bias_hh_l%d", l), []int64{rnnHidden}},
		} {
			if *w.dst, err = weight(weights, w.name, w.shape...); err != nil {
				return logits, err
			}
		}
	}
	wf, err := weight(weights, "fc.weight", rnnClasses, rnnHidden)
	if err != nil {
		return logits, err
	}
	bf, err := weight(weights, "fc.bias", rnnClasses)
	if err != nil {
		return logits, err
	}
	if err := input.Validate(); err != nil {
		return logits, fmt.Errorf("plainref: input: %w", err)
	}
	if !input.DType.IsFloat() || len(input.Shape) != 3 || input.Shape[0] < 1 || input.Shape[1] < 1 || input.Shape[2] != rnnFeatures {
		return logits, fmt.Errorf("plainref: input is %s %v, want FP32 or FP64 [N,T,10] with N ≥ 1 and T ≥ 1", input.DType, input.Shape)
	}
	n, steps := int(input.Shape[0]), int(input.Shape[1])
	x := input.Float64s()
	out := make([]float64, n*rnnClasses)
	for i := 0; i < n; i++ {
		// seq[t] is the current layer's input at step t.
		seq := make([][]float64, steps)
		for t := range seq {
			off := (i*steps + t) * rnnFeatures
			seq[t] = x[off : off+rnnFeatures]
		}
		for _, p := range layers {
			h := make([]float64, rnnHidden) // h₋₁ = 0
			next := make([][]float64, steps)
			for t, xt := range seq {
				ht := make([]float64, rnnHidden)
				for j := 0; j < rnnHidden; j++ {
					a := p.bih[j]
					for k, v := range xt {
						a += p.wih[j*len(xt)+k] * v
					}
					b := p.bhh[j]
					for k, v := range h {
						b += p.whh[j*rnnHidden+k] * v
					}
					ht[j] = math.Tanh(a + b)
				}
				h, next[t] = ht, ht
			}
			seq = next
		}
		last := seq[steps-1]
		for k := 0; k < rnnClasses; k++ {
			s := bf[k]
			for j, v := range last {
				s += wf[k*rnnHidden+j] * v
			}
			out[i*rnnClasses+k] = s
		}
	}
	return numerics.NewF64([]int64{int64(n), rnnClasses}, out), nil
}
