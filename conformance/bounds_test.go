package conformance

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/internal/fakeoip"
	"github.com/aiconform/aiconform/internal/testnet"
	"github.com/aiconform/aiconform/spec"
)

// boundsClient is a client of the run's kind for url, with hc when it is
// not nil (as Options.HTTPClient) and the given request timeout.
func boundsClient(url string, hc *http.Client, timeout time.Duration) *client {
	return &client{base: url, hc: httpClient(hc, nil, timeout), timeout: timeout, maxBody: DefaultMaxBodyBytes,
		now: time.Now, maxStrikes: DefaultMaxStrikes}
}

// TestHTTPClient: the client a run builds reads bodies as they come,
// bounds the headers, gives the TLS handshake the request timeout and
// follows no redirect; a caller's client is copied, never changed, and
// the copy follows no redirect either.
func TestHTTPClient(t *testing.T) {
	own := httpClient(nil, nil, 7*time.Second)
	tr, ok := own.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport %T, want *http.Transport", own.Transport)
	}
	if !tr.DisableCompression || tr.MaxResponseHeaderBytes != MaxResponseHeaderBytes || tr.TLSHandshakeTimeout != 7*time.Second {
		t.Errorf("transport: compression disabled %v, header limit %d, TLS handshake timeout %v; want true, %d, 7s",
			tr.DisableCompression, tr.MaxResponseHeaderBytes, tr.TLSHandshakeTimeout, MaxResponseHeaderBytes)
	}
	given := &http.Client{Timeout: time.Minute}
	hc := httpClient(given, nil, time.Second)
	if hc == given || given.CheckRedirect != nil || hc.Timeout != time.Minute {
		t.Errorf("the caller's client was changed (%v) or not copied (%v, timeout %v)", given.CheckRedirect != nil, hc == given, hc.Timeout)
	}
	for name, c := range map[string]*http.Client{"own": own, "given": hc} {
		if c.CheckRedirect == nil || !errors.Is(c.CheckRedirect(nil, nil), http.ErrUseLastResponse) {
			t.Errorf("%s client: follows redirects", name)
		}
	}
}

// TestRunDoesNotFollowRedirects runs against a target that redirects
// every request (307: method and body kept) to another host, with the
// run's own client and with a caller's: the run judges the 3xx, and the
// other host sees no request, so never the credential.
func TestRunDoesNotFollowRedirects(t *testing.T) {
	p, err := ParseProfile("auth.yaml", []byte(strings.Replace(fakeProfileYAML, "scheme: none", "scheme: bearer\n  tokenEnv: FAKE_TOKEN", 1)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		hc   *http.Client
	}{
		{"the run's client", nil},
		{"a caller's client", &http.Client{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got, withToken atomic.Int64
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got.Add(1)
				if strings.Contains(r.Header.Get("Authorization"), securityToken) {
					withToken.Add(1)
				}
				(&fakeoip.Server{Token: securityToken}).Handler().ServeHTTP(w, r)
			}))
			defer other.Close()
			target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			}))
			defer target.Close()
			rep, err := Run(context.Background(), Options{Target: target.URL, Profile: p, Goldens: fakeoip.Goldens(t, 1), Getenv: securityGetenv,
				HTTPClient: tt.hc, RequestTimeout: 2 * time.Second, Oracle: fakeoip.Oracle{}})
			if err != nil {
				t.Fatal(err)
			}
			if got.Load() != 0 {
				t.Errorf("the host redirected to got %d requests (%d with the token), want none", got.Load(), withToken.Load())
			}
			if r := result(t, rep, "api/health-live"); r.Status != spec.Fail || !strings.Contains(r.Message, "answered 307, a redirect, which the suite does not follow") {
				t.Errorf("health-live: %s: %s", r.Status, r.Message)
			}
			for _, r := range rep.Checks {
				if r.Status == spec.Pass {
					t.Errorf("%s passed: %s", r.ID, r.Message)
				}
			}
			if tt.hc != nil && tt.hc.CheckRedirect != nil {
				t.Errorf("the caller's client was changed")
			}
		})
	}
}

