package conformance

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/oip/grpcbind"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
	"github.com/aiconform/aiconform/spec"
)

// methodGRPC is the Method of the Exchange of a gRPC call.
const methodGRPC = "GRPC"

// The wait before a gRPC client connects again after a failed attempt:
// grpcBackoffBase, growing to grpcBackoffMax (spec/v1/api.md, Bounds of a
// run). A target that cannot be connected to fails each call at once
// meanwhile, so a run against it stops after its strikes.
const (
	grpcBackoffBase = 100 * time.Millisecond
	grpcBackoffMax  = time.Second
)

// pastDeadline reports whether ctx's deadline has passed by the clock,
// whether or not its timer has fired yet.
func pastDeadline(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// grpcMethod is the path of a method of the service: "/inference.GRPCInferenceService/ModelInfer".
func grpcMethod(name string) string {
	return "/" + pb.GRPCInferenceService_ServiceDesc.ServiceName + "/" + name
}

// grpcBinding is the gRPC binding of the protocol (the service
// inference.GRPCInferenceService). Each call's answer becomes a *response
// in the REST binding's terms by package grpcbind, so that checks judge it
// once: its status the REST status grpcbind.StatusForCode gives, its body
// the REST form of the message (an error status becomes {"error":
// message}), its header the header and trailer metadata. The exchange
// records the call, its gRPC status and the status it is judged as.
//
// A call is bounded as a REST request is: by the request timeout (the
// call's deadline, connecting included), by the body limit (the largest
// message it receives) and by MaxResponseHeaderBytes (its metadata); it
// counts for the stop rule like any request, a call that ends without a
// status from the server being one without a response. The client's
// connection is made lazily, by the first call, and every dial is bounded
// by the request timeout, so a target that never answers costs each call
// its timeout and no more. The credential travels in the authorization
// metadata of calls to the target, and nowhere else.
type grpcBinding struct {
	c    *client
	addr string // host:port
	opts []grpc.DialOption
	conn *grpc.ClientConn

	mu sync.Mutex
	// dialErr is the error of the last dial that failed, nil after one
	// that connected: a call that fails as unavailable while it is set
	// could not connect at all.
	dialErr error
}

// newGRPCBinding returns the gRPC binding to addr (host:port), over TLS
// verified against roots (nil: the system's) when secure.
func newGRPCBinding(c *client, addr string, secure bool, roots *x509.CertPool) (*grpcBinding, error) {
	b := &grpcBinding{c: c, addr: addr}
	creds := insecure.NewCredentials()
	if secure {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("target %q: %w", addr, err)
		}
		creds = credentials.NewTLS(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, ServerName: host})
	}
	maxRecv := int(min(c.maxBody, math.MaxInt32))
	b.opts = []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(b.dial),
		grpc.WithStatsHandler(callWatch{}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecv), grpc.ForceCodecV2(wireCodec{})),
		grpc.WithMaxHeaderListSize(MaxResponseHeaderBytes),
		grpc.WithDisableRetry(),
		grpc.WithDisableServiceConfig(),
		grpc.WithUserAgent(ToolName),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: grpcBackoffBase, Multiplier: 1.6, Jitter: 0.2, MaxDelay: grpcBackoffMax},
			MinConnectTimeout: c.timeout,
		}),
	}
	conn, err := b.newConn()
	if err != nil {
		return nil, err
	}
	b.conn = conn
	return b, nil
}

// newConn returns a client connection to the target; it connects on its
// first call.
func (b *grpcBinding) newConn() (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient("passthrough:///"+b.addr, b.opts...)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", b.addr, err)
	}
	return conn, nil
}

// dial connects to the target within the request timeout and records how
// it went.
func (b *grpcBinding) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: b.c.timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dialErr = err
	return conn, err
}

// lastDialErr returns the error of the last dial, nil when it connected.
func (b *grpcBinding) lastDialErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dialErr
}

func (b *grpcBinding) kind() spec.Binding { return spec.GRPC }

func (b *grpcBinding) close() { b.conn.Close() }

// healthFalseStatus is the REST status an OK answer of a health call that
// says false is judged as: a REST server answers a health request it
// cannot say yes to with a 4xx, and FAILED_PRECONDITION is the code of
// "any other 4xx".
var healthFalseStatus = grpcbind.StatusForCode(codes.FailedPrecondition)

