package load

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/aiconform/aiconform/oip/grpcbind"
)

// GRPCConfig describes a gRPC target: one unary method, called with
// request messages the caller serialised ahead.
type GRPCConfig struct {
	// URL is grpc://HOST:PORT (HTTP/2 without TLS) or grpcs://HOST:PORT
	// (TLS); a missing port is 80 or 443.
	URL string
	// Method is the full name of the method every query calls,
	// /package.Service/Method.
	Method string
	// Metadata is sent with every call (an authorization entry).
	Metadata metadata.MD
	// Request returns the serialised request message of a query (the
	// protobuf wire form). The target sends the bytes as they are, so no
	// marshalling falls on the timed path, and does not keep them.
	Request func(q Query) []byte
	// Check judges the serialised response message of a call that ended
	// with status OK; nil accepts any. A non-nil error fails the query (a
	// QueryError keeps its kind; any other error counts as KindInvalid).
	// msg is valid only during the call.
	Check func(q Query, msg []byte) error
	// TLS configures grpcs; nil uses the system roots.
	TLS *tls.Config
	// MaxConnections bounds the open connections: the target opens
	// min(MaxConnections, GOMAXPROCS) (see GRPCTarget). Zero uses
	// DefaultMaxConnections as the bound.
	MaxConnections int
	// MaxMessageBytes bounds a response message; a longer one fails the
	// query (KindInvalid). Zero uses DefaultMaxBodyBytes.
	MaxMessageBytes int
	// Timeout bounds each query; zero uses DefaultTimeout. A query's
	// context deadline, when earlier, bounds it too.
	Timeout time.Duration
}

// GRPCTarget is a Target that makes one unary gRPC call per query over a
// small pool of connections, taken in turn. Request messages go out as
// the bytes GRPCConfig.Request returns and responses reach
// GRPCConfig.Check as bytes, through a codec that passes them through.
//
// A gRPC connection is one HTTP/2 connection that carries every call
// outstanding on it as a stream of its own, so a few connections carry
// any number of outstanding queries. The pool holds one connection per
// processor the runtime uses (GOMAXPROCS), at most MaxConnections: each
// connection has its own goroutines reading and writing its frames, on
// the server's side as on this one, so connections up to the processors
// spread that work over them, and connections beyond add goroutines and
// context switches without parallelism ("The gRPC binding" in
// docs/performance.md has the measurement).
//
// A failed call is classified as HTTPTarget classifies a failed request:
// DEADLINE_EXCEEDED, the query's own deadline or the server's, is
// KindTimeout; any other status the server sent counts as the REST status
// it means (grpcbind.StatusForCode), so UNAVAILABLE is "status 503" and
// RESOURCE_EXHAUSTED "status 413", as over REST; a call that ended without
// the server's status (no connection, a connection lost) is
// KindTransport; a response over MaxMessageBytes is KindInvalid.
type GRPCTarget struct {
	conns    []*grpc.ClientConn
	next     atomic.Uint64
	method   string
	md       metadata.MD
	request  func(Query) []byte
	check    func(Query, []byte) error
	timeout  time.Duration
	maxMsg   int
	tooLarge string    // the end of gRPC's own message for a response over maxMsg
	bufs     sync.Pool // of *rawMessage, the response buffers
}

// NewGRPCTarget checks the configuration and returns its target. It
// connects lazily: the first queries open the connections.
func NewGRPCTarget(c GRPCConfig) (*GRPCTarget, error) {
	return newGRPCTarget(c, runtime.GOMAXPROCS(0))
}

// newGRPCTarget is NewGRPCTarget opening at most pool connections.
func newGRPCTarget(c GRPCConfig, pool int) (*GRPCTarget, error) {
	addr, secure, err := grpcAddress(c.URL)
	if err != nil {
		return nil, fmt.Errorf("grpc target: %w", err)
	}
	switch {
	case !strings.HasPrefix(c.Method, "/") || strings.Count(c.Method, "/") != 2:
		return nil, fmt.Errorf("grpc target: method %q; want a full method name, /package.Service/Method", c.Method)
	case c.MaxConnections < 0:
		return nil, fmt.Errorf("grpc target: maxConnections %d; want a positive number, or zero for %d", c.MaxConnections, DefaultMaxConnections)
	case c.MaxMessageBytes < 0:
		return nil, fmt.Errorf("grpc target: maxMessageBytes %d; want a positive number, or zero for %d", c.MaxMessageBytes, DefaultMaxBodyBytes)
	case c.Timeout < 0:
		return nil, fmt.Errorf("grpc target: timeout %v; want a positive duration, or zero for %v", c.Timeout, DefaultTimeout)
	}
	t := &GRPCTarget{method: c.Method, md: c.Metadata, request: c.Request, check: c.Check,
		timeout: c.Timeout, maxMsg: c.MaxMessageBytes}
	if t.timeout == 0 {
		t.timeout = DefaultTimeout
	}
	if t.maxMsg == 0 {
		t.maxMsg = DefaultMaxBodyBytes
	}
	t.tooLarge = fmt.Sprintf(" vs. %d)", t.maxMsg)
	bound := c.MaxConnections
	if bound == 0 {
		bound = DefaultMaxConnections
	}
	creds := insecure.NewCredentials()
	if secure {
		cfg := c.TLS
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		creds = credentials.NewTLS(cfg)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent("aiconform-load"),
		grpc.WithStatsHandler(answerWatcher{}),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(passCodec{}), grpc.MaxCallRecvMsgSize(t.maxMsg), grpc.MaxCallSendMsgSize(math.MaxInt32)),
	}
	for range min(bound, max(pool, 1)) {
		cc, err := grpc.NewClient("passthrough:///"+addr, opts...)
		if err != nil {
			t.Close() //nolint:errcheck // the error below says what went wrong
			return nil, fmt.Errorf("grpc target: %s: %w", c.URL, err)
		}
		t.conns = append(t.conns, cc)
	}
	return t, nil
}

