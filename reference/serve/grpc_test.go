package serve

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/internal/testpki"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/oip/grpcbind"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/spec"
)

// cnnModels returns seed-cnn at fp32 and fp64, the cheapest reference
// models.
func cnnModels(t testing.TB) []reference.Model {
	t.Helper()
	return []reference.Model{
		builtinModel(t, reference.SeedCNNID, reference.VersionFP32),
		builtinModel(t, reference.SeedCNNID, reference.VersionFP64),
	}
}

// newCNNServer returns a server of seed-cnn with opts, logging to the
// returned buffer in JSON.
func newCNNServer(t testing.TB, opts ...Option) (*Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	opts = append([]Option{WithLogger(slog.New(slog.NewJSONHandler(logs, nil))), WithServerVersion("1.2.3")}, opts...)
	s, err := New(cnnModels(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

// grpcServing is the gRPC binding of a server served by ServeGRPC on a
// loopback port.
type grpcServing struct {
	addr   string
	cancel context.CancelFunc
	errc   chan error
}

// serveGRPC serves s.GRPCServer(opts...) on a loopback port until the
// test ends (or stop is called).
func serveGRPC(t testing.TB, s *Server, opts []grpc.ServerOption, serveOpts ...ServeOption) *grpcServing {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &grpcServing{addr: ln.Addr().String(), cancel: cancel, errc: make(chan error, 1)}
	go func() { g.errc <- ServeGRPC(ctx, ln, s.GRPCServer(opts...), serveOpts...) }()
	t.Cleanup(func() {
		if err := g.stop(); err != nil {
			t.Errorf("ServeGRPC: %v", err)
		}
	})
	return g
}

// stop ends the serving and returns what ServeGRPC returned (once; later
// calls return nil).
func (g *grpcServing) stop() error {
	g.cancel()
	select {
	case err, ok := <-g.errc:
		if ok {
			close(g.errc)
		}
		return err
	case <-time.After(15 * time.Second):
		return errors.New("ServeGRPC did not return 15 s after its context ended")
	}
}

// dialGRPC returns a client of the generated code connected to addr,
// in plain text unless opts say otherwise.
func dialGRPC(t testing.TB, addr string, opts ...grpc.DialOption) pb.GRPCInferenceServiceClient {
	t.Helper()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewGRPCInferenceServiceClient(conn)
}

// callCtx returns a context for one call of a test, with metadata kv.
func callCtx(t testing.TB, kv ...string) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if len(kv) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, kv...)
	}
	return ctx
}

// grpcInferRequest returns the gRPC inference request of inputs: typed
// contents or, when raw, raw contents in input order.
func grpcInferRequest(t testing.TB, model, version, id string, inputs map[string]numerics.Tensor, raw bool) *pb.ModelInferRequest {
	t.Helper()
	req := &pb.ModelInferRequest{ModelName: model, ModelVersion: version, Id: id}
	for _, name := range golden.SortedNames(inputs) {
		x := inputs[name]
		in := &pb.ModelInferRequest_InferInputTensor{Name: name, Datatype: string(x.DType), Shape: x.Shape}
		if raw {
			b, err := oip.EncodeBinary(x)
			if err != nil {
				t.Fatal(err)
			}
			req.RawInputContents = append(req.RawInputContents, b)
		} else {
			in.Contents = &pb.InferTensorContents{Fp32Contents: x.F32, Fp64Contents: x.F64, Int64Contents: x.I64}
		}
		req.Inputs = append(req.Inputs, in)
	}
	return req
}

// typedOutputs returns the outputs of a gRPC answer with typed contents
// as tensors, failing if any is raw.
func typedOutputs(t testing.TB, resp *pb.ModelInferResponse) map[string]numerics.Tensor {
	t.Helper()
	if len(resp.RawOutputContents) > 0 {
		t.Fatalf("answer to typed contents has %d raw outputs", len(resp.RawOutputContents))
	}
	out := map[string]numerics.Tensor{}
	for _, o := range resp.Outputs {
		c := o.GetContents()
		switch numerics.DType(o.Datatype) {
		case numerics.FP32:
			out[o.Name] = numerics.NewF32(o.Shape, c.GetFp32Contents())
		case numerics.FP64:
			out[o.Name] = numerics.NewF64(o.Shape, c.GetFp64Contents())
		default:
			t.Fatalf("output %q has datatype %s", o.Name, o.Datatype)
		}
		if err := out[o.Name].Validate(); err != nil {
			t.Errorf("output %q: %v", o.Name, err)
		}
	}
	return out
}

