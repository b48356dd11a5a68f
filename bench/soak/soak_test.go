package main

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
)

// startServer runs the reference server in-process (batching on, as
// `aiconform serve` runs it) with its debug handler beside it, and returns
// their base URLs.
func startServer(t *testing.T) (target, debug string) {
	t.Helper()
	models, err := reference.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := serve.New(models, serve.WithBatching(serve.BatchConfig{}))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	dbg := httptest.NewServer(serve.DebugHandler())
	t.Cleanup(dbg.Close)
	return ts.URL, dbg.URL
}

// TestMixKinds sends a few variants of every kind of the mix to the
// reference server and checks that each ends as it should: good requests
// answered 200, hostile ones rejected, leaving clients gone without error.
func TestMixKinds(t *testing.T) {
	target, _ := startServer(t)
	c, err := newClient(target, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	for _, k := range mix() {
		t.Run(k.name, func(t *testing.T) {
			for v := range uint64(3) {
				if o, what := k.send(context.Background(), c, v); o != asExpected {
					t.Errorf("variant %d: %s", v, what)
				}
			}
		})
	}
}

// TestSoakShort runs a few seconds of the soak against the reference
// server in-process and checks that nothing failed, that the server's
// goroutines came back, and that the report is complete. (How many
// queries of each kind it sends depends on how fast the machine is;
// TestMixKinds covers every kind.)
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("the short soak takes a few seconds")
	}
	target, debug := startServer(t)
	cfg := config{
		target:   target,
		debug:    debug,
		pid:      os.Getpid(),
		duration: 2 * time.Second,
		probe:    time.Second,
		load:     0.5,
		lanes:    4,
		sample:   500 * time.Millisecond,
		timeout:  30 * time.Second,
		seed:     1,
	}
	rep, err := run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.GoodErrors != 0 || rep.HostileUnexpected != 0 || rep.LeavingUnexpected != 0 {
		t.Errorf("good errors %d, hostile unexpected %d, leaving unexpected %d, want none: %+v", rep.GoodErrors, rep.HostileUnexpected, rep.LeavingUnexpected, rep.Kinds)
	}
	if len(rep.Kinds) != len(mix()) {
		t.Errorf("%d kinds reported, want %d", len(rep.Kinds), len(mix()))
	}
	if rep.SustainableRate <= 0 || rep.Soak.Sent == 0 || rep.GoodLatency.Count == 0 {
		t.Errorf("sustainable rate %.1f, %d soak queries, %d good latencies, want all positive", rep.SustainableRate, rep.Soak.Sent, rep.GoodLatency.Count)
	}
	if rep.GoroutinesBefore <= 0 || rep.GoroutinesAfter > rep.GoroutinesBefore+goroutineSlack {
		t.Errorf("goroutines %d before and %d after, want them back within %d", rep.GoroutinesBefore, rep.GoroutinesAfter, goroutineSlack)
	}
	if len(rep.RSS) < 4 {
		t.Errorf("%d VmRSS samples over 2 s every 500 ms, want at least 4", len(rep.RSS))
	}
}

func TestPick(t *testing.T) {
	kinds := []kind{{name: "a", weight: 2}, {name: "b", weight: 1}}
	tests := []struct {
		seq     uint64
		kind    string
		variant uint64
	}{{0, "a", 0}, {1, "a", 0}, {2, "b", 0}, {3, "a", 1}, {5, "b", 1}, {7, "a", 2}}
	for _, tt := range tests {
		if k, v := pick(kinds, tt.seq); k.name != tt.kind || v != tt.variant {
			t.Errorf("pick(%d) = %s %d, want %s %d", tt.seq, k.name, v, tt.kind, tt.variant)
		}
	}
}

func TestFlat(t *testing.T) {
	s := func(mib ...float64) []rssSample {
		var out []rssSample
		for i, m := range mib {
			out = append(out, rssSample{Seconds: float64(10 * i), MiB: m})
		}
		return out
	}
	tests := []struct {
		name    string
		samples []rssSample
		want    bool
	}{
		{"too few to judge", s(100, 500, 900), true},
		{"flat", s(200, 210, 205, 212, 208, 211), true},
		{"within 16 MiB of a small peak", s(50, 60, 70, 75), true},
		{"within 10% of a large peak", s(400, 400, 430, 435), true},
		{"growing", s(200, 220, 240, 260, 280, 300), false},
	}
	for _, tt := range tests {
		if got, why := flat(tt.samples); got != tt.want {
			t.Errorf("%s: flat = %v (%s), want %v", tt.name, got, why, tt.want)
		}
	}
}
