package conformance

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/internal/fakeoip"
	"github.com/aiconform/aiconform/internal/testnet"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/oip/grpcbind"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
)

// fakeInfer serves the fake model (fakeoip.Forward) over the gRPC binding
// directly: typed or raw contents in, the same out. It breaks the
// binding as its fault says, counts its calls and records the
// authorization metadata of each.
type fakeInfer struct {
	pb.UnimplementedGRPCInferenceServiceServer
	fault string // "", "invalid", "unavailable", "hang", "shape", "count", "model", "mixed"
	calls atomic.Int64
	mu    sync.Mutex
	auth  map[string]int
}

func (f *fakeInfer) ModelInfer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	f.calls.Add(1)
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	if f.auth == nil {
		f.auth = map[string]int{}
	}
	f.auth[strings.Join(md.Get(grpcbind.MetadataAuthorization), ",")]++
	f.mu.Unlock()
	switch f.fault {
	case "invalid":
		return nil, status.Error(codes.InvalidArgument, "input: not what was expected")
	case "unavailable":
		return nil, status.Error(codes.Unavailable, "busy")
	case "hang":
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if req.GetModelName() != fakeoip.Model || len(req.GetInputs()) != 1 {
		return nil, status.Errorf(codes.NotFound, "no model %q", req.GetModelName())
	}
	in := req.GetInputs()[0]
	raw := len(req.GetRawInputContents()) > 0
	var x []float32
	if raw {
		t, err := oip.DecodeBinary(in.GetDatatype(), in.GetShape(), req.GetRawInputContents()[0])
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		x = t.F32
	} else {
		x = in.GetContents().GetFp32Contents()
	}
	n := int(in.GetShape()[0])
	if len(x) != n*28*28 {
		return nil, status.Errorf(codes.InvalidArgument, "%d values for shape %v", len(x), in.GetShape())
	}
	logits, probs := fakeoip.Forward(x, n)
	resp := &pb.ModelInferResponse{ModelName: fakeoip.Model, ModelVersion: fakeoip.Version}
	if f.fault == "model" {
		resp.ModelName = "other"
	}
	for _, o := range []struct {
		name string
		data []float32
	}{{"logits", logits}, {"probabilities", probs}} {
		shape := []int64{int64(n), fakeoip.Classes}
		data := o.data
		switch f.fault {
		case "shape":
			shape = []int64{int64(n) * fakeoip.Classes}
		case "count":
			data = data[:len(data)-1]
		}
		out := &pb.ModelInferResponse_InferOutputTensor{Name: o.name, Datatype: "FP32", Shape: shape}
		if raw {
			b, err := oip.EncodeBinary(numerics.NewF32([]int64{int64(len(data))}, data))
			if err != nil {
				return nil, status.Error(codes.Internal, err.Error())
			}
			resp.RawOutputContents = append(resp.RawOutputContents, b)
		} else {
			out.Contents = &pb.InferTensorContents{Fp32Contents: data}
			if f.fault == "mixed" {
				out.Contents.Fp64Contents = []float64{1}
			}
		}
		resp.Outputs = append(resp.Outputs, out)
	}
	return resp, nil
}

// serveGRPC serves srv on loopback until the test ends and returns its
// grpc:// URL and listener.
func serveGRPC(t *testing.T, srv pb.GRPCInferenceServiceServer) (string, *testnet.CountingListener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl := &testnet.CountingListener{Listener: ln}
	s := grpc.NewServer()
	pb.RegisterGRPCInferenceServiceServer(s, srv)
	go s.Serve(gl) //nolint:errcheck // ends with Stop
	t.Cleanup(s.Stop)
	return "grpc://" + ln.Addr().String(), gl
}

