package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/aiconform/aiconform/internal/testnet"
	"github.com/aiconform/aiconform/internal/testpki"
)

// rawServer is a gRPC server that answers every method by its name (see
// answer), reading and writing messages as bytes.
type rawServer struct {
	ln    *testnet.CountingListener
	calls atomic.Int64
	mu    sync.Mutex
	auth  []string // the authorization metadata of each call
	reqs  []string // the request bytes of each call
	// holding counts the calls of /t.S/hold waiting for release.
	holding   atomic.Int64
	release   chan struct{}
	releaseOK sync.Once
}

// free releases the calls of /t.S/hold, those waiting and those to come.
func (s *rawServer) free() { s.releaseOK.Do(func() { close(s.release) }) }

// startRawServer serves on loopback, with TLS when cert is not nil.
func startRawServer(t *testing.T, cert *tls.Certificate) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: &testnet.CountingListener{Listener: ln}, release: make(chan struct{})}
	opts := []grpc.ServerOption{grpc.ForceServerCodecV2(passCodec{}), grpc.UnknownServiceHandler(s.answer)}
	if cert != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{*cert}})))
	}
	srv := grpc.NewServer(opts...)
	go srv.Serve(s.ln) //nolint:errcheck // ends with Stop
	t.Cleanup(func() {
		s.free()
		srv.Stop()
	})
	return s
}

func (s *rawServer) url(scheme string) string { return scheme + "://" + s.ln.Addr().String() }

// answer serves /t.S/ok (answers "resp:" and the request), /t.S/big (4096
// bytes), /t.S/hang (never answers), /t.S/hold (answers once released),
// and /t.S/codeN (status N).
func (s *rawServer) answer(_ any, stream grpc.ServerStream) error {
	s.calls.Add(1)
	var req rawMessage
	if err := stream.RecvMsg(&req); err != nil {
		return err
	}
	md, _ := metadata.FromIncomingContext(stream.Context())
	s.mu.Lock()
	s.auth = append(s.auth, strings.Join(md.Get("authorization"), ","))
	s.reqs = append(s.reqs, string(req.b))
	s.mu.Unlock()
	method, _ := grpc.MethodFromServerStream(stream)
	switch {
	case method == "/t.S/ok":
		return stream.SendMsg(&rawMessage{b: append([]byte("resp:"), req.b...)})
	case method == "/t.S/big":
		return stream.SendMsg(&rawMessage{b: bytes.Repeat([]byte("x"), 4096)})
	case method == "/t.S/hang":
		<-stream.Context().Done()
		return stream.Context().Err()
	case method == "/t.S/hold":
		s.holding.Add(1)
		defer s.holding.Add(-1)
		select {
		case <-s.release:
		case <-stream.Context().Done():
		}
		return stream.SendMsg(&rawMessage{b: []byte("held")})
	case strings.HasPrefix(method, "/t.S/code"):
		var c uint32
		fmt.Sscan(strings.TrimPrefix(method, "/t.S/code"), &c)
		return status.Error(codes.Code(c), "as asked")
	}
	return status.Error(codes.Unimplemented, method)
}

