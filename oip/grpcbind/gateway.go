package grpcbind

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/aiconform/aiconform/oip"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
)

// Gateway serves the gRPC binding of the protocol with a handler of its
// REST binding: each call becomes the REST request it means (RequestToREST
// for an inference), served in process by the handler, and the handler's
// answer becomes the gRPC answer it means. So everything the handler does
// (authentication, limits, validation, whatever wraps it) applies to gRPC
// calls unchanged.
//
// Call metadata becomes request headers (authorization becomes
// Authorization), except gRPC's own entries (":authority", "content-type",
// "te", "user-agent" and "grpc-*"); the handler's response headers become
// header metadata, except Content-Type, Content-Length, Date and
// Inference-Header-Content-Length, which only say how the REST body was
// framed. An answer other than 2xx becomes the status CodeForStatus gives,
// with the message of the {"error": ...} body (or the body itself when it
// is not one). ServerLive, ServerReady and ModelReady answer true on 2xx.
type Gateway struct {
	pb.UnimplementedGRPCInferenceServiceServer
	h http.Handler
}

// NewGateway returns a gateway to h, a handler of the REST binding.
func NewGateway(h http.Handler) *Gateway { return &Gateway{h: h} }

// ServerLive implements the service.
func (g *Gateway) ServerLive(ctx context.Context, _ *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
	if _, err := g.call(ctx, http.MethodGet, "/v2/health/live", nil, nil); err != nil {
		return nil, err
	}
	return &pb.ServerLiveResponse{Live: true}, nil
}

// ServerReady implements the service.
func (g *Gateway) ServerReady(ctx context.Context, _ *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	if _, err := g.call(ctx, http.MethodGet, "/v2/health/ready", nil, nil); err != nil {
		return nil, err
	}
	return &pb.ServerReadyResponse{Ready: true}, nil
}

// ModelReady implements the service.
func (g *Gateway) ModelReady(ctx context.Context, req *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	if _, err := g.call(ctx, http.MethodGet, oip.ModelPath(req.GetName(), req.GetVersion())+"/ready", nil, nil); err != nil {
		return nil, err
	}
	return &pb.ModelReadyResponse{Ready: true}, nil
}

// ServerMetadata implements the service.
func (g *Gateway) ServerMetadata(ctx context.Context, _ *pb.ServerMetadataRequest) (*pb.ServerMetadataResponse, error) {
	a, err := g.call(ctx, http.MethodGet, "/v2", nil, nil)
	if err != nil {
		return nil, err
	}
	m, err := ServerMetadataFromREST(a.body.Bytes())
	if err != nil {
		return nil, status.Errorf(CodeForStatus(http.StatusInternalServerError), "the server's answer has no gRPC form: %v", err)
	}
	return m, nil
}

// ModelMetadata implements the service.
func (g *Gateway) ModelMetadata(ctx context.Context, req *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	a, err := g.call(ctx, http.MethodGet, oip.ModelPath(req.GetName(), req.GetVersion()), nil, nil)
	if err != nil {
		return nil, err
	}
	m, err := ModelMetadataFromREST(a.body.Bytes())
	if err != nil {
		return nil, status.Errorf(CodeForStatus(http.StatusInternalServerError), "the server's answer has no gRPC form: %v", err)
	}
	return m, nil
}

// ModelInfer implements the service.
func (g *Gateway) ModelInfer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	body, header, err := RequestToREST(req)
	if err != nil {
		return nil, status.Errorf(CodeForStatus(http.StatusBadRequest), "%v", err)
	}
	if header == nil {
		header = http.Header{}
	}
	if header.Get("Content-Type") == "" {
		header.Set("Content-Type", "application/json")
	}
	a, err := g.call(ctx, http.MethodPost, oip.ModelPath(req.GetModelName(), req.GetModelVersion())+"/infer", body, header)
	if err != nil {
		return nil, err
	}
	resp, err := ResponseFromREST(a.body.Bytes(), a.header)
	if err != nil {
		return nil, status.Errorf(CodeForStatus(http.StatusInternalServerError), "the server's answer has no gRPC form: %v", err)
	}
	return resp, nil
}

// answer is what the handler answered.
type answer struct {
	status int
	header http.Header
	body   bytes.Buffer
}

func (a *answer) Header() http.Header { return a.header }
func (a *answer) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
}
func (a *answer) Write(b []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	return a.body.Write(b)
}

// framing lists the response headers that only frame the REST body.
var framing = map[string]bool{"Content-Type": true, "Content-Length": true, "Date": true, "Inference-Header-Content-Length": true}

// call serves one REST request with the handler. It sends the handler's
// headers as header metadata and returns the answer when it is 2xx, the
// status it means otherwise.
func (g *Gateway) call(ctx context.Context, method, path string, body []byte, header http.Header) (*answer, error) {
	r, err := http.NewRequestWithContext(ctx, method, path, bytes.NewReader(body))
	if err != nil {
		return nil, status.Errorf(CodeForStatus(http.StatusBadRequest), "no REST form: %v", err)
	}
	r.RequestURI = path
	r.Host = "grpc"
	if header != nil {
		r.Header = header
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		for k, vs := range md {
			if strings.HasPrefix(k, ":") || strings.HasPrefix(k, "grpc-") || k == "content-type" || k == "te" || k == "user-agent" {
				continue
			}
			for _, v := range vs {
				r.Header.Add(k, v)
			}
		}
		if a := md.Get(":authority"); len(a) > 0 {
			r.Host = a[0]
		}
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		r.RemoteAddr = p.Addr.String()
	}
	a := &answer{header: http.Header{}}
	g.h.ServeHTTP(a, r)
	if a.status == 0 {
		a.status = http.StatusOK
	}
	md := metadata.MD{}
	for k, vs := range a.header {
		if !framing[k] {
			md.Append(strings.ToLower(k), vs...)
		}
	}
	if len(md) > 0 {
		// Fails only when the call's headers were already sent, which
		// nothing before this does.
		_ = grpc.SetHeader(ctx, md)
	}
	if a.status >= 200 && a.status < 300 {
		return a, nil
	}
	return nil, status.Error(CodeForStatus(a.status), errorMessage(a.status, a.body.Bytes()))
}

// errorMessage is the message of an error answer: the error member of
// its JSON body, else the body itself.
func errorMessage(code int, body []byte) string {
	var e struct {
		Error *string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != nil {
		return *e.Error
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Sprintf("HTTP status %d without a body", code)
	}
	return string(body)
}