// grpcAddress checks a grpc:// or grpcs:// URL and returns its host and
// port, and whether it asks for TLS.
func grpcAddress(raw string) (addr string, secure bool, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false, fmt.Errorf("url %q: %w", raw, err)
	}
	bad := fmt.Errorf("url %q: want grpc://HOST:PORT or grpcs://HOST:PORT", raw)
	if u.Scheme != "grpc" && u.Scheme != "grpcs" || u.Host == "" || u.User != nil ||
		u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return "", false, bad
	}
	secure = u.Scheme == "grpcs"
	addr = u.Host
	if u.Port() == "" {
		port := "80"
		if secure {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	return addr, secure, nil
}

// Connections is the number of connections the target opens.
func (t *GRPCTarget) Connections() int { return len(t.conns) }

// Hit implements Target: it makes the call, waits for its response and
// judges it.
func (t *GRPCTarget) Hit(ctx context.Context, q Query) error {
	if err := ctx.Err(); err != nil {
		return &QueryError{Kind: kindOf(err), Err: err}
	}
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > t.timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.timeout)
		defer cancel()
	}
	// The flag is the call's own, not pooled: the stats handler may
	// still hold it when the call has returned.
	answered := new(atomic.Bool)
	cctx := context.WithValue(ctx, answerKey{}, answered)
	if len(t.md) > 0 {
		cctx = metadata.NewOutgoingContext(cctx, t.md)
	}
	var req rawMessage
	if t.request != nil {
		req.b = t.request(q)
	}
	resp, _ := t.bufs.Get().(*rawMessage)
	if resp == nil {
		resp = &rawMessage{}
	}
	defer t.release(resp)
	conn := t.conns[t.next.Add(1)%uint64(len(t.conns))]
	if err := conn.Invoke(cctx, t.method, &req, resp); err != nil {
		return t.classify(ctx, err, answered.Load())
	}
	if t.check == nil {
		return nil
	}
	if err := t.check(q, resp.b); err != nil {
		var qe *QueryError
		if errors.As(err, &qe) {
			return err
		}
		return &QueryError{Kind: KindInvalid, Err: err}
	}
	return nil
}

// release returns a response buffer to the pool, unless it grew past
// what is worth keeping.
func (t *GRPCTarget) release(m *rawMessage) {
	if cap(m.b) <= maxPooledMessage {
		m.b = m.b[:0]
		t.bufs.Put(m)
	}
}

// maxPooledMessage bounds the response buffers kept for reuse.
const maxPooledMessage = 1 << 20

// classify turns a failed call into a QueryError of its kind. answered
// says the server ended the call with a status of its own.
func (t *GRPCTarget) classify(ctx context.Context, err error, answered bool) error {
	st := status.Convert(err)
	switch {
	case st.Code() == codes.DeadlineExceeded:
		return &QueryError{Kind: KindTimeout, Err: err}
	case ctx.Err() != nil:
		return &QueryError{Kind: kindOf(ctx.Err()), Err: err}
	case st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max") && strings.HasSuffix(st.Message(), t.tooLarge):
		return &QueryError{Kind: KindInvalid, Err: fmt.Errorf("response message over %d bytes: %w", t.maxMsg, err)}
	case answered:
		return &QueryError{Kind: KindStatus, Status: grpcbind.StatusForCode(st.Code()), Err: err}
	}
	return &QueryError{Kind: KindTransport, Err: err}
}

// Close closes the target's connections.
func (t *GRPCTarget) Close() error {
	var errs []error
	for _, cc := range t.conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// rawMessage is a serialised protobuf message.
type rawMessage struct{ b []byte }

// passCodec passes serialised messages through: it sends a rawMessage's
// bytes as they are and reads a response into one. Its name is proto's,
// so that the server decodes the messages as protobuf.
type passCodec struct{}

func (passCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*rawMessage)
	if !ok {
		return nil, fmt.Errorf("load: pass-through codec: cannot send %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(m.b)}, nil
}

func (passCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return fmt.Errorf("load: pass-through codec: cannot read into %T", v)
	}
	m.b = m.b[:0]
	for _, b := range data {
		m.b = append(m.b, b.ReadOnlyData()...)
	}
	return nil
}

func (passCodec) Name() string { return "proto" }

// answerKey is the context key of the flag answerWatcher sets when the
// server ends a call with trailers, its status.
type answerKey struct{}

// answerWatcher is a stats handler that tells a status the server sent
// from one the client made up (a connection refused or lost): only the
// first comes with trailers.
type answerWatcher struct{}

func (answerWatcher) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (answerWatcher) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.InTrailer); ok {
		if a, ok := ctx.Value(answerKey{}).(*atomic.Bool); ok {
			a.Store(true)
		}
	}
}

func (answerWatcher) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (answerWatcher) HandleConn(context.Context, stats.ConnStats) {}
