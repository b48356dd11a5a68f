package faults

import (
	"bytes"
	"context"
	"crypto/tls"
	"math"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/aiconform/aiconform/internal/testpki"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
)

// The faults show over the gRPC binding as over REST: a handler wrapper
// (no-id-echo, leaky-errors, binary-big-endian) and a model wrapper
// (numeric-drift) change what a gRPC call gets, and the TLS faults change
// the handshakes of the gRPC port.

// ftGRPC serves seed-cnn's gRPC binding with the named faults on a
// loopback port until the test ends, over TLS with tlsCfg (after the
// faults' TLS settings) when it is not nil, and returns the port's
// address.
func ftGRPC(t *testing.T, faults []string, tlsCfg *tls.Config) string {
	t.Helper()
	fs, err := Lookup(faults...)
	if err != nil {
		t.Fatal(err)
	}
	fopts, err := Options(fs...)
	if err != nil {
		t.Fatal(err)
	}
	models := ftModels(t)
	cnn := []reference.Model{reference.Find(models, reference.SeedCNNID, reference.VersionFP32)}
	s, err := serve.New(cnn, fopts...)
	if err != nil {
		t.Fatal(err)
	}
	var cfg *tls.Config
	if tlsCfg != nil {
		if cfg, err = TLSConfig(tlsCfg, fs...); err != nil {
			t.Fatal(err)
		}
	}
	_, addr, _ := strings.Cut(ftServeGRPC(t, s, cfg), "://")
	return addr
}

// ftGRPCClient returns a client of addr with creds (plain text if nil).
func ftGRPCClient(t *testing.T, addr string, creds credentials.TransportCredentials) pb.GRPCInferenceServiceClient {
	t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewGRPCInferenceServiceClient(conn)
}

// ftGRPCInfer sends the inputs of seed-cnn golden case-015 (batch 8) with
// id "q-1", typed or raw.
func ftGRPCInfer(t *testing.T, c pb.GRPCInferenceServiceClient, raw bool) *pb.ModelInferResponse {
	t.Helper()
	x := ftCase(t, reference.SeedCNNID, reference.VersionFP32, "case-015").Inputs["input"]
	in := &pb.ModelInferRequest_InferInputTensor{Name: "input", Datatype: "FP32", Shape: x.Shape}
	req := &pb.ModelInferRequest{ModelName: reference.SeedCNNID, Id: "q-1", Inputs: []*pb.ModelInferRequest_InferInputTensor{in}}
	if raw {
		b := make([]byte, 0, 4*len(x.F32))
		for _, v := range x.F32 {
			b = append(b, byte(math.Float32bits(v)), byte(math.Float32bits(v)>>8), byte(math.Float32bits(v)>>16), byte(math.Float32bits(v)>>24))
		}
		req.RawInputContents = [][]byte{b}
	} else {
		in.Contents = &pb.InferTensorContents{Fp32Contents: x.F32}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.ModelInfer(ctx, req)
	if err != nil {
		t.Fatalf("ModelInfer: %v", err)
	}
	return resp
}

// probabilities returns the typed probabilities output of a response.
func probabilities(t *testing.T, resp *pb.ModelInferResponse) []float32 {
	t.Helper()
	for _, o := range resp.Outputs {
		if o.Name == "probabilities" {
			return o.GetContents().GetFp32Contents()
		}
	}
	t.Fatal("no probabilities output")
	return nil
}

func TestFaultsOverGRPC(t *testing.T) {
	conforming := ftGRPCInfer(t, ftGRPCClient(t, ftGRPC(t, nil, nil), nil), false)
	conformingRaw := ftGRPCInfer(t, ftGRPCClient(t, ftGRPC(t, nil, nil), nil), true)
	if conforming.Id != "q-1" || len(probabilities(t, conforming)) != 80 || len(conformingRaw.RawOutputContents) != 2 {
		t.Fatalf("the conforming server's answers: id %q, %d probabilities, %d raw outputs", conforming.Id, len(probabilities(t, conforming)), len(conformingRaw.RawOutputContents))
	}

	t.Run("no-id-echo", func(t *testing.T) {
		resp := ftGRPCInfer(t, ftGRPCClient(t, ftGRPC(t, []string{"no-id-echo"}, nil), nil), false)
		if resp.Id != "" {
			t.Errorf("id %q, want none", resp.Id)
		}
		if !slices.Equal(probabilities(t, resp), probabilities(t, conforming)) {
			t.Error("the outputs changed too")
		}
	})

	t.Run("leaky-errors", func(t *testing.T) {
		c := ftGRPCClient(t, ftGRPC(t, []string{"leaky-errors"}, nil), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := c.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "no-such-model"})
		if s := status.Convert(err); s.Code() != codes.NotFound || !strings.Contains(s.Message(), "goroutine ") || !strings.Contains(s.Message(), ".go:") {
			t.Errorf("metadata of an unknown model = %v, want NOT_FOUND carrying a stack trace", err)
		}
	})

	t.Run("binary-big-endian", func(t *testing.T) {
		resp := ftGRPCInfer(t, ftGRPCClient(t, ftGRPC(t, []string{"binary-big-endian"}, nil), nil), true)
		if len(resp.RawOutputContents) != len(conformingRaw.RawOutputContents) {
			t.Fatalf("%d raw outputs, want %d", len(resp.RawOutputContents), len(conformingRaw.RawOutputContents))
		}
		for i, b := range resp.RawOutputContents {
			want := bytes.Clone(conformingRaw.RawOutputContents[i])
			for j := 0; j+4 <= len(want); j += 4 {
				slices.Reverse(want[j : j+4])
			}
			if !bytes.Equal(b, want) {
				t.Errorf("raw output %d is not the conforming output byte-swapped", i)
			}
		}
	})

	t.Run("numeric-drift", func(t *testing.T) {
		got := probabilities(t, ftGRPCInfer(t, ftGRPCClient(t, ftGRPC(t, []string{"numeric-drift"}, nil), nil), false))
		want := probabilities(t, conforming)
		var moved, worst float64
		for i := range want {
			d := math.Abs(float64(got[i]) - float64(want[i]))
			if d > 0 {
				moved++
			}
			if want[i] > 1e-3 {
				worst = max(worst, d/float64(want[i]))
			}
		}
		if moved < float64(len(want))/2 || worst > 0.05 {
			t.Errorf("%v of %d probabilities moved, by at most %.3g relative: want most of them moved by about the drift", moved, len(want), worst)
		}
	})
}

