package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/aiconform/aiconform/oip/grpcbind"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
)

// Settings of the gRPC server GRPCServer returns, besides those it takes
// from the Server's options.
const (
	// GRPCMinStreams is the least number of calls one connection may have
	// open at once (the HTTP/2 setting SETTINGS_MAX_CONCURRENT_STREAMS):
	// the value RFC 9113 §5.1.2 recommends as a floor.
	GRPCMinStreams = 100
	// GRPCMaxHeaderBytes bounds the metadata of a call, as net/http's
	// default bounds the headers of a REST request (1 MiB).
	GRPCMaxHeaderBytes = http.DefaultMaxHeaderBytes
	// GRPCMinPingInterval is the shortest interval at which a client may
	// send keepalive pings, with or without calls open; a client that
	// pings more often is sent GOAWAY ("too_many_pings") and
	// disconnected. Ten seconds is also the shortest interval grpc-go's
	// client accepts.
	GRPCMinPingInterval = 10 * time.Second
	// GRPCPingAfter is how long a connection with calls open may stay
	// silent before the server pings it.
	GRPCPingAfter = time.Minute
	// GRPCPingTimeout is how long the server waits for the answer to its
	// ping before it closes the connection: a vanished client's
	// connection is closed within GRPCPingAfter + GRPCPingTimeout.
	GRPCPingTimeout = 20 * time.Second
)

// GRPCServer returns a gRPC server that serves the gRPC binding of the
// protocol for s (the service inference.GRPCInferenceService; see the
// package doc), through s's own handler (grpcbind.Gateway): every call is
// the REST request it means, served with the same models, authentication,
// limits, batching and hooks, and logged by the same access log.
//
// Its settings:
//
//   - a message received may be as large as a REST request body
//     (WithMaxBodyBytes); a larger one is answered RESOURCE_EXHAUSTED by
//     grpc-go before it is decoded, and so before anything here sees or
//     logs it. A message sent may be as large as
//     protobuf allows (2 GiB − 1): an answer is whole in memory by then,
//     and REST bounds no answer either, so a client expecting large
//     outputs must raise its own receive limit (grpc-go's is 4 MiB);
//   - a connection may have at most max(GRPCMinStreams, 2 ×
//     WithMaxConcurrent) calls open at once, so that one connection can
//     fill the concurrency limit and still be answered UNAVAILABLE past
//     it, and still reach the health probes;
//   - call metadata is bounded by GRPCMaxHeaderBytes, a connection's
//     handshake (TLS and the HTTP/2 preface) by ReadHeaderTimeout;
//   - keepalive: clients may ping every GRPCMinPingInterval, with or
//     without calls open (load balancers and long-lived clients keep idle
//     connections warm), and are disconnected when they ping more often;
//     the server pings a connection silent for GRPCPingAfter and closes
//     it after GRPCPingTimeout without an answer, and closes a connection
//     without calls for IdleTimeout, as REST closes an idle keep-alive
//     connection (a gRPC client reconnects on its next call);
//   - a panic outside the handler's own recovery (in the translation
//     between the bindings, or a handler aborting with
//     http.ErrAbortHandler) is answered INTERNAL and logged, instead of
//     ending the process as grpc-go would let it;
//   - the access log line of a call's REST request names the RPC (rpc=);
//     a call refused before it becomes a REST request (a message the REST
//     binding cannot express) gets a line of its own with its rpc and
//     code.
//
// opts apply after these and so may override them; the server is plain
// text (h2c) unless opts hold grpc.Creds (see GRPCCredentials). Serve it
// with ServeGRPC.
func (s *Server) GRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	streams := uint32(max(GRPCMinStreams, 2*s.cfg.maxConcurrent))
	own := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(min(s.cfg.maxBodyBytes, math.MaxInt32))),
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.MaxConcurrentStreams(streams),
		grpc.MaxHeaderListSize(GRPCMaxHeaderBytes),
		grpc.ConnectionTimeout(ReadHeaderTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: GRPCMinPingInterval, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: IdleTimeout, Time: GRPCPingAfter, Timeout: GRPCPingTimeout}),
		grpc.ChainUnaryInterceptor(s.observeGRPC),
	}
	g := grpc.NewServer(append(own, opts...)...)
	pb.RegisterGRPCInferenceServiceServer(g, grpcbind.NewGateway(s.Handler()))
	return g
}

