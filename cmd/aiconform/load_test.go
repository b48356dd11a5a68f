package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/spf13/pflag"
	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/yaml"

	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/internal/fakeoip"
	"github.com/aiconform/aiconform/internal/testnet"
)

// childMainEnv makes the test binary run Main on its arguments instead of
// the tests, so that tests can run aiconform as separate processes.
const childMainEnv = "AICONFORM_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childMainEnv) == "1" {
		os.Exit(runMain(os.Args[1:], Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
	}
	os.Exit(m.Run())
}

// loadServer serves the fake OIP model (a fast linear stand-in for
// seed-cnn) and counts the inference requests it received.
func loadServer(t *testing.T, f *fakeoip.Server) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var infers atomic.Int64
	h := f.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/infer") {
			infers.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts, &infers
}

// readResultFile decodes a result file as `load merge` does.
func readResultFile(t *testing.T, path string) *load.Result {
	t.Helper()
	r, err := readLoadResult(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLoadFlagErrors(t *testing.T) {
	target := "http://" + testnet.ClosedAddr(t)
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"load", "--target", target, "--model", "seed-cnn", "--duration", "1s"}
	open := with(base, "--rate", "10")
	sharded := with(open, "--seed", "1")
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no target", []string{"load", "--model", "seed-cnn", "--rate", "1", "--duration", "1s"}, nil, "--target is required"},
		{"target not http", []string{"load", "--target", "ftp://x", "--model", "seed-cnn", "--rate", "1", "--duration", "1s"}, nil, `--target "ftp://x": want an absolute http or https URL`},
		{"no model", []string{"load", "--target", target, "--rate", "1", "--duration", "1s"}, nil, "--model is required"},
		{"served name needs --reference", []string{"load", "--target", target, "--model", "mnist", "--rate", "1", "--duration", "1s"}, nil, `--reference is required: the served model "mnist" is not a reference model id`},
		{"unknown reference", with(open, "--reference", "resnet"), nil, `--reference "resnet" is not a reference model; want one of seed-cnn, seed-rnn, seed-transformer`},
		{"unknown reference version", with(open, "--reference-version", "fp16"), nil, `--reference-version "fp16" is not a reference version; want one of fp32, fp64`},
		{"rate and concurrency", with(open, "--concurrency", "2"), nil, "give --rate (open loop) or --concurrency (closed loop), not both"},
		{"neither rate nor concurrency", base, nil, "give --rate R (queries per second, open loop) or --concurrency C"},
		{"arrival with concurrency", with(base, "--concurrency", "2", "--arrival", "constant"), nil, "--arrival sets the arrival process of an open-loop --rate run"},
		{"zero rate", with(base, "--rate", "0"), nil, "--rate is 0, want a positive, finite number"},
		{"negative rate", with(base, "--rate", "-5"), nil, "--rate is -5, want a positive"},
		{"NaN rate", with(base, "--rate", "NaN"), nil, "--rate is NaN, want a positive"},
		{"infinite rate", with(base, "--rate", "+Inf"), nil, "--rate is +Inf, want a positive, finite"},
		{"zero concurrency", with(base, "--concurrency", "0"), nil, "--concurrency is 0, want at least 1"},
		{"unknown arrival", with(open, "--arrival", "uniform"), nil, `--arrival "uniform": want poisson or constant`},
		{"no duration", []string{"load", "--target", target, "--model", "seed-cnn", "--rate", "1"}, nil, "--duration is required"},
		{"zero duration", []string{"load", "--target", target, "--model", "seed-cnn", "--rate", "1", "--duration", "0s"}, nil, "--duration is 0s, want a positive duration"},
		{"bad duration", with(open, "--duration", "soon"), nil, `invalid argument "soon" for "--duration"`},
		{"negative warmup", with(open, "--warmup", "-1"), nil, "--warmup is -1"},
		{"negative min queries", with(open, "--min-queries", "-1"), nil, "--min-queries is -1"},
		{"zero samples", with(open, "--samples", "0"), nil, "--samples is 0, want at least 1"},
		{"unknown data", with(open, "--data", "xml"), nil, `--data "xml": want json or binary`},
		{"grpc target without host", []string{"load", "--target", "grpc://", "--model", "seed-cnn", "--rate", "1", "--duration", "1s"}, nil, `--target "grpc://": want an absolute http or https URL, e.g. http://127.0.0.1:8000, or grpc://HOST:PORT`},
		{"grpc target with a path", []string{"load", "--target", "grpc://127.0.0.1:1/v2", "--model", "seed-cnn", "--rate", "1", "--duration", "1s"}, nil, `want grpc://HOST:PORT or grpcs://HOST:PORT`},
		{"zero timeout", with(open, "--timeout", "0s"), nil, "--timeout is 0s, want a positive duration"},
		{"zero max lateness", with(open, "--max-lateness", "0s"), nil, "--max-lateness is 0s, want a positive duration"},
		{"negative max connections", with(open, "--max-connections", "-1"), nil, "--max-connections is -1"},
		{"token variable unset", with(open, "--token-env", "AICONFORM_TEST_NO_SUCH_TOKEN"), nil, "--token-env: environment variable AICONFORM_TEST_NO_SUCH_TOKEN is unset or empty"},
		{"CA file missing", with(open, "--ca-file", filepath.Join(t.TempDir(), "nope.pem")), nil, "--ca-file: open"},
		{"start-at not a time", with(open, "--start-at", "tomorrow"), nil, `--start-at "tomorrow": want an RFC 3339 time`},
		{"start-at passed", with(open, "--start-at", "2020-01-01T00:00:00Z"), nil, "--start-at 2020-01-01T00:00:00Z passed"},
		{"shard without count", with(sharded, "--shard", "1"), nil, `--shard "1": want I/N`},
		{"shard count zero", with(sharded, "--shard", "0/0"), nil, `the count "0" is not a positive integer`},
		{"shard index not a number", with(sharded, "--shard", "x/4"), nil, `the index "x" is not an integer ≥ 0`},
		{"shard index negative", with(sharded, "--shard", "-1/4"), nil, `the index "-1" is not an integer ≥ 0`},
		{"shard index = count", with(sharded, "--shard", "4/4"), nil, "--shard 4/4: the index 4 is not below the count; want 0 to 3"},
		{"shard auto, variable unset", with(sharded, "--shard", "auto/4"), map[string]string{shardIndexEnv: ""}, "--shard auto/4: $JOB_COMPLETION_INDEX is unset"},
		{"shard auto, index too big", with(sharded, "--shard", "auto/4"), map[string]string{shardIndexEnv: "7"}, `--shard auto/4: the index 7 ($JOB_COMPLETION_INDEX) is not below the count`},
		{"shard without seed", with(open, "--shard", "0/4"), nil, "--shard 0/4 needs --seed"},
		{"shard of constant arrivals", with(sharded, "--arrival", "constant", "--shard", "0/4"), nil, "--arrival constant does not"},
		{"shard of a closed loop", with(base, "--concurrency", "2", "--seed", "1", "--shard", "0/4"), nil, "a --concurrency plan does not"},
		{"out is a file", with(open, "--out", notADir), nil, "--out " + notADir},
		{"json in a missing directory", with(open, "--json", filepath.Join(t.TempDir(), "no", "r.json")), nil, "--json"},
		{"positional argument", with(open, "extra"), nil, `unknown command "extra"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := runCLI(t, c.args...)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitUsage, stdout, stderr)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, stderr)
			}
			if strings.Contains(stdout, "Requests") {
				t.Errorf("a refused run printed a summary:\n%s", stdout)
			}
		})
	}
}

// summaryRE matches the rows every summary has.
var summaryRE = regexp.MustCompile(`(?s)Plan +\[load, seed\].*Requests +\[total, rate, throughput\] +\d+, .*Latencies +\[min, mean, 50, 90, 95, 99, 99\.9, max\] .*Uncorrected .*Send lateness +\[50, 99, max\] .*Success +\[ratio\] .*Status Codes +\[code:count\]`)

func TestLoadRun(t *testing.T) {
	ts, infers := loadServer(t, &fakeoip.Server{Token: "s3cret-token"})
	t.Setenv("AICONFORM_TEST_TOKEN", "s3cret-token")
	dir := t.TempDir()
	common := []string{"load", "--target", ts.URL, "--model", fakeoip.Model, "--duration", "200ms", "--token-env", "AICONFORM_TEST_TOKEN", "--max-lateness", "1h"}
	cases := []struct {
		name  string
		args  []string
		check func(t *testing.T, r *load.Result)
	}{
		{"poisson", []string{"--rate", "100", "--seed", "42", "--warmup", "3"}, func(t *testing.T, r *load.Result) {
			if r.Plan.Seed != 42 || r.Plan.Rate != 100 || r.Plan.Arrival != load.Poisson || r.Plan.Warmup != 3 {
				t.Errorf("plan %+v, want poisson at 100/s with seed 42 and 3 warm-up queries", r.Plan)
			}
		}},
		{"constant, batches of 4", []string{"--rate", "50", "--arrival", "constant", "--samples", "4", "--min-queries", "5"}, func(t *testing.T, r *load.Result) {
			if r.Plan.Arrival != load.Constant || r.Plan.MinQueries != 5 || r.Sent < 5 {
				t.Errorf("plan %+v with %d sent, want constant arrivals and at least 5 queries", r.Plan, r.Sent)
			}
		}},
		{"closed loop", []string{"--concurrency", "2"}, func(t *testing.T, r *load.Result) {
			if r.Plan.Concurrency != 2 || r.Plan.Rate != 0 {
				t.Errorf("plan %+v, want a closed loop of 2", r.Plan)
			}
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.name)
			jsonFile, hlog := filepath.Join(dir, c.name+".json"), filepath.Join(dir, c.name+".hlog")
			before := infers.Load()
			args := with(with(common, c.args...), "--out", out, "--json", jsonFile, "--hdr-log", hlog)
			code, stdout, stderr := runCLI(t, args...)
			if code != ExitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if !summaryRE.MatchString(stdout) {
				t.Errorf("stdout is not a summary:\n%s", stdout)
			}
			r := readResultFile(t, jsonFile)
			c.check(t, r)
			if r.Sent == 0 || r.Failed != 0 || r.Succeeded != r.Sent || r.Doubt != "" || r.Interrupted {
				t.Errorf("sent %d, succeeded %d, failed %d (%v), doubt %q, interrupted %v; want every query to succeed", r.Sent, r.Succeeded, r.Failed, r.Errors, r.Doubt, r.Interrupted)
			}
			if !strings.Contains(stdout, "Success        [ratio]                                 100.00%") ||
				!strings.Contains(stdout, "200:"+itoa(r.Succeeded)) {
				t.Errorf("stdout does not give the success ratio and status counts of %d queries:\n%s", r.Sent, stdout)
			}
			if got := infers.Load() - before; got != r.Sent+int64(r.Plan.Warmup) {
				t.Errorf("the server received %d inference requests, want %d timed + %d warm-up", got, r.Sent, r.Plan.Warmup)
			}
			// The seed is printed: drawn when not given.
			if !strings.Contains(stderr, "seed "+u64toa(r.Plan.Seed)) {
				t.Errorf("stderr does not give the seed %d:\n%s", r.Plan.Seed, stderr)
			}
			if i > 0 && !strings.Contains(stderr, "drawn; repeat the plan with --seed "+u64toa(r.Plan.Seed)) {
				t.Errorf("stderr does not say the seed was drawn:\n%s", stderr)
			}
			// --out holds the same result and a log, and nothing else.
			same := readResultFile(t, filepath.Join(out, loadResultFile))
			if same.Sent != r.Sent || same.Latency.Histogram != r.Latency.Histogram {
				t.Errorf("%s/%s differs from --json", out, loadResultFile)
			}
			entries, err := os.ReadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if strings.Join(names, " ") != loadLogFile+" "+loadResultFile {
				t.Errorf("--out holds %v, want %s and %s alone", names, loadLogFile, loadResultFile)
			}
			// The HdrHistogram log reads back with HdrHistogram's reader
			// and holds every successful query.
			for _, p := range []string{hlog, filepath.Join(out, loadLogFile)} {
				f, err := os.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				h, err := hdrhistogram.NewHistogramLogReader(f).NextIntervalHistogram()
				f.Close()
				if err != nil || h == nil {
					t.Fatalf("%s: no interval histogram: %v", p, err)
				}
				if h.TotalCount() != r.Succeeded {
					t.Errorf("%s: histogram holds %d values, want %d", p, h.TotalCount(), r.Succeeded)
				}
			}
		})
	}
}

// with is args followed by more, in a slice of its own.
func with(args []string, more ...string) []string {
	return append(slices.Clone(args), more...)
}

func itoa(n int64) string    { return u64toa(uint64(n)) }
func u64toa(n uint64) string { b, _ := json.Marshal(n); return string(b) }

// TestLoadFailuresAreData: queries the target refuses are counted by
// status, and the command still exits 0; a target where nothing listens
// exits 3.
func TestLoadFailuresAreData(t *testing.T) {
	ts, _ := loadServer(t, &fakeoip.Server{Token: "s3cret-token"})
	code, stdout, stderr := runCLI(t, "load", "--target", ts.URL, "--model", "seed-cnn", "--rate", "50", "--duration", "100ms", "--max-lateness", "1h")
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !regexp.MustCompile(`Status Codes +\[code:count\] +401:\d+\n`).MatchString(stdout) || !strings.Contains(stdout, "0.00%") {
		t.Errorf("stdout does not count the 401 answers:\n%s", stdout)
	}

	closed := "http://" + testnet.ClosedAddr(t)
	code, stdout, stderr = runCLI(t, "load", "--target", closed, "--model", "seed-cnn", "--rate", "50", "--duration", "100ms", "--max-lateness", "1h")
	if code != ExitUnreachable {
		t.Errorf("exit %d against %s, want %d\nstdout:\n%s\nstderr:\n%s", code, closed, ExitUnreachable, stdout, stderr)
	}
	if !strings.Contains(stderr, "no query reached "+closed) || !strings.Contains(stdout, "transport: ") {
		t.Errorf("the output does not say the target was unreachable:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
}

// TestLoadInterrupted: cancelling the context (what Ctrl-C does) ends the
// run with the summary of what was measured, exit 1, and the result
// written with interrupted set.
func TestLoadInterrupted(t *testing.T) {
	// The server answers the first 3 queries and holds the others until
	// the test ends.
	const answered = 3
	release := make(chan struct{})
	var infers atomic.Int64
	fake := (&fakeoip.Server{}).Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/infer") && infers.Add(1) > answered {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	t.Cleanup(func() { close(release) })

	jsonFile := filepath.Join(t.TempDir(), "r.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for infers.Load() <= answered && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	var out, errOut bytes.Buffer
	code := Main(ctx, []string{"load", "--target", ts.URL, "--model", "seed-cnn", "--rate", "100", "--duration", "1h", "--timeout", "10s", "--json", jsonFile}, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	if code != ExitFail {
		t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitFail, out.String(), errOut.String())
	}
	if !summaryRE.MatchString(out.String()) || !strings.Contains(out.String(), "interrupted: the result is partial") {
		t.Errorf("stdout lacks the partial summary:\n%s", out.String())
	}
	r := readResultFile(t, jsonFile)
	if !r.Interrupted || r.Succeeded != answered {
		t.Errorf("result: interrupted %v with %d succeeded, want interrupted with the %d answered queries", r.Interrupted, r.Succeeded, answered)
	}
}

// TestLoadStartAt: a run waits for --start-at, and Ctrl-C while it waits
// ends it with nothing sent.
func TestLoadStartAt(t *testing.T) {
	ts, infers := loadServer(t, &fakeoip.Server{})
	args := []string{"load", "--target", ts.URL, "--model", "seed-cnn", "--rate", "50", "--duration", "100ms", "--max-lateness", "1h", "--start-at"}

	t.Run("waits, then runs", func(t *testing.T) {
		at := time.Now().Add(1500 * time.Millisecond)
		code, stdout, stderr := runCLI(t, with(args, at.UTC().Format(time.RFC3339Nano))...)
		if code != ExitOK {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if !strings.Contains(stderr, "for --start-at "+at.UTC().Format(time.RFC3339Nano)) || !summaryRE.MatchString(stdout) {
			t.Errorf("the run did not say it waited, or printed no summary:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
		if time.Now().Before(at) {
			t.Errorf("the run ended before --start-at")
		}
	})

	t.Run("interrupted while waiting", func(t *testing.T) {
		before := infers.Load()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out, errOut := &serveTestBuffer{}, &serveTestBuffer{}
		done := make(chan int, 1)
		go func() {
			done <- Main(ctx, with(args, time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), Streams{In: strings.NewReader(""), Out: out, Err: errOut})
		}()
		for !strings.Contains(errOut.String(), "for --start-at") {
			select {
			case code := <-done:
				t.Fatalf("exit %d before waiting:\n%s", code, errOut.String())
			case <-time.After(5 * time.Millisecond):
			}
		}
		cancel()
		if code := <-done; code != ExitFail {
			t.Errorf("exit %d, want %d", code, ExitFail)
		}
		if !strings.Contains(errOut.String(), "interrupted while waiting for --start-at; nothing was sent") {
			t.Errorf("stderr does not say nothing was sent:\n%s", errOut.String())
		}
		if n := infers.Load() - before; n != 0 {
			t.Errorf("the server received %d inference requests", n)
		}
	})
}

// TestLoadShardInProcess: a shard runs its share of the rate, says which
// shard it is, and warns when its result is not kept.
func TestLoadShardInProcess(t *testing.T) {
	ts, _ := loadServer(t, &fakeoip.Server{})
	t.Setenv(shardIndexEnv, "1")
	code, stdout, stderr := runCLI(t, "load", "--target", ts.URL, "--model", "seed-cnn", "--rate", "50", "--duration", "100ms", "--max-lateness", "1h", "--seed", "3", "--shard", "auto/2")
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "poisson arrivals at 25/s for at least 100ms, shard 1 of 2, seed 3") {
		t.Errorf("the summary does not describe shard 1 of 2 at 25/s:\n%s", stdout)
	}
	if !strings.Contains(stderr, "warning: a shard without --out or --json") {
		t.Errorf("stderr does not warn that the shard's result is not kept:\n%s", stderr)
	}
}

// writeShardResults runs every shard of plan in-process against an
// instant target and writes each result to dir/shard-I/result.json.
func writeShardResults(t *testing.T, dir string, plan load.Plan, count int) []string {
	t.Helper()
	var dirs []string
	for i := range count {
		p, err := plan.ForShard(i, count)
		if err != nil {
			t.Fatal(err)
		}
		r, err := load.Run(context.Background(), p, load.TargetFunc(func(context.Context, load.Query) error { return nil }), load.Options{MaxLateness: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		d := filepath.Join(dir, "shard-"+itoa(int64(i)))
		outs, err := openLoadOutputs("test", d, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := outs.write(r); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	return dirs
}

func TestLoadMerge(t *testing.T) {
	dir := t.TempDir()
	plan := load.Plan{Rate: 400, Arrival: load.Poisson, Duration: 50 * time.Millisecond, Seed: 9}
	dirs := writeShardResults(t, dir, plan, 3)
	other := plan
	other.Seed = 10
	otherDirs := writeShardResults(t, filepath.Join(dir, "other"), other, 3)
	unsharded := writeShardResults(t, filepath.Join(dir, "whole"), plan, 1)

	writeFile := func(name, content string) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, loadResultFile), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	good, err := os.ReadFile(filepath.Join(dirs[0], loadResultFile))
	if err != nil {
		t.Fatal(err)
	}
	garbage := writeFile("garbage", "{not json")
	trailing := writeFile("trailing", string(good)+"{}")
	var doc map[string]any
	if err := json.Unmarshal(good, &doc); err != nil {
		t.Fatal(err)
	}
	doc["failed"] = doc["sent"]
	tampered, _ := json.Marshal(doc)
	miscounted := writeFile("miscounted", string(tampered))
	empty := filepath.Join(dir, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}

	t.Run("merges", func(t *testing.T) {
		merged := filepath.Join(dir, "merged.json")
		code, stdout, stderr := runCLI(t, append([]string{"load", "merge", "--json", merged}, dirs[2], dirs[0], dirs[1])...)
		if code != ExitOK {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if !summaryRE.MatchString(stdout) {
			t.Errorf("stdout is not a summary:\n%s", stdout)
		}
		m := readResultFile(t, merged)
		var sent int64
		for _, d := range dirs {
			sent += readResultFile(t, filepath.Join(d, loadResultFile)).Sent
		}
		if m.Sent != sent || m.Plan.Rate != plan.Rate || m.Plan.Shard.Count > 1 {
			t.Errorf("merged %d sent at plan %+v, want the shards' %d and the whole plan", m.Sent, m.Plan, sent)
		}
	})
	t.Run("one unsharded result", func(t *testing.T) {
		if code, stdout, stderr := runCLI(t, "load", "merge", unsharded[0]); code != ExitOK {
			t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no directories", nil, "load merge: give the directories of the shards"},
		{"missing shard", []string{dirs[0], dirs[2]}, "shard 1 of 3 missing"},
		{"duplicate shard", []string{dirs[0], dirs[1], dirs[1], dirs[2]}, filepath.Join(dirs[1], loadResultFile) + " and " + filepath.Join(dirs[1], loadResultFile) + " both hold shard 1 of 3"},
		{"another plan", []string{dirs[0], otherDirs[1], dirs[2]}, filepath.Join(otherDirs[1], loadResultFile) + " and " + filepath.Join(dirs[0], loadResultFile) + " are not shards of one plan: plans differ in seed: 9 and 10"},
		{"another shard count", []string{unsharded[0], dirs[1]}, "plans differ in rate"},
		{"no result file", []string{dirs[0], empty}, filepath.Join(empty, loadResultFile) + " does not exist: each directory given is the --out of one shard"},
		{"not JSON", []string{garbage}, filepath.Join(garbage, loadResultFile) + ": not a load result"},
		{"data after the document", []string{trailing}, "data after the JSON document"},
		{"counts do not add up", []string{miscounted}, "do not add up"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"load", "merge"}, c.args...)...)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitUsage, stdout, stderr)
			}
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, stderr)
			}
		})
	}
}

// TestLoadShardProcesses runs one plan as 4 shard processes at once, merges
// them with `load merge`, and runs it unsharded: the counts add up, and
// both the merged and the unsharded query counts are Poisson draws at the
// plan's rate and duration.
func TestLoadShardProcesses(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skipf("cannot find the test binary to run aiconform as processes: %v", err)
	}
	ts, _ := loadServer(t, &fakeoip.Server{})
	const (
		shards   = 4
		rate     = 200.0
		duration = time.Second
	)
	plan := []string{"load", "--target", ts.URL, "--model", fakeoip.Model, "--rate", strconv.FormatFloat(rate, 'g', -1, 64), "--duration", duration.String(), "--seed", "20261202", "--warmup", "2", "--max-lateness", "1h"}
	dir := t.TempDir()
	aiconform := func(ctx context.Context, args ...string) (int, string) {
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Env = append(os.Environ(), childMainEnv+"=1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if err != nil && cmd.ProcessState == nil {
			t.Fatalf("aiconform %s: %v", strings.Join(args, " "), err)
		}
		return cmd.ProcessState.ExitCode(), out.String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	dirs := make([]string, shards)
	var wg sync.WaitGroup
	codes, outs := make([]int, shards), make([]string, shards)
	for i := range shards {
		dirs[i] = filepath.Join(dir, "shard-"+itoa(int64(i)))
		wg.Go(func() {
			args := with(plan, "--shard", itoa(int64(i))+"/4", "--out", dirs[i])
			codes[i], outs[i] = aiconform(ctx, args...)
		})
	}
	wg.Wait()
	var shardResults []*load.Result
	for i := range shards {
		if codes[i] != ExitOK {
			t.Fatalf("shard %d exited %d:\n%s", i, codes[i], outs[i])
		}
		r := readResultFile(t, filepath.Join(dirs[i], loadResultFile))
		if r.Plan.Shard != (load.Shard{Index: i, Count: shards}) {
			t.Errorf("shard %d wrote the result of shard %+v", i, r.Plan.Shard)
		}
		if _, err := os.Stat(filepath.Join(dirs[i], loadLogFile)); err != nil {
			t.Errorf("shard %d wrote no log: %v", i, err)
		}
		shardResults = append(shardResults, r)
	}

	mergedFile := filepath.Join(dir, "merged.json")
	code, out := aiconform(ctx, append([]string{"load", "merge", "--json", mergedFile}, dirs...)...)
	if code != ExitOK {
		t.Fatalf("load merge exited %d:\n%s", code, out)
	}
	merged := readResultFile(t, mergedFile)

	wholeFile := filepath.Join(dir, "whole.json")
	code, out = aiconform(ctx, with(plan, "--json", wholeFile)...)
	if code != ExitOK {
		t.Fatalf("the unsharded run exited %d:\n%s", code, out)
	}
	whole := readResultFile(t, wholeFile)

	var sent, succeeded, failed int64
	for _, r := range shardResults {
		sent += r.Sent
		succeeded += r.Succeeded
		failed += r.Failed
	}
	if merged.Sent != sent || merged.Succeeded != succeeded || merged.Failed != failed {
		t.Errorf("merged sent/succeeded/failed %d/%d/%d, the shards' sums %d/%d/%d", merged.Sent, merged.Succeeded, merged.Failed, sent, succeeded, failed)
	}
	h, err := hdrhistogram.Decode([]byte(merged.Latency.Histogram))
	if err != nil {
		t.Fatal(err)
	}
	if h.TotalCount() != merged.Latency.Count || merged.Latency.Count != merged.Succeeded {
		t.Errorf("the merged histogram holds %d values, its count is %d and %d queries succeeded", h.TotalCount(), merged.Latency.Count, merged.Succeeded)
	}
	if err := load.SamePlan(merged.Plan, whole.Plan); err != nil || merged.Plan.Shard.Count > 1 || merged.Plan.Rate != rate {
		t.Errorf("merged plan %+v is not the whole plan %+v: %v", merged.Plan, whole.Plan, err)
	}
	// The number of arrivals in the timed phase is Poisson with mean
	// rate × duration: within 6 standard deviations but for a chance of
	// about 2e-9.
	mean := rate * duration.Seconds()
	for _, c := range []struct {
		name string
		r    *load.Result
	}{{"merged", merged}, {"unsharded", whole}} {
		if math.Abs(float64(c.r.Sent)-mean) > 6*math.Sqrt(mean) {
			t.Errorf("%s: %d queries sent, want %g ± %.0f", c.name, c.r.Sent, mean, 6*math.Sqrt(mean))
		}
		if c.r.Failed != 0 {
			t.Errorf("%s: %d queries failed: %v", c.name, c.r.Failed, c.r.Errors)
		}
	}

	// merge refuses a shard of another plan and a missing shard.
	foreign := filepath.Join(dir, "foreign")
	if err := os.MkdirAll(foreign, 0o755); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	b, err := os.ReadFile(filepath.Join(dirs[3], loadResultFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["plan"].(map[string]any)["duration"] = "2s"
	b, _ = json.Marshal(doc)
	if err := os.WriteFile(filepath.Join(foreign, loadResultFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		dirs []string
		want string
	}{
		{"mismatched plan", []string{dirs[0], dirs[1], dirs[2], foreign}, "plans differ in duration"},
		{"missing shard", dirs[:3], "shard 3 of 4 missing"},
	} {
		code, out := aiconform(ctx, append([]string{"load", "merge"}, c.dirs...)...)
		if code != ExitUsage || !strings.Contains(out, c.want) {
			t.Errorf("%s: load merge exited %d, want %d with %q:\n%s", c.name, code, ExitUsage, c.want, out)
		}
	}
}

// kubeletExpand expands $(VAR) references in s from env, as the kubelet
// expands a container's args: $$ is a literal $, and a reference to a
// variable not defined is left as it is.
func kubeletExpand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case s[i+1] == '$':
			b.WriteByte('$')
			i++
		case s[i+1] == '(':
			end := strings.IndexByte(s[i:], ')')
			if v, ok := env[s[i+2:i+max(end, 2)]]; end > 0 && ok {
				b.WriteString(v)
				i += end
				continue
			}
			b.WriteByte('$')
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// TestKubernetesManifestArgs parses the args of the Kubernetes manifests
// with the flags of `aiconform load` and `load merge`, as each pod would
// run them: pod i of the Indexed Job runs shard i of the plan and writes
// the directory the merge Job reads i-th.
func TestKubernetesManifestArgs(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "kubernetes")
	var loadJob, mergeJob batchv1.Job
	for file, v := range map[string]*batchv1.Job{"load-job.yaml": &loadJob, "merge-job.yaml": &mergeJob} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(b, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	n := int(*loadJob.Spec.Completions)
	container := loadJob.Spec.Template.Spec.Containers[0]
	mergeArgs := mergeJob.Spec.Template.Spec.Containers[0].Args

	merge := newLoadMergeCmd(Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
	if len(mergeArgs) < 2 || mergeArgs[0] != "load" || mergeArgs[1] != "merge" {
		t.Fatalf("merge-job.yaml: args %q, want load merge ...", mergeArgs)
	}
	if err := merge.ParseFlags(mergeArgs[2:]); err != nil {
		t.Fatalf("merge-job.yaml: %v", err)
	}
	mergeDirs := merge.Flags().Args()
	if len(mergeDirs) != n {
		t.Fatalf("merge-job.yaml merges %d directories, the load Job has %d shards", len(mergeDirs), n)
	}

	var rate float64
	for i := range n {
		env := map[string]string{shardIndexEnv: strconv.Itoa(i)}
		for _, e := range container.Env {
			if e.Value != "" {
				env[e.Name] = e.Value
			} else {
				// The start time comes from a ConfigMap at run time.
				env[e.Name] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
			}
		}
		args := make([]string, len(container.Args))
		for j, a := range container.Args {
			args[j] = kubeletExpand(a, env)
		}
		if args[0] != "load" {
			t.Fatalf("load-job.yaml: args %q, want load ...", args)
		}
		o := newLoadOptions()
		f := pflag.NewFlagSet("load", pflag.ContinueOnError)
		bindLoadFlags(f, &o)
		if err := f.Parse(args[1:]); err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		if f.NArg() != 0 {
			t.Errorf("pod %d: positional args %q", i, f.Args())
		}
		o.noteChanged(f)
		o.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
		run, err := prepareLoad(o)
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
		if run.plan.Shard != (load.Shard{Index: i, Count: n}) {
			t.Errorf("pod %d runs shard %+v, want %d of %d", i, run.plan.Shard, i, n)
		}
		if run.startAt.IsZero() {
			t.Errorf("pod %d: no --start-at: the shards would not start together", i)
		}
		if i == 0 {
			rate = run.plan.Rate
		} else if run.plan.Rate != rate {
			t.Errorf("pod %d runs at %g/s, pod 0 at %g/s", i, run.plan.Rate, rate)
		}
		if got, want := filepath.Clean(o.OutDir), filepath.Clean(mergeDirs[i]); got != want {
			t.Errorf("pod %d writes %s, but the merge reads %s as shard %d", i, got, want, i)
		}
	}
}
