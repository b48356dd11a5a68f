package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"

	"github.com/aiconform/aiconform/internal/testnet"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/oip/grpcbind"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
)

// loadReference is the reference server with a token, its REST handler
// counting the inference requests it served and those that carried binary
// data.
type loadReference struct {
	handler        http.Handler
	infers, binary atomic.Int64
}

func newLoadReference(t *testing.T, token string) *loadReference {
	t.Helper()
	models, err := reference.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := serve.New(models, serve.WithAuthToken(token))
	if err != nil {
		t.Fatal(err)
	}
	r := &loadReference{}
	h := srv.Handler()
	r.handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, "/infer") {
			r.infers.Add(1)
			if req.Header.Get(oip.HeaderInferenceContentLength) != "" {
				r.binary.Add(1)
			}
		}
		h.ServeHTTP(w, req)
	})
	return r
}

// serveGRPC serves h's gRPC binding through grpcbind's Gateway on
// loopback and returns its grpc:// URL and listener.
func serveGRPC(t *testing.T, h http.Handler) (string, *testnet.CountingListener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &testnet.CountingListener{Listener: ln}
	gs := grpc.NewServer()
	pb.RegisterGRPCInferenceServiceServer(gs, grpcbind.NewGateway(h))
	go gs.Serve(cl) //nolint:errcheck // ends with Stop
	t.Cleanup(gs.Stop)
	return "grpc://" + ln.Addr().String(), cl
}

// TestLoadGRPC: `aiconform load --target grpc://...` runs on the same
// generator as over REST: every query a ModelInfer call that reaches the
// reference server with the token, typed or raw contents as --data says,
// timed and counted, over no more connections than --max-connections.
func TestLoadGRPC(t *testing.T) {
	ref := newLoadReference(t, "s3cret-token")
	target, ln := serveGRPC(t, ref.handler)
	t.Setenv("AICONFORM_TEST_TOKEN", "s3cret-token")
	dir := t.TempDir()
	for _, tt := range []struct {
		data, wire string
		binary     bool
	}{{"json", "gRPC, typed contents", false}, {"binary", "gRPC, raw contents", true}} {
		t.Run(tt.data, func(t *testing.T) {
			infers, binary, conns := ref.infers.Load(), ref.binary.Load(), ln.Accepted()
			jsonFile := filepath.Join(dir, tt.data+".json")
			code, stdout, stderr := runCLI(t, "load", "--target", target, "--model", "seed-cnn", "--concurrency", "3", "--duration", "300ms",
				"--warmup", "2", "--data", tt.data, "--token-env", "AICONFORM_TEST_TOKEN", "--max-connections", "3", "--max-lateness", "1h", "--json", jsonFile)
			if code != ExitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if !summaryRE.MatchString(stdout) || !strings.Contains(stdout, "gRPC: status codes are the REST statuses") {
				t.Errorf("stdout is not a gRPC run's summary:\n%s", stdout)
			}
			if !strings.Contains(stderr, "("+tt.wire+")") {
				t.Errorf("stderr does not say the queries travel as %s:\n%s", tt.wire, stderr)
			}
			r := readResultFile(t, jsonFile)
			if r.Sent == 0 || r.Failed != 0 || r.Succeeded != r.Sent || r.Latency.Count != r.Sent || r.Plan.Concurrency != 3 {
				t.Fatalf("sent %d, succeeded %d, failed %d (%v), %d latencies, plan %+v; want every query of a closed loop of 3 to succeed and be timed", r.Sent, r.Succeeded, r.Failed, r.Errors, r.Latency.Count, r.Plan)
			}
			if got := ref.infers.Load() - infers; got != r.Sent+2 {
				t.Errorf("the server served %d inferences, want %d timed + 2 warm-up", got, r.Sent)
			}
			wantBinary := int64(0)
			if tt.binary {
				wantBinary = r.Sent + 2
			}
			if got := ref.binary.Load() - binary; got != wantBinary {
				t.Errorf("%d inferences carried binary data, want %d", got, wantBinary)
			}
			// One connection per processor, at most --max-connections.
			if got, want := ln.Accepted()-conns, int64(min(3, runtime.GOMAXPROCS(0))); got != want {
				t.Errorf("the run opened %d connections, want %d", got, want)
			}
		})
	}

	t.Run("failures", func(t *testing.T) {
		t.Setenv("AICONFORM_TEST_TOKEN", "wrong")
		code, stdout, stderr := runCLI(t, "load", "--target", target, "--model", "seed-cnn", "--rate", "50", "--duration", "100ms", "--token-env", "AICONFORM_TEST_TOKEN", "--max-lateness", "1h")
		if code != ExitOK {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if !regexp.MustCompile(`Status Codes +\[code:count\] +401:\d+\n`).MatchString(stdout) || !strings.Contains(stdout, "0.00%") {
			t.Errorf("stdout does not count the UNAUTHENTICATED answers as 401:\n%s", stdout)
		}
		closed := "grpc://" + testnet.ClosedAddr(t)
		code, stdout, stderr = runCLI(t, "load", "--target", closed, "--model", "seed-cnn", "--rate", "50", "--duration", "100ms", "--max-lateness", "1h")
		if code != ExitUnreachable {
			t.Errorf("exit %d against %s, want %d\nstdout:\n%s\nstderr:\n%s", code, closed, ExitUnreachable, stdout, stderr)
		}
		if !strings.Contains(stderr, "no query reached "+closed) || !strings.Contains(stdout, "transport: ") {
			t.Errorf("the output does not say the target was unreachable:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
	})
}

// TestLoadBinaryREST: --data binary over REST sends every query with
// binary tensor data, and the reference server's binary answers pass the
// check.
func TestLoadBinaryREST(t *testing.T) {
	ref := newLoadReference(t, "s3cret-token")
	srv := httptest.NewServer(ref.handler)
	t.Cleanup(srv.Close)
	ts := srv.URL
	t.Setenv("AICONFORM_TEST_TOKEN", "s3cret-token")
	jsonFile := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runCLI(t, "load", "--target", ts, "--model", "seed-transformer", "--concurrency", "2", "--duration", "300ms",
		"--data", "binary", "--token-env", "AICONFORM_TEST_TOKEN", "--max-lateness", "1h", "--json", jsonFile)
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "(REST, binary data)") || strings.Contains(stdout, "gRPC") {
		t.Errorf("the output does not describe a REST run with binary data:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	r := readResultFile(t, jsonFile)
	if r.Sent == 0 || r.Failed != 0 || r.Succeeded != r.Sent {
		t.Fatalf("sent %d, succeeded %d, failed %d (%v); want every query to succeed", r.Sent, r.Succeeded, r.Failed, r.Errors)
	}
	if got := ref.binary.Load(); got != r.Sent || ref.infers.Load() != r.Sent {
		t.Errorf("%d of %d inferences carried binary data, want all %d queries", got, ref.infers.Load(), r.Sent)
	}
}