// observeGRPC recovers the panics of a call that the handler's recovery
// did not (see observe), and logs the calls that never reached the access
// log. It gives the call's REST request the RPC's name for its access log
// line.
func (s *Server) observeGRPC(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	note := &accessNote{attrs: []slog.Attr{slog.String("rpc", info.FullMethod)}}
	ctx = context.WithValue(ctx, accessNoteKey{}, note)
	defer func() {
		if p := recover(); p != nil {
			// http.ErrAbortHandler is how a handler cuts a REST answer
			// off on purpose; net/http does not log it either.
			if p != http.ErrAbortHandler {
				s.cfg.logger.ErrorContext(ctx, "panic while serving a gRPC call",
					"rpc", info.FullMethod, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			}
			resp, err = nil, status.Error(codes.Internal, InternalErrorMessage)
		}
		if note.logged {
			return
		}
		remote := ""
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			remote = p.Addr.String()
		}
		s.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("rpc", info.FullMethod),
			slog.String("code", status.Code(err).String()),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", remote),
		)
	}()
	return handler(ctx, req)
}

// GRPCCredentials returns the transport credentials of a gRPC server that
// speaks TLS with cfg, the settings of the REST server (TLSConfig, or
// those a fault profile changed): cfg as it is, except that it offers
// only HTTP/2 in ALPN ("h2"), the one protocol gRPC speaks. cfg is not
// changed.
//
// grpc-go narrows the cipher suites of a configuration that names none to
// those HTTP/2 allows over TLS 1.2 (RFC 9113 §9.2.2), which leaves none
// to TLS 1.0 and 1.1: a configuration that accepts a version before 1.2
// keeps Go's default cipher suites here, so that it accepts over gRPC the
// handshakes it accepts over REST.
func GRPCCredentials(cfg *tls.Config) credentials.TransportCredentials {
	c := cfg.Clone()
	c.NextProtos = []string{"h2"}
	if c.CipherSuites == nil && c.MinVersion != 0 && c.MinVersion < tls.VersionTLS12 {
		c.CipherSuites = goDefaultCipherSuites()
	}
	return credentials.NewTLS(c)
}

// goDefaultCipherSuites returns the cipher suites of TLS 1.0 to 1.2 that
// crypto/tls enables when a configuration names none: those it deems
// secure, less RSA key exchange (TLS 1.3's are not configurable).
func goDefaultCipherSuites() []uint16 {
	var ids []uint16
	for _, cs := range tls.CipherSuites() {
		if slices.Contains(cs.SupportedVersions, tls.VersionTLS13) || strings.HasPrefix(cs.Name, "TLS_RSA_") {
			continue
		}
		ids = append(ids, cs.ID)
	}
	return ids
}

// ServeGRPC serves g (see GRPCServer) on ln until ctx is done, then stops
// it as Serve stops a REST server: it closes ln at once, so that new
// connections are refused, asks every client to go away (HTTP/2 GOAWAY),
// closes idle connections, and waits up to the grace (WithShutdownGrace)
// for the calls in flight. Calls still running after the grace are cut
// off (g.Stop): their clients get UNAVAILABLE. ServeGRPC returns nil after
// a shutdown caused by ctx in which every call finished, or when g was
// stopped by another; a *ShutdownError when calls were cut off; and
// otherwise the error that stopped the server.
func ServeGRPC(ctx context.Context, ln net.Listener, g *grpc.Server, opts ...ServeOption) error {
	cfg := serveConfig{grace: ShutdownTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	addr := ln.Addr().String()
	if cfg.grace <= 0 {
		_ = ln.Close()
		return fmt.Errorf("serving gRPC on %s: shutdown grace is %s, want > 0", addr, cfg.grace)
	}
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(ln) }()
	select {
	case err := <-errc:
		g.Stop()
		if err == nil || errors.Is(err, grpc.ErrServerStopped) {
			return nil
		}
		return fmt.Errorf("serving gRPC on %s: %w", addr, err)
	case <-ctx.Done():
	}
	drained := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(drained)
	}()
	grace := time.NewTimer(cfg.grace)
	defer grace.Stop()
	select {
	case <-drained:
	case <-grace.C:
		// Stop closes every connection and returns without waiting for
		// the handlers, as http.Server.Close does; GracefulStop returns
		// once they have seen their calls cancelled.
		g.Stop()
		<-errc
		return &ShutdownError{Addr: addr, Grace: cfg.grace, Err: context.DeadlineExceeded}
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serving gRPC on %s: %w", addr, err)
	}
	return nil
}
