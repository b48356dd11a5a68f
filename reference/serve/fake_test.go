package serve

import (
	"errors"
	"fmt"
	"math"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/spec"
)

// fakeModel is a reference.Model whose behaviour a test chooses.
type fakeModel struct {
	id, version string
	inputs      []spec.Tensor
	outputs     []spec.Tensor
	forward     func(map[string]numerics.Tensor) (map[string]numerics.Tensor, error)
}

func (f *fakeModel) ID() string             { return f.id }
func (f *fakeModel) Version() string        { return f.version }
func (f *fakeModel) Inputs() []spec.Tensor  { return f.inputs }
func (f *fakeModel) Outputs() []spec.Tensor { return f.outputs }
func (f *fakeModel) Forward(in map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	return f.forward(in)
}

// echoSum is the "echo-sum" model at FP32 or FP64: input x [-1,4] and
// optional offset [-1,1]; outputs sum [-1,1] (row sums of x plus offset) and
// echo [-1,4] (x itself).
func echoSum(version string, dt numerics.DType) *fakeModel {
	return &fakeModel{
		id:      "echo-sum",
		version: version,
		inputs: []spec.Tensor{
			{Name: "x", Datatype: dt, Shape: []int64{-1, 4}},
			{Name: "offset", Datatype: dt, Shape: []int64{-1, 1}, Optional: true},
		},
		outputs: []spec.Tensor{
			{Name: "sum", Datatype: dt, Shape: []int64{-1, 1}},
			{Name: "echo", Datatype: dt, Shape: []int64{-1, 4}},
		},
		forward: func(in map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
			x := in["x"]
			n := x.Shape[0]
			xs := x.Float64s()
			sums := make([]float64, n)
			for i := range sums {
				for j := 0; j < 4; j++ {
					sums[i] += xs[int(i)*4+j]
				}
			}
			if off, ok := in["offset"]; ok {
				if off.Shape[0] != n {
					return nil, invalidInput{fmt.Sprintf("offset has batch %d, x has %d", off.Shape[0], n)}
				}
				for i, v := range off.Float64s() {
					sums[i] += v
				}
			}
			if dt == numerics.FP32 {
				s32 := make([]float32, n)
				for i, v := range sums {
					s32[i] = float32(v)
				}
				return map[string]numerics.Tensor{
					"sum":  numerics.NewF32([]int64{n, 1}, s32),
					"echo": x.Clone(),
				}, nil
			}
			return map[string]numerics.Tensor{
				"sum":  numerics.NewF64([]int64{n, 1}, sums),
				"echo": x.Clone(),
			}, nil
		},
	}
}

// invalidInput is a Forward error that blames the request.
type invalidInput struct{ msg string }

func (e invalidInput) Error() string      { return e.msg }
func (e invalidInput) InvalidInput() bool { return true }

// secretPath is in the internal errors of broken models; it must never reach
// a client.
const secretPath = "/home/build/aiconform/reference/secret.go:42"

// broken returns a one-input model named id whose Forward is f.
func broken(id string, f func(map[string]numerics.Tensor) (map[string]numerics.Tensor, error)) *fakeModel {
	return &fakeModel{
		id:      id,
		version: "fp32",
		inputs:  []spec.Tensor{{Name: "x", Datatype: numerics.FP32, Shape: []int64{-1, 2}}},
		outputs: []spec.Tensor{{Name: "y", Datatype: numerics.FP32, Shape: []int64{-1, 2}}},
		forward: f,
	}
}

// testModels is the model set of the handler tests.
func testModels() []reference.Model {
	return []reference.Model{
		echoSum("fp64", numerics.FP64), // before fp32 on purpose: the default must still be fp32
		echoSum("fp32", numerics.FP32),
		broken("panicker", func(map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
			panic("boom at " + secretPath)
		}),
		broken("nan", func(in map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
			y := in["x"].Clone()
			y.F32[0] = float32(math.NaN())
			return map[string]numerics.Tensor{"y": y}, nil
		}),
		broken("failer", func(map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
			return nil, errors.New("open " + secretPath + ": no such file")
		}),
		broken("forgetful", func(map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
			return map[string]numerics.Tensor{}, nil
		}),
		broken("misshapen", func(in map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
			return map[string]numerics.Tensor{"y": numerics.NewF32([]int64{1, 3}, []float32{1, 2, 3})}, nil
		}),
		broken("wrongtype", func(in map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
			return map[string]numerics.Tensor{"y": numerics.NewF64([]int64{1, 2}, []float64{1, 2})}, nil
		}),
		broken("picky", func(map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
			return nil, fmt.Errorf("picky: %w", invalidInput{"x[0] must be ≥ 0"})
		}),
	}
}
