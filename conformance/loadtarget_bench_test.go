package conformance

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
)

// BenchmarkBodyEncoding measures what preparing one request body costs
// (drawing its samples and encoding them as JSON): the work the look-ahead
// keeps off the timed path.
func BenchmarkBodyEncoding(b *testing.B) {
	for _, tc := range []struct {
		model   string
		samples int
	}{{"seed-cnn", 1}, {"seed-rnn", 1}, {"seed-transformer", 1}, {"seed-cnn", 32}, {"seed-transformer", 32}} {
		b.Run(fmt.Sprintf("%s/%d", tc.model, tc.samples), func(b *testing.B) {
			tgt, err := newInferenceTarget(InferenceLoad{Target: "http://127.0.0.1:1", Model: ModelRef{Name: tc.model, Reference: tc.model, ReferenceVersion: "fp32"}, Samples: tc.samples}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer tgt.Close()
			b.ReportAllocs()
			size := 0
			for i := 0; b.Loop(); i++ {
				body, err := tgt.encode(uint64(i))
				if err != nil {
					b.Fatal(err)
				}
				size = len(body)
			}
			b.ReportMetric(float64(size), "bytes/body")
		})
	}
}

// BenchmarkResponseCheck measures the structural validation of a
// response, which is on the timed path.
func BenchmarkResponseCheck(b *testing.B) {
	for _, model := range []string{"seed-cnn", "seed-transformer"} {
		b.Run(model, func(b *testing.B) {
			tgt, err := newInferenceTarget(InferenceLoad{Target: "http://127.0.0.1:1", Model: ModelRef{Name: model, Reference: model, ReferenceVersion: "fp32"}}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer tgt.Close()
			body := benchResponse(b, tgt)
			b.ReportAllocs()
			for b.Loop() {
				if err := tgt.check(load.Query{Seq: 1}, 200, body); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(body)), "bytes/response")
		})
	}
}

// benchResponse is a response carrying the contract's outputs, each
// value drawn at random, as the target's check expects them.
func benchResponse(b *testing.B, tgt *InferenceTarget) []byte {
	b.Helper()
	resp := oip.InferenceResponse{ModelName: tgt.l.Model.Name}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, o := range tgt.contract.Outputs {
		want := tgt.shapes[o.Name]
		x := numerics.Tensor{DType: o.Datatype, Shape: want.shape, F32: make([]float32, want.count)}
		for i := range x.F32 {
			x.F32[i] = rng.Float32()
		}
		data, err := oip.EncodeData(x)
		if err != nil {
			b.Fatal(err)
		}
		resp.Outputs = append(resp.Outputs, oip.ResponseOutput{Name: o.Name, Shape: want.shape, Datatype: want.datatype, Data: data})
	}
	body, err := json.Marshal(resp)
	if err != nil {
		b.Fatal(err)
	}
	return body
}
