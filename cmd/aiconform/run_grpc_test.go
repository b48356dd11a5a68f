package main

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/aiconform/aiconform/internal/testnet"
	"github.com/aiconform/aiconform/oip/grpcbind"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
	"github.com/aiconform/aiconform/reference/serve"
	"github.com/aiconform/aiconform/spec"
)

// runReferenceGRPC serves the built-in reference models over the gRPC
// binding (grpcbind's Gateway in front of the REST handler, through wrap
// when it is not nil) and returns the grpc:// target.
func runReferenceGRPC(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	h := referenceHandler(t, wrap)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(int(serve.DefaultMaxBodyBytes)))
	pb.RegisterGRPCInferenceServiceServer(gs, grpcbind.NewGateway(h))
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return "grpc://" + lis.Addr().String()
}

// TestRunGRPC: run over the gRPC binding against the reference server is
// conformant, the report says gRPC, and --max-body bounds the messages
// it reads: with a limit below an inference answer's size, the checks
// that read one fail, saying so.
func TestRunGRPC(t *testing.T) {
	target := runReferenceGRPC(t, nil)
	profile := runSmallProfile(t, 3)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runCLI(t, "run", "--target", target, "--out", out, "--profile", profile)
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	rep := runReadReport(t, out)
	if rep.Binding != spec.GRPC || rep.Target != target || rep.Verdict != spec.VerdictPass {
		t.Errorf("binding %q, target %q, verdict %s", rep.Binding, rep.Target, rep.Verdict)
	}
	for _, c := range rep.Checks {
		if c.Status != spec.Pass {
			t.Errorf("%s: %s: %s", c.ID, c.Status, c.Message)
		}
	}

	out = filepath.Join(t.TempDir(), "small")
	code, stdout, stderr = runCLI(t, "run", "--target", target, "--out", out, "--profile", profile, "--max-body", "100")
	if code != ExitFail {
		t.Fatalf("--max-body 100: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	rep = runReadReport(t, out)
	for _, c := range rep.Checks {
		if c.ID == "numerics/golden" && (c.Status != spec.Fail || !strings.Contains(c.Message, "answered with a message over the 100-byte limit")) {
			t.Errorf("%s: %s: %s, want a failure on the body limit", c.ID, c.Status, c.Message)
		}
	}
}

// TestRunGRPCWrongNumbers: a server that moves one JSON logit of every
// answer fails over gRPC the checks it fails over REST (the typed
// contents are its JSON data; the raw contents of OIP-BINARY-DATA its
// binary data, which it leaves alone).
func TestRunGRPCWrongNumbers(t *testing.T) {
	target := runReferenceGRPC(t, runWrongNumbers)
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "--target", target, "--out", out, "--profile", runSmallProfile(t, 3))
	if code != ExitFail {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	rep := runReadReport(t, out)
	failing := []string{"api/binary-data", "numerics/golden", "numerics/live", "numerics/batch-invariance", "numerics/top1"}
	for _, c := range rep.Checks {
		want := spec.Pass
		if slices.Contains(failing, c.ID) {
			want = spec.Fail
		}
		if c.Status != want {
			t.Errorf("%s: %s, want %s: %s", c.ID, c.Status, want, c.Message)
		}
	}
}

// TestRunGRPCTargets: a gRPC target needs a port and no path; one nothing
// listens on is unreachable (exit 3).
func TestRunGRPCTargets(t *testing.T) {
	for _, tt := range []struct {
		target string
		code   int
		want   string
	}{
		{"grpc://127.0.0.1", ExitUsage, "a gRPC target is grpc://HOST:PORT"},
		{"grpcs://127.0.0.1:8001/v2", ExitUsage, "a gRPC target has no path"},
		{"grpc://" + testnet.ClosedAddr(t), ExitUnreachable, "connection refused"},
	} {
		code, _, stderr := runCLI(t, "run", "--target", tt.target, "--out", t.TempDir())
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tt.target, code, stderr, tt.code, tt.want)
		}
	}
}

// TestProfileInitGRPC: profile init reads the metadata over gRPC, and a
// run with the draft over gRPC is conformant.
func TestProfileInitGRPC(t *testing.T) {
	target := runReferenceGRPC(t, nil)
	file := filepath.Join(t.TempDir(), "acme.yaml")
	code, stdout, stderr := runCLI(t, "profile", "init", "--target", target, "--model", "seed-rnn", "--out", file)
	if want := "models mapped (2): seed-rnn@fp32 → seed-rnn/fp32, seed-rnn@fp64 → seed-rnn/fp64\nprofile: " + file + "\n"; code != ExitOK || stdout != want {
		t.Fatalf("init: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, "run", "--target", target, "--profile", file, "--out", t.TempDir(), "--seed", "7")
	if code != ExitOK || !strings.Contains(stdout, "verdict: CONFORMANT at core") {
		t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}
