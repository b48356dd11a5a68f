package conformance

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
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
//
// It also watches whether the target still answers: after maxStrikes
// exchanges in a row that got no response (a timeout, a reset, a refused
// connection), the target has stopped answering, and every later request
// fails at once with errStopped instead of waiting out its timeout. That
// bounds a run against a target that accepts connections and never
// answers.
type client struct {
	base    string // scheme://host[/prefix] without a trailing slash
	hc      *http.Client
	timeout time.Duration
	maxBody int64
	token   string
	now     func() time.Time

	maxStrikes int
	mu         sync.Mutex
	strikes    int  // exchanges in a row without a response
	stopped    bool // strikes reached maxStrikes
	// step is the index of the check running, set by the engine, and
	// streakStart the step during which the current run of strikes began.
	step, streakStart int
	// errorFormat judges, for OIP-ERROR-FORMAT, every response of status
	// 400 or more to a metadata or inference request as it arrives.
	errorFormat errorFormatScan
	// secrets watches every response for the credential values the run
	// sent, for SEC-NO-SECRET-ECHO; nil watches nothing.
	secrets *secretWatch
	// refuse, when set, is the transport error of every request: the
	// run will not send anything to the target (its TLS handshake
	// failed).
	refuse error
	// hygiene is what SAFE-ERROR-HYGIENE found in every error response of
	// the run, scanned as each arrived (so no body is kept for it).
	hygiene hygieneScan

	freshOnce sync.Once
	fresh     *http.Client // see freshClient
}

// DefaultMaxStrikes is how many exchanges in a row may go unanswered
// before a run gives up on its target.
const DefaultMaxStrikes = 3

// errStopped is the transport error of a request not sent because the
// target stopped answering.
var errStopped = errors.New("target stopped answering: not sent")

// hasStopped reports whether the target has stopped answering.
func (c *client) hasStopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped
}

// tally records the outcome of an exchange for the stop rule and keeps
// error responses. An exchange that got no complete response is a
// strike, whether nothing came back or a response was cut short: a
// target that sends its headers and then trickles or drops the body has
// stopped answering as surely as one that sends nothing.
func (c *client) tally(r *response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.status >= 400 {
		c.hygiene.scan(r, c.credentials())
	}
	if r.status >= 400 && isProtocolRequest(r.ex.Path) {
		c.errorFormat.scan(r)
	}
	switch {
	case r.err == nil:
		c.strikes = 0
	case errors.Is(r.err, errRunEnded):
		// The run was cancelled or reached its deadline: not the target's doing.
	default:
		if c.strikes == 0 {
			c.streakStart = c.step
		}
		c.strikes++
		if c.maxStrikes > 0 && c.strikes >= c.maxStrikes {
			c.stopped = true
		}
	}
}

// setStep records which check is running.
func (c *client) setStep(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.step = i
}

// stoppedSince returns the step during which the run of unanswered
// requests that stopped the target began, or −1 when it has not stopped.
func (c *client) stoppedSince() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped {
		return -1
	}
	return c.streakStart
}

// errorFormatFindings returns what the OIP-ERROR-FORMAT scan found so far.
func (c *client) errorFormatFindings() errorFormatScan {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.errorFormat
	f.exchanges = slices.Clone(f.exchanges)
	f.failures = slices.Clone(f.failures)
	return f
}

// errorFormatScan is what OIP-ERROR-FORMAT found in the error responses of
// a run, judged as each arrived, so that no body is kept for it: how many
// were examined, and the exchanges and failures of those that were not
// error responses (at most maxErrorFormatFindings of them).
type errorFormatScan struct {
	examined  int
	exchanges []Exchange
	failures  []string
	more      int // responses that failed beyond maxErrorFormatFindings
}

// maxErrorFormatFindings bounds the failing error responses a run keeps.
const maxErrorFormatFindings = 32

// scan judges one response of status 400 or more; a body cut off at the
// body limit is not judged.
func (s *errorFormatScan) scan(r *response) {
	if r.err != nil || r.overLimit {
		return
	}
	s.examined++
	var sub recorder
	if sub.expectErrorBody(r) {
		return
	}
	if len(s.exchanges) >= maxErrorFormatFindings {
		s.more++
		return
	}
	s.exchanges = append(s.exchanges, r.ex)
	s.failures = append(s.failures, sub.failures...)
}

