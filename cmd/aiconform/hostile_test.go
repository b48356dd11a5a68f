package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiconform/aiconform/internal/fakeoip"
	"github.com/aiconform/aiconform/internal/testnet"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reports"
	"github.com/aiconform/aiconform/spec"
)

// hostileToken is the bearer token of the runs that authenticate; it must
// never reach a host other than the target.
const hostileToken = "hostile-test-token-5f2c9a"

// hostileTokenEnv is the environment variable that holds hostileToken.
const hostileTokenEnv = "AICONFORM_HOSTILE_TOKEN"

// hostileMaxBody is the body limit (--max-body) of the runs against
// endpoints that send more than it, an eighth of the default: each run
// reads it some 60 times, under -race on two CPUs in CI.
const hostileMaxBody = 2 << 20

// hostileMemoryBound is the most the live heap may grow during a run
// against an endpoint that sends more than the body limit. A body read
// whole would not fit; the bodies of a run read up to the limit and held,
// 60-odd of them, would take twice the bound. The heap in use is only
// reported: it holds garbage until a collection, which the collector
// paces by the live heap of the whole test binary, whatever tests ran
// before.
const hostileMemoryBound = 64 << 20

// statusOnly are the checks that judge a status alone: a 200 with any
// body passes them.
var statusOnly = []string{"api/health-live", "api/health-ready", "api/model-ready"}

// hostileCase is one endpoint that misbehaves, and what a run against it
// must end with.
type hostileCase struct {
	name string
	// start serves the endpoint until the test ends and returns its base
	// URL; after, when not nil, asserts what the endpoint saw once the
	// run is over.
	start func(t *testing.T) (target string, after func(t *testing.T))
	// levels is the profile's levels (default [core]); auth makes the
	// profile send hostileToken as a bearer token.
	levels string
	auth   bool
	// timeout is --timeout; deadline is --deadline; maxBody, when not
	// zero, is --max-body.
	timeout, deadline time.Duration
	maxBody           int64
	// mayPass are the checks that may pass: they judge nothing the
	// endpoint breaks. Every other check fails, errs or is skipped.
	mayPass []string
	// diesMidway is set for an endpoint that answers well and then stops:
	// checks may pass until the first that does not, and none after it.
	diesMidway bool
	// says are what report.json must say about what came back.
	says []string
	// stops is set when the run must give up on the target; mayStop
	// when it may or may not (a body of the body limit read under load
	// may outlast the request timeout).
	stops, mayStop bool
	// memory asserts that the live heap grows by at most
	// hostileMemoryBound during the run; such a case runs alone.
	memory bool
	// serial runs the case alone: it samples the whole process's
	// memory or sets an environment variable.
	serial bool
}