// TestClientAsksForIdentity: every request asks for the body as it is
// (Accept-Encoding: identity), with the run's client and with a caller's
// whose transport would otherwise ask for gzip and inflate it; a gzip
// answer is read as it came, and the document checks say why it fails.
func TestClientAsksForIdentity(t *testing.T) {
	var doc bytes.Buffer
	zw := gzip.NewWriter(&doc)
	io.WriteString(zw, `{"name":"fake","version":"1","extensions":[]}`)
	zw.Close()
	var accept atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accept.Store(r.Header.Get("Accept-Encoding"))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(doc.Bytes())
	}))
	defer srv.Close()
	for name, hc := range map[string]*http.Client{"the run's client": nil, "a caller's client": {Transport: http.DefaultTransport.(*http.Transport).Clone()}} {
		t.Run(name, func(t *testing.T) {
			resp := boundsClient(srv.URL, hc, 5*time.Second).get(context.Background(), "/v2")
			if resp.err != nil {
				t.Fatal(resp.err)
			}
			if a := accept.Load(); a != "identity" {
				t.Errorf("Accept-Encoding %q, want identity", a)
			}
			if !bytes.Equal(resp.body, doc.Bytes()) {
				t.Errorf("the body was changed on the way: %q", resp.body)
			}
			var r recorder
			if _, ok := r.expectDocument(resp, "oip-server-metadata"); ok || !strings.Contains(strings.Join(r.failures, "; "), `answered Content-Encoding "gzip", which the suite did not ask for`) {
				t.Errorf("judged %v: %v", ok, r.failures)
			}
		})
	}
}

// endlessHeader reads one request from c and answers with a header line
// that never ends.
func endlessHeader(c net.Conn) {
	if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
		return
	}
	io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Endless: ")
	line := bytes.Repeat([]byte("a"), 64<<10)
	for {
		if _, err := c.Write(line); err != nil {
			return
		}
	}
}

// TestClientHeaderLimit: a response whose headers never end is cut off
// at MaxResponseHeaderBytes, for an ordinary request and for a streamed
// one (which reads its response itself), well before the request
// timeout.
func TestClientHeaderLimit(t *testing.T) {
	addr := testnet.Serve(t, endlessHeader)
	c := boundsClient("http://"+addr, nil, 20*time.Second)
	tests := []struct {
		name string
		send func() *response
	}{
		{"ordinary", func() *response { return c.get(context.Background(), "/v2") }},
		{"streamed", func() *response {
			return c.postStream(context.Background(), "/v2/models/m/infer", []byte("{"), strings.NewReader("{}"), 2)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			resp := tt.send()
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			if resp.err == nil || !strings.Contains(resp.err.Error(), "1048576 bytes") && !strings.Contains(resp.err.Error(), "1048576-byte") {
				t.Errorf("err %v, want the %d-byte header limit", resp.err, MaxResponseHeaderBytes)
			}
		})
	}
}

// TestClientStrikesOnCutShortResponses: a response whose body does not
// arrive in full is a strike, as no response is: a target that sends its
// headers and then drops or trickles the body stops the run.
func TestClientStrikesOnCutShortResponses(t *testing.T) {
	headers := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
	tests := []struct {
		name    string
		answer  func(c net.Conn)
		timeout time.Duration
	}{
		{"closed after the headers", func(c net.Conn) { io.WriteString(c, headers) }, 5 * time.Second},
		{"trickled past the timeout", func(c net.Conn) {
			io.WriteString(c, headers+"{")
			io.Copy(io.Discard, c)
		}, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := testnet.Serve(t, func(c net.Conn) {
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					tt.answer(c)
				}
			})
			c := boundsClient("http://"+addr, nil, tt.timeout)
			for i := range DefaultMaxStrikes {
				if c.hasStopped() {
					t.Fatalf("stopped after %d requests", i)
				}
				if r := c.get(context.Background(), "/v2"); r.status != 200 || r.err == nil {
					t.Fatalf("status %d, err %v; want 200 cut short", r.status, r.err)
				}
			}
			if !c.hasStopped() {
				t.Errorf("%d responses cut short in a row did not stop the run", DefaultMaxStrikes)
			}
		})
	}
}

// TestClientDropsOverLimitBodies: the body of a response over the limit
// is scanned, quoted and dropped; what is said about it stays.
func TestClientDropsOverLimitBodies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "Traceback (most recent call last)"+strings.Repeat(" ", 4096))
	}))
	defer srv.Close()
	c := boundsClient(srv.URL, nil, 5*time.Second)
	c.maxBody = 1024
	r := c.get(context.Background(), "/v2")
	if !r.overLimit || r.body != nil {
		t.Errorf("over the limit %v, %d bytes kept; want over the limit and none kept", r.overLimit, len(r.body))
	}
	if !strings.Contains(r.outcome(), "answered 500 with a body over the 1024-byte limit") || r.ex.ResponseBytes.Value != 1024 ||
		!strings.HasPrefix(r.ex.ResponseExcerpt, "Traceback") {
		t.Errorf("outcome %q, %v bytes, excerpt %q", r.outcome(), r.ex.ResponseBytes.Value, r.ex.ResponseExcerpt)
	}
	if scanned, leaks, _ := c.hygieneFindings(); scanned != 1 || len(leaks) != 1 {
		t.Errorf("the hygiene scan saw %d responses, %d leaks; want 1 and the traceback", scanned, len(leaks))
	}
}