// isProtocolRequest reports whether path is a metadata or inference
// request, not a health probe (server or model readiness): a REST path or
// a gRPC method.
func isProtocolRequest(path string) bool {
	switch path {
	case "/v2", grpcMethod("ServerMetadata"), grpcMethod("ModelMetadata"), grpcMethod("ModelInfer"):
		return true
	}
	return strings.HasPrefix(path, "/v2/models/") && !strings.HasSuffix(path, "/ready")
}

// errRunEnded marks a request cut short because the run itself ended (its
// deadline passed or it was interrupted).
var errRunEnded = errors.New("the run ended")

// errNoAnswer marks a request that ran out its own timeout.
var errNoAnswer = errors.New("no complete response within the request timeout")

// response is one exchange: what was asked, what came back.
type response struct {
	ex     Exchange
	status int
	header http.Header
	// body is the body read; the body of a response over the limit is
	// dropped once scanned (see send), and limit is then the limit.
	body      []byte
	overLimit bool
	limit     int64
	err       error // transport error: no (complete) response
	// encodeErr marks a request the suite could not even encode: its
	// check errs, the target is not to blame.
	encodeErr bool
	// unsent, when set, says why the request was not sent: it has no
	// form in the run's binding (spec/v1/api.md, "Protocol bindings").
	// Its check leaves that part out and says so; the target is not to
	// blame.
	unsent error

	// The rest is set for a gRPC call only (see grpcBinding): status,
	// header and body are then the REST form of its answer.
	//
	// about names what the call is about for messages (its model and
	// version), which a REST path says itself.
	about string
	// detail qualifies the gRPC status for messages: " with ready false".
	detail string
	// raw is what arrived before it was put in the REST form: the
	// answer's message as received (its protobuf encoding), or the
	// message of a status other than OK. meta is the header and trailer
	// metadata. The scans for credentials and leaks read these.
	raw  []byte
	meta http.Header
	// violation says how an answer that arrived broke the binding (a
	// message that does not decode, raw contents that are not one entry
	// per output, …): its body could not be judged, and the check fails.
	violation error
}

// isGRPC reports whether the response answers a gRPC call.
func (r *response) isGRPC() bool { return r.ex.Method == methodGRPC }

// scanned returns what the scans for credentials and leaks read of a
// response: the body and headers, or for a gRPC call what arrived (the
// message or status message, and the metadata) before it was put in the
// REST form, where an escape could hide what they look for.
func (r *response) scanned() (body []byte, header http.Header) {
	if r.isGRPC() {
		return r.raw, r.meta
	}
	return r.body, r.header
}

// ok reports whether a complete response arrived with the given status.
func (r *response) ok(status int) bool {
	return r.err == nil && !r.overLimit && r.status == status
}

// what describes the request for messages: "GET /v2/health/live", or
// for a gRPC call "GRPC /inference.GRPCInferenceService/ModelReady for
// seed-cnn version fp32".
func (r *response) what() string {
	if r.about != "" {
		return r.ex.Method + " " + r.ex.Path + " for " + r.about
	}
	return r.ex.Method + " " + r.ex.Path
}

// statusText is the status of a response for messages: "404", or for a
// gRPC answer its status and the REST status it is judged as
// ("NOT_FOUND, judged as 404").
func (r *response) statusText() string {
	if r.ex.GRPCStatus == "" {
		return strconv.Itoa(r.status)
	}
	return fmt.Sprintf("%s%s, judged as %d", r.ex.GRPCStatus, r.detail, r.status)
}

// outcome describes what came back, for messages.
func (r *response) outcome() string {
	switch {
	case r.err != nil:
		return r.err.Error()
	case r.overLimit && r.isGRPC():
		return fmt.Sprintf("answered with a message over the %d-byte limit", r.limit)
	case r.overLimit:
		return fmt.Sprintf("answered %d with a body over the %d-byte limit", r.status, r.limit)
	case r.status >= 300 && r.status < 400:
		return fmt.Sprintf("answered %d, a redirect, which the suite does not follow", r.status)
	}
	return "answered " + r.statusText()
}

func (c *client) get(ctx context.Context, path string) *response {
	return c.do(ctx, http.MethodGet, path, nil, nil)
}

// do makes one request with the given extra headers. path starts with "/"
// and is relative to the target.
func (c *client) do(parent context.Context, method, path string, body []byte, header http.Header) *response {
	out := outgoing{method: method, path: path, header: header}
	if body != nil {
		out.body = body
	}
	return c.send(parent, c.hc, out)
}

