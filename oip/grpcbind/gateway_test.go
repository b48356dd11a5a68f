package grpcbind

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/testing/protocmp"

	pb "github.com/aiconform/aiconform/oip/inferencepb"
)

// restStub is a REST handler that records what it was asked and answers
// what each test sets.
type restStub struct {
	method, path, auth, contentType string
	body                            string
	answer                          func(w http.ResponseWriter)
}

func (s *restStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.method, s.path, s.auth, s.contentType = r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("Content-Type")
	b, _ := io.ReadAll(r.Body)
	s.body = string(b)
	s.answer(w)
}

func answerJSON(status int, body string, header ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func dialGateway(t *testing.T, h http.Handler) pb.GRPCInferenceServiceClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	pb.RegisterGRPCInferenceServiceServer(srv, NewGateway(h))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewGRPCInferenceServiceClient(conn)
}

func TestGateway(t *testing.T) {
	stub := &restStub{}
	c := dialGateway(t, stub)
	ctx := metadata.AppendToOutgoingContext(context.Background(), MetadataAuthorization, "Bearer s3cret")

	stub.answer = answerJSON(200, `{"live":true}`)
	if r, err := c.ServerLive(ctx, &pb.ServerLiveRequest{}); err != nil || !r.Live {
		t.Fatalf("ServerLive = %v, %v", r, err)
	}
	if stub.method != "GET" || stub.path != "/v2/health/live" || stub.auth != "Bearer s3cret" {
		t.Errorf("ServerLive asked %s %s with Authorization %q", stub.method, stub.path, stub.auth)
	}

	stub.answer = answerJSON(503, `{"error":"not ready"}`, "Retry-After", "1")
	var header metadata.MD
	_, err := c.ModelReady(ctx, &pb.ModelReadyRequest{Name: "a/b", Version: "v1"}, grpc.Header(&header))
	if s := status.Convert(err); s.Code() != codes.Unavailable || s.Message() != "not ready" {
		t.Errorf("ModelReady on 503 = %v, want UNAVAILABLE \"not ready\"", err)
	}
	if stub.path != "/v2/models/a%2Fb/versions/v1/ready" {
		t.Errorf("ModelReady asked %s", stub.path)
	}
	if got := header.Get("retry-after"); len(got) != 1 || got[0] != "1" {
		t.Errorf("header metadata retry-after = %v, want [1]", got)
	}
	if got := header.Get("content-type"); len(got) != 1 || got[0] != "application/grpc" {
		t.Errorf("header metadata content-type = %v: the REST framing leaked", got)
	}

	stub.answer = answerJSON(500, "panic: runtime error\ngoroutine 1")
	_, err = c.ServerMetadata(ctx, &pb.ServerMetadataRequest{})
	if s := status.Convert(err); s.Code() != codes.Internal || !strings.HasPrefix(s.Message(), "panic: runtime error") {
		t.Errorf("ServerMetadata on a plain-text 500 = %v", err)
	}

	stub.answer = answerJSON(200, `{"name":"m","versions":["fp32"],"platform":"p","inputs":[{"name":"x","datatype":"FP32","shape":[-1,2]}],"outputs":[]}`)
	md, err := c.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "m"})
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.ModelMetadataResponse{Name: "m", Versions: []string{"fp32"}, Platform: "p",
		Inputs: []*pb.ModelMetadataResponse_TensorMetadata{{Name: "x", Datatype: "FP32", Shape: []int64{-1, 2}}}}
	if diff := cmp.Diff(want, md, protocmp.Transform()); diff != "" {
		t.Errorf("ModelMetadata (-want +got):\n%s", diff)
	}

	stub.answer = answerJSON(200, `{"model_name":"m","model_version":"fp32","id":"q","outputs":[{"name":"y","shape":[1,2],"datatype":"FP32","data":[0.25,0.75]}]}`)
	resp, err := c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "m", Id: "q", Inputs: []*pb.ModelInferRequest_InferInputTensor{
		{Name: "x", Datatype: "FP32", Shape: []int64{1, 2}, Contents: fp32(1, 2)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if stub.method != "POST" || stub.path != "/v2/models/m/infer" || stub.contentType != "application/json" ||
		stub.body != `{"id":"q","inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}]}` {
		t.Errorf("ModelInfer asked %s %s (%s) %s", stub.method, stub.path, stub.contentType, stub.body)
	}
	wantResp := &pb.ModelInferResponse{ModelName: "m", ModelVersion: "fp32", Id: "q", Outputs: []*pb.ModelInferResponse_InferOutputTensor{
		{Name: "y", Datatype: "FP32", Shape: []int64{1, 2}, Contents: fp32(0.25, 0.75)},
	}}
	if diff := cmp.Diff(wantResp, resp, protocmp.Transform()); diff != "" {
		t.Errorf("ModelInfer (-want +got):\n%s", diff)
	}

	// A request the binding rules out never reaches the handler.
	stub.path = ""
	_, err = c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "m", Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "x"}},
		RawInputContents: [][]byte{{}, {}}})
	if status.Code(err) != codes.InvalidArgument || stub.path != "" {
		t.Errorf("ModelInfer with 2 raw contents for 1 input = %v (handler saw %q)", err, stub.path)
	}
}
