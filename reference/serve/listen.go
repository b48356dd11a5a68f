package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// Timeouts of the HTTP server that Serve and ListenAndServe run.
const (
	// ShutdownTimeout is the default grace of a graceful shutdown (see
	// WithShutdownGrace): requests still running after it are cut off.
	ShutdownTimeout = 10 * time.Second
	// ReadHeaderTimeout bounds the time to read a request's headers.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds the time to read a whole request.
	ReadTimeout = time.Minute
	// IdleTimeout bounds how long an idle keep-alive connection stays open.
	IdleTimeout = 2 * time.Minute
)

// ServeOption configures how Serve, ListenAndServe and ListenAndServeTLS
// run the HTTP server.
type ServeOption func(*serveConfig)

type serveConfig struct {
	grace time.Duration
}

// WithShutdownGrace sets how long a graceful shutdown waits for the
// requests in flight (default ShutdownTimeout); it must be positive.
func WithShutdownGrace(d time.Duration) ServeOption {
	return func(c *serveConfig) { c.grace = d }
}

// Serve serves h on ln until ctx is done, then shuts down gracefully: it
// closes ln at once, so that new connections are refused, closes idle
// keep-alive connections, and waits up to the grace (WithShutdownGrace)
// for the requests in flight, whose connections close once they are
// answered. Requests still running after the grace are cut off: their
// connections are closed. Serve returns nil after a shutdown caused by ctx
// in which every request finished, a *ShutdownError when requests were cut
// off, and otherwise the error that stopped the server.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, opts ...ServeOption) error {
	cfg := serveConfig{grace: ShutdownTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.grace <= 0 {
		_ = ln.Close()
		return fmt.Errorf("serving on %s: shutdown grace is %s, want > 0", ln.Addr(), cfg.grace)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		IdleTimeout:       IdleTimeout,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		<-errc
		return &ShutdownError{Addr: ln.Addr().String(), Grace: cfg.grace, Err: err}
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	}
	return nil
}

// ShutdownError reports that a graceful shutdown cut off the requests
// still running when its grace ran out.
type ShutdownError struct {
	Addr  string
	Grace time.Duration
	Err   error
}

// Error says which server cut off requests, after what grace.
func (e *ShutdownError) Error() string {
	return fmt.Sprintf("shutting down the server on %s: requests still running after the grace of %s were cut off: %v", e.Addr, e.Grace, e.Err)
}

// Unwrap returns the error of the shutdown (context.DeadlineExceeded).
func (e *ShutdownError) Unwrap() error { return e.Err }

// ListenAndServe listens on the TCP address addr ("127.0.0.1:0" picks a
// free loopback port), calls ready (if not nil) with the bound address once
// the listener accepts connections, and serves h as Serve does, with opts,
// until ctx is done. Requests may be sent as soon as ready is called. A
// failure to listen is returned at once, wrapped in a *ListenError; ready is
// then not called.
//
// To run a server in-process and learn its address:
//
//	addrc := make(chan net.Addr, 1)
//	errc := make(chan error, 1)
//	go func() { errc <- serve.ListenAndServe(ctx, "127.0.0.1:0", h, func(a net.Addr) { addrc <- a }) }()
//	select {
//	case a := <-addrc: // base URL "http://" + a.String()
//	case err := <-errc: // could not listen
//	}
//	// ... cancel ctx, then <-errc waits for the shutdown.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, ready func(net.Addr), opts ...ServeOption) error {
	return ListenAndServeTLS(ctx, addr, h, nil, ready, opts...)
}

// ListenAndServeTLS is ListenAndServe over TLS with the settings cfg (see
// TLSConfig); a nil cfg serves plain HTTP.
func ListenAndServeTLS(ctx context.Context, addr string, h http.Handler, cfg *tls.Config, ready func(net.Addr), opts ...ServeOption) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return &ListenError{Addr: addr, Err: err}
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	if ready != nil {
		ready(ln.Addr())
	}
	return Serve(ctx, ln, h, opts...)
}

// TLSConfig returns the TLS settings of a server presenting cert: TLS 1.2
// or later, Go's default cipher suites, HTTP/1.1.
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}
}

// LoadKeyPair reads a PEM certificate chain (the server's certificate
// first) and its PEM private key. An error names the file at fault.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("the certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("the private key: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return tls.Certificate{}, fmt.Errorf("the certificate %s: no PEM CERTIFICATE block", certFile)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return tls.Certificate{}, fmt.Errorf("the certificate %s: %w", certFile, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("the private key %s does not hold the key of the certificate %s: %w", keyFile, certFile, err)
	}
	return cert, nil
}

// ListenError reports that the server could not listen on Addr (address in
// use, permission denied, malformed address, ...).
type ListenError struct {
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("cannot listen on %q: %v", e.Addr, e.Err)
}

// Unwrap returns the underlying network error.
func (e *ListenError) Unwrap() error { return e.Err }