// outgoing is one request to send.
type outgoing struct {
	method, path string
	// body is sent as is; nil sends none.
	body []byte
	// stream, when set, is the body instead, of streamLength bytes; the
	// request excerpt quotes streamHead.
	stream       io.Reader
	streamLength int64
	streamHead   []byte
	header       http.Header
}

// postFresh POSTs a body that need not be a valid request to path, on a
// connection of its own (see freshClient), under the same timeout, body
// limit and stop rule as every request.
func (c *client) postFresh(ctx context.Context, path string, body []byte, header http.Header) *response {
	return c.send(ctx, c.freshClient(), outgoing{method: http.MethodPost, path: path, body: body, header: header})
}

// postStream is postFresh for a body of length bytes read from body as it
// is sent, so that it is never held in memory; head is its beginning, for
// the excerpt. A response that arrives before the body is sent is read.
func (c *client) postStream(ctx context.Context, path string, head []byte, body io.Reader, length int64) *response {
	return c.send(ctx, c.freshClient(), outgoing{method: http.MethodPost, path: path, stream: body, streamLength: length, streamHead: head})
}

// freshClient returns the client of postFresh: the run's client with
// keep-alives off, so that each request opens a connection of its own.
// A run given a client whose transport is not an *http.Transport gets
// that client, and each request closes its connection after it
// (Request.Close) and the idle ones are closed before it.
func (c *client) freshClient() *http.Client {
	c.freshOnce.Do(func() {
		rt := c.hc.Transport
		if rt == nil {
			rt = http.DefaultTransport
		}
		t, ok := rt.(*http.Transport)
		if !ok {
			c.fresh = c.hc
			return
		}
		t = t.Clone()
		t.DisableKeepAlives = true
		fresh := *c.hc
		fresh.Transport = t
		c.fresh = &fresh
	})
	return c.fresh
}

// streamRoundTrip sends req, whose body is a stream, on a connection of
// its own, and reads the response while the body is still being sent: a
// server may answer (413) before it has read a large body, and close the
// connection after. net/http's transport reports the failed write instead
// of such an answer when the two race, so the exchange is made here: the
// body is written by one goroutine and the response read by another, and
// a failed write only ends the writing. Ending ctx closes the connection,
// which ends both. An https target is spoken to with the TLS settings of
// the run's transport when it is an *http.Transport.
func (c *client) streamRoundTrip(ctx context.Context, req *http.Request) (*http.Response, error) {
	u := req.URL
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "https" {
		cfg := &tls.Config{}
		if t, ok := c.hc.Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
			cfg = t.TLSClientConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	req.Close = true
	go func() { _ = req.Write(conn) }() // ends when the connection closes
	hl := &headerLimit{r: conn, n: MaxResponseHeaderBytes, on: true}
	resp, err := http.ReadResponse(bufio.NewReader(hl), req)
	hl.on = false
	if err != nil {
		stop()
		conn.Close()
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case hl.n <= 0:
			return nil, errHeaderLimit
		}
		return nil, fmt.Errorf("no response: %w", err)
	}
	resp.Body = &connBody{ReadCloser: resp.Body, conn: conn, stop: stop}
	return resp, nil
}

// connBody is the body of a response of streamRoundTrip: closing it
// closes its connection.
type connBody struct {
	io.ReadCloser
	conn net.Conn
	stop func() bool
}

func (b *connBody) Close() error {
	err := b.ReadCloser.Close()
	b.stop()
	b.conn.Close()
	return err
}

