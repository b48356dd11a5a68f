package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/reference/serve/faults"
)

func TestServeListFaults(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"serve", "--list-faults"}, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	all := faults.All()
	if len(lines) != len(all)+1 || !strings.HasPrefix(lines[0], "FAULT") || !strings.Contains(lines[0], "BREAKS") {
		t.Fatalf("want a header and one line per fault (%d):\n%s", len(all), out.String())
	}
	for i, f := range all {
		fields := strings.Fields(lines[i+1])
		if len(fields) < 3 || fields[0] != f.Name || fields[1] != f.Requirement || !strings.Contains(lines[i+1], f.Description) {
			t.Errorf("line %d = %q, want %s, %s and its description", i+1, lines[i+1], f.Name, f.Requirement)
		}
		for _, id := range f.Also {
			if !strings.Contains(lines[i+1], id) {
				t.Errorf("line of %s does not name %s, which fails with it", f.Name, id)
			}
		}
		for b, why := range f.NotOver {
			if !strings.Contains(lines[i+1], "does not show over "+b.Name()+": "+why) {
				t.Errorf("line of %s does not say it does not show over %s", f.Name, b.Name())
			}
		}
	}
}

func TestServeFaultFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--fault", "no-such-fault"}, append([]string{`unknown fault "no-such-fault"`}, faults.Names()...)},
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

func TestServeWithFaults(t *testing.T) {
	srv := startServe(t, "--fault", "bad-metadata", "--fault", "leaky-errors")
	base, out := srv.base, srv.out
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
	srv.stop(t)
}