// goldenCase returns a case of the published golden set.
func goldenCase(t testing.TB, model, version, name string) golden.Loaded {
	t.Helper()
	src := aiconform.Goldens()
	man, _, err := golden.ReadManifest(src, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range man.Sets {
		for _, c := range s.Cases {
			if s.Model == model && s.Version == version && c.Name == name {
				l, err := golden.LoadCase(src, ".", c)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
		}
	}
	t.Fatalf("no golden case %s/%s %s", model, version, name)
	return golden.Loaded{}
}

// topClasses returns the index of the largest value of each row of x.
func topClasses(x numerics.Tensor) []int {
	vals := x.Float64s()
	cols := int(x.Shape[len(x.Shape)-1])
	var top []int
	for r := 0; r+cols <= len(vals); r += cols {
		row := vals[r : r+cols]
		top = append(top, slices.Index(row, slices.Max(row)))
	}
	return top
}

func TestGRPCHealthAndMetadata(t *testing.T) {
	srv, _ := newCNNServer(t)
	c := dialGRPC(t, serveGRPC(t, srv, nil).addr)
	ctx := callCtx(t)
	if r, err := c.ServerLive(ctx, &pb.ServerLiveRequest{}); err != nil || !r.Live {
		t.Errorf("ServerLive = %v, %v", r, err)
	}
	if r, err := c.ServerReady(ctx, &pb.ServerReadyRequest{}); err != nil || !r.Ready {
		t.Errorf("ServerReady = %v, %v", r, err)
	}
	for _, v := range []string{"", "fp32", "fp64"} {
		if r, err := c.ModelReady(ctx, &pb.ModelReadyRequest{Name: reference.SeedCNNID, Version: v}); err != nil || !r.Ready {
			t.Errorf("ModelReady version %q = %v, %v", v, r, err)
		}
	}

	rest := do(t, srv.Handler(), http.MethodGet, "/v2", "", nil)
	want, err := grpcbind.ServerMetadataFromREST(rest.body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ServerMetadata(ctx, &pb.ServerMetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("ServerMetadata differs from GET /v2 (-rest +grpc):\n%s", diff)
	}
	if got.Name != DefaultServerName || got.Version != "1.2.3" || !slices.Equal(got.Extensions, []string{oip.ExtensionBinaryData}) {
		t.Errorf("ServerMetadata = %v", got)
	}

	for _, v := range []string{"", "fp64"} {
		rest := do(t, srv.Handler(), http.MethodGet, oip.ModelPath(reference.SeedCNNID, v), "", nil)
		want, err := grpcbind.ModelMetadataFromREST(rest.body)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: reference.SeedCNNID, Version: v})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("ModelMetadata version %q differs from REST (-rest +grpc):\n%s", v, diff)
		}
		dt := "FP32"
		if v == "fp64" {
			dt = "FP64"
		}
		if got.Name != reference.SeedCNNID || got.Platform != Platform || !slices.Equal(got.Versions, []string{"fp32", "fp64"}) ||
			len(got.Inputs) != 1 || got.Inputs[0].Datatype != dt || !slices.Equal(got.Inputs[0].Shape, []int64{-1, 1, 28, 28}) || len(got.Outputs) != 2 {
			t.Errorf("ModelMetadata version %q = %v", v, got)
		}
	}
}