func TestGRPCTarget(t *testing.T) {
	srv := startRawServer(t, nil)
	closed := "grpc://" + testnet.ClosedAddr(t)
	wantResp := func(q Query, msg []byte) error {
		if want := fmt.Sprint("resp:query ", q.Seq); string(msg) != want {
			return fmt.Errorf("response %q, want %q", msg, want)
		}
		return nil
	}
	request := func(q Query) []byte { return []byte(fmt.Sprint("query ", q.Seq)) }
	code := func(c codes.Code) string { return fmt.Sprintf("/t.S/code%d", c) }
	tests := []struct {
		name string
		c    GRPCConfig
		want string // ErrorKind of the outcome; empty for success
	}{
		{"ok", GRPCConfig{URL: srv.url("grpc"), Method: "/t.S/ok", Request: request, Check: wantResp}, ""},
		{"no check", GRPCConfig{URL: srv.url("grpc"), Method: "/t.S/big"}, ""},
		{"check fails", GRPCConfig{URL: srv.url("grpc"), Method: "/t.S/big", Check: wantResp}, KindInvalid},
		{"check keeps its kind", GRPCConfig{URL: srv.url("grpc"), Method: "/t.S/ok", Check: func(Query, []byte) error {
			return &QueryError{Kind: KindStatus, Status: 299}
		}}, "status 299"},
		{"invalid argument", GRPCConfig{URL: srv.url("grpc"), Method: code(codes.InvalidArgument)}, "status 400"},
		{"unauthenticated", GRPCConfig{URL: srv.url("grpc"), Method: code(codes.Unauthenticated)}, "status 401"},
		{"unavailable", GRPCConfig{URL: srv.url("grpc"), Method: code(codes.Unavailable)}, "status 503"},
		{"resource exhausted", GRPCConfig{URL: srv.url("grpc"), Method: code(codes.ResourceExhausted)}, "status 413"},
		{"internal", GRPCConfig{URL: srv.url("grpc"), Method: code(codes.Internal)}, "status 500"},
		{"server's deadline", GRPCConfig{URL: srv.url("grpc"), Method: code(codes.DeadlineExceeded)}, KindTimeout},
		{"unknown method", GRPCConfig{URL: srv.url("grpc"), Method: "/t.S/nope"}, "status 501"},
		{"timeout", GRPCConfig{URL: srv.url("grpc"), Method: "/t.S/hang", Timeout: 100 * time.Millisecond}, KindTimeout},
		{"oversize message", GRPCConfig{URL: srv.url("grpc"), Method: "/t.S/big", MaxMessageBytes: 1000}, KindInvalid},
		{"closed server", GRPCConfig{URL: closed, Method: "/t.S/ok"}, KindTransport},
		{"black hole", GRPCConfig{URL: "grpc://" + testnet.BlackHole(t), Method: "/t.S/ok", Timeout: 200 * time.Millisecond}, KindTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, err := NewGRPCTarget(tt.c)
			if err != nil {
				t.Fatal(err)
			}
			defer target.Close()
			start := time.Now()
			err = target.Hit(context.Background(), Query{Seq: 7})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Hit = %v, want success", err)
			case tt.want != "" && (err == nil || ErrorKind(err) != tt.want):
				t.Fatalf("Hit = %v (kind %q), want kind %q", err, ErrorKind(err), tt.want)
			}
			if tt.c.Timeout > 0 && time.Since(start) > tt.c.Timeout+2*time.Second {
				t.Errorf("Hit took %v with a timeout of %v", time.Since(start), tt.c.Timeout)
			}
		})
	}
	srv.mu.Lock()
	first := srv.reqs[0]
	srv.mu.Unlock()
	if first != "query 7" {
		t.Errorf("the server received %q, want the request bytes as they were", first)
	}

	t.Run("a canceled query", func(t *testing.T) {
		target, err := NewGRPCTarget(GRPCConfig{URL: srv.url("grpc"), Method: "/t.S/hang"})
		if err != nil {
			t.Fatal(err)
		}
		defer target.Close()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		if err := target.Hit(ctx, Query{}); ErrorKind(err) != KindTransport {
			t.Errorf("Hit = %v (kind %q), want %q, as for a canceled HTTP query", err, ErrorKind(err), KindTransport)
		}
		if err := target.Hit(ctx, Query{}); ErrorKind(err) != KindTransport {
			t.Errorf("Hit on a canceled context = %v, want %q", err, KindTransport)
		}
	})

	for _, bad := range []GRPCConfig{
		{URL: "http://127.0.0.1:1", Method: "/t.S/ok"},
		{URL: "grpc://", Method: "/t.S/ok"},
		{URL: "grpc://127.0.0.1:1/prefix", Method: "/t.S/ok"},
		{URL: "grpc://u:p@127.0.0.1:1", Method: "/t.S/ok"},
		{URL: "grpc://127.0.0.1:1", Method: "t.S/ok"},
		{URL: "grpc://127.0.0.1:1", Method: "/t.S.ok"},
		{URL: "grpc://127.0.0.1:1", Method: "/t.S/ok", MaxConnections: -1},
		{URL: "grpc://127.0.0.1:1", Method: "/t.S/ok", MaxMessageBytes: -1},
		{URL: "grpc://127.0.0.1:1", Method: "/t.S/ok", Timeout: -1},
	} {
		if target, err := NewGRPCTarget(bad); err == nil {
			target.Close()
			t.Errorf("NewGRPCTarget(%+v) = nil error", bad)
		}
	}
}