// health puts the answer of a health call into its REST form: OK with
// true is 200, OK with false is healthFalseStatus.
func health(field string, get func(proto.Message) bool) restForm {
	return func(m proto.Message) answerForm {
		yes := get(m)
		f := answerForm{status: http.StatusOK, body: []byte(fmt.Sprintf(`{%q:%t}`, field, yes))}
		if !yes {
			f.status = healthFalseStatus
			f.detail = fmt.Sprintf(" with %s false", field)
		}
		return f
	}
}

func (b *grpcBinding) live(ctx context.Context) *response {
	return b.call(ctx, b.conn, "ServerLive", "", &pb.ServerLiveRequest{}, &pb.ServerLiveResponse{},
		health("live", func(m proto.Message) bool { return m.(*pb.ServerLiveResponse).GetLive() }))
}

func (b *grpcBinding) ready(ctx context.Context) *response {
	return b.call(ctx, b.conn, "ServerReady", "", &pb.ServerReadyRequest{}, &pb.ServerReadyResponse{},
		health("ready", func(m proto.Message) bool { return m.(*pb.ServerReadyResponse).GetReady() }))
}

func (b *grpcBinding) modelReady(ctx context.Context, model, version string) *response {
	return b.call(ctx, b.conn, "ModelReady", modelAbout(model, version), &pb.ModelReadyRequest{Name: model, Version: version}, &pb.ModelReadyResponse{},
		health("ready", func(m proto.Message) bool { return m.(*pb.ModelReadyResponse).GetReady() }))
}

func (b *grpcBinding) serverMetadata(ctx context.Context) *response {
	return b.call(ctx, b.conn, "ServerMetadata", "", &pb.ServerMetadataRequest{}, &pb.ServerMetadataResponse{}, func(m proto.Message) answerForm {
		return answerForm{status: http.StatusOK, body: grpcbind.ServerMetadataToREST(m.(*pb.ServerMetadataResponse))}
	})
}

func (b *grpcBinding) modelMetadata(ctx context.Context, model, version string) *response {
	return b.call(ctx, b.conn, "ModelMetadata", modelAbout(model, version), &pb.ModelMetadataRequest{Name: model, Version: version}, &pb.ModelMetadataResponse{}, func(m proto.Message) answerForm {
		return answerForm{status: http.StatusOK, body: grpcbind.ModelMetadataToREST(m.(*pb.ModelMetadataResponse))}
	})
}

// inferForm is the REST form of a ModelInferResponse; one that breaks the
// binding (raw contents not one per output, or beside typed contents) is a
// violation.
func inferForm(m proto.Message) answerForm {
	body, header, err := grpcbind.ResponseToREST(m.(*pb.ModelInferResponse))
	f := answerForm{status: http.StatusOK, body: body, header: header}
	if err != nil {
		f.violation = fmt.Errorf("the ModelInferResponse breaks the gRPC binding: %w", err)
	}
	return f
}

func (b *grpcBinding) infer(ctx context.Context, model, version string, req inferRequest) *response {
	body, header, err := encodeInfer(req)
	if err != nil {
		r := b.unsent(model, version, nil)
		r.err = fmt.Errorf("the suite could not encode its request: %w", err)
		r.ex.Error = r.err.Error()
		r.encodeErr = true
		return r
	}
	return b.inferREST(ctx, b.conn, model, version, body, header)
}

// sendInfer sends the gRPC request the REST request means, on a
// connection of its own.
func (b *grpcBinding) sendInfer(ctx context.Context, model, version string, req rawInfer) *response {
	conn, err := b.newConn()
	if err != nil {
		return b.unsent(model, version, err)
	}
	defer conn.Close()
	return b.inferREST(ctx, conn, model, version, req.body, req.header)
}

// inferREST sends on conn the gRPC request the REST request means. Nested
// data has no gRPC form (typed contents are flat; grpcbind would flatten
// it, which changes what the request says), nor has what grpcbind cannot
// translate: such a request is not sent.
func (b *grpcBinding) inferREST(ctx context.Context, conn *grpc.ClientConn, model, version string, body []byte, header http.Header) *response {
	msg, err := requestFromREST(model, version, body, header)
	if err != nil {
		return b.unsent(model, version, fmt.Errorf("it has no gRPC form: %w", err))
	}
	return b.call(ctx, conn, "ModelInfer", modelAbout(model, version), msg, &pb.ModelInferResponse{}, inferForm)
}

