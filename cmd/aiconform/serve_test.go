package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
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

var listeningRE = regexp.MustCompile(`listening on (http://\S+)`)

func TestServeCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut := &serveTestBuffer{}, &serveTestBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--max-body-bytes", "4096"}, Streams{In: strings.NewReader(""), Out: out, Err: errOut})
	}()
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		if m := listeningRE.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before listening; stderr:\n%s", code, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not print its address; stdout:\n%s", out.String())
		}
	}
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

	cancel() // what SIGINT or SIGTERM does to Main's context
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("serve exited %d after shutdown, want 0; stderr:\n%s", code, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop after its context was cancelled")
	}
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
		{"stray argument", []string{"serve", "extra"}, ExitUsage, "extra"},
	}
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
		})
	}
}