// endless is an endless stream of 'x'.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// TestReadBody: a body is read into a buffer of its declared length, or
// one that doubles, up to the limit and a byte.
func TestReadBody(t *testing.T) {
	const limit = 4 << 20
	tests := []struct {
		name     string
		body     io.Reader
		declared int64
		wantLen  int
		maxCap   int
	}{
		{"declared", strings.NewReader(strings.Repeat("x", 100000)), 100000, 100000, 100001},
		{"undeclared", strings.NewReader(strings.Repeat("x", 100000)), -1, 100000, 2 * 100000},
		{"declared too long", strings.NewReader("xyz"), 1 << 30, 3, limit + 1},
		{"endless", endless{}, -1, limit + 1, limit + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := readBody(tt.body, limit, tt.declared)
			if err != nil || len(b) != tt.wantLen || cap(b) > tt.maxCap {
				t.Errorf("read %d bytes into %d (%v), want %d into at most %d", len(b), cap(b), err, tt.wantLen, tt.maxCap)
			}
		})
	}
	t.Run("allocations", func(t *testing.T) {
		// Doubling from 512 bytes to 1 MiB takes 12 buffers; growing
		// by a quarter, as append does, would take 30 more.
		body := strings.Repeat("x", 1<<20-1)
		n := testing.AllocsPerRun(5, func() { readBody(strings.NewReader(body), limit, -1) })
		if n > 16 {
			t.Errorf("reading a 1 MiB body took %v allocations, want the buffer to double", n)
		}
	})
}

// TestExcerptCopiesItsStartOnly: quoting a body as long as the body limit
// copies little more than the quote, and a credential that starts in the
// quote is redacted whole even where many before it shortened the text.
func TestExcerptCopiesItsStartOnly(t *testing.T) {
	const tok = "a-long-credential-value-0123456789"
	c := &client{token: tok}
	body := bytes.Repeat([]byte("x"), DefaultMaxBodyBytes)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got := c.excerpt(body, ExcerptLimit, DefaultMaxBodyBytes)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("quoting a %d-byte body allocated %d bytes", len(body), alloc)
	}
	if !strings.HasSuffix(got, "[cut off at the 16777216-byte limit]") || len(got) > ExcerptLimit {
		t.Errorf("excerpt of %d bytes ends %q", len(got), got[max(0, len(got)-40):])
	}
	// 60 credentials shorten the text by far more than the quote's
	// length; the one at the end of the quote still goes whole.
	many := strings.Repeat(tok, 60)
	for limit := 600; limit < 700; limit++ {
		got := c.excerpt([]byte(many+"y"+tok+"z"), limit, 0)
		if strings.Contains(strings.ReplaceAll(got, "[redacted]", ""), tok[:4]) {
			t.Fatalf("limit %d: excerpt %q shows part of the credential", limit, got)
		}
	}
}

// TestDecodeJSONInvalidUTF8: a body that is not UTF-8 is not JSON, and
// the error says where; a body a lenient decoder reads is still examined
// for what it reveals.
func TestDecodeJSONInvalidUTF8(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string // "" for no error
	}{
		{"valid", `{"name":"caf` + "\u00e9" + `"}`, ""},
		{"Latin-1", "{\"name\":\"caf\xe9\"}", "body is not JSON: invalid UTF-8 at byte 12 of 15"},
		{"a lone continuation byte", "[\"\x80\"]", "invalid UTF-8 at byte 2 of 5"},
		{"a truncated sequence", "[\"\xe2\x82\"]", "invalid UTF-8 at byte 2 of 6"},
		{"a surrogate", "[\"\xed\xa0\x80\"]", "invalid UTF-8 at byte 2 of 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeJSON([]byte(tt.body))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("err %v", err)
			case tt.want != "" && (err == nil || !errors.Is(err, errNotUTF8) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err %v, want …%s…", err, tt.want)
			}
		})
	}
	if got := revealed([]byte("{\"name\":\"caf\xe9\"}")); len(got) != 1 || got[0] != "name" {
		t.Errorf("revealed %v, want [name]", got)
	}
}