// TestGRPCInferMatchesREST sends the same inputs over REST and gRPC: the
// typed contents of the gRPC answer are bit for bit the JSON data of the
// REST answer, its raw contents the binary data of the REST answer to a
// binary request, and both are the model's outputs.
func TestGRPCInferMatchesREST(t *testing.T) {
	srv, _ := newCNNServer(t)
	c := dialGRPC(t, serveGRPC(t, srv, nil).addr)
	gc := goldenCase(t, reference.SeedCNNID, "fp32", "case-017") // batch 8 of edge cases
	images := cnnImages(rand.New(rand.NewPCG(3, 3)), 3)
	x64 := make([]float64, images["input"].Len())
	for i, v := range images["input"].F32 {
		x64[i] = float64(v)
	}
	tests := []struct {
		name, version string
		inputs        map[string]numerics.Tensor
		wantTop       []int // nil: not checked
	}{
		{"golden case-017 fp32", "fp32", gc.Inputs, topClasses(gc.Outputs["probabilities"])},
		{"random batch of 3 fp64", "fp64", map[string]numerics.Tensor{"input": numerics.NewF64(images["input"].Shape, x64)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := callCtx(t)
			path := oip.ModelPath(reference.SeedCNNID, tt.version) + "/infer"
			body, _ := inferRequest(t, tt.inputs, false)
			_, restJSON := decodeAnswer(t, do(t, srv.Handler(), http.MethodPost, path, string(body), map[string]string{"Content-Type": "application/json"}))
			body, hl := inferRequest(t, tt.inputs, true)
			_, restBinary := decodeAnswer(t, do(t, srv.Handler(), http.MethodPost, path, string(body), map[string]string{
				"Content-Type": oip.ContentTypeBinary, oip.HeaderInferenceContentLength: hl}))

			typed, err := c.ModelInfer(ctx, grpcInferRequest(t, reference.SeedCNNID, tt.version, "typed-1", tt.inputs, false))
			if err != nil {
				t.Fatalf("ModelInfer, typed contents: %v", err)
			}
			if typed.ModelName != reference.SeedCNNID || typed.ModelVersion != tt.version || typed.Id != "typed-1" {
				t.Errorf("typed answer names model %q version %q id %q", typed.ModelName, typed.ModelVersion, typed.Id)
			}
			outs := typedOutputs(t, typed)
			if len(outs) != 2 || len(restJSON) != 2 {
				t.Fatalf("%d outputs over gRPC, %d over REST, want 2", len(outs), len(restJSON))
			}
			for name, want := range restJSON {
				sameBits(t, "typed output "+name+" vs REST JSON", outs[name], want)
			}

			raw, err := c.ModelInfer(ctx, grpcInferRequest(t, reference.SeedCNNID, tt.version, "raw-1", tt.inputs, true))
			if err != nil {
				t.Fatalf("ModelInfer, raw contents: %v", err)
			}
			if len(raw.RawOutputContents) != len(raw.Outputs) || len(raw.Outputs) != 2 || raw.Id != "raw-1" {
				t.Fatalf("raw answer has %d outputs, %d raw contents, id %q", len(raw.Outputs), len(raw.RawOutputContents), raw.Id)
			}
			for i, o := range raw.Outputs {
				if o.Contents != nil {
					t.Errorf("output %q of the raw answer has typed contents too", o.Name)
				}
				want := restBinary[o.Name]
				if o.Datatype != string(want.DType) || !slices.Equal(o.Shape, want.Shape) {
					t.Errorf("raw output %q is %s %v, REST binary %s %v", o.Name, o.Datatype, o.Shape, want.DType, want.Shape)
				}
				if !bytes.Equal(raw.RawOutputContents[i], mustBinary(t, want)) {
					t.Errorf("raw output %q differs from the REST binary data", o.Name)
				}
				if !bytes.Equal(raw.RawOutputContents[i], mustBinary(t, outs[o.Name])) {
					t.Errorf("raw output %q differs from the typed output", o.Name)
				}
			}

			want, err := builtinModel(t, reference.SeedCNNID, tt.version).Forward(tt.inputs)
			if err != nil {
				t.Fatal(err)
			}
			tol, _ := spec.Tolerance(tt.version)
			for name, w := range want {
				if d := numerics.Compare(outs[name], w, tol); !d.OK() {
					t.Errorf("output %q over gRPC is not the model's: %s", name, d.Summary(tol))
				}
			}
			if tt.wantTop != nil {
				if got := topClasses(outs["probabilities"]); !slices.Equal(got, tt.wantTop) {
					t.Errorf("top classes %v, the golden case's %v", got, tt.wantTop)
				}
			}
		})
	}
}

// cnnImage returns one seed-cnn image as typed contents.
func cnnImage() *pb.ModelInferRequest_InferInputTensor {
	return &pb.ModelInferRequest_InferInputTensor{Name: "input", Datatype: "FP32", Shape: []int64{1, 1, 28, 28},
		Contents: &pb.InferTensorContents{Fp32Contents: make([]float32, 28*28)}}
}

