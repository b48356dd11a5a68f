package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiconform/aiconform/internal/testpki"
)

// serveTestBuffer is a bytes.Buffer safe for a running server's writes.
type serveTestBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *serveTestBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *serveTestBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listeningRE = regexp.MustCompile(`listening on (https?://\S+)`)

// runningServe is `aiconform serve` running in-process for a test.
type runningServe struct {
	base     string // http://ADDR, as serve printed it
	out, err *serveTestBuffer
	cancel   context.CancelFunc
	done     chan int
}

// startServe runs `aiconform serve --addr 127.0.0.1:0 ARGS...` and waits
// until it prints the address it listens on.
func startServe(t *testing.T, args ...string) *runningServe {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &runningServe{out: &serveTestBuffer{}, err: &serveTestBuffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() {
		s.done <- Main(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), Streams{In: strings.NewReader(""), Out: s.out, Err: s.err})
	}()
	for deadline := time.Now().Add(20 * time.Second); s.base == ""; time.Sleep(10 * time.Millisecond) {
		if m := listeningRE.FindStringSubmatch(s.out.String()); m != nil {
			s.base = m[1]
		}
		select {
		case code := <-s.done:
			t.Fatalf("serve exited %d before listening; stderr:\n%s", code, s.err.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not print its address; stdout:\n%s", s.out.String())
		}
	}
	return s
}

// stop cancels serve's context, which is what SIGINT or SIGTERM does to
// Main's, and fails the test unless serve exits 0 within 15 s.
func (s *runningServe) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case code := <-s.done:
		if code != ExitOK {
			t.Errorf("serve exited %d after shutdown, want 0; stderr:\n%s", code, s.err.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop after its context was cancelled")
	}
}

func TestServeCommand(t *testing.T) {
	srv := startServe(t, "--max-body-bytes", "4096")
	base, out, errOut := srv.base, srv.out, srv.err
	if !strings.Contains(out.String(), "seed-cnn: versions fp32 (default), fp64") {
		t.Errorf("stdout does not list seed-cnn's versions:\n%s", out.String())
	}

	resp, err := http.Get(base + "/v2/models/seed-cnn")
	if err != nil {
		t.Fatalf("GET model metadata: %v", err)
	}
	var meta struct {
		Name   string
		Inputs []struct {
			Name     string
			Datatype string
			Shape    []int64
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || meta.Name != "seed-cnn" || len(meta.Inputs) != 1 ||
		meta.Inputs[0].Datatype != "FP32" || !slices.Equal(meta.Inputs[0].Shape, []int64{-1, 1, 28, 28}) {
		t.Errorf("model metadata = %d %+v (%v)", resp.StatusCode, meta, err)
	}

	// --max-body-bytes reaches the server.
	resp, err = http.Post(base+"/v2/models/seed-cnn/infer", "application/json", strings.NewReader(`{"inputs":[],"pad":"`+strings.Repeat("a", 5000)+`"}`))
	if err != nil {
		t.Fatalf("POST oversize: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "4096 bytes") {
		t.Errorf("oversize infer = %d %s, want 413 naming the limit", resp.StatusCode, b)
	}
	if !strings.Contains(errOut.String(), "status=413") {
		t.Errorf("stderr has no access log line for the 413:\n%s", errOut.String())
	}

	srv.stop(t)
	if !strings.Contains(out.String(), "server stopped") {
		t.Errorf("stdout does not report the stop:\n%s", out.String())
	}
}

func TestServeCommandErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, certFile, keyFile := writePKI(t)
	_, _, otherKeyFile := writePKI(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"address in use", []string{"serve", "--addr", taken.Addr().String()}, ExitUsage, taken.Addr().String()},
		{"malformed address", []string{"serve", "--addr", "not-an-address"}, ExitUsage, "not-an-address"},
		{"empty address", []string{"serve", "--addr", ""}, ExitUsage, "--addr"},
		{"zero body limit", []string{"serve", "--addr", "127.0.0.1:0", "--max-body-bytes", "0"}, ExitUsage, "--max-body-bytes"},
		{"bad body limit", []string{"serve", "--max-body-bytes", "lots"}, ExitUsage, "lots"},
		{"zero timeout", []string{"serve", "--addr", "127.0.0.1:0", "--request-timeout", "0s"}, ExitUsage, "--request-timeout is 0s"},
		{"bad timeout", []string{"serve", "--request-timeout", "soon"}, ExitUsage, "soon"},
		{"zero concurrency", []string{"serve", "--addr", "127.0.0.1:0", "--max-concurrent", "0"}, ExitUsage, "--max-concurrent is 0"},
		{"unset token variable", []string{"serve", "--addr", "127.0.0.1:0", "--auth-token-env", "AICONFORM_TEST_UNSET_TOKEN"}, ExitUsage, "AICONFORM_TEST_UNSET_TOKEN is unset or empty"},
		{"empty token variable", []string{"serve", "--addr", "127.0.0.1:0", "--auth-token-env", "AICONFORM_TEST_EMPTY_TOKEN"}, ExitUsage, "AICONFORM_TEST_EMPTY_TOKEN is unset or empty"},
		{"token with a space", []string{"serve", "--addr", "127.0.0.1:0", "--auth-token-env", "AICONFORM_TEST_SPACED_TOKEN"}, ExitUsage, "not a usable bearer token"},
		{"stray argument", []string{"serve", "extra"}, ExitUsage, "extra"},
		{"certificate without key", []string{"serve", "--addr", "127.0.0.1:0", "--tls-cert", "cert.pem"}, ExitUsage, "--tls-cert and --tls-key go together"},
		{"key without certificate", []string{"serve", "--addr", "127.0.0.1:0", "--tls-key", "key.pem"}, ExitUsage, "--tls-cert and --tls-key go together"},
		{"missing certificate", []string{"serve", "--addr", "127.0.0.1:0", "--tls-cert", missing, "--tls-key", keyFile}, ExitUsage, missing},
		{"missing key", []string{"serve", "--addr", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", missing}, ExitUsage, missing},
		{"certificate not PEM", []string{"serve", "--addr", "127.0.0.1:0", "--tls-cert", keyFile, "--tls-key", keyFile}, ExitUsage, "the certificate " + keyFile},
		{"key of another certificate", []string{"serve", "--addr", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", otherKeyFile}, ExitUsage, "the private key " + otherKeyFile},
		{"TLS fault without TLS", []string{"serve", "--addr", "127.0.0.1:0", "--fault", "expired-certificate"}, ExitUsage, "--fault expired-certificate needs --tls-cert"},
		{"zero grace", []string{"serve", "--addr", "127.0.0.1:0", "--grace", "0s"}, ExitUsage, "--grace is 0s"},
		{"bad memory limit", []string{"serve", "--addr", "127.0.0.1:0", "--memory-limit", "512MB"}, ExitUsage, "--memory-limit"},
		{"debug address in use", []string{"serve", "--addr", "127.0.0.1:0", "--debug-addr", taken.Addr().String()}, ExitUsage, "--debug-addr"},
	}
	t.Setenv("AICONFORM_TEST_EMPTY_TOKEN", "")
	t.Setenv("AICONFORM_TEST_SPACED_TOKEN", "s3cr3t value")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			code := Main(ctx, tt.args, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.contains) {
				t.Errorf("stderr does not mention %q:\n%s", tt.contains, errOut.String())
			}
			if strings.Contains(out.String(), "listening on") {
				t.Errorf("stdout claims to listen:\n%s", out.String())
			}
			if strings.Contains(errOut.String(), "s3cr3t") {
				t.Errorf("stderr shows the token:\n%s", errOut.String())
			}
		})
	}
}

// writePKI writes a test CA and a server certificate for 127.0.0.1 and
// its key to a temporary directory and returns the three files.
func writePKI(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	p, err := testpki.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for f, b := range map[string][]byte{caFile: p.CAPEM, certFile: p.CertPEM, keyFile: p.KeyPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}

func TestServeCommandAuthAndLimits(t *testing.T) {
	const token = "serve-test-token-5c1f0e9d8b7a6"
	t.Setenv("AICONFORM_TEST_TOKEN", token)
	srv := startServe(t, "--auth-token-env", "AICONFORM_TEST_TOKEN", "--request-timeout", "7s", "--max-concurrent", "3")
	base, out, errOut := srv.base, srv.out, srv.err
	for _, want := range []string{"request timeout 7s, at most 3 inferences at once", "bearer token from $AICONFORM_TEST_TOKEN required"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout does not say %q:\n%s", want, out.String())
		}
	}
	get := func(path, auth string) (int, http.Header) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	if code, _ := get("/v2/health/ready", ""); code != http.StatusOK {
		t.Errorf("health without a token = %d, want 200", code)
	}
	if code, h := get("/v2/models/seed-cnn", ""); code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("metadata without a token = %d (WWW-Authenticate %q), want 401", code, h.Get("WWW-Authenticate"))
	}
	if code, _ := get("/v2/models/seed-cnn", "Bearer wrong-"+token); code != http.StatusUnauthorized {
		t.Errorf("metadata with a wrong token = %d, want 401", code)
	}
	if code, _ := get("/v2/models/seed-cnn", "Bearer "+token); code != http.StatusOK {
		t.Errorf("metadata with the token = %d, want 200", code)
	}
	srv.stop(t)
	if !strings.Contains(errOut.String(), "status=401") {
		t.Errorf("stderr has no access log line for the 401s:\n%s", errOut.String())
	}
	if strings.Contains(errOut.String()+out.String(), token) {
		t.Errorf("the token appears in the command's output")
	}
}

var debugRE = regexp.MustCompile(`debug: pprof and expvar on (http://\S+)/debug/`)

// TestServeCommandDebugAndMemory checks --debug-addr (pprof and expvar on
// a listener of their own, not on the protocol's) and --memory-limit (the
// runtime's limit while serve runs, restored after, and in the banner).
func TestServeCommandDebugAndMemory(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	srv := startServe(t, "--debug-addr", "127.0.0.1:0", "--memory-limit", "768MiB", "--grace", "3s")
	out := srv.out.String()
	for _, want := range []string{"memory: soft limit 768 MiB (--memory-limit)", "idle compiled programs", "requests in flight get 3s to finish"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout does not say %q:\n%s", want, out)
		}
	}
	if got := debug.SetMemoryLimit(-1); got != 768<<20 {
		t.Errorf("the runtime's memory limit is %d while serve runs, want %d", got, 768<<20)
	}
	m := debugRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("stdout does not give the debug address:\n%s", out)
	}
	tests := []struct {
		url      string
		status   int
		contains string
	}{
		{m[1] + "/debug/vars", http.StatusOK, `"goroutines"`},
		{m[1] + "/debug/pprof/goroutine?debug=1", http.StatusOK, "goroutine profile:"},
		{m[1] + "/v2/health/live", http.StatusNotFound, ""},
		{srv.base + "/debug/vars", http.StatusNotFound, ""},
		{srv.base + "/debug/pprof/", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		resp, err := http.Get(tt.url)
		if err != nil {
			t.Errorf("GET %s: %v", tt.url, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.contains) {
			t.Errorf("GET %s = %d, want %d containing %q", tt.url, resp.StatusCode, tt.status, tt.contains)
		}
	}
	srv.stop(t)
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("the runtime's memory limit is %d after serve, want it restored to %d", got, before)
	}
	if c, err := net.Dial("tcp", strings.TrimPrefix(m[1], "http://")); err == nil {
		c.Close()
		t.Error("the debug listener still accepts connections after serve stopped")
	}
}