// TestHostileEndpoints runs the whole suite, through the CLI, against
// endpoints that misbehave in every way a network peer can: each run
// ends within its deadline with exit status 1, writes a report.json
// that parses, fails or errs every check the misbehaviour affects with
// evidence of what came back, and keeps its memory bounded.
func TestHostileEndpoints(t *testing.T) {
	profile := runSmallProfile(t, 2)
	// A short timeout for the endpoints that never answer in full, and a
	// longer one where the answers are computed or long (under -race on
	// two CPUs in CI, the cases that do not run alone running at once).
	const timeout, computed, deadline = 500 * time.Millisecond, 3 * time.Second, 15 * time.Second
	tests := []hostileCase{
		{name: "accepts and never answers", start: hostileBlackHole, stops: true,
			says: []string{"no complete response within the request timeout (500ms)"}},
		{name: "stalls mid-headers", start: rawEndpoint(stallMidHeaders), stops: true,
			says: []string{"no complete response within the request timeout (500ms)"}},
		{name: "trickles the body a byte a second", start: rawEndpoint(trickleBody), stops: true,
			says: []string{"reading the response body after", "no complete response within the request timeout (500ms)"}},
		{name: "endless body", start: handlerEndpoint(endlessBody), maxBody: hostileMaxBody, timeout: time.Second, memory: true, serial: true, mayStop: true,
			says: []string{"body over the 2097152-byte limit", "cut off at the 2097152-byte limit"}},
		{name: "gzip bomb", start: handlerEndpoint(gzipBomb), timeout: time.Second, memory: true, serial: true, mayStop: true, mayPass: statusOnly,
			says: []string{`Content-Encoding "gzip"`}},
		{name: "error bodies as long as the body limit", start: handlerEndpoint(hugeErrors), maxBody: hostileMaxBody, timeout: time.Second, memory: true, serial: true, mayStop: true,
			says: []string{"answered 500 with a body over the 2097152-byte limit"}},
		{name: "invalid UTF-8 in JSON strings", start: wrappedFake(invalidUTF8), timeout: computed, mayPass: statusOnly,
			says: []string{"body is not JSON: invalid UTF-8 at byte 12 of"}},
		// OIP-INFER-ID-ECHO judges the id of any JSON body: the
		// Content-Type is OIP-INFER-SCHEMA's to judge.
		{name: "wrong Content-Type", start: wrappedFake(wrongContentType), timeout: computed, mayPass: append(slices.Clone(statusOnly), "api/infer-id-echo"),
			says: []string{`Content-Type "text/plain; charset=utf-8", want application/json`}},
		{name: "redirect loop", start: redirectLoop, auth: true, serial: true,
			says: []string{"answered 307, a redirect, which the suite does not follow"}},
		{name: "redirect to another host", start: redirectAway, auth: true, serial: true,
			says: []string{"answered 307, a redirect, which the suite does not follow"}},
		{name: "resets the connection mid-body", start: rawEndpoint(resetMidBody), stops: true,
			says: []string{"reading the response body after 9 bytes", "reset"}},
		{name: "valid JSON of the wrong shape", start: handlerEndpoint(jsonAnswer(`{"unexpected": [1, 2, 3]}`)), mayPass: statusOnly,
			says: []string{`missing property`}},
		{name: "200 with an error body", start: handlerEndpoint(jsonAnswer(`{"error": "the model exploded"}`)), mayPass: statusOnly,
			says: []string{"answered 200, want 404", `missing property`}},
		{name: "closes right after the headers", start: rawEndpoint(closeAfterHeaders), stops: true,
			says: []string{"reading the response body after 0 bytes: unexpected EOF"}},
		{name: "HTTP/0.9 garbage", start: rawEndpoint(http09Garbage), stops: true,
			says: []string{"malformed HTTP"}},
		{name: "self-signed certificate", start: selfSigned, levels: "[core, safety]", auth: true, serial: true, stops: true,
			says: []string{"certificate", "the suite sends nothing"}},
		{name: "fine for a while and then dies", start: diesAfter(12), timeout: computed, stops: true, diesMidway: true,
			says: []string{"target stopped answering"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.serial {
				t.Parallel()
			}
			if tt.auth {
				t.Setenv(hostileTokenEnv, hostileToken)
			}
			if tt.timeout == 0 {
				tt.timeout = timeout
			}
			if tt.deadline == 0 {
				tt.deadline = deadline
			}
			runHostile(t, tt, hostileProfile(t, profile, tt))
		})
	}
}

