package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Timeouts of the HTTP server that Serve and ListenAndServe run.
const (
	// ShutdownTimeout bounds the graceful shutdown: requests still running
	// after it are cut off.
	ShutdownTimeout = 10 * time.Second
	// ReadHeaderTimeout bounds the time to read a request's headers.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds the time to read a whole request.
	ReadTimeout = time.Minute
	// IdleTimeout bounds how long an idle keep-alive connection stays open.
	IdleTimeout = 2 * time.Minute
)

// Serve serves h on ln until ctx is done, then shuts down gracefully: it
// stops accepting connections and waits up to ShutdownTimeout for requests
// in flight. It closes ln. It returns nil after a shutdown caused by ctx, and
// otherwise the error that stopped the server.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
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
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		<-errc
		return fmt.Errorf("shutting down the server on %s: requests still running after %s: %w", ln.Addr(), ShutdownTimeout, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	}
	return nil
}

// ListenAndServe listens on the TCP address addr ("127.0.0.1:0" picks a
// free loopback port), calls ready (if not nil) with the bound address once
// the listener accepts connections, and serves h as Serve does until ctx is
// done. Requests may be sent as soon as ready is called. A failure to listen
// is returned at once, wrapped in a *ListenError; ready is then not called.
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
func ListenAndServe(ctx context.Context, addr string, h http.Handler, ready func(net.Addr)) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return &ListenError{Addr: addr, Err: err}
	}
	if ready != nil {
		ready(ln.Addr())
	}
	return Serve(ctx, ln, h)
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
