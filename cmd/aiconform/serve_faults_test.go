package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiconform/aiconform/reference/serve"
)

func TestServeListFaults(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"serve", "--list-faults"}, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	faults := serve.Faults()
	if len(lines) != len(faults)+1 || !strings.HasPrefix(lines[0], "FAULT") || !strings.Contains(lines[0], "BREAKS") {
		t.Fatalf("want a header and one line per fault (%d):\n%s", len(faults), out.String())
	}
	for i, f := range faults {
		fields := strings.Fields(lines[i+1])
		if len(fields) < 3 || fields[0] != f.Name || fields[1] != f.Requirement || !strings.Contains(lines[i+1], f.Description) {
			t.Errorf("line %d = %q, want %s, %s and its description", i+1, lines[i+1], f.Name, f.Requirement)
		}
		for _, id := range f.Also {
			if !strings.Contains(lines[i+1], id) {
				t.Errorf("line of %s does not name %s, which fails with it", f.Name, id)
			}
		}
	}
}

func TestServeFaultFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--fault", "no-such-fault"}, append([]string{`unknown fault "no-such-fault"`}, serve.FaultNames()...)},
		{[]string{"--fault", "slow-tail", "--fault", "slow-tail"}, []string{`fault "slow-tail" is given twice`}},
		{[]string{"--fault", "ignore-auth"}, []string{"--fault ignore-auth needs --auth-token-env"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(context.Background(), append([]string{"serve", "--addr", "127.0.0.1:0"}, tc.args...), Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
			if code != ExitUsage {
				t.Errorf("exit %d, want %d", code, ExitUsage)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr %q does not contain %q", errOut.String(), w)
				}
			}
		})
	}
}

// faultTestBuffer is a bytes.Buffer safe for a running server's writes.
type faultTestBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *faultTestBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *faultTestBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var faultListeningRE = regexp.MustCompile(`listening on (http://\S+)`)

func TestServeWithFaults(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut := &faultTestBuffer{}, &faultTestBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--fault", "bad-metadata", "--fault", "leaky-errors"},
			Streams{In: strings.NewReader(""), Out: out, Err: errOut})
	}()
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		if m := faultListeningRE.FindStringSubmatch(out.String()); m != nil {
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
	if !strings.Contains(out.String(), "faults: bad-metadata, leaky-errors") {
		t.Errorf("stdout does not announce the faults:\n%s", out.String())
	}
	var meta struct{ Inputs []struct{ Shape []int64 } }
	resp, err := http.Get(base + "/v2/models/seed-cnn")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if err != nil || len(meta.Inputs) != 1 || !slices.Equal(meta.Inputs[0].Shape, []int64{1, 1, 28, 28}) {
		t.Errorf("metadata inputs %+v (%v), want the batch fixed at 1 by bad-metadata", meta.Inputs, err)
	}
	resp, err = http.Post(base+"/v2/models/seed-cnn/infer", "application/json", strings.NewReader("{"))
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error string }
	err = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusBadRequest || !strings.Contains(e.Error, "goroutine ") {
		t.Errorf("bad request: %d %q (%v), want 400 with a stack trace from leaky-errors", resp.StatusCode, e.Error, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("exit %d after shutdown; stderr:\n%s", code, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}