// runHostile runs the suite against the case's endpoint and asserts what
// TestHostileEndpoints promises.
func runHostile(t *testing.T, tt hostileCase, profile string) {
	target, after := tt.start(t)
	out := filepath.Join(t.TempDir(), "out")
	var peak func() heapGrowth
	if tt.memory {
		// What every run builds once and keeps (the reference models)
		// is built before the sampling starts.
		if _, err := reference.Builtin(); err != nil {
			t.Fatal(err)
		}
		peak = sampleHeap()
	}
	start := time.Now()
	args := []string{"run", "--target", target, "--out", out, "--profile", profile, "-q",
		"--timeout", tt.timeout.String(), "--deadline", tt.deadline.String()}
	if tt.maxBody > 0 {
		args = append(args, "--max-body", strconv.FormatInt(tt.maxBody, 10))
	}
	code, stdout, stderr := runCLI(t, args...)
	wall := time.Since(start)
	if peak != nil {
		grew := peak()
		t.Logf("the live heap grew by at most %d MiB, the heap in use by %d MiB", grew.live>>20, grew.inUse>>20)
		if grew.live > hostileMemoryBound {
			t.Errorf("the live heap grew by %d MiB, want at most %d MiB", grew.live>>20, hostileMemoryBound>>20)
		}
	}
	t.Logf("the run took %v", wall.Round(time.Millisecond))
	if wall > tt.deadline+2*time.Second {
		t.Errorf("the run took %v, past its deadline of %v", wall, tt.deadline)
	}
	if code != ExitFail {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitFail, stdout, stderr)
	}
	path := filepath.Join(out, reports.JSONFile)
	if _, err := reports.Read(path); err != nil {
		t.Fatalf("report.json does not parse: %v", err)
	}
	rep := runReadReport(t, out)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Checks) == 0 || len(rep.Checks) != rep.Summary.Total {
		t.Fatalf("%d checks, summary %+v", len(rep.Checks), rep.Summary)
	}
	passed, broken := 0, false
	for _, c := range rep.Checks {
		if c.Status == spec.Fail || c.Status == spec.Error {
			broken = true
		}
		if c.Status != spec.Pass {
			continue
		}
		passed++
		if tt.diesMidway && !broken || slices.Contains(tt.mayPass, c.ID) {
			continue
		}
		t.Errorf("%s passed against the endpoint: %s", c.ID, c.Message)
	}
	if tt.diesMidway && passed == 0 {
		t.Errorf("no check passed before the endpoint died")
	}
	if rep.Verdict != spec.VerdictFail {
		t.Errorf("verdict %s, want fail", rep.Verdict)
	}
	// Evidence: every check that failed or erred on what came back
	// holds the exchanges (or, for SEC-TLS, the handshakes) that say so;
	// one that did not run says why.
	for _, c := range rep.Checks {
		if c.Status != spec.Fail && c.Status != spec.Error {
			continue
		}
		if len(c.Evidence.Exchanges) == 0 && c.Evidence.TLS == nil && !strings.HasSuffix(c.Message, "not run") && !strings.Contains(c.Message, "sends nothing") {
			t.Errorf("%s: %s without an exchange: %s", c.ID, c.Status, c.Message)
		}
	}
	for _, s := range tt.says {
		if !bytes.Contains(raw, []byte(jsonText(s))) {
			t.Errorf("report.json does not say %q", s)
		}
	}
	if strings.Contains(rep.Stopped, "deadline") {
		t.Errorf("the run ended only at its deadline: %s", rep.Stopped)
	}
	if stopped := strings.Contains(rep.Stopped, "stopped answering") || strings.Contains(rep.Stopped, "sent nothing"); stopped != tt.stops && !tt.mayStop {
		t.Errorf("report.stopped %q, want the run to give up: %v", rep.Stopped, tt.stops)
	}
	if bytes.Contains(raw, []byte(hostileToken)) {
		t.Errorf("report.json holds the token")
	}
	if after != nil {
		after(t)
	}
	if t.Failed() {
		for _, c := range rep.Checks {
			t.Logf("%s: %s: %s", c.ID, c.Status, c.Message)
		}
	}
}

