package conformance

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/spec"
)

// binding is the protocol's operations as checks use them: health,
// metadata, and inference with JSON or binary tensors. A check states what
// it asks and judges what comes back through it; how the request travels
// (REST or gRPC) is the binding's. Every answer is a *response in the REST
// binding's terms: the exchange for the evidence, the status, and the
// decoded body, never a Go error.
type binding interface {
	live(ctx context.Context) *response
	ready(ctx context.Context) *response
	modelReady(ctx context.Context, model, version string) *response
	serverMetadata(ctx context.Context) *response
	modelMetadata(ctx context.Context, model, version string) *response
	infer(ctx context.Context, model, version string, req inferRequest) *response
	// sendInfer sends a REST inference request that need not be valid
	// (the bad-input battery's) to model and version, on a connection of
	// its own, as the binding carries it. A request that has no form in
	// the binding is not sent: the response's unsent says why.
	sendInfer(ctx context.Context, model, version string, req rawInfer) *response
	// oversized sends an inference request of about n bytes whose data
	// is far longer than the shape of its input in holds, without holding
	// it in memory, and reads an answer that arrives before it is sent.
	oversized(ctx context.Context, model, version string, in spec.Tensor, shape []int64, n int64) *response
	// kind is the binding.
	kind() spec.Binding
	// close releases the binding's connections.
	close()
}

// rawInfer is an inference request of the battery in its REST form: the
// JSON object, with binary data after it when header says where.
type rawInfer struct {
	body   []byte
	header http.Header
	// stream sends the body as a stream, reading an answer that arrives
	// before all of it is sent; the excerpt quotes its first
	// requestExcerptLimit bytes.
	stream bool
}

// namedTensor is one input of a request, in the order it is sent.
type namedTensor struct {
	name string
	t    numerics.Tensor
}

// outputRequest names an output a request asks for.
type outputRequest struct {
	name   string
	binary bool // asked for as binary tensor data
}

// inferRequest is an inference request as a check states it.
type inferRequest struct {
	id      string
	inputs  []namedTensor
	outputs []outputRequest
	// nested sends JSON data nested one level per dimension.
	nested bool
	// binaryInputs sends every input as binary tensor data.
	binaryInputs bool
}

// newBinding returns the binding of a target URL as parseTarget returned
// it: gRPC for grpc and grpcs (verified against roots, nil for the
// system's), REST otherwise, each sending with c.
func newBinding(c *client, base string, roots *x509.CertPool) (binding, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("target %q is not a URL: %w", base, err)
	}
	switch u.Scheme {
	case "grpc", "grpcs":
		return newGRPCBinding(c, u.Host, u.Scheme == "grpcs", roots)
	}
	return restBinding{c: c}, nil
}

// restBinding is the REST binding of the Open Inference Protocol v2.
type restBinding struct{ c *client }

func (b restBinding) live(ctx context.Context) *response {
	return b.c.get(ctx, "/v2/health/live")
}

func (b restBinding) ready(ctx context.Context) *response {
	return b.c.get(ctx, "/v2/health/ready")
}

func (b restBinding) modelReady(ctx context.Context, model, version string) *response {
	return b.c.get(ctx, oip.ModelPath(model, version)+"/ready")
}

func (b restBinding) serverMetadata(ctx context.Context) *response {
	return b.c.get(ctx, "/v2")
}

func (b restBinding) modelMetadata(ctx context.Context, model, version string) *response {
	return b.c.get(ctx, oip.ModelPath(model, version))
}

func (b restBinding) kind() spec.Binding { return spec.REST }

func (b restBinding) close() {
	if b.c.hc != nil {
		b.c.hc.CloseIdleConnections()
	}
}

func (b restBinding) sendInfer(ctx context.Context, model, version string, req rawInfer) *response {
	path := oip.ModelPath(model, version) + "/infer"
	if req.stream {
		head := req.body[:min(len(req.body), requestExcerptLimit)]
		return b.c.postStream(ctx, path, head, bytes.NewReader(req.body), int64(len(req.body)))
	}
	return b.c.postFresh(ctx, path, req.body, req.header)
}

func (b restBinding) oversized(ctx context.Context, model, version string, in spec.Tensor, shape []int64, n int64) *response {
	head, body := oversizeBody(in.Name, string(in.Datatype), shape, n)
	return b.c.postStream(ctx, oip.ModelPath(model, version)+"/infer", head, body, n)
}

func (b restBinding) infer(ctx context.Context, model, version string, req inferRequest) *response {
	path := oip.ModelPath(model, version) + "/infer"
	body, header, err := encodeInfer(req)
	if err != nil {
		r := &response{ex: Exchange{Method: http.MethodPost, Path: path, ResponseBytes: Bytes(0), Duration: Millis(0)}}
		r.err = fmt.Errorf("the suite could not encode its request: %w", err)
		r.ex.Error = r.err.Error()
		r.encodeErr = true
		return r
	}
	return b.c.do(ctx, http.MethodPost, path, body, header)
}

// encodeInfer renders a request as the REST binding sends it: a JSON
// object, followed by the inputs' raw bytes when they travel as binary
// data (with the JSON length in Inference-Header-Content-Length).
func encodeInfer(req inferRequest) ([]byte, http.Header, error) {
	wire := oip.InferenceRequest{ID: req.id}
	var chunks [][]byte
	for _, in := range req.inputs {
		ri := oip.RequestInput{Name: in.name, Shape: in.t.Shape, Datatype: string(in.t.DType)}
		switch {
		case req.binaryInputs:
			raw, err := oip.EncodeBinary(in.t)
			if err != nil {
				return nil, nil, fmt.Errorf("input %q: %w", in.name, err)
			}
			ri.Parameters = oip.Parameters{oip.ParamBinaryDataSize: len(raw)}
			chunks = append(chunks, raw)
		case req.nested:
			data, err := oip.EncodeNestedData(in.t)
			if err != nil {
				return nil, nil, fmt.Errorf("input %q: %w", in.name, err)
			}
			ri.Data = data
		default:
			data, err := oip.EncodeData(in.t)
			if err != nil {
				return nil, nil, fmt.Errorf("input %q: %w", in.name, err)
			}
			ri.Data = data
		}
		wire.Inputs = append(wire.Inputs, ri)
	}
	for _, o := range req.outputs {
		ro := oip.RequestOutput{Name: o.name}
		if o.binary {
			ro.Parameters = oip.Parameters{oip.ParamBinaryData: true}
		}
		wire.Outputs = append(wire.Outputs, ro)
	}
	js, err := json.Marshal(wire)
	if err != nil {
		return nil, nil, err
	}
	if len(chunks) == 0 {
		return js, nil, nil
	}
	h := http.Header{}
	h.Set(oip.HeaderInferenceContentLength, strconv.Itoa(len(js)))
	h.Set("Content-Type", oip.ContentTypeBinary)
	return oip.JoinBody(js, chunks...), h, nil
}

// jsonPart returns the JSON object of a response body and the binary data
// after it, split where Inference-Header-Content-Length says (the whole
// body is JSON without that header).
func (r *response) jsonPart() (js, bin []byte, err error) {
	hl := ""
	if r.header != nil {
		hl = r.header.Get(oip.HeaderInferenceContentLength)
	}
	if hl == "" {
		return r.body, nil, nil
	}
	return oip.SplitBody(r.body, hl)
}