// TestGRPCTargetMetadataAndTLS: the metadata reaches the server with every
// call, over TLS verified by the given roots; the system roots refuse the
// test CA.
func TestGRPCTargetMetadataAndTLS(t *testing.T) {
	pki, err := testpki.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	srv := startRawServer(t, &pki.Certificate)
	md := metadata.Pairs("authorization", "Bearer s3cret")
	target, err := NewGRPCTarget(GRPCConfig{URL: srv.url("grpcs"), Method: "/t.S/ok", Metadata: md,
		TLS: &tls.Config{RootCAs: pki.Pool, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	for i := range 3 {
		if err := target.Hit(context.Background(), Query{Seq: uint64(i)}); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
	}
	srv.mu.Lock()
	auth := srv.auth
	srv.mu.Unlock()
	if strings.Join(auth, "|") != "Bearer s3cret|Bearer s3cret|Bearer s3cret" {
		t.Errorf("the server received authorization %q, want the token with each of 3 calls", auth)
	}

	untrusted, err := NewGRPCTarget(GRPCConfig{URL: srv.url("grpcs"), Method: "/t.S/ok", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer untrusted.Close()
	if err := untrusted.Hit(context.Background(), Query{}); ErrorKind(err) != KindTransport {
		t.Errorf("a server the system roots do not trust: %v (kind %q), want %q", err, ErrorKind(err), KindTransport)
	}
	plain, err := NewGRPCTarget(GRPCConfig{URL: srv.url("grpc"), Method: "/t.S/ok", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Hit(context.Background(), Query{}); err == nil {
		t.Error("grpc:// (no TLS) succeeded against a TLS server")
	}
}

// TestGRPCTargetConnections: the target opens one connection per
// processor, at most MaxConnections, however many queries are
// outstanding, and the calls share them.
func TestGRPCTargetConnections(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	for _, tt := range []struct {
		max, want int
	}{{1, 1}, {2, min(2, procs)}, {0, procs}, {100, min(100, procs)}} {
		t.Run(fmt.Sprint("max ", tt.max), func(t *testing.T) {
			srv := startRawServer(t, nil)
			target, err := NewGRPCTarget(GRPCConfig{URL: srv.url("grpc"), Method: "/t.S/hold", MaxConnections: tt.max})
			if err != nil {
				t.Fatal(err)
			}
			defer target.Close()
			if target.Connections() != tt.want {
				t.Errorf("Connections() = %d, want %d", target.Connections(), tt.want)
			}
			// 16 queries outstanding at once, held by the server until all
			// arrived.
			const outstanding = 16
			var wg sync.WaitGroup
			errs := make(chan error, outstanding)
			for i := range outstanding {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- target.Hit(context.Background(), Query{Seq: uint64(i)})
				}()
			}
			deadline := time.Now().Add(10 * time.Second)
			for srv.holding.Load() < outstanding && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if got := srv.holding.Load(); got != outstanding {
				t.Fatalf("%d calls reached the server at once, want %d", got, outstanding)
			}
			if got := srv.ln.Accepted(); got != int64(tt.want) {
				t.Errorf("the server accepted %d connections for %d outstanding queries, want %d", got, outstanding, tt.want)
			}
			srv.free()
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
}