// jsonText is s as it appears inside a JSON string.
func jsonText(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// hostileProfile writes, beside the small profile, one with the case's
// levels and auth.
func hostileProfile(t *testing.T, small string, tt hostileCase) string {
	t.Helper()
	b, err := os.ReadFile(small)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if tt.levels != "" {
		doc = strings.Replace(doc, "levels: [core]", "levels: "+tt.levels, 1)
	}
	if tt.auth {
		doc += "auth:\n  scheme: bearer\n  tokenEnv: " + hostileTokenEnv + "\n"
	}
	p := filepath.Join(filepath.Dir(small), strings.NewReplacer(" ", "-", "/", "-").Replace(tt.name)+".yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// heapGrowth is by how much the heap grew at its peak during a run.
type heapGrowth struct {
	// live is the live heap as the garbage collections found it: what
	// the run held.
	live uint64
	// inUse is the heap in use, garbage not yet collected included
	// (runtime.MemStats.HeapInuse); the collector lets it grow to about
	// twice the live heap.
	inUse uint64
}

// sampleHeap samples the heap every few milliseconds from now on; the
// function it returns stops sampling and says by how much the heap grew
// at its peak.
func sampleHeap() func() heapGrowth {
	runtime.GC()
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := heapGrowth{live: live[0].Value.Uint64(), inUse: ms.HeapInuse}
	peak := base
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(live)
			runtime.ReadMemStats(&ms)
			peak.live = max(peak.live, live[0].Value.Uint64())
			peak.inUse = max(peak.inUse, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() heapGrowth {
		close(stop)
		<-done
		return heapGrowth{live: peak.live - base.live, inUse: peak.inUse - base.inUse}
	}
}

// hostileBlackHole accepts connections and never answers.
func hostileBlackHole(t *testing.T) (string, func(*testing.T)) {
	return "http://" + testnet.BlackHole(t), nil
}

// rawEndpoint serves each connection with answer after reading one
// request from it (its body included).
func rawEndpoint(answer func(c net.Conn)) func(t *testing.T) (string, func(*testing.T)) {
	return func(t *testing.T) (string, func(*testing.T)) {
		addr := testnet.Serve(t, func(c net.Conn) {
			req, err := http.ReadRequest(bufio.NewReader(c))
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			answer(c)
		})
		return "http://" + addr, nil
	}
}

// holdOpen blocks until the peer closes c (or the test ends).
func holdOpen(c net.Conn) { io.Copy(io.Discard, c) }

// stallMidHeaders sends half a header line and stalls.
func stallMidHeaders(c net.Conn) {
	io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: appl")
	holdOpen(c)
}

// trickleBody sends a body of 64 bytes a byte a second.
func trickleBody(c net.Conn) {
	io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n")
	for range 64 {
		if _, err := c.Write([]byte(" ")); err != nil {
			return
		}
		time.Sleep(time.Second)
	}
}

// resetMidBody sends 9 bytes of a 4096-byte body and resets the
// connection (SO_LINGER 0 makes the close send RST).
func resetMidBody(c net.Conn) {
	io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{\"name\": ")
	time.Sleep(20 * time.Millisecond)
	c.(*net.TCPConn).SetLinger(0)
}

// closeAfterHeaders promises a body and closes the connection.
func closeAfterHeaders(c net.Conn) {
	io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 512\r\n\r\n")
}

// http09Garbage answers with a body and no status line or headers.
func http09Garbage(c net.Conn) {
	io.WriteString(c, "<html>this is no HTTP/1.x response\x00\x01\x02</html>\n")
}

// handlerEndpoint serves h.
func handlerEndpoint(h http.HandlerFunc) func(t *testing.T) (string, func(*testing.T)) {
	return func(t *testing.T) (string, func(*testing.T)) {
		ts := httptest.NewServer(h)
		t.Cleanup(ts.Close)
		return ts.URL, nil
	}
}

// jsonAnswer answers every request 200 with body.
func jsonAnswer(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

// endlessChunk is what endlessBody sends over and over.
var endlessChunk = []byte(strings.Repeat("0,", 32<<10))

// endlessBody answers 200 with a JSON array that never ends.
func endlessBody(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if _, err := io.WriteString(w, "["); err != nil {
		return
	}
	for {
		if _, err := w.Write(endlessChunk); err != nil {
			return
		}
	}
}

// hugeErrors answers 500 with a Python traceback and then more text than
// the body limit (hostileMaxBody) lets the suite read.
func hugeErrors(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	if _, err := io.WriteString(w, `{"error": "Traceback (most recent call last):`); err != nil {
		return
	}
	for range (hostileMaxBody + len(endlessChunk)) / len(endlessChunk) {
		if _, err := w.Write(endlessChunk); err != nil {
			return
		}
	}
}

// Sizes of the gzip bomb: bombMembers gzip members of bombMember zero
// bytes each, 2 GiB in all, sent as about 2 MiB. Any deflate bomb has
// that ratio (about 1000 to 1); a larger one only takes longer to send,
// and every run sends it some 60 times, under -race on two CPUs in CI.
const (
	bombMember  = 1 << 20
	bombMembers = 2 << 10
)

// bombBlock is the block of 64 members the bomb is written in.
var bombBlock = sync.OnceValue(func() []byte { return bytes.Repeat(bombMemberBytes(), 64) })

// bombMemberBytes is one member of the bomb, compressed once.
var bombMemberBytes = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		panic(err)
	}
	zw.Write(make([]byte, bombMember))
	zw.Close()
	return b.Bytes()
})

// gzipBomb answers 200 with Content-Encoding gzip and a body that
// decompresses to 2 GiB of zeros, whatever the request accepts. The
// body is the same member written again and again, never held whole.
func gzipBomb(w http.ResponseWriter, r *http.Request) {
	block := bombBlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Set("Content-Length", strconv.Itoa(len(block)*bombMembers/64))
	for range bombMembers / 64 {
		if _, err := w.Write(block); err != nil {
			return
		}
	}
}

// fakeServer serves the fake of internal/fakeoip, through wrap: a
// stand-in for seed-cnn with its tensor contract (its numbers are not the
// reference's) that answers at once, where the reference server would
// compute each answer, slowly under -race.
func fakeServer(t *testing.T, wrap func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(wrap((&fakeoip.Server{}).Handler()))
	t.Cleanup(ts.Close)
	return ts
}

// wrappedFake serves the fake with every response passed through edit,
// which may change its headers and body.
func wrappedFake(edit func(h http.Header, body []byte) []byte) func(t *testing.T) (string, func(*testing.T)) {
	return func(t *testing.T) (string, func(*testing.T)) {
		ts := fakeServer(t, func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, r)
				body := edit(rec.Header(), rec.Body.Bytes())
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.WriteHeader(rec.Code)
				w.Write(body)
			})
		})
		return ts.URL, nil
	}
}

