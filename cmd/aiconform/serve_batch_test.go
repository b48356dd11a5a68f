package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeBatchingFlags starts `aiconform serve` with and without dynamic
// batching and checks the banner, and that a lone request to the idle
// server never waits --batch-delay.
func TestServeBatchingFlags(t *testing.T) {
	const delay = 400 * time.Millisecond
	for _, tc := range []struct {
		name   string
		args   []string
		banner string
	}{
		{"on", []string{"--batch-max", "4", "--batch-delay", delay.String()}, "batching: up to 4 rows per forward pass, waiting at most 400ms"},
		{"off by --batch-max 0", []string{"--batch-max", "0", "--batch-delay", delay.String()}, "batching: off"},
		{"off by --batch-delay 0", []string{"--batch-delay", "0"}, "batching: off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServe(t, tc.args...)
			defer srv.stop(t)
			base, out := srv.base, srv.out
			if !strings.Contains(out.String(), tc.banner+"\n") {
				t.Errorf("stdout lacks %q:\n%s", tc.banner, out.String())
			}
			body := `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,10],"data":[0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9]}]}`
			start := time.Now()
			resp, err := http.Post(base+"/v2/models/seed-rnn/infer", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("infer: %s %s", resp.Status, b)
			}
			// An idle server answers a lone request at once, batching or not:
			// the batch delay applies only while another forward pass runs
			// (package serve tests the batching itself).
			if took >= delay {
				t.Errorf("a lone request to an idle server took %s, at least the batch delay of %s", took, delay)
			}
		})
	}
}

func TestServeBatchingFlagErrors(t *testing.T) {
	for _, args := range [][]string{{"--batch-max", "-1"}, {"--batch-delay", "-2ms"}} {
		var out, errOut strings.Builder
		code := Main(context.Background(), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		if code != 2 || !strings.Contains(errOut.String(), "want ≥ 0") {
			t.Errorf("serve %v: exit %d, stderr %q; want 2 and a message asking for ≥ 0", args, code, errOut.String())
		}
	}
}