func TestGRPCErrors(t *testing.T) {
	srv, _ := newCNNServer(t)
	c := dialGRPC(t, serveGRPC(t, srv, nil).addr)
	infer := func(model, version string, in []*pb.ModelInferRequest_InferInputTensor, raw ...[]byte) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: model, ModelVersion: version, Inputs: in, RawInputContents: raw})
			return err
		}
	}
	with := func(f func(*pb.ModelInferRequest_InferInputTensor)) []*pb.ModelInferRequest_InferInputTensor {
		in := cnnImage()
		f(in)
		return []*pb.ModelInferRequest_InferInputTensor{in}
	}
	tests := []struct {
		name     string
		call     func(context.Context) error
		code     codes.Code
		contains []string
	}{
		{"wrong rank", infer("seed-cnn", "", with(func(in *pb.ModelInferRequest_InferInputTensor) { in.Shape = []int64{1, 28, 28} })),
			codes.InvalidArgument, []string{`input "input"`, "shape"}},
		{"wrong fixed dimension", infer("seed-cnn", "", with(func(in *pb.ModelInferRequest_InferInputTensor) { in.Shape = []int64{1, 2, 28, 14} })),
			codes.InvalidArgument, []string{`input "input"`}},
		{"wrong datatype", infer("seed-cnn", "fp32", with(func(in *pb.ModelInferRequest_InferInputTensor) {
			in.Datatype, in.Contents = "FP64", &pb.InferTensorContents{Fp64Contents: make([]float64, 28*28)}
		})), codes.InvalidArgument, []string{`input "input"`, "FP64", "FP32"}},
		{"too few values", infer("seed-cnn", "", with(func(in *pb.ModelInferRequest_InferInputTensor) {
			in.Contents.Fp32Contents = in.Contents.Fp32Contents[:10]
		})),
			codes.InvalidArgument, []string{`input "input"`}},
		{"too many values", infer("seed-cnn", "", with(func(in *pb.ModelInferRequest_InferInputTensor) {
			in.Contents.Fp32Contents = append(in.Contents.Fp32Contents, 1)
		})), codes.InvalidArgument, []string{`input "input"`}},
		{"raw contents of the wrong size", infer("seed-cnn", "", with(func(in *pb.ModelInferRequest_InferInputTensor) { in.Contents = nil }), make([]byte, 100)),
			codes.InvalidArgument, []string{`input "input"`}},
		{"contents in the field of another datatype", infer("seed-cnn", "", with(func(in *pb.ModelInferRequest_InferInputTensor) {
			in.Contents = &pb.InferTensorContents{Int64Contents: make([]int64, 28*28)}
		})), codes.InvalidArgument, []string{"int64_contents"}},
		{"two raw contents for one input", infer("seed-cnn", "", with(func(in *pb.ModelInferRequest_InferInputTensor) { in.Contents = nil }), make([]byte, 3136), nil),
			codes.InvalidArgument, []string{"raw"}},
		{"unknown input", infer("seed-cnn", "", with(func(in *pb.ModelInferRequest_InferInputTensor) { in.Name = "image" })),
			codes.InvalidArgument, []string{`"image"`}},
		{"infer on an unknown model", infer("no-such-model", "", []*pb.ModelInferRequest_InferInputTensor{cnnImage()}),
			codes.NotFound, []string{`"no-such-model"`}},
		{"infer on an unknown version", infer("seed-cnn", "fp16", []*pb.ModelInferRequest_InferInputTensor{cnnImage()}),
			codes.NotFound, []string{`"fp16"`}},
		{"ready of an unknown model", func(ctx context.Context) error {
			_, err := c.ModelReady(ctx, &pb.ModelReadyRequest{Name: "no-such-model"})
			return err
		}, codes.NotFound, []string{`"no-such-model"`}},
		{"metadata of an unknown version", func(ctx context.Context) error {
			_, err := c.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "seed-cnn", Version: "fp16"})
			return err
		}, codes.NotFound, []string{`"fp16"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(callCtx(t))
			s := status.Convert(err)
			if s.Code() != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
			for _, want := range tt.contains {
				if !strings.Contains(s.Message(), want) {
					t.Errorf("message %q does not mention %s", s.Message(), want)
				}
			}
		})
	}
}

func TestGRPCAuth(t *testing.T) {
	const token = "grpc-test-token-8d7e6f"
	srv, logs := newCNNServer(t, WithAuthToken(token))
	c := dialGRPC(t, serveGRPC(t, srv, nil).addr)
	calls := []struct {
		rpc  string
		open bool // served without a credential, as the REST health probes
		call func(context.Context) error
	}{
		{"ServerLive", true, func(ctx context.Context) error { _, err := c.ServerLive(ctx, &pb.ServerLiveRequest{}); return err }},
		{"ServerReady", true, func(ctx context.Context) error { _, err := c.ServerReady(ctx, &pb.ServerReadyRequest{}); return err }},
		{"ModelReady", false, func(ctx context.Context) error {
			_, err := c.ModelReady(ctx, &pb.ModelReadyRequest{Name: "seed-cnn"})
			return err
		}},
		{"ServerMetadata", false, func(ctx context.Context) error {
			_, err := c.ServerMetadata(ctx, &pb.ServerMetadataRequest{})
			return err
		}},
		{"ModelMetadata", false, func(ctx context.Context) error {
			_, err := c.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "seed-cnn"})
			return err
		}},
		{"ModelInfer", false, func(ctx context.Context) error {
			_, err := c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "seed-cnn", Inputs: []*pb.ModelInferRequest_InferInputTensor{cnnImage()}})
			return err
		}},
	}
	creds := []struct {
		name string
		md   []string
		ok   bool
	}{
		{"no credential", nil, false},
		{"wrong token", []string{grpcbind.MetadataAuthorization, "Bearer wrong-" + token}, false},
		{"another scheme", []string{grpcbind.MetadataAuthorization, "Basic " + token}, false},
		{"the token", []string{grpcbind.MetadataAuthorization, "Bearer " + token}, true},
	}
	for _, cr := range creds {
		for _, call := range calls {
			t.Run(cr.name+"/"+call.rpc, func(t *testing.T) {
				err := call.call(callCtx(t, cr.md...))
				switch want := cr.ok || call.open; {
				case want && err != nil:
					t.Errorf("got %v, want it served", err)
				case !want && status.Code(err) != codes.Unauthenticated:
					t.Errorf("got %v, want UNAUTHENTICATED", err)
				}
			})
		}
	}
	if strings.Contains(logs.String(), token) {
		t.Error("the token reached the log")
	}
}

// TestGRPCMessageSizeLimit: a message over the server's body limit is
// refused RESOURCE_EXHAUSTED by grpc-go; raw contents just under it are
// served; typed contents are held to the limit in their REST form too.
func TestGRPCMessageSizeLimit(t *testing.T) {
	const limit = 32 << 10 // ten images of raw contents fit (31 360 bytes), eleven do not
	srv, _ := newCNNServer(t, WithMaxBodyBytes(limit))
	c := dialGRPC(t, serveGRPC(t, srv, nil).addr)
	rng := rand.New(rand.NewPCG(5, 5))
	tests := []struct {
		name     string
		req      *pb.ModelInferRequest
		code     codes.Code
		contains string
	}{
		{"raw, under the limit", grpcInferRequest(t, "seed-cnn", "", "", cnnImages(rng, 10), true), codes.OK, ""},
		{"raw, over the limit", grpcInferRequest(t, "seed-cnn", "", "", cnnImages(rng, 11), true), codes.ResourceExhausted, "larger than max"},
		{"typed, under the limit, over it as JSON", grpcInferRequest(t, "seed-cnn", "", "", cnnImages(rng, 8), false), codes.ResourceExhausted, "limit of 32768 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ModelInfer(callCtx(t), tt.req)
			if s := status.Convert(err); s.Code() != tt.code || !strings.Contains(s.Message(), tt.contains) {
				t.Errorf("got %v, want %s mentioning %q", err, tt.code, tt.contains)
			}
		})
	}
}

// gate holds every forward pass of the models it wraps until release.
type gate struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGate(n int) *gate {
	return &gate{started: make(chan struct{}, n), release: make(chan struct{})}
}

func (g *gate) wrap(m reference.Model) reference.Model {
	return gatedModel{Model: m, started: g.started, release: g.release}
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// wait waits for n forward passes to start.
func (g *gate) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-g.started:
		case <-time.After(10 * time.Second):
			t.Fatal("the calls did not reach the model")
		}
	}
}

// TestGRPCConcurrencyLimit: past WithMaxConcurrent an inference is
// answered UNAVAILABLE with retry-after metadata, while the health probes
// are still served.
func TestGRPCConcurrencyLimit(t *testing.T) {
	g := newGate(1)
	defer g.open()
	srv, _ := newCNNServer(t, WithMaxConcurrent(1), WithModelWrapper(g.wrap))
	c := dialGRPC(t, serveGRPC(t, srv, nil).addr)
	req := &pb.ModelInferRequest{ModelName: "seed-cnn", Inputs: []*pb.ModelInferRequest_InferInputTensor{cnnImage()}}
	first := make(chan error, 1)
	go func() {
		_, err := c.ModelInfer(callCtx(t), req)
		first <- err
	}()
	g.wait(t, 1)
	var header metadata.MD
	_, err := c.ModelInfer(callCtx(t), req, grpc.Header(&header))
	if status.Code(err) != codes.Unavailable {
		t.Errorf("a second inference = %v, want UNAVAILABLE", err)
	}
	if got := header.Get("retry-after"); !slices.Equal(got, []string{"1"}) {
		t.Errorf("retry-after metadata = %v, want [1]", got)
	}
	if r, err := c.ServerReady(callCtx(t), &pb.ServerReadyRequest{}); err != nil || !r.Ready {
		t.Errorf("ServerReady while the limit is reached = %v, %v", r, err)
	}
	g.open()
	if err := <-first; err != nil {
		t.Errorf("the first inference = %v, want it served", err)
	}
}

// tlsClient returns gRPC transport credentials trusting the test CA.
func tlsClient(p *testpki.PKI) credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{RootCAs: p.Pool, ServerName: "127.0.0.1"})
}

// handshake makes one TLS handshake with addr with cfg and returns its
// error.
func handshake(t *testing.T, addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(conn, cfg)
	err = tc.Handshake()
	return tc.ConnectionState(), err
}

// legacyTLS offers only TLS 1.0 and 1.1, as the suite's SEC-TLS check
// does.
var legacyTLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true}

func TestGRPCTLS(t *testing.T) {
	p, err := testpki.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := newCNNServer(t)
	addr := serveGRPC(t, srv, []grpc.ServerOption{grpc.Creds(GRPCCredentials(TLSConfig(p.Certificate)))}).addr

	c := dialGRPC(t, addr, grpc.WithTransportCredentials(tlsClient(p)))
	var pr peer.Peer
	resp, err := c.ModelInfer(callCtx(t), grpcInferRequest(t, "seed-cnn", "", "", cnnImages(rand.New(rand.NewPCG(1, 1)), 1), true), grpc.Peer(&pr))
	if err != nil || len(resp.RawOutputContents) != 2 {
		t.Fatalf("ModelInfer over TLS = %v, %v", resp, err)
	}
	ti, ok := pr.AuthInfo.(credentials.TLSInfo)
	if !ok || ti.State.Version < tls.VersionTLS12 || ti.State.NegotiatedProtocol != "h2" {
		t.Errorf("the call's connection: %#v, want TLS 1.2 or later with ALPN h2", pr.AuthInfo)
	}

	if _, err := dialGRPC(t, addr).ServerLive(callCtx(t), &pb.ServerLiveRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("a plain-text call to the TLS server = %v, want UNAVAILABLE", err)
	}
	untrusting := credentials.NewTLS(&tls.Config{ServerName: "127.0.0.1"})
	if _, err := dialGRPC(t, addr, grpc.WithTransportCredentials(untrusting)).ServerLive(callCtx(t), &pb.ServerLiveRequest{}); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a call that does not trust the CA = %v, want UNAVAILABLE about the certificate", err)
	}
	if _, err := handshake(t, addr, legacyTLS); err == nil {
		t.Error("a TLS 1.0/1.1 handshake succeeded")
	}
	// The port offers only HTTP/2: an HTTP/1.1 client is not told it
	// may speak HTTP/1.1 there.
	if st, err := handshake(t, addr, &tls.Config{RootCAs: p.Pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}}); err == nil && st.NegotiatedProtocol != "" {
		t.Errorf("a handshake offering only HTTP/1.1 in ALPN negotiated %q on the gRPC port", st.NegotiatedProtocol)
	}
}

// TestGRPCCredentialsKeepOldTLS: a configuration that accepts TLS 1.0
// accepts it over gRPC too, where grpc-go alone would leave it no cipher
// suite; Go's own defaults otherwise.
func TestGRPCCredentialsKeepOldTLS(t *testing.T) {
	p, err := testpki.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		minVersion uint16
		legacy     bool // a TLS 1.0/1.1 handshake succeeds
	}{
		{"default", 0, false},
		{"TLS 1.2", tls.VersionTLS12, false},
		{"TLS 1.0", tls.VersionTLS10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := TLSConfig(p.Certificate)
			cfg.MinVersion = tt.minVersion
			srv, _ := newCNNServer(t)
			addr := serveGRPC(t, srv, []grpc.ServerOption{grpc.Creds(GRPCCredentials(cfg))}).addr
			st, err := handshake(t, addr, legacyTLS)
			if (err == nil) != tt.legacy {
				t.Errorf("TLS 1.0/1.1 handshake: %v (version %#x), want success %v", err, st.Version, tt.legacy)
			}
			if cfg.CipherSuites != nil || !slices.Equal(cfg.NextProtos, []string{"http/1.1"}) {
				t.Error("GRPCCredentials changed its configuration")
			}
		})
	}
	if ids := goDefaultCipherSuites(); len(ids) == 0 {
		t.Error("no default cipher suites")
	}
}

// TestServeGRPCShutdown holds calls in flight (in their model), cancels
// ServeGRPC's context, and checks that new connections are refused at
// once while the calls still run; then either lets them finish within the
// grace (each is served, ServeGRPC returns nil before the grace is over)
// or holds them past it (they are cut off, ServeGRPC returns a
// *ShutdownError when the grace ends).
func TestServeGRPCShutdown(t *testing.T) {
	const inFlight = 4
	tests := []struct {
		name  string
		grace time.Duration
		cut   bool
	}{
		{name: "drained within the grace", grace: 5 * time.Second},
		{name: "cut off past the grace", grace: 300 * time.Millisecond, cut: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate(inFlight)
			defer g.open()
			srv, _ := newCNNServer(t, WithMaxConcurrent(inFlight), WithModelWrapper(g.wrap))
			sv := serveGRPC(t, srv, nil, WithShutdownGrace(tt.grace))
			c := dialGRPC(t, sv.addr)
			answers := make(chan error, inFlight)
			for range inFlight {
				go func() {
					_, err := c.ModelInfer(callCtx(t), &pb.ModelInferRequest{ModelName: "seed-cnn", Inputs: []*pb.ModelInferRequest_InferInputTensor{cnnImage()}})
					answers <- err
				}()
			}
			g.wait(t, inFlight)
			start := time.Now()
			served := make(chan error, 1)
			go func() { served <- sv.stop() }()
			refused := false
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				conn, err := net.DialTimeout("tcp", sv.addr, 100*time.Millisecond)
				if err != nil {
					refused = true
					break
				}
				conn.Close()
			}
			if !refused {
				t.Fatal("new connections are still accepted 2 s after the shutdown began")
			}
			select {
			case err := <-answers:
				t.Fatalf("a held call was answered before its release: %v", err)
			default:
			}
			var serveErr error
			if tt.cut {
				serveErr = <-served
				if elapsed := time.Since(start); elapsed < tt.grace || elapsed > tt.grace+2*time.Second {
					t.Errorf("the shutdown took %s, want about the grace of %s", elapsed, tt.grace)
				}
			}
			time.Sleep(100 * time.Millisecond)
			g.open()
			for range inFlight {
				err := <-answers
				switch {
				case tt.cut && err == nil:
					t.Error("a call held past the grace was served")
				case tt.cut && status.Code(err) != codes.Unavailable:
					t.Errorf("a call held past the grace got %v, want UNAVAILABLE", err)
				case !tt.cut && err != nil:
					t.Errorf("a call in flight at the shutdown got %v, want it served", err)
				}
			}
			if !tt.cut {
				serveErr = <-served
				if elapsed := time.Since(start); elapsed >= tt.grace {
					t.Errorf("the shutdown took %s, want less than the grace of %s", elapsed, tt.grace)
				}
			}
			var se *ShutdownError
			switch {
			case tt.cut && (!errors.As(serveErr, &se) || se.Grace != tt.grace || se.Addr != sv.addr || !errors.Is(serveErr, context.DeadlineExceeded)):
				t.Errorf("ServeGRPC = %v, want a *ShutdownError for %s after %s", serveErr, sv.addr, tt.grace)
			case !tt.cut && serveErr != nil:
				t.Errorf("ServeGRPC = %v, want nil", serveErr)
			}
		})
	}
}

func TestServeGRPCRejectsNonPositiveGrace(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := newCNNServer(t)
	err = ServeGRPC(context.Background(), ln, srv.GRPCServer(), WithShutdownGrace(0))
	if err == nil || !strings.Contains(err.Error(), "grace") {
		t.Fatalf("ServeGRPC with a zero grace = %v, want an error about the grace", err)
	}
	if conn, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		conn.Close()
		t.Error("the listener is still open")
	}
}

// logLines returns the JSON lines of a log.
func logLines(t *testing.T, logs *syncBuffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// TestGRPCAccessLog: the access log line of a call names its RPC besides
// the REST request it became; a call refused before it became one gets a
// line with its RPC and code.
func TestGRPCAccessLog(t *testing.T) {
	srv, logs := newCNNServer(t)
	c := dialGRPC(t, serveGRPC(t, srv, nil).addr)
	ctx := callCtx(t)
	if _, err := c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "seed-cnn", Inputs: []*pb.ModelInferRequest_InferInputTensor{cnnImage()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "seed-cnn", Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "input"}},
		RawInputContents: [][]byte{{}, {}}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("two raw contents for one input = %v", err)
	}
	if _, err := c.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("metadata of an unknown model = %v", err)
	}
	const infer = "/inference.GRPCInferenceService/ModelInfer"
	want := []map[string]any{
		{"msg": "request", "rpc": infer, "method": "POST", "path": "/v2/models/seed-cnn/infer", "status": float64(200)},
		{"msg": "request", "rpc": infer, "code": "InvalidArgument"},
		{"msg": "request", "rpc": "/inference.GRPCInferenceService/ModelMetadata", "method": "GET", "path": "/v2/models/nope", "status": float64(404)},
	}
	lines := logLines(t, logs)
	if len(lines) != len(want) {
		t.Fatalf("%d log lines, want %d:\n%s", len(lines), len(want), logs.String())
	}
	for i, w := range want {
		for k, v := range w {
			if lines[i][k] != v {
				t.Errorf("log line %d: %s = %v, want %v", i, k, lines[i][k], v)
			}
		}
		if remote, _ := lines[i]["remote"].(string); !strings.HasPrefix(remote, "127.0.0.1:") {
			t.Errorf("log line %d: remote = %q, want the client's address", i, remote)
		}
		if _, ok := lines[i]["duration"]; !ok {
			t.Errorf("log line %d has no duration", i)
		}
	}
}

// TestGRPCRecoversPanics: a handler that aborts (http.ErrAbortHandler,
// which the handler's own recovery passes on) or a panic outside the
// handler is answered INTERNAL, and the server goes on serving.
func TestGRPCRecoversPanics(t *testing.T) {
	srv, logs := newCNNServer(t, WithHandlerWrapper(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/v2":
				panic(http.ErrAbortHandler)
			case "/v2/models/seed-cnn":
				panic("boom")
			}
			next.ServeHTTP(w, r)
		})
	}))
	c := dialGRPC(t, serveGRPC(t, srv, nil).addr)
	ctx := callCtx(t)
	_, err := c.ServerMetadata(ctx, &pb.ServerMetadataRequest{})
	if s := status.Convert(err); s.Code() != codes.Internal || s.Message() != InternalErrorMessage {
		t.Errorf("an aborted call = %v, want INTERNAL %q", err, InternalErrorMessage)
	}
	_, err = c.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "seed-cnn"})
	if s := status.Convert(err); s.Code() != codes.Internal || s.Message() != InternalErrorMessage {
		t.Errorf("a call whose handler panicked = %v, want INTERNAL %q", err, InternalErrorMessage)
	}
	if r, err := c.ServerLive(ctx, &pb.ServerLiveRequest{}); err != nil || !r.Live {
		t.Errorf("ServerLive after the panics = %v, %v", r, err)
	}
	if !strings.Contains(logs.String(), `"code":"Internal"`) || !strings.Contains(logs.String(), `"panic":"boom"`) {
		t.Errorf("the log does not show the aborted call and the panic:\n%s", logs.String())
	}

	// A panic outside the handler, where only observeGRPC can catch it.
	info := &grpc.UnaryServerInfo{FullMethod: "/inference.GRPCInferenceService/ModelInfer"}
	resp, err := srv.observeGRPC(ctx, nil, info, func(context.Context, any) (any, error) { panic("kaboom at " + secretPath) })
	if s := status.Convert(err); resp != nil || s.Code() != codes.Internal || s.Message() != InternalErrorMessage {
		t.Errorf("observeGRPC of a panicking call = %v, %v, want INTERNAL %q", resp, err, InternalErrorMessage)
	}
	if !strings.Contains(logs.String(), "panic while serving a gRPC call") || !strings.Contains(logs.String(), "kaboom") {
		t.Errorf("the panic is not logged:\n%s", logs.String())
	}
}

// TestGRPCServerSettings reads the HTTP/2 settings the server announces
// to a connection: the stream and metadata bounds of GRPCServer.
func TestGRPCServerSettings(t *testing.T) {
	tests := []struct {
		maxConcurrent int
		streams       uint32
	}{
		{8, GRPCMinStreams},
		{200, 400},
	}
	for _, tt := range tests {
		srv, _ := newCNNServer(t, WithMaxConcurrent(tt.maxConcurrent))
		addr := serveGRPC(t, srv, nil).addr
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
			t.Fatal(err)
		}
		fr := http2.NewFramer(conn, conn)
		if err := fr.WriteSettings(); err != nil {
			t.Fatal(err)
		}
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		sf, ok := f.(*http2.SettingsFrame)
		if !ok {
			t.Fatalf("first frame is %v, want SETTINGS", f)
		}
		got := map[http2.SettingID]uint32{}
		_ = sf.ForeachSetting(func(s http2.Setting) error { got[s.ID] = s.Val; return nil })
		conn.Close()
		if got[http2.SettingMaxConcurrentStreams] != tt.streams || got[http2.SettingMaxHeaderListSize] != GRPCMaxHeaderBytes {
			t.Errorf("max concurrent %d: settings %v, want %d streams and %d bytes of headers", tt.maxConcurrent, got, tt.streams, GRPCMaxHeaderBytes)
		}
	}
	// grpc-go's client honours the announced metadata bound.
	srv, _ := newCNNServer(t)
	c := dialGRPC(t, serveGRPC(t, srv, nil).addr)
	if _, err := c.ServerLive(callCtx(t, "x-big", strings.Repeat("a", 2*GRPCMaxHeaderBytes)), &pb.ServerLiveRequest{}); err == nil {
		t.Error("a call with 2 MiB of metadata was served")
	}
	if _, err := c.ServerLive(callCtx(t, "x-small", strings.Repeat("a", 1024)), &pb.ServerLiveRequest{}); err != nil {
		t.Errorf("a call with 1 KiB of metadata = %v", err)
	}
}

// TestGRPCOutputForm holds the server to the package doc's rules for the
// form of the outputs: raw in, raw out, typed in, typed out, unless the
// request's parameters say otherwise.
func TestGRPCOutputForm(t *testing.T) {
	srv, _ := newCNNServer(t)
	c := dialGRPC(t, serveGRPC(t, srv, nil).addr)
	in := cnnImages(rand.New(rand.NewPCG(9, 9)), 1)
	boolParam := func(v bool) map[string]*pb.InferParameter {
		return map[string]*pb.InferParameter{oip.ParamBinaryDataOutput: {ParameterChoice: &pb.InferParameter_BoolParam{BoolParam: v}}}
	}
	tests := []struct {
		name string
		req  func() *pb.ModelInferRequest
		raw  bool
	}{
		{"typed", func() *pb.ModelInferRequest { return grpcInferRequest(t, "seed-cnn", "", "", in, false) }, false},
		{"raw", func() *pb.ModelInferRequest { return grpcInferRequest(t, "seed-cnn", "", "", in, true) }, true},
		{"raw, binary_data_output false", func() *pb.ModelInferRequest {
			r := grpcInferRequest(t, "seed-cnn", "", "", in, true)
			r.Parameters = boolParam(false)
			return r
		}, false},
		{"typed, binary_data_output true", func() *pb.ModelInferRequest {
			r := grpcInferRequest(t, "seed-cnn", "", "", in, false)
			r.Parameters = boolParam(true)
			return r
		}, true},
		{"typed, binary_data on one output", func() *pb.ModelInferRequest {
			r := grpcInferRequest(t, "seed-cnn", "", "", in, false)
			r.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{
				{Name: "logits", Parameters: map[string]*pb.InferParameter{oip.ParamBinaryData: {ParameterChoice: &pb.InferParameter_BoolParam{BoolParam: true}}}},
				{Name: "probabilities"},
			}
			return r
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.ModelInfer(callCtx(t), tt.req())
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Outputs) != 2 {
				t.Fatalf("%d outputs, want 2", len(resp.Outputs))
			}
			typed := 0
			for _, o := range resp.Outputs {
				if len(o.GetContents().GetFp32Contents()) == 10 {
					typed++
				}
			}
			switch {
			case tt.raw && (len(resp.RawOutputContents) != 2 || typed != 0 || len(resp.RawOutputContents[0]) != 40):
				t.Errorf("%d raw outputs and %d typed, want 2 raw of 40 bytes", len(resp.RawOutputContents), typed)
			case !tt.raw && (len(resp.RawOutputContents) != 0 || typed != 2):
				t.Errorf("%d raw outputs and %d typed, want 2 typed", len(resp.RawOutputContents), typed)
			}
		})
	}
}