// invalidUTF8 puts a string that is not UTF-8 (Latin-1 "café") at the
// start of every JSON object body: a lenient decoder reads it as "caf�".
func invalidUTF8(h http.Header, body []byte) []byte {
	if !bytes.HasPrefix(body, []byte("{")) {
		return body
	}
	note := []byte("\"note\":\"caf\xe9\",")
	if hl := h.Get("Inference-Header-Content-Length"); hl != "" {
		n, err := strconv.Atoi(hl)
		if err == nil {
			h.Set("Inference-Header-Content-Length", strconv.Itoa(n+len(note)))
		}
	}
	return slices.Concat(body[:1], note, body[1:])
}

// wrongContentType labels every answer text/plain.
func wrongContentType(h http.Header, body []byte) []byte {
	h.Set("Content-Type", "text/plain; charset=utf-8")
	return body
}

// redirectLoop redirects every request to itself.
func redirectLoop(t *testing.T) (string, func(*testing.T)) {
	return handlerEndpoint(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})(t)
}

// redirectAway redirects every request, method and body kept (307), to
// the same path on another host that serves the fake; the other host must
// see no request, and so never the token.
func redirectAway(t *testing.T) (string, func(*testing.T)) {
	var got, withToken atomic.Int64
	other := fakeServer(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got.Add(1)
			if strings.Contains(r.Header.Get("Authorization"), hostileToken) {
				withToken.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	})
	target, _ := handlerEndpoint(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	})(t)
	return target, func(t *testing.T) {
		if got.Load() != 0 || withToken.Load() != 0 {
			t.Errorf("the host redirected to got %d requests, %d of them with the token; want none", got.Load(), withToken.Load())
		}
	}
}

// selfSigned serves over https with a certificate no trusted root issued;
// it must see no request.
func selfSigned(t *testing.T) (string, func(*testing.T)) {
	var got atomic.Int64
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		http.Error(w, "unreachable", http.StatusInternalServerError)
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes that fail
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts.URL, func(t *testing.T) {
		if got.Load() != 0 {
			t.Errorf("the untrusted target got %d requests, want none", got.Load())
		}
	}
}

// diesAfter serves the fake for n requests; then it stops listening and
// closes every connection without an answer.
func diesAfter(n int64) func(t *testing.T) (string, func(*testing.T)) {
	return func(t *testing.T) (string, func(*testing.T)) {
		var served atomic.Int64
		var ts *httptest.Server
		var die sync.Once
		ts = fakeServer(t, func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if served.Add(1) <= n {
					next.ServeHTTP(w, r)
					return
				}
				die.Do(func() { ts.Listener.Close() })
				if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
					c.Close()
				}
			})
		})
		return ts.URL, func(t *testing.T) {
			if served.Load() <= n {
				t.Errorf("the endpoint served %d requests and never died", served.Load())
			}
		}
	}
}

// TestHostileGzipBomb: the bomb decompresses to what it claims.
func TestHostileGzipBomb(t *testing.T) {
	zr, err := gzip.NewReader(io.MultiReader(bytes.NewReader(bombMemberBytes()), bytes.NewReader(bombMemberBytes())))
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, zr)
	if err != nil || n != 2*bombMember {
		t.Fatalf("two members decompress to %d bytes (%v), want %d", n, err, 2*bombMember)
	}
	if total := len(bombMemberBytes()) * bombMembers; total > 3<<20 {
		t.Errorf("the bomb is %d bytes compressed, want about 2 MiB", total)
	}
}

// TestRunMaxBodyFlag: --max-body must be a positive number of bytes.
func TestRunMaxBodyFlag(t *testing.T) {
	for _, v := range []string{"0", "-1"} {
		code, _, stderr := runCLI(t, "run", "--target", "http://127.0.0.1:1", "--max-body", v)
		if code != ExitUsage || !strings.Contains(stderr, "--max-body is "+v+", want a positive number of bytes") {
			t.Errorf("--max-body %s: exit %d, stderr %q", v, code, stderr)
		}
	}
}