// restOverGRPC serves the REST binding with a gRPC service: each
// inference request becomes the ModelInferRequest it means
// (grpcbind.RequestFromREST), and the answer its REST form, so that a
// REST test server speaks binary tensor data as the fake gRPC service
// speaks raw contents.
func restOverGRPC(srv pb.GRPCInferenceServiceServer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := grpcbind.RequestFromREST(fakeoip.Model, fakeoip.Version, body, r.Header)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ctx := metadata.NewIncomingContext(r.Context(), metadata.Pairs(grpcbind.MetadataAuthorization, r.Header.Get("Authorization")))
		resp, err := srv.ModelInfer(ctx, req)
		if err != nil {
			http.Error(w, err.Error(), grpcbind.StatusForCode(status.Code(err)))
			return
		}
		out, header, err := grpcbind.ResponseToREST(resp)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for k, vs := range header {
			w.Header()[k] = vs
		}
		w.Write(out)
	})
}

// TestInferenceTargetBindings runs the load target over gRPC (typed and
// raw contents) and over REST with binary data against the fake model:
// every query is counted and timed, its token sent, the accuracy sample
// keeps the values the model computed, and a server that breaks the
// binding fails every query with the kind it breaks it by.
func TestInferenceTargetBindings(t *testing.T) {
	cnn := ModelRef{Name: fakeoip.Model, Version: fakeoip.Version, Reference: "seed-cnn", ReferenceVersion: "fp32"}
	type binding struct {
		name   string
		grpc   bool
		binary bool
	}
	bindings := []binding{{"grpc-typed", true, false}, {"grpc-raw", true, true}, {"rest-binary", false, true}}
	tests := []struct {
		fault   string
		samples int
		errKind string // the kind every query fails with; "" for success
	}{
		{"", 1, ""},
		{"", 4, ""},
		{"invalid", 1, "status 400"},
		{"unavailable", 1, "status 503"},
		{"shape", 1, load.KindInvalid},
		{"count", 2, load.KindInvalid},
		{"model", 1, load.KindInvalid},
	}
	for _, b := range bindings {
		for _, tt := range tests {
			if tt.fault == "unavailable" && !b.grpc {
				continue // the REST fake answers what the gRPC one does: covered
			}
			t.Run(fmt.Sprintf("%s/fault=%s/samples=%d", b.name, tt.fault, tt.samples), func(t *testing.T) {
				fake := &fakeInfer{fault: tt.fault}
				var target string
				if b.grpc {
					target, _ = serveGRPC(t, fake)
				} else {
					srv := httptest.NewServer(restOverGRPC(fake))
					defer srv.Close()
					target = srv.URL
				}
				// The structural check alone judges a faulty server: the
				// accuracy sample, which decodes the outputs, would fail
				// most of these few queries on its own.
				var keep *keeper
				if tt.errKind == "" {
					keep = newKeeper(1, "test")
				}
				tgt, err := newInferenceTarget(InferenceLoad{Target: target, Model: cnn, Seed: 1, Samples: tt.samples, BinaryData: b.binary, Token: "s3cret"}, keep, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer tgt.Close()
				plan := load.Plan{Concurrency: 2, MinQueries: 20, Duration: time.Millisecond, Warmup: 2}
				res, err := load.Run(context.Background(), plan, tgt, load.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if got := fake.calls.Load(); got != res.Sent+int64(plan.Warmup) {
					t.Errorf("the server received %d calls, want %d timed + %d warm-up", got, res.Sent, plan.Warmup)
				}
				fake.mu.Lock()
				auth := fake.auth["Bearer s3cret"]
				fake.mu.Unlock()
				if int64(auth) != fake.calls.Load() {
					t.Errorf("%d of %d calls carried the token: %v", auth, fake.calls.Load(), fake.auth)
				}
				if tt.errKind != "" {
					if res.Succeeded != 0 || res.Errors[tt.errKind] != res.Sent {
						t.Errorf("errors %v of %d queries, want all %q", res.Errors, res.Sent, tt.errKind)
					}
					return
				}
				if res.Failed != 0 || res.Succeeded < 20 || res.Latency.Count != res.Succeeded {
					t.Fatalf("%d of %d queries failed (%v), %d latencies; want every query to succeed and be timed", res.Failed, res.Sent, res.Errors, res.Latency.Count)
				}
				kept := keep.sample()
				if len(kept) < 16 {
					t.Fatalf("kept %d queries for the accuracy sample, want at least 16", len(kept))
				}
				for _, q := range kept {
					ins, err := tgt.inputs(q.sample)
					if err != nil {
						t.Fatal(err)
					}
					logits, probs := fakeoip.Forward(ins[0].t.F32, tt.samples)
					if !slices.Equal(q.outputs["logits"].F32, logits) || !slices.Equal(q.outputs["probabilities"].F32, probs) {
						t.Fatalf("query %d kept %v, want the model's outputs for its sample", q.seq, q.outputs)
					}
				}
			})
		}
	}
}

// TestInferenceTargetGRPCGateway runs the load target over gRPC against a
// REST server behind grpcbind's Gateway: the token reaches the REST
// handler as a bearer token, and a REST answer that breaks the contract
// fails the gRPC queries.
func TestInferenceTargetGRPCGateway(t *testing.T) {
	cnn := ModelRef{Name: fakeoip.Model, Version: fakeoip.Version, Reference: "seed-cnn", ReferenceVersion: "fp32"}
	for _, tt := range []struct {
		fault, token, errKind string
	}{
		{fakeoip.FaultNone, "s3cret", ""},
		{fakeoip.FaultNone, "wrong", "status 401"},
		{fakeoip.FaultOutputDatatype, "s3cret", load.KindInvalid},
	} {
		t.Run(tt.fault+"/"+tt.token, func(t *testing.T) {
			target, _ := serveGRPC(t, grpcbind.NewGateway((&fakeoip.Server{Fault: tt.fault, Token: "s3cret"}).Handler()))
			tgt, err := NewInferenceTarget(InferenceLoad{Target: target, Model: cnn, Seed: 1, Token: tt.token})
			if err != nil {
				t.Fatal(err)
			}
			defer tgt.Close()
			res, err := load.Run(context.Background(), load.Plan{Concurrency: 2, MinQueries: 10, Duration: time.Millisecond}, tgt, load.Options{})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.errKind == "" && (res.Failed != 0 || res.Succeeded < 10):
				t.Errorf("%d of %d queries failed (%v), want none", res.Failed, res.Sent, res.Errors)
			case tt.errKind != "" && res.Errors[tt.errKind] != res.Sent:
				t.Errorf("errors %v of %d queries, want all %q", res.Errors, res.Sent, tt.errKind)
			}
		})
	}
}

// TestInferenceTargetGRPCBounds: a server that never answers fails each
// query as a timeout within the query's timeout, a closed port as a
// transport failure, and the connections stay within MaxConnections.
func TestInferenceTargetGRPCBounds(t *testing.T) {
	cnn := ModelRef{Name: fakeoip.Model, Version: fakeoip.Version, Reference: "seed-cnn", ReferenceVersion: "fp32"}

	t.Run("never answers", func(t *testing.T) {
		target, _ := serveGRPC(t, &fakeInfer{fault: "hang"})
		const timeout = 200 * time.Millisecond
		tgt, err := NewInferenceTarget(InferenceLoad{Target: target, Model: cnn, Timeout: timeout})
		if err != nil {
			t.Fatal(err)
		}
		defer tgt.Close()
		start := time.Now()
		res, err := load.Run(context.Background(), load.Plan{Concurrency: 2, MinQueries: 4, Duration: time.Millisecond}, tgt, load.Options{Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors[load.KindTimeout] != res.Sent || res.Sent < 4 {
			t.Errorf("errors %v of %d queries, want every one a timeout", res.Errors, res.Sent)
		}
		// 4 queries or a few more, 2 at a time, each cut at the timeout.
		if d := time.Since(start); d > time.Duration(res.Sent)*timeout/2+5*time.Second {
			t.Errorf("%d queries took %v with a timeout of %v", res.Sent, d, timeout)
		}
	})

	t.Run("connection bound", func(t *testing.T) {
		fake := &fakeInfer{}
		target, ln := serveGRPC(t, fake)
		tgt, err := NewInferenceTarget(InferenceLoad{Target: target, Model: cnn, MaxConnections: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer tgt.Close()
		res, err := load.Run(context.Background(), load.Plan{Concurrency: 8, MinQueries: 64, Duration: time.Millisecond}, tgt, load.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Failed != 0 || res.PeakOutstanding < 2 {
			t.Fatalf("%d failed (%v), peak outstanding %d", res.Failed, res.Errors, res.PeakOutstanding)
		}
		if got := ln.Accepted(); got != 1 {
			t.Errorf("the server accepted %d connections with MaxConnections 1, want 1", got)
		}
	})

	t.Run("closed port", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		tgt, err := NewInferenceTarget(InferenceLoad{Target: "grpc://" + addr, Model: cnn, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer tgt.Close()
		if err := tgt.Hit(context.Background(), load.Query{}); load.ErrorKind(err) != load.KindTransport {
			t.Errorf("Hit = %v (kind %q), want %q", err, load.ErrorKind(err), load.KindTransport)
		}
	})

	for _, bad := range []string{"grpc://", "grpc://127.0.0.1:1/v2", "grpcs://127.0.0.1:1?x=1"} {
		if tgt, err := NewInferenceTarget(InferenceLoad{Target: bad, Model: cnn}); err == nil {
			tgt.Close()
			t.Errorf("NewInferenceTarget(%q) = nil error", bad)
		}
	}
}

// TestLoadRequests: the requests of each wire form carry the drawn
// inputs: a REST body with binary data as the reference server's reader
// (grpcbind.RequestFromREST) reads it, asking for binary outputs, and a
// ModelInferRequest with typed or raw contents.
func TestLoadRequests(t *testing.T) {
	for _, model := range []string{"seed-cnn", "seed-rnn", "seed-transformer"} {
		for _, w := range wireForms {
			t.Run(model+"/"+w.name, func(t *testing.T) {
				tgt, err := newInferenceTarget(InferenceLoad{Target: w.target, BinaryData: w.binary, Model: ModelRef{Name: model, Version: "v", Reference: model, ReferenceVersion: "fp32"}, Samples: 3}, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer tgt.Close()
				body, err := tgt.encode(5)
				if err != nil {
					t.Fatal(err)
				}
				ins, err := tgt.inputs(5)
				if err != nil {
					t.Fatal(err)
				}
				req := &pb.ModelInferRequest{}
				switch w.name {
				case "rest-json":
					return // TestAppendInferBody
				case "rest-binary":
					header := http.Header{oip.HeaderInferenceContentLength: {strconv.Itoa(len(tgt.binaryHeader))}}
					r, err := grpcbind.RequestFromREST(model, "v", body, header)
					if err != nil {
						t.Fatal(err)
					}
					if p := r.GetParameters()[oip.ParamBinaryDataOutput]; !p.GetBoolParam() {
						t.Errorf("parameters %v do not ask for binary outputs", r.GetParameters())
					}
					req = r
				default:
					if err := proto.Unmarshal(body, req); err != nil {
						t.Fatal(err)
					}
					if req.GetModelName() != model || req.GetModelVersion() != "v" {
						t.Errorf("model %q version %q", req.GetModelName(), req.GetModelVersion())
					}
				}
				if len(req.GetInputs()) != len(ins) {
					t.Fatalf("%d inputs, want %d", len(req.GetInputs()), len(ins))
				}
				for i, in := range req.GetInputs() {
					want := ins[i]
					if in.GetName() != want.name || in.GetDatatype() != string(want.t.DType) || !slices.Equal(in.GetShape(), want.t.Shape) {
						t.Errorf("input %d is %s %s %v, want %s %s %v", i, in.GetName(), in.GetDatatype(), in.GetShape(), want.name, want.t.DType, want.t.Shape)
					}
					wantRaw, err := oip.EncodeBinary(want.t)
					if err != nil {
						t.Fatal(err)
					}
					var got []byte
					if w.binary {
						if in.GetContents() != nil {
							t.Errorf("input %q has typed contents in a binary request", in.GetName())
						}
						got = req.GetRawInputContents()[i]
					} else {
						if len(req.GetRawInputContents()) != 0 {
							t.Errorf("a typed request carries raw contents")
						}
						c := in.GetContents()
						x := numerics.Tensor{DType: want.t.DType, Shape: want.t.Shape, F32: c.GetFp32Contents(), F64: c.GetFp64Contents(), I64: c.GetInt64Contents()}
						if got, err = oip.EncodeBinary(x); err != nil {
							t.Fatal(err)
						}
					}
					if !bytes.Equal(got, wantRaw) {
						t.Errorf("input %q does not carry the drawn values", in.GetName())
					}
				}
			})
		}
	}
}

// TestReadInferResponse: the structural reader of a serialised
// ModelInferResponse sees what proto.Unmarshal sees (names, datatypes,
// shapes, how many elements each contents field and each raw entry
// holds), for random messages, for repeated scalars written unpacked, and
// for every corruption of them that proto.Unmarshal still accepts.
func TestReadInferResponse(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var msgs [][]byte
	for range 200 {
		resp := randomInferResponse(rng)
		b, err := proto.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	// Unpacked elements, a field of the wrong wire type (unknown to proto),
	// a contents message given twice (merged) and an unknown field.
	var contents []byte
	contents = protowire.AppendTag(contents, 6, protowire.Fixed32Type)
	contents = protowire.AppendFixed32(contents, 1)
	contents = protowire.AppendTag(contents, 6, protowire.Fixed32Type)
	contents = protowire.AppendFixed32(contents, 2)
	contents = protowire.AppendTag(contents, 6, protowire.VarintType)
	contents = protowire.AppendVarint(contents, 9)
	contents = protowire.AppendTag(contents, 3, protowire.VarintType)
	contents = protowire.AppendVarint(contents, 300)
	contents = protowire.AppendTag(contents, 99, protowire.BytesType)
	contents = protowire.AppendBytes(contents, []byte("x"))
	var out []byte
	out = protowire.AppendTag(out, 1, protowire.BytesType)
	out = protowire.AppendString(out, "logits")
	out = protowire.AppendTag(out, 3, protowire.VarintType)
	out = protowire.AppendVarint(out, 2)
	out = protowire.AppendTag(out, 3, protowire.VarintType)
	out = protowire.AppendVarint(out, 1)
	out = protowire.AppendTag(out, 5, protowire.BytesType)
	out = protowire.AppendBytes(out, contents)
	out = protowire.AppendTag(out, 5, protowire.BytesType)
	out = protowire.AppendBytes(out, contents)
	var hand []byte
	hand = protowire.AppendTag(hand, 1, protowire.BytesType)
	hand = protowire.AppendString(hand, "m")
	hand = protowire.AppendTag(hand, 5, protowire.BytesType)
	hand = protowire.AppendBytes(hand, out)
	msgs = append(msgs, hand)

	// compare reports whether proto.Unmarshal accepted b.
	compare := func(t *testing.T, b []byte) bool {
		t.Helper()
		var resp pb.ModelInferResponse
		if proto.Unmarshal(b, &resp) != nil {
			return false
		}
		got, err := readInferResponse(b)
		if err != nil {
			t.Fatalf("proto.Unmarshal reads %x, readInferResponse fails: %v", b, err)
		}
		if got.modelName != resp.GetModelName() || len(got.outputs) != len(resp.GetOutputs()) || len(got.raw) != len(resp.GetRawOutputContents()) {
			t.Fatalf("read %+v, want %v", got, &resp)
		}
		for i, r := range resp.GetRawOutputContents() {
			if got.raw[i] != len(r) {
				t.Errorf("raw %d: %d bytes, want %d", i, got.raw[i], len(r))
			}
		}
		for i, o := range resp.GetOutputs() {
			g := got.outputs[i]
			if g.name != o.GetName() || g.datatype != o.GetDatatype() || !slices.Equal(g.shape, o.GetShape()) || g.hasContents != (o.GetContents() != nil) {
				t.Fatalf("output %d read as %+v, want %v", i, g, o)
			}
			c := o.GetContents()
			want := map[string]int{
				"bool_contents": len(c.GetBoolContents()), "int_contents": len(c.GetIntContents()),
				"int64_contents": len(c.GetInt64Contents()), "uint_contents": len(c.GetUintContents()),
				"uint64_contents": len(c.GetUint64Contents()), "fp32_contents": len(c.GetFp32Contents()),
				"fp64_contents": len(c.GetFp64Contents()), "bytes_contents": len(c.GetBytesContents()),
			}
			for name, n := range want {
				fd := contentsDescriptor.ByName(protoreflect.Name(name))
				if g.count(fd.Number()) != n {
					t.Errorf("output %d: %s holds %d elements, read %d", i, name, n, g.count(fd.Number()))
				}
			}
		}
		return true
	}
	for _, b := range msgs {
		compare(t, b)
	}
	if got, err := readInferResponse(hand); err != nil || got.outputs[0].count(6) != 4 || !slices.Equal(got.outputs[0].shape, []int64{2, 1}) {
		t.Errorf("the hand-written message read as %+v, %v; want 4 fp32 elements (2 unpacked, twice) and shape [2 1]", got, err)
	}
	// Corruptions: truncations and flipped bytes.
	accepted := 0
	for i, b := range msgs {
		for range 20 {
			c := slices.Clone(b)
			if len(c) == 0 {
				break
			}
			switch rng.IntN(3) {
			case 0:
				c = c[:rng.IntN(len(c))]
			default:
				c[rng.IntN(len(c))] ^= byte(1 + rng.IntN(255))
			}
			if compare(t, c) {
				accepted++
			}
			if t.Failed() {
				t.Fatalf("corruption of message %d: %x", i, c)
			}
		}
	}
	// Enough corruptions stay readable for the comparison to mean something.
	if accepted < 500 {
		t.Errorf("proto.Unmarshal accepted %d of the corruptions, want at least 500", accepted)
	}
	t.Logf("%d corruptions read alike", accepted)
}

// randomInferResponse is a ModelInferResponse with random outputs, typed
// contents in random fields or raw contents.
func randomInferResponse(rng *rand.Rand) *pb.ModelInferResponse {
	resp := &pb.ModelInferResponse{ModelName: fmt.Sprint("m", rng.IntN(3)), Id: "id"}
	raw := rng.IntN(3) == 0
	for i := range rng.IntN(4) {
		o := &pb.ModelInferResponse_InferOutputTensor{Name: fmt.Sprint("o", i), Datatype: []string{"FP32", "INT64", "BOOL", "BYTES"}[rng.IntN(4)]}
		for range rng.IntN(4) {
			o.Shape = append(o.Shape, int64(rng.IntN(300))-5)
		}
		if rng.IntN(2) == 0 {
			o.Parameters = map[string]*pb.InferParameter{"k": {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: 3}}}
		}
		switch {
		case raw:
			resp.RawOutputContents = append(resp.RawOutputContents, make([]byte, rng.IntN(50)))
		case rng.IntN(5) > 0:
			c := &pb.InferTensorContents{}
			for range rng.IntN(40) {
				switch rng.IntN(8) {
				case 0:
					c.BoolContents = append(c.BoolContents, rng.IntN(2) == 0)
				case 1:
					c.IntContents = append(c.IntContents, rng.Int32()-1<<30)
				case 2:
					c.Int64Contents = append(c.Int64Contents, rng.Int64()-1<<62)
				case 3:
					c.UintContents = append(c.UintContents, rng.Uint32())
				case 4:
					c.Uint64Contents = append(c.Uint64Contents, rng.Uint64())
				case 5:
					c.Fp32Contents = append(c.Fp32Contents, rng.Float32())
				case 6:
					c.Fp64Contents = append(c.Fp64Contents, rng.Float64())
				case 7:
					c.BytesContents = append(c.BytesContents, []byte("ab"))
				}
			}
			o.Contents = c
		}
		resp.Outputs = append(resp.Outputs, o)
	}
	return resp
}