// bodyBinding answers every inference request with a body of its own of
// bodyBytes bytes that is not JSON, and records how many such bodies at
// most were still held (live after a collection) when one was asked for.
type bodyBinding struct {
	binding
	base     uint64
	mu       sync.Mutex
	maxHeld  uint64
	answered int
}

const bodyBytes = 4 << 20

func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func (b *bodyBinding) infer(context.Context, string, string, inferRequest) *response {
	b.mu.Lock()
	defer b.mu.Unlock()
	if live := liveHeap(); live > b.base {
		b.maxHeld = max(b.maxHeld, (live-b.base+bodyBytes/2)/bodyBytes)
	}
	b.answered++
	body := make([]byte, bodyBytes) // zeros: not JSON
	return &response{ex: Exchange{Method: http.MethodPost, Path: "/infer", StatusCode: 200, ContentType: "application/json"},
		status: 200, header: http.Header{"Content-Type": {"application/json"}}, body: body}
}

// TestDeterminismHoldsFewBodies: NUM-DETERMINISM judges each answer sent
// in sequence before it sends the next, so that it holds at most the
// bodies of the answers sent at once, never all of them.
func TestDeterminismHoldsFewBodies(t *testing.T) {
	models, _, err := loadModels(fakeProfile(t), fakeoip.Goldens(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	b := &bodyBinding{base: liveHeap()}
	e := &env{b: b, c: &client{now: time.Now}, models: models, seed: 1, results: map[string]Result{}}
	res := checkDeterminism(context.Background(), e)
	if res.Status != spec.Fail || b.answered != repeatsInSequence+repeatsAtOnce {
		t.Fatalf("%s after %d answers: %s", res.Status, b.answered, res.Message)
	}
	t.Logf("at most %d bodies held", b.maxHeld)
	if b.maxHeld > repeatsAtOnce {
		t.Errorf("%d bodies were held at once, want at most the %d sent at once", b.maxHeld, repeatsAtOnce)
	}
}

// TestHygieneScanIsBounded: SAFE-ERROR-HYGIENE scans an error body as it
// is, without a copy of it, for the credentials in all of it and for the
// patterns in its first leakScanBytes, however long it is.
func TestHygieneScanIsBounded(t *testing.T) {
	body := slices.Concat([]byte("panic: runtime error"), bytes.Repeat([]byte("x"), 4<<20),
		[]byte("Traceback (most recent call last)"), bytes.Repeat([]byte("x"), 4<<20), []byte("tok3n"))
	r := &response{ex: Exchange{Method: http.MethodGet, Path: "/v2", StatusCode: 500}, status: 500, body: body}
	var h hygieneScan
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	h.scan(r, []string{"tok3n"})
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("scanning a %d-byte body allocated %d bytes", len(body), alloc)
	}
	var found []string
	for _, l := range h.leaks {
		found = append(found, l.what)
	}
	if !slices.Equal(found, []string{"a credential the suite sent", "a panic"}) {
		t.Errorf("leaks %v, want the credential at the end and the panic at the start, not the traceback past %d bytes", found, leakScanBytes)
	}
	t.Logf("scanned %d bytes in %v", len(body), took)
}

// TestLeakPatternNeedles: each pattern still finds what it is for
// through its literals, and a body without them costs next to nothing to
// scan however often it comes.
func TestLeakPatternNeedles(t *testing.T) {
	tests := []struct{ text, what string }{
		{"at /srv/app/main.go:42 in handler", "a source file location"},
		{`File "server.py", line 7, in infer`, "a source file location"},
		{"Infer.java:12", "a source file location"},
		{"src/lib.rs:9", "a source file location"},
		{"\tat com.example.Infer.run(Infer.java)", "a stack frame"},
		{"open /etc/models/cnn.onnx: no such file", "a file-system path"},
		{`cannot read C:\models\cnn.onnx`, "a Windows path"},
	}
	for _, tt := range tests {
		var h hygieneScan
		h.scan(&response{status: 500, body: []byte(tt.text)}, nil)
		if !slices.ContainsFunc(h.leaks, func(l leak) bool { return l.what == tt.what }) {
			t.Errorf("%q: leaks %v, want %s", tt.text, h.leaks, tt.what)
		}
	}
	filler := bytes.Repeat([]byte("0,"), leakScanBytes/2)
	start := time.Now()
	var h hygieneScan
	for range 100 {
		h.scan(&response{status: 500, body: filler}, nil)
	}
	if d := time.Since(start); d > 500*time.Millisecond || len(h.leaks) != 0 {
		t.Errorf("scanning 100 bodies of %d bytes without a leak took %v and found %v", len(filler), d, h.leaks)
	}
}

// TestInferenceLoadBodyLimit: the load of the performance checks reads
// its answers within the run's body limit.
func TestInferenceLoadBodyLimit(t *testing.T) {
	srv := httptest.NewServer((&fakeoip.Server{}).Handler())
	defer srv.Close()
	model := ModelRef{Name: fakeoip.Model, Version: fakeoip.Version, Reference: fakeoip.Model, ReferenceVersion: fakeoip.Version}
	tests := []struct {
		limit int64
		want  string // "" for a query that succeeds
	}{
		{0, ""},
		{64, "response body over 64 bytes"},
	}
	for _, tt := range tests {
		tgt, err := NewInferenceTarget(InferenceLoad{Target: srv.URL, Model: model, MaxBodyBytes: tt.limit})
		if err != nil {
			t.Fatal(err)
		}
		err = tgt.Hit(context.Background(), load.Query{Seq: 1})
		tgt.Close()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("limit %d: %v, want %q", tt.limit, err, tt.want)
		}
	}
	if _, err := NewInferenceTarget(InferenceLoad{Target: srv.URL, Model: model, MaxBodyBytes: -1}); err == nil {
		t.Error("a negative body limit was accepted")
	}
}