// send makes one request with hc.
func (c *client) send(parent context.Context, hc *http.Client, out outgoing) *response {
	method, path, header := out.method, out.path, out.header
	r := &response{ex: Exchange{Method: method, Path: path}}
	switch {
	case out.stream != nil:
		r.ex.RequestExcerpt = c.excerpt(out.streamHead, requestExcerptLimit, 0)
		if int64(len(out.streamHead)) < out.streamLength {
			r.ex.RequestExcerpt += fmt.Sprintf("… [%d bytes in all]", out.streamLength)
		}
	case out.body != nil:
		r.ex.RequestExcerpt = c.excerpt(out.body, requestExcerptLimit, 0)
	}
	if c.refuse != nil {
		r.err = c.refuse
		r.ex.Error = r.err.Error()
		r.ex.ResponseBytes = Bytes(0)
		r.ex.Duration = Millis(0)
		return r
	}
	if c.hasStopped() {
		r.err = errStopped
		r.ex.Error = r.err.Error()
		r.ex.ResponseBytes = Bytes(0)
		r.ex.Duration = Millis(0)
		return r
	}
	// Runs last: once every scan has seen it, the body of a response
	// over the limit goes (no check judges it), so that a run of such
	// responses holds no more than the excerpts.
	defer func() {
		if r.overLimit {
			r.body = nil
		}
	}()
	defer c.tally(r)
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()
	var rd io.Reader
	switch {
	case out.stream != nil:
		rd = io.NopCloser(out.stream) // not a known type: its length is set below
	case out.body != nil:
		rd = bytes.NewReader(out.body)
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
	if out.stream != nil {
		req.ContentLength = out.streamLength
	}
	if hc == c.fresh && hc == c.hc {
		req.Close = true
		hc.CloseIdleConnections()
	}
	req.Header.Set("Accept", "application/json")
	// The suite reads bodies as they come: a compressed answer is the
	// target's choice, for the checks to see, and never inflated.
	req.Header.Set("Accept-Encoding", "identity")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if creds, ok := parent.Value(credentialsKey{}).(http.Header); ok {
		for k, vs := range creds {
			req.Header[k] = vs
		}
	} else if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	var resp *http.Response
	if out.stream != nil {
		resp, err = c.streamRoundTrip(ctx, req)
	} else {
		resp, err = hc.Do(req)
	}
	if err != nil {
		r.err = c.transportError(parent, ctx, err)
		return r
	}
	defer resp.Body.Close()
	r.status = resp.StatusCode
	r.header = resp.Header
	r.ex.StatusCode = resp.StatusCode
	r.ex.ContentType = resp.Header.Get("Content-Type")
	b, err := readBody(resp.Body, c.maxBody, resp.ContentLength)
	if int64(len(b)) > c.maxBody {
		b = b[:c.maxBody]
		r.overLimit = true
		r.limit = c.maxBody
		r.ex.BodyOverLimit = true
	}
	r.body = b
	c.secrets.scan(r)
	var cutAt int64
	if r.overLimit {
		cutAt = c.maxBody
	}
	r.ex.ResponseExcerpt = c.excerpt(b, ExcerptLimit, cutAt)
	if err != nil {
		r.err = fmt.Errorf("reading the response body after %d bytes: %w", len(b), c.transportError(parent, ctx, err))
	}
	return r
}

// transportError turns a client error into a message a vendor can act on.
// parent is the run's context, ctx the request's.
func (c *client) transportError(parent, ctx context.Context, err error) error {
	if parent.Err() != nil {
		return fmt.Errorf("%w before a complete response", errRunEnded)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w (%v)", errNoAnswer, c.timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// readBody reads a body up to limit+1 bytes, so that a longer one shows
// as such. Its buffer starts at the declared length (when there is one,
// up to limit+1) and doubles as needed: reading a body costs about twice
// its length at most, however it arrives (growing a buffer by a quarter,
// as append does, would cost some five times).
func readBody(r io.Reader, limit, declared int64) ([]byte, error) {
	size := int64(512)
	if declared >= 0 {
		// One byte more than declared, to read the end without growing.
		size = declared + 1
	}
	b := make([]byte, 0, min(size, limit+1))
	for {
		if len(b) == cap(b) {
			if int64(len(b)) > limit {
				return b, nil
			}
			nb := make([]byte, len(b), min(2*int64(cap(b)), limit+1))
			copy(nb, b)
			b = nb
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		switch {
		case err == io.EOF:
			return b, nil
		case err != nil:
			return b, err
		}
	}
}

// excerpt quotes at most limit bytes of b as valid UTF-8, with the token
// and every other credential value the run sent redacted (before cutting,
// so no part of one shows) and a note of the full length when cut;
// cutAt > 0 says the body was cut off at that limit. The quote is built
// from the start of b, a credential that starts in it replaced whole,
// until it is longer than limit: the rest of b, which may be as long as
// the body limit, is never copied.
func (c *client) excerpt(b []byte, limit int, cutAt int64) string {
	var secrets [][]byte
	for _, v := range append(c.secrets.values(), c.token) {
		if v != "" {
			secrets = append(secrets, []byte(v))
		}
	}
	// The longest first, so that a credential holding another is
	// redacted whole.
	slices.SortFunc(secrets, func(x, y []byte) int { return len(y) - len(x) })
	var q []byte
	i := 0
	for i < len(b) && len(q) <= limit {
		if at := slices.IndexFunc(secrets, func(v []byte) bool { return bytes.HasPrefix(b[i:], v) }); at >= 0 {
			q = append(q, "[redacted]"...)
			i += len(secrets[at])
			continue
		}
		q = append(q, b[i])
		i++
	}
	s := strings.ToValidUTF8(string(q), "\uFFFD")
	var note string
	switch {
	case cutAt > 0:
		note = fmt.Sprintf("… [cut off at the %d-byte limit]", cutAt)
	case len(s) > limit || i < len(b):
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

// credentialsKey is the context key of withCredentials.
type credentialsKey struct{}

// withCredentials makes the requests sent with ctx carry the headers h in
// place of the profile's credential; an empty h sends no credential.
func withCredentials(ctx context.Context, h http.Header) context.Context {
	return context.WithValue(ctx, credentialsKey{}, h)
}

// maxSecretFindings bounds the findings a secretWatch keeps.
const maxSecretFindings = 32

// secret is a credential value the run sends, with a label that names it
// in messages without quoting it.
type secret struct{ label, value string }

// secretWatch scans every response as it arrives for the credential
// values the run sent, and keeps what it found, never the responses.
type secretWatch struct {
	mu       sync.Mutex
	secrets  []secret
	scanned  int
	found    int
	findings []string
}

// add registers a value to watch for; call it before the value is sent.
func (w *secretWatch) add(label, value string) {
	if w == nil || value == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.secrets = append(w.secrets, secret{label: label, value: value})
}

// values returns the values watched for.
func (w *secretWatch) values() []string {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, len(w.secrets))
	for i, s := range w.secrets {
		out[i] = s.value
	}
	return out
}

// scan looks for every watched value in the headers and the body of a
// response.
func (w *secretWatch) scan(r *response) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.scanned++
	body, header := r.scanned()
	for _, s := range w.secrets {
		where := ""
		for _, k := range slices.Sorted(maps.Keys(header)) {
			if vs := header[k]; strings.Contains(k, s.value) || slices.ContainsFunc(vs, func(v string) bool { return strings.Contains(v, s.value) }) {
				where = "header " + k
				if r.isGRPC() {
					where = "metadata " + strings.ToLower(k)
				}
				break
			}
		}
		if where == "" && bytes.Contains(body, []byte(s.value)) {
			where = "body"
			if r.isGRPC() {
				where = "message"
			}
		}
		if where == "" {
			continue
		}
		w.found++
		if len(w.findings) < maxSecretFindings {
			w.findings = append(w.findings, fmt.Sprintf("the response to %s (status %s) holds %s in its %s", r.what(), r.statusText(), s.label, where))
		}
	}
}

// report returns how many responses were scanned, how many findings
// there were, and the first maxSecretFindings of them.
func (w *secretWatch) report() (scanned, found int, findings []string) {
	if w == nil {
		return 0, 0, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.scanned, w.found, slices.Clone(w.findings)
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
// A body that is not valid UTF-8 is not JSON (encoding/json would read
// each bad byte as U+FFFD): the error says where the first bad byte is.
func decodeJSON(b []byte) (any, error) {
	if at := invalidUTF8At(b); at >= 0 {
		return nil, fmt.Errorf("body is not JSON: %w at byte %d of %d", errNotUTF8, at, len(b))
	}
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
// trailing slash: http or https for the REST binding, grpc://HOST:PORT or
// grpcs://HOST:PORT (over TLS) for the gRPC binding.
func parseTarget(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("target %q is not a URL: %w", target, err)
	}
	switch u.Scheme {
	case "http", "https":
	case "grpc", "grpcs":
		if u.Host == "" || u.Port() == "" {
			return "", fmt.Errorf("target %q: a gRPC target is %s://HOST:PORT", target, u.Scheme)
		}
		if strings.TrimRight(u.Path, "/") != "" {
			return "", fmt.Errorf("target %q: a gRPC target has no path", target)
		}
	default:
		return "", fmt.Errorf("target %q: scheme must be http or https (REST), or grpc or grpcs (gRPC)", target)
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