func TestTLSFaultsOverGRPC(t *testing.T) {
	p, err := testpki.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		fault   string
		legacy  bool // a TLS 1.0/1.1 handshake succeeds
		expired bool // the certificate presented has expired
	}{
		{"", false, false},
		{"tls-1.0-allowed", true, false},
		{"expired-certificate", false, true},
	}
	for _, tt := range tests {
		name := tt.fault
		if name == "" {
			name = "conforming"
		}
		t.Run(name, func(t *testing.T) {
			var fs []string
			if tt.fault != "" {
				fs = []string{tt.fault}
			}
			addr := ftGRPC(t, fs, serve.TLSConfig(p.Certificate))
			handshake := func(cfg *tls.Config) (tls.ConnectionState, error) {
				conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				tc := tls.Client(conn, cfg)
				err = tc.Handshake()
				return tc.ConnectionState(), err
			}
			// As the suite's SEC-TLS check offers it.
			st, err := handshake(&tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true})
			if (err == nil) != tt.legacy || (err == nil && st.Version > tls.VersionTLS11) {
				t.Errorf("TLS 1.0/1.1 handshake: %v (version %#x), want success %v", err, st.Version, tt.legacy)
			}
			_, err = handshake(&tls.Config{RootCAs: p.Pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}})
			if tt.expired != (err != nil && strings.Contains(err.Error(), "expired")) {
				t.Errorf("verified handshake: %v, want a failure for an expired certificate: %v", err, tt.expired)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := ftGRPCClient(t, addr, credentials.NewTLS(&tls.Config{RootCAs: p.Pool, ServerName: "127.0.0.1"}))
			_, err = c.ServerLive(ctx, &pb.ServerLiveRequest{})
			if tt.expired != (status.Code(err) == codes.Unavailable && strings.Contains(err.Error(), "expired")) || !tt.expired && err != nil {
				t.Errorf("ServerLive over TLS = %v, want it refused for an expired certificate: %v", err, tt.expired)
			}
		})
	}
}
