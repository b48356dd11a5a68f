package grpcbind

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"testing"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
)

// BenchmarkTranslate measures what the Gateway adds to a ModelInfer call:
// the request's REST form (RequestToREST) and the REST answer's gRPC form
// (ResponseFromREST), for requests and answers of the sizes of seed-cnn
// (784 FP32 in, 2 × 10 FP32 out) and seed-transformer (64 INT64 in, 6 400
// FP32 out), with typed contents (JSON data behind them) or raw contents
// (binary data behind them).
func BenchmarkTranslate(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	f32 := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = rng.Float32()
		}
		return x
	}
	i64 := make([]int64, 64)
	for i := range i64 {
		i64[i] = rng.Int64N(100)
	}
	type tensor struct {
		name string
		t    numerics.Tensor
	}
	models := []struct {
		name     string
		in, outs []tensor
	}{
		{"seed-cnn", []tensor{{"input", numerics.NewF32([]int64{1, 1, 28, 28}, f32(784))}},
			[]tensor{{"logits", numerics.NewF32([]int64{1, 10}, f32(10))}, {"probabilities", numerics.NewF32([]int64{1, 10}, f32(10))}}},
		{"seed-transformer", []tensor{{"input_ids", numerics.NewI64([]int64{1, 64}, i64)}},
			[]tensor{{"logits", numerics.NewF32([]int64{1, 64, 100}, f32(6400))}}},
	}
	for _, m := range models {
		for _, raw := range []bool{false, true} {
			req := &pb.ModelInferRequest{ModelName: m.name}
			for _, in := range m.in {
				t := &pb.ModelInferRequest_InferInputTensor{Name: in.name, Datatype: string(in.t.DType), Shape: in.t.Shape}
				if raw {
					data, err := oip.EncodeBinary(in.t)
					if err != nil {
						b.Fatal(err)
					}
					req.RawInputContents = append(req.RawInputContents, data)
				} else {
					c, err := TensorContents(in.t)
					if err != nil {
						b.Fatal(err)
					}
					t.Contents = c
				}
				req.Inputs = append(req.Inputs, t)
			}
			// The REST answer the handler gives: JSON data, or binary
			// data when the request (raw contents in) asked for it.
			resp := oip.InferenceResponse{ModelName: m.name}
			var chunks [][]byte
			for _, o := range m.outs {
				ro := oip.ResponseOutput{Name: o.name, Shape: o.t.Shape, Datatype: string(o.t.DType)}
				if raw {
					data, err := oip.EncodeBinary(o.t)
					if err != nil {
						b.Fatal(err)
					}
					ro.Parameters = oip.Parameters{oip.ParamBinaryDataSize: len(data)}
					chunks = append(chunks, data)
				} else {
					data, err := oip.EncodeData(o.t)
					if err != nil {
						b.Fatal(err)
					}
					ro.Data = data
				}
				resp.Outputs = append(resp.Outputs, ro)
			}
			js := mustJSON(resp)
			body, header := js, http.Header{}
			if raw {
				body = oip.JoinBody(js, chunks...)
				header.Set(oip.HeaderInferenceContentLength, strconv.Itoa(len(js)))
			}
			form := map[bool]string{false: "typed", true: "raw"}[raw]
			b.Run(fmt.Sprintf("%s/contents=%s/step=request", m.name, form), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := RequestToREST(req); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("%s/contents=%s/step=response", m.name, form), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := ResponseFromREST(body, header); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