// TestBoundsAreDocumented: the table of spec/v1/api.md, Bounds of a run,
// gives each bound the value this build has.
func TestBoundsAreDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "spec", "v1", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Bounds of a run\n")
	if !ok {
		t.Fatal("api.md has no section Bounds of a run")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	row := func(name string) string {
		for _, l := range strings.Split(section, "\n") {
			if strings.HasPrefix(l, "| "+name) {
				return l
			}
		}
		t.Errorf("no row %q", name)
		return ""
	}
	if maxSecretFindings != maxErrorFormatFindings || maxLeaks != maxErrorFormatFindings {
		t.Errorf("findings kept: %d, %d and %d; the table gives one number", maxErrorFormatFindings, maxSecretFindings, maxLeaks)
	}
	for _, w := range []struct{ row, value string }{
		{"Request timeout", fmt.Sprintf("| %g s |", DefaultRequestTimeout.Seconds())},
		{"Strikes", fmt.Sprintf("| %d |", DefaultMaxStrikes)},
		{"Response body", fmt.Sprintf("| %d MiB (%d bytes) | `aiconform run --max-body` |", DefaultMaxBodyBytes>>20, DefaultMaxBodyBytes)},
		{"Response headers", fmt.Sprintf("| %d MiB (%d bytes) |", MaxResponseHeaderBytes>>20, MaxResponseHeaderBytes)},
		{"Response excerpt", fmt.Sprintf("| %d bytes |", ExcerptLimit)},
		{"Request excerpt", fmt.Sprintf("| %d bytes |", requestExcerptLimit)},
		{"Error-hygiene scan", fmt.Sprintf("| %d KiB (%d bytes) |", leakScanBytes>>10, leakScanBytes)},
		{"Findings kept", fmt.Sprintf("| %d each |", maxErrorFormatFindings)},
		{"gRPC call", "| the request timeout | as the request timeout |"},
		{"gRPC message", fmt.Sprintf("| the response body limit, %d MiB (%d bytes) | `aiconform run --max-body` |", DefaultMaxBodyBytes>>20, DefaultMaxBodyBytes)},
		{"gRPC metadata", fmt.Sprintf("| %d MiB (%d bytes) | fixed |", MaxResponseHeaderBytes>>20, MaxResponseHeaderBytes)},
		{"gRPC reconnection", fmt.Sprintf("| %g s, growing to %g s | fixed |", grpcBackoffBase.Seconds(), grpcBackoffMax.Seconds())},
	} {
		if r := row(w.row); r != "" && !strings.Contains(r, w.value) {
			t.Errorf("row %q does not give %q:\n%s", w.row, w.value, r)
		}
	}
	for _, w := range []string{
		fmt.Sprintf("at most %d\nrequests in flight", repeatsAtOnce),
		fmt.Sprintf("at most %d\nconnections", load.DefaultMaxConnections),
	} {
		if !strings.Contains(strings.Join(strings.Fields(section), " "), strings.Join(strings.Fields(w), " ")) {
			t.Errorf("the section does not say %q", w)
		}
	}
}
