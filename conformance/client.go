package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// ExcerptLimit is the most bytes of a body an Exchange quotes.
const ExcerptLimit = 2048

// requestExcerptLimit keeps request quotes short: the inputs are in the
// golden files already.
const requestExcerptLimit = 512

// DefaultMaxBodyBytes caps how much of a response body is read. A longer
// body fails its check (and is cut off there) instead of exhausting memory.
const DefaultMaxBodyBytes = 16 << 20

// client speaks the Open Inference Protocol's REST binding to one target.
// Every exchange is bounded by the request timeout (body included) and the
// body limit, and becomes data: a transport failure is recorded, never
// returned as a Go error.
type client struct {
	base    string // scheme://host[/prefix] without a trailing slash
	hc      *http.Client
	timeout time.Duration
	maxBody int64
	token   string
	now     func() time.Time
}

// response is one exchange: what was asked, what came back.
type response struct {
	ex        Exchange
	status    int
	header    http.Header
	body      []byte
	overLimit bool
	err       error // transport error: no (complete) response
}

// ok reports whether a complete response arrived with the given status.
func (r *response) ok(status int) bool {
	return r.err == nil && !r.overLimit && r.status == status
}

// what describes the request for messages: "GET /v2/health/live".
func (r *response) what() string { return r.ex.Method + " " + r.ex.Path }

// outcome describes what came back, for messages.
func (r *response) outcome() string {
	switch {
	case r.err != nil:
		return r.err.Error()
	case r.overLimit:
		return fmt.Sprintf("answered %d with a body over the %d-byte limit", r.status, len(r.body))
	}
	return fmt.Sprintf("answered %d", r.status)
}

func (c *client) get(ctx context.Context, path string) *response {
	return c.do(ctx, http.MethodGet, path, nil)
}

func (c *client) post(ctx context.Context, path string, body []byte) *response {
	return c.do(ctx, http.MethodPost, path, body)
}

// do makes one request. path starts with "/" and is relative to the target.
func (c *client) do(ctx context.Context, method, path string, body []byte) *response {
	r := &response{ex: Exchange{Method: method, Path: path}}
	if body != nil {
		r.ex.RequestExcerpt = c.excerpt(body, requestExcerptLimit, 0)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	start := c.now()
	defer func() {
		r.ex.Duration = Millis(c.now().Sub(start))
		r.ex.ResponseBytes = Bytes(int64(len(r.body)))
		if r.err != nil {
			r.ex.Error = r.err.Error()
		}
	}()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		r.err = fmt.Errorf("cannot build the request: %w", err)
		return r
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		r.err = c.transportError(ctx, err)
		return r
	}
	defer resp.Body.Close()
	r.status = resp.StatusCode
	r.header = resp.Header
	r.ex.StatusCode = resp.StatusCode
	r.ex.ContentType = resp.Header.Get("Content-Type")
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if int64(len(b)) > c.maxBody {
		b = b[:c.maxBody]
		r.overLimit = true
		r.ex.BodyOverLimit = true
	}
	r.body = b
	var cutAt int64
	if r.overLimit {
		cutAt = c.maxBody
	}
	r.ex.ResponseExcerpt = c.excerpt(b, ExcerptLimit, cutAt)
	if err != nil {
		r.err = fmt.Errorf("reading the response body after %d bytes: %w", len(b), c.transportError(ctx, err))
	}
	return r
}

// transportError turns a client error into a message a vendor can act on.
func (c *client) transportError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no complete response within %v (the request timeout)", c.timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// excerpt quotes at most limit bytes of b as valid UTF-8, with the token
// redacted (before cutting, so no part of it shows) and a note of the full
// length when cut; cutAt > 0 says the body was cut off at that limit.
func (c *client) excerpt(b []byte, limit int, cutAt int64) string {
	s := string(b)
	if c.token != "" {
		s = strings.ReplaceAll(s, c.token, "[redacted]")
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var note string
	switch {
	case cutAt > 0:
		note = fmt.Sprintf("… [cut off at the %d-byte limit]", cutAt)
	case len(s) > limit:
		note = fmt.Sprintf("… [%d bytes in all]", len(b))
	default:
		return s
	}
	cut := min(len(s), limit-len(note))
	for cut > 0 && cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + note
}

// isDialError reports whether err means the target could not be
// connected to at all (refused, no route, unknown host).
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// isJSONContentType reports whether a Content-Type names JSON.
func isJSONContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// decodeJSON decodes exactly one JSON value, numbers kept as json.Number.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("body is not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("body holds data after its JSON value")
	}
	return v, nil
}

// parseTarget checks the target base URL and returns it without a
// trailing slash.
func parseTarget(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("target %q is not a URL: %w", target, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("target %q: scheme must be http or https", target)
	}
	if u.Host == "" {
		return "", fmt.Errorf("target %q has no host", target)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("target %q: a base URL has no query or fragment", target)
	}
	if u.User != nil {
		return "", fmt.Errorf("target %q: credentials do not belong in the URL; name an environment variable in the profile's auth", u.Redacted())
	}
	return strings.TrimRight(u.String(), "/"), nil
}
