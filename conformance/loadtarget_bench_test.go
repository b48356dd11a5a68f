package conformance

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/oip/grpcbind"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
)

// wireForm is one of the four forms a load's requests and responses take:
// a binding and whether the tensors travel as numbers or as bytes.
type wireForm struct {
	name   string
	target string
	binary bool
}

var wireForms = []wireForm{
	{"rest-json", "http://127.0.0.1:1", false},
	{"rest-binary", "http://127.0.0.1:1", true},
	{"grpc-typed", "grpc://127.0.0.1:1", false},
	{"grpc-raw", "grpc://127.0.0.1:1", true},
}

// benchTarget is a target of form w for model with samples per query; it
// never connects.
func benchTarget(b *testing.B, w wireForm, model string, samples int) *InferenceTarget {
	b.Helper()
	tgt, err := newInferenceTarget(InferenceLoad{Target: w.target, BinaryData: w.binary, Model: ModelRef{Name: model, Reference: model, ReferenceVersion: "fp32"}, Samples: samples}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tgt.Close() })
	return tgt
}

// BenchmarkBodyEncoding measures what preparing one request costs
// (drawing its samples and encoding them in the form of the binding: a
// JSON body, a body with binary data, or a serialised ModelInferRequest
// with typed or raw contents): the work the look-ahead keeps off the
// timed path.
func BenchmarkBodyEncoding(b *testing.B) {
	for _, tc := range []struct {
		model   string
		samples int
	}{{"seed-cnn", 1}, {"seed-rnn", 1}, {"seed-transformer", 1}, {"seed-cnn", 32}, {"seed-transformer", 32}} {
		for _, w := range wireForms {
			b.Run(fmt.Sprintf("%s/%d/wire=%s", tc.model, tc.samples, w.name), func(b *testing.B) {
				tgt := benchTarget(b, w, tc.model, tc.samples)
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
}

// BenchmarkModelInferMarshal measures what marshalling a ModelInferRequest
// built ahead costs: the work a load that prepared messages, rather than
// their bytes, would leave on the timed path (the pass-through codec
// sends prepared bytes as they are).
func BenchmarkModelInferMarshal(b *testing.B) {
	for _, model := range []string{"seed-cnn", "seed-transformer"} {
		for _, w := range wireForms[2:] {
			b.Run(fmt.Sprintf("%s/wire=%s", model, w.name), func(b *testing.B) {
				tgt := benchTarget(b, w, model, 1)
				body, err := tgt.encode(1)
				if err != nil {
					b.Fatal(err)
				}
				var req pb.ModelInferRequest
				if err := proto.Unmarshal(body, &req); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := proto.Marshal(&req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkResponseCheck measures the structural validation of a
// response, which is on the timed path, in each wire form.
func BenchmarkResponseCheck(b *testing.B) {
	for _, model := range []string{"seed-cnn", "seed-transformer"} {
		for _, w := range wireForms {
			b.Run(fmt.Sprintf("%s/wire=%s", model, w.name), func(b *testing.B) {
				tgt := benchTarget(b, w, model, 1)
				check, size := benchResponse(b, tgt, w)
				b.ReportAllocs()
				for b.Loop() {
					if err := check(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(size), "bytes/response")
			})
		}
	}
}

// benchOutputs are the contract's outputs of tgt, each value drawn at
// random, with the shapes its check expects.
func benchOutputs(tb testing.TB, tgt *InferenceTarget) []namedTensor {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var outs []namedTensor
	for _, o := range tgt.contract.Outputs {
		want := tgt.shapes[o.Name]
		x := numerics.Tensor{DType: o.Datatype, Shape: want.shape, F32: make([]float32, want.count)}
		for i := range x.F32 {
			x.F32[i] = rng.Float32()
		}
		outs = append(outs, namedTensor{name: o.Name, t: x})
	}
	return outs
}

// benchResponse returns a call of tgt's check on a response of form w
// carrying the contract's outputs, and the response's size.
func benchResponse(b *testing.B, tgt *InferenceTarget, w wireForm) (func() error, int) {
	b.Helper()
	outs := benchOutputs(b, tgt)
	q := load.Query{Seq: 1}
	switch w.name {
	case "grpc-typed", "grpc-raw":
		resp := &pb.ModelInferResponse{ModelName: tgt.l.Model.Name}
		for _, o := range outs {
			out := &pb.ModelInferResponse_InferOutputTensor{Name: o.name, Datatype: string(o.t.DType), Shape: o.t.Shape}
			if w.binary {
				raw, err := oip.EncodeBinary(o.t)
				if err != nil {
					b.Fatal(err)
				}
				resp.RawOutputContents = append(resp.RawOutputContents, raw)
			} else {
				c, err := grpcbind.TensorContents(o.t)
				if err != nil {
					b.Fatal(err)
				}
				out.Contents = c
			}
			resp.Outputs = append(resp.Outputs, out)
		}
		msg, err := proto.Marshal(resp)
		if err != nil {
			b.Fatal(err)
		}
		return func() error { return tgt.checkGRPC(q, msg) }, len(msg)
	}
	body, header := restResponse(b, tgt.l.Model.Name, outs, w.binary)
	r := load.Response{Status: 200, Body: body, Header: header}
	return func() error { return tgt.checkREST(q, r) }, len(body)
}

// peekHeader is a load.HeaderPeeker over a map.
type peekHeader map[string]string

func (h peekHeader) Peek(name string) []byte {
	if v, ok := h[name]; ok {
		return []byte(v)
	}
	return nil
}

// restResponse is the REST inference response carrying outs, as JSON
// data or binary data, and its Inference-Header-Content-Length header for
// binary data.
func restResponse(tb testing.TB, model string, outs []namedTensor, binary bool) (body []byte, header peekHeader) {
	tb.Helper()
	resp := oip.InferenceResponse{ModelName: model}
	var chunks [][]byte
	for _, o := range outs {
		ro := oip.ResponseOutput{Name: o.name, Shape: o.t.Shape, Datatype: string(o.t.DType)}
		if binary {
			raw, err := oip.EncodeBinary(o.t)
			if err != nil {
				tb.Fatal(err)
			}
			ro.Parameters = oip.Parameters{oip.ParamBinaryDataSize: len(raw)}
			chunks = append(chunks, raw)
		} else {
			data, err := oip.EncodeData(o.t)
			if err != nil {
				tb.Fatal(err)
			}
			ro.Data = data
		}
		resp.Outputs = append(resp.Outputs, ro)
	}
	js, err := json.Marshal(resp)
	if err != nil {
		tb.Fatal(err)
	}
	if !binary {
		return js, nil
	}
	return oip.JoinBody(js, chunks...), peekHeader{oip.HeaderInferenceContentLength: strconv.Itoa(len(js))}
}
