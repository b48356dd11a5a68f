package load

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"
)

// DefaultMaxBodyBytes bounds a response body when HTTPConfig.MaxBodyBytes
// is zero.
const DefaultMaxBodyBytes = 64 << 20

// HTTPConfig describes an HTTP target.
type HTTPConfig struct {
	// URL is the absolute http or https URL every query is sent to.
	URL string
	// Method defaults to POST when Body is set, else GET.
	Method string
	// Header is sent with every query (Content-Type, Authorization).
	Header http.Header
	// Body returns the request body of a query; nil sends none. The
	// target sends the bytes before Hit returns and does not keep them.
	Body func(q Query) []byte
	// Check judges a complete response; nil accepts status 200 alone. A
	// non-nil error fails the query (a QueryError keeps its kind; any
	// other error counts as KindInvalid). The response is valid only
	// during the call.
	Check func(q Query, r Response) error
	// TLS configures https; nil uses the system roots.
	TLS *tls.Config
	// MaxConnections bounds the open connections; zero uses
	// DefaultMaxConnections. A query that finds them all busy waits for
	// one, within its timeout.
	MaxConnections int
	// MaxBodyBytes bounds a response body; a longer one fails the query
	// (KindInvalid). Zero uses DefaultMaxBodyBytes.
	MaxBodyBytes int
	// Timeout bounds each query; zero uses DefaultTimeout. A query's
	// context deadline, when earlier, bounds it too.
	Timeout time.Duration
}

// HTTPTarget is a Target that sends HTTP/1.1 requests over a bounded
// pool of keep-alive connections. It is built on fasthttp's HostClient,
// which costs a fraction of net/http's CPU per request (see "The load
// generator" in docs/performance.md). A connection the server closes
// before answering is retried once on a fresh connection, as net/http
// does for a reused idle connection; nothing else is retried.
//
// A query's context bounds it by its deadline; fasthttp cannot abandon a
// request in flight, so a canceled context ends the query at its
// deadline at the latest.
type HTTPTarget struct {
	client  *fasthttp.HostClient
	url     string
	method  string
	header  [][2]string
	body    func(Query) []byte
	check   func(Query, Response) error
	maxBody int
	timeout time.Duration
}

// NewHTTPTarget checks the configuration and returns its target.
func NewHTTPTarget(c HTTPConfig) (*HTTPTarget, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("http target: url %q: %w", c.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("http target: url %q: want an absolute http or https URL", c.URL)
	}
	switch {
	case c.MaxConnections < 0:
		return nil, fmt.Errorf("http target: maxConnections %d; want a positive number, or zero for %d", c.MaxConnections, DefaultMaxConnections)
	case c.MaxBodyBytes < 0:
		return nil, fmt.Errorf("http target: maxBodyBytes %d; want a positive number, or zero for %d", c.MaxBodyBytes, DefaultMaxBodyBytes)
	case c.Timeout < 0:
		return nil, fmt.Errorf("http target: timeout %v; want a positive duration, or zero for %v", c.Timeout, DefaultTimeout)
	}
	t := &HTTPTarget{url: u.String(), method: c.Method, body: c.Body, check: c.Check,
		maxBody: c.MaxBodyBytes, timeout: c.Timeout}
	if t.method == "" {
		t.method = http.MethodGet
		if c.Body != nil {
			t.method = http.MethodPost
		}
	}
	if t.maxBody == 0 {
		t.maxBody = DefaultMaxBodyBytes
	}
	if t.timeout == 0 {
		t.timeout = DefaultTimeout
	}
	for k, vs := range c.Header {
		for _, v := range vs {
			t.header = append(t.header, [2]string{k, v})
		}
	}
	conns := c.MaxConnections
	if conns == 0 {
		conns = DefaultMaxConnections
	}
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	t.client = &fasthttp.HostClient{
		Addr:                          addr,
		Name:                          "aiconform-load",
		IsTLS:                         u.Scheme == "https",
		TLSConfig:                     c.TLS,
		MaxConns:                      conns,
		MaxConnWaitTimeout:            t.timeout,
		MaxResponseBodySize:           t.maxBody,
		MaxIdemponentCallAttempts:     1,
		DisablePathNormalizing:        true,
		DisableHeaderNamesNormalizing: true,
		RetryIfErr: func(_ *fasthttp.Request, attempts int, err error) (bool, bool) {
			return false, attempts < 2 && errors.Is(err, fasthttp.ErrConnectionClosed)
		},
	}
	return t, nil
}

// Hit implements Target: it sends the query, reads the whole response
// and judges it.
func (t *HTTPTarget) Hit(ctx context.Context, q Query) error {
	if err := ctx.Err(); err != nil {
		return &QueryError{Kind: kindOf(err), Err: err}
	}
	deadline := time.Now().Add(t.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(t.url)
	req.Header.SetMethod(t.method)
	for _, h := range t.header {
		req.Header.Add(h[0], h[1])
	}
	if t.body != nil {
		req.SetBodyRaw(t.body(q))
	}
	if err := t.client.DoDeadline(req, resp, deadline); err != nil {
		return classify(err, t.maxBody)
	}
	status := resp.StatusCode()
	if t.check == nil {
		if status != http.StatusOK {
			return &QueryError{Kind: KindStatus, Status: status}
		}
		return nil
	}
	if err := t.check(q, Response{Status: status, Body: resp.Body(), Header: &resp.Header}); err != nil {
		var qe *QueryError
		if errors.As(err, &qe) {
			return err
		}
		return &QueryError{Kind: KindInvalid, Err: err}
	}
	return nil
}

// Response is a complete HTTP response, as HTTPConfig.Check sees it.
type Response struct {
	// Status is the HTTP status.
	Status int
	// Body is the whole body.
	Body []byte
	// Header holds the response's headers; nil for none.
	Header HeaderPeeker
}

// HeaderPeeker reads headers: Peek returns the value of the header name
// (its first), nil when there is none. fasthttp's headers are one.
type HeaderPeeker interface {
	Peek(name string) []byte
}

// HeaderValue returns the value of the response header name, "" when the
// response has none.
func (r Response) HeaderValue(name string) string {
	if r.Header == nil {
		return ""
	}
	return string(r.Header.Peek(name))
}

// kindOf is the kind of a context's error.
func kindOf(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return KindTimeout
	}
	return KindTransport
}

// classify turns fasthttp's error into a QueryError of its kind, keeping
// the cause so that exhaustion of descriptors or ports stays visible.
func classify(err error, maxBody int) error {
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return &QueryError{Kind: KindInvalid, Err: fmt.Errorf("response body over %d bytes: %w", maxBody, err)}
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.Is(err, fasthttp.ErrTLSHandshakeTimeout), errors.Is(err, fasthttp.ErrNoFreeConns), isTimeout(err):
		return &QueryError{Kind: KindTimeout, Err: err}
	}
	return &QueryError{Kind: KindTransport, Err: err}
}

// Close closes the target's idle connections.
func (t *HTTPTarget) Close() error {
	t.client.CloseIdleConnections()
	return nil
}