// unsent is the response to a request of ModelInfer not sent: why says why.
func (b *grpcBinding) unsent(model, version string, why error) *response {
	return &response{ex: Exchange{Method: methodGRPC, Path: grpcMethod("ModelInfer"), ResponseBytes: Bytes(0), Duration: Millis(0)},
		about: modelAbout(model, version), unsent: why}
}

// requestFromREST is grpcbind.RequestFromREST for a request whose inputs'
// data is flat.
func requestFromREST(model, version string, body []byte, header http.Header) (*pb.ModelInferRequest, error) {
	js := body
	if hl := header.Get(oip.HeaderInferenceContentLength); hl != "" {
		var err error
		if js, _, err = oip.SplitBody(body, hl); err != nil {
			return nil, err
		}
	}
	var wire struct {
		Inputs []struct {
			Name string          `json:"name"`
			Data json.RawMessage `json:"data"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(js, &wire); err != nil {
		return nil, fmt.Errorf("its JSON cannot be read: %w", err)
	}
	for _, in := range wire.Inputs {
		var elems []json.RawMessage
		if json.Unmarshal(in.Data, &elems) != nil {
			continue
		}
		for _, e := range elems {
			if len(e) > 0 && e[0] == '[' {
				return nil, fmt.Errorf("input %q has nested data, and typed contents are flat: %w", in.Name, grpcbind.ErrNotExpressible)
			}
		}
	}
	return grpcbind.RequestFromREST(model, version, body, header)
}

// oversizeChunk is the block of zeros an oversized message repeats.
var oversizeChunk = make([]byte, 1<<20)

// oversized sends a ModelInferRequest of about n bytes whose input of the
// given shape has one entry of raw contents of zeros, far more than the
// shape holds, on a connection of its own. The message is never held in
// memory: its bytes are one block of zeros, repeated.
func (b *grpcBinding) oversized(ctx context.Context, model, version string, in spec.Tensor, shape []int64, n int64) *response {
	head := &pb.ModelInferRequest{ModelName: model, ModelVersion: version,
		Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: in.Name, Datatype: string(in.Datatype), Shape: shape}}}
	enc, err := proto.Marshal(head)
	if err != nil {
		return b.unsent(model, version, fmt.Errorf("the suite could not encode it: %w", err))
	}
	field := head.ProtoReflect().Descriptor().Fields().ByName("raw_input_contents").Number()
	size := n - int64(len(enc))
	size -= int64(protowire.SizeTag(field) + protowire.SizeVarint(uint64(size)))
	enc = protowire.AppendTag(enc, field, protowire.BytesType)
	enc = protowire.AppendVarint(enc, uint64(size))
	m := &streamedMessage{head: enc, n: size,
		excerpt: fmt.Sprintf("%s … [raw_input_contents: one entry of %d zero bytes; %d bytes in all]", protoJSON(head), size, int64(len(enc))+size)}
	conn, err := b.newConn()
	if err != nil {
		return b.unsent(model, version, err)
	}
	defer conn.Close()
	return b.call(ctx, conn, "ModelInfer", modelAbout(model, version), m, &pb.ModelInferResponse{}, inferForm)
}

// streamedMessage is a message the suite encoded itself: head, then n
// zero bytes.
type streamedMessage struct {
	head    []byte
	n       int64
	excerpt string
}

// buffers returns the message's bytes as blocks, the zeros as one shared
// block repeated.
func (m *streamedMessage) buffers() mem.BufferSlice {
	out := mem.BufferSlice{mem.SliceBuffer(m.head)}
	for left := m.n; left > 0; left -= int64(len(oversizeChunk)) {
		out = append(out, mem.SliceBuffer(oversizeChunk[:min(left, int64(len(oversizeChunk)))]))
	}
	return out
}

// wireCodec encodes requests as protobuf (a streamedMessage as it is) and
// hands a response message over as the bytes that arrived (into a
// *[]byte), so that the binding decodes it itself: a message that does not
// decode is the server's answer, and the scans read the bytes as they
// came.
type wireCodec struct{}

func (wireCodec) Name() string { return "proto" }

func (wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *streamedMessage:
		return m.buffers(), nil
	case proto.Message:
		b, err := proto.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return nil, fmt.Errorf("the suite cannot encode a %T", v)
}

func (wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("the suite cannot decode into a %T", v)
	}
	*p = data.Materialize()
	return nil
}

// callWatch is the stats handler of the binding's connections: it tells
// a call (through the callSeen in its context) whether the server's
// header and its trailers arrived, so that a status the server sent is
// told from one the client made up.
type callWatch struct{}

// callSeenKey is the context key of a call's callSeen.
type callSeenKey struct{}

// callSeen is what callWatch saw of one call.
type callSeen struct {
	mu              sync.Mutex
	header, trailer bool
}

func (callWatch) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (callWatch) HandleRPC(ctx context.Context, s stats.RPCStats) {
	seen, _ := ctx.Value(callSeenKey{}).(*callSeen)
	if seen == nil {
		return
	}
	seen.mu.Lock()
	defer seen.mu.Unlock()
	switch s.(type) {
	case *stats.InHeader:
		seen.header = true
	case *stats.InTrailer:
		seen.trailer = true
	}
}

func (callWatch) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (callWatch) HandleConn(context.Context, stats.ConnStats) {}

func (s *callSeen) get() (header, trailer bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.header, s.trailer
}

// overLimitRE is the status grpc-go makes up for a message longer than
// the call's receive limit.
var overLimitRE = regexp.MustCompile(`^grpc: received message larger than max \(([0-9]+) vs\. ([0-9]+)\)$`)

// overLimit reports whether st is the status grpc-go makes up for a
// message longer than this binding's receive limit. A server could send
// the same status, word for word and after a header of its own; grpc-go's
// servers send theirs for their own limit, before any header.
func (b *grpcBinding) overLimit(st *status.Status) bool {
	m := overLimitRE.FindStringSubmatch(st.Message())
	return st.Code() == codes.ResourceExhausted && m != nil && m[2] == strconv.FormatInt(min(b.c.maxBody, math.MaxInt32), 10)
}

// restForm puts an OK answer's message into the REST form.
type restForm func(proto.Message) answerForm

// answerForm is the REST form of an OK answer.
type answerForm struct {
	status    int
	body      []byte
	header    http.Header // the REST framing; nil is JSON
	detail    string
	violation error
}

// framingHeaders are the headers of the REST form that say how its body is
// framed; metadata of these names has no say in it.
var framingHeaders = []string{"Content-Type", "Content-Length", "Content-Encoding", oip.HeaderInferenceContentLength}

// call makes one call of the service's method rpc on conn and returns its
// answer in the REST form that form gives an OK answer.
func (b *grpcBinding) call(parent context.Context, conn *grpc.ClientConn, rpc, about string, req any, reply proto.Message, form restForm) *response {
	c := b.c
	r := &response{ex: Exchange{Method: methodGRPC, Path: grpcMethod(rpc)}, about: about}
	switch m := req.(type) {
	case *streamedMessage:
		r.ex.RequestExcerpt = c.excerpt([]byte(m.excerpt), requestExcerptLimit, 0)
	case proto.Message:
		r.ex.RequestExcerpt = c.excerpt([]byte(protoJSON(m)), requestExcerptLimit, 0)
	}
	if c.refuse != nil || c.hasStopped() {
		r.err = c.refuse
		if r.err == nil {
			r.err = errStopped
		}
		r.ex.Error = r.err.Error()
		r.ex.ResponseBytes = Bytes(0)
		r.ex.Duration = Millis(0)
		return r
	}
	defer c.tally(r)
	start := c.now()
	defer func() {
		r.ex.Duration = Millis(c.now().Sub(start))
		r.ex.ResponseBytes = Bytes(int64(len(r.raw)))
		if r.err != nil {
			r.ex.Error = r.err.Error()
		}
	}()
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()
	seen := &callSeen{}
	ctx = context.WithValue(ctx, callSeenKey{}, seen)
	ctx = metadata.NewOutgoingContext(ctx, b.credentials(parent))
	var header, trailer metadata.MD
	var msg []byte
	err := conn.Invoke(ctx, grpcMethod(rpc), req, &msg, grpc.Header(&header), grpc.Trailer(&trailer))
	gotHeader, gotTrailer := seen.get()
	st := status.Convert(err)
	switch {
	case err != nil && parent.Err() != nil:
		r.err = fmt.Errorf("%w before a complete response", errRunEnded)
		return r
	case err != nil && (errors.Is(ctx.Err(), context.DeadlineExceeded) || pastDeadline(ctx)):
		// The server learns the deadline from grpc-timeout and resets
		// the stream once it passes; that reset can come before the
		// context's own timer has fired.
		r.err = fmt.Errorf("%w (%v)", errNoAnswer, c.timeout)
		return r
	case err != nil && gotHeader && b.overLimit(st):
		// The message is longer than the body limit: the client read
		// its length and no further.
		r.status = http.StatusOK
		r.overLimit = true
		r.limit = c.maxBody
		r.ex.BodyOverLimit = true
		r.ex.StatusCode = r.status
		r.ex.ResponseExcerpt = fmt.Sprintf("[%s]", st.Message())
		r.meta = metaHeader(header, nil)
		c.secrets.scan(r)
		return r
	case err != nil && !gotTrailer:
		// No status arrived from the server: the client made this one up.
		r.err = fmt.Errorf("the call ended without a status from the server: %s", st.Message())
		if de := b.lastDialErr(); de != nil && st.Code() == codes.Unavailable {
			r.err = de
		}
		return r
	}
	r.meta = metaHeader(header, trailer)
	r.ex.ContentType = r.meta.Get("Content-Type")
	r.ex.GRPCStatus = rpccode.Code_name[int32(st.Code())]
	var f answerForm
	if err != nil {
		r.raw = []byte(st.Message())
		body, _ := json.Marshal(map[string]string{"error": st.Message()})
		f = answerForm{status: grpcbind.StatusForCode(st.Code()), body: body}
		r.ex.ResponseExcerpt = c.excerpt(r.raw, ExcerptLimit, 0)
	} else {
		r.raw = msg
		if derr := proto.Unmarshal(msg, reply); derr != nil {
			f = answerForm{status: http.StatusOK, violation: fmt.Errorf("the answer is not a %s message: %w", reply.ProtoReflect().Descriptor().Name(), derr)}
			r.ex.ResponseExcerpt = c.excerpt(msg, ExcerptLimit, 0)
		} else {
			f = form(reply)
			r.ex.ResponseExcerpt = c.excerpt([]byte(protoJSON(reply)), ExcerptLimit, 0)
		}
	}
	r.status, r.body, r.detail, r.violation = f.status, f.body, f.detail, f.violation
	r.ex.StatusCode = r.status
	r.header = r.meta.Clone()
	for _, k := range framingHeaders {
		r.header.Del(k)
	}
	r.header.Set("Content-Type", "application/json")
	for k, vs := range f.header {
		r.header[k] = vs
	}
	c.secrets.scan(r)
	return r
}

// credentials returns the metadata of a call: the credentials of ctx
// (see withCredentials), each header as the metadata entry of its name in
// lower case, else the profile's bearer token.
func (b *grpcBinding) credentials(ctx context.Context) metadata.MD {
	md := metadata.MD{}
	if creds, ok := ctx.Value(credentialsKey{}).(http.Header); ok {
		for k, vs := range creds {
			md.Append(strings.ToLower(k), vs...)
		}
		return md
	}
	if b.c.token != "" {
		md.Set(grpcbind.MetadataAuthorization, "Bearer "+b.c.token)
	}
	return md
}

// metaHeader returns header and trailer metadata as one header, keys in
// canonical form.
func metaHeader(header, trailer metadata.MD) http.Header {
	h := http.Header{}
	for _, md := range []metadata.MD{header, trailer} {
		for k, vs := range md {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
	}
	return h
}

// modelAbout names a model and version for messages.
func modelAbout(model, version string) string {
	if version == "" {
		return model
	}
	return model + " version " + version
}

// protoJSON renders a message in protobuf's JSON form for an excerpt.
func protoJSON(m proto.Message) string {
	b, err := protojson.Marshal(m)
	if err != nil {
		return fmt.Sprintf("[cannot render the message: %v]", err)
	}
	return string(b)
}
