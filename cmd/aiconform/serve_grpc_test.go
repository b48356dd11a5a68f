package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/aiconform/aiconform/oip/inferencepb"
)

var grpcListeningRE = regexp.MustCompile(`listening on (grpcs?)://(\S+)`)

// grpcAddr returns the scheme and address of the gRPC binding that serve
// printed.
func (s *runningServe) grpcAddr(t *testing.T) (scheme, addr string) {
	t.Helper()
	m := grpcListeningRE.FindStringSubmatch(s.out.String())
	if m == nil {
		t.Fatalf("stdout does not give the gRPC address:\n%s", s.out.String())
	}
	return m[1], m[2]
}

// grpcClient returns a client of addr with creds.
func grpcClient(t *testing.T, addr string, creds credentials.TransportCredentials) pb.GRPCInferenceServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewGRPCInferenceServiceClient(conn)
}

// zeroImage is an inference request of one all-zero seed-cnn image.
func zeroImage(id string) *pb.ModelInferRequest {
	return &pb.ModelInferRequest{ModelName: "seed-cnn", Id: id, Inputs: []*pb.ModelInferRequest_InferInputTensor{{
		Name: "input", Datatype: "FP32", Shape: []int64{1, 1, 28, 28},
		Contents: &pb.InferTensorContents{Fp32Contents: make([]float32, 28*28)},
	}}}
}

// TestServeCommandGRPC runs serve with --grpc-addr and auth, a body limit
// and a fault: the gRPC binding serves the same models with the same
// token, limit and fault as REST, logs its calls, and stops with REST.
func TestServeCommandGRPC(t *testing.T) {
	const token = "serve-grpc-token-41d2c9"
	t.Setenv("AICONFORM_TEST_GRPC_TOKEN", token)
	srv := startServe(t, "--grpc-addr", "127.0.0.1:0", "--auth-token-env", "AICONFORM_TEST_GRPC_TOKEN",
		"--max-body-bytes", "16384", "--fault", "no-id-echo", "--grace", "2s")
	scheme, addr := srv.grpcAddr(t)
	out := srv.out.String()
	if scheme != "grpc" || !strings.Contains(out, "messages up to 16384 bytes") || !strings.Contains(out, "auth over gRPC") {
		t.Errorf("stdout:\n%s", out)
	}
	if strings.Index(out, "listening on grpc://") > strings.Index(out, "listening on http://") {
		t.Errorf("the gRPC address is not printed before the REST one:\n%s", out)
	}
	c := grpcClient(t, addr, insecure.NewCredentials())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)

	if r, err := c.ServerReady(ctx, &pb.ServerReadyRequest{}); err != nil || !r.Ready {
		t.Errorf("ServerReady without a token = %v, %v", r, err)
	}
	if _, err := c.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "seed-cnn"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ModelMetadata without a token = %v, want UNAUTHENTICATED", err)
	}
	md, err := c.ModelMetadata(authed, &pb.ModelMetadataRequest{Name: "seed-cnn"})
	if err != nil || md.Name != "seed-cnn" || strings.Join(md.Versions, ",") != "fp32,fp64" {
		t.Errorf("ModelMetadata with the token = %v, %v", md, err)
	}
	sm, err := c.ServerMetadata(authed, &pb.ServerMetadataRequest{})
	if err != nil || sm.Version != version {
		t.Errorf("ServerMetadata = %v, %v, want version %q", sm, err, version)
	}
	resp, err := c.ModelInfer(authed, zeroImage("q-7"))
	if err != nil || len(resp.Outputs) != 2 {
		t.Fatalf("ModelInfer = %v, %v", resp, err)
	}
	if resp.Id != "" {
		t.Errorf("ModelInfer echoed id %q under --fault no-id-echo", resp.Id)
	}
	big := zeroImage("")
	big.Inputs[0].Shape[0] = 8
	big.Inputs[0].Contents.Fp32Contents = make([]float32, 8*28*28) // 25 KB of typed contents
	if _, err := c.ModelInfer(authed, big); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a message over --max-body-bytes = %v, want RESOURCE_EXHAUSTED", err)
	}

	srv.stop(t)
	errOut := srv.err.String()
	if !strings.Contains(errOut, "rpc=/inference.GRPCInferenceService/ModelInfer") || !strings.Contains(errOut, "status=401") {
		t.Errorf("stderr does not log the gRPC calls:\n%s", errOut)
	}
	if strings.Contains(errOut+srv.out.String(), token) {
		t.Error("the token appears in the command's output")
	}
	for _, a := range []string{addr, strings.TrimPrefix(srv.base, "http://")} {
		if conn, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after serve stopped", a)
		}
	}
}

// TestServeCommandGRPCTLS: with --tls-cert and --tls-key the gRPC binding
// speaks TLS with the same certificate, and says so with grpcs://.
func TestServeCommandGRPCTLS(t *testing.T) {
	caFile, certFile, keyFile := writePKI(t)
	srv := startServe(t, "--grpc-addr", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile)
	scheme, addr := srv.grpcAddr(t)
	if scheme != "grpcs" {
		t.Errorf("scheme %q, want grpcs", scheme)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := grpcClient(t, addr, credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
	if resp, err := c.ModelInfer(ctx, zeroImage("q-1")); err != nil || resp.Id != "q-1" {
		t.Errorf("ModelInfer over TLS = %v, %v", resp, err)
	}
	if _, err := grpcClient(t, addr, insecure.NewCredentials()).ServerLive(ctx, &pb.ServerLiveRequest{}); err == nil {
		t.Error("a plain-text call to the TLS port was served")
	}
	// REST is still served, over https.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	hr, err := client.Get(srv.base + "/v2/health/live")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, hr.Body)
	hr.Body.Close()
	if hr.StatusCode != http.StatusOK || !strings.HasPrefix(srv.base, "https://") {
		t.Errorf("REST %s: %d", srv.base, hr.StatusCode)
	}
	client.CloseIdleConnections()
	srv.stop(t)
}

func TestServeCommandGRPCErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tests := []struct {
		name     string
		args     []string
		contains []string
	}{
		{"gRPC address in use", []string{"--addr", "127.0.0.1:0", "--grpc-addr", taken.Addr().String()}, []string{"--grpc-addr", taken.Addr().String()}},
		{"malformed gRPC address", []string{"--addr", "127.0.0.1:0", "--grpc-addr", "not-an-address"}, []string{"--grpc-addr", "not-an-address"}},
		{"REST address in use beside gRPC", []string{"--addr", taken.Addr().String(), "--grpc-addr", "127.0.0.1:0"}, []string{taken.Addr().String()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			code := Main(ctx, append([]string{"serve"}, tt.args...), Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitUsage, errOut.String())
			}
			for _, c := range tt.contains {
				if !strings.Contains(errOut.String(), c) {
					t.Errorf("stderr does not mention %q:\n%s", c, errOut.String())
				}
			}
			if strings.Contains(out.String(), "listening on") {
				t.Errorf("stdout claims to listen:\n%s", out.String())
			}
		})
	}
}

// TestServeGRPCStopsOnSIGINT interrupts the built binary serving REST and
// gRPC: both stop within the grace and it exits 0.
func TestServeGRPCStopsOnSIGINT(t *testing.T) {
	var stdout, stderr serveTestBuffer
	cmd := exec.Command(aiconformBinary(t), "serve", "--addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--grace", "3s")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	var rest, grpcAddr string
	for deadline := time.Now().Add(time.Minute); rest == ""; time.Sleep(20 * time.Millisecond) {
		if m := listeningRE.FindStringSubmatch(stdout.String()); m != nil {
			rest = strings.TrimPrefix(m[1], "http://")
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not print its address; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
	}
	if m := grpcListeningRE.FindStringSubmatch(stdout.String()); m != nil {
		grpcAddr = m[2]
	} else {
		t.Fatalf("stdout does not give the gRPC address:\n%s", stdout.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resp, err := grpcClient(t, grpcAddr, insecure.NewCredentials()).ModelInfer(ctx, zeroImage("q-2")); err != nil || resp.Id != "q-2" {
		t.Fatalf("ModelInfer = %v, %v", resp, err)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Errorf("serve after SIGINT: %v, want exit 0; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not exit within 10 s of SIGINT (grace 3 s)")
	}
	if !strings.Contains(stdout.String(), "server stopped") {
		t.Errorf("stdout does not report the stop:\n%s", stdout.String())
	}
	for _, a := range []string{rest, grpcAddr} {
		if conn, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after serve exited", a)
		}
	}
}
