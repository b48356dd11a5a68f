// Command soak holds the reference server (`aiconform serve`) under a
// steady load for a long time and checks that it stays healthy: good
// requests keep succeeding while hostile ones and clients that leave early
// come in between, its goroutines come back to where they were, and its
// resident memory stays flat. scripts/soak.sh builds and starts the server
// and runs it; it is a tool for a person, not a test (its own test runs a
// few seconds of it in-process).
//
//	soak -target http://127.0.0.1:8000 [-debug http://127.0.0.1:8001] [-pid PID]
//	     [-duration 10m] [-probe 20s] [-load 0.8] [-lanes 8] [-sample 10s] [-out FILE]
//
// It runs in three phases:
//
//  1. probe: a closed loop of -lanes queries outstanding sends the mix for
//     -probe; the rate it achieves is the server's sustainable rate for the
//     mix;
//  2. soak: an open loop sends the mix at -load times that rate, at
//     constant intervals, for -duration, while the server's VmRSS (from
//     /proc/PID/status, with -pid) is sampled every -sample;
//  3. settle: the client's idle connections are closed and the server's
//     goroutine count (from expvar at -debug, `aiconform serve
//     --debug-addr`) is read every half second until it is back to its
//     count before the probe or settleTimeout has passed.
//
// The mix (mix.go) is good inference requests, the kinds of requests the
// suite's safety battery sends, and clients that disconnect early. It
// prints a summary and writes it as JSON to -out, and exits 1 unless every
// good request succeeded, every hostile one got its rejection, the
// goroutines came back (to at most goroutineSlack more) and the memory
// stayed flat (see flat).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/aiconform/aiconform/conformance/load"
)

// Bounds of the verdict.
const (
	// goroutineSlack is how many more goroutines than before the probe the
	// server may have once the load has settled.
	goroutineSlack = 2
	// settleTimeout bounds the wait for the goroutines to come back.
	settleTimeout = 30 * time.Second
	// flatRatio and flatMiB bound memory growth: the highest VmRSS sample
	// of the soak's second half may exceed the highest of its first half
	// by flatRatio of it or flatMiB, whichever is more.
	flatRatio = 0.10
	flatMiB   = 16
)

// config is what a soak runs.
type config struct {
	target, debug string
	pid           int
	duration      time.Duration
	probe         time.Duration
	load          float64
	lanes         int
	sample        time.Duration
	timeout       time.Duration
	seed          uint64
}

func main() {
	var cfg config
	var out string
	flag.StringVar(&cfg.target, "target", "http://127.0.0.1:8000", "base URL of the server")
	flag.StringVar(&cfg.debug, "debug", "", "base URL of the server's debug listener (aiconform serve --debug-addr), for its goroutine count")
	flag.IntVar(&cfg.pid, "pid", 0, "process id of the server, for its VmRSS (0: not sampled)")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Minute, "length of the soak at the steady rate")
	flag.DurationVar(&cfg.probe, "probe", 20*time.Second, "length of the closed-loop probe of the sustainable rate")
	flag.Float64Var(&cfg.load, "load", 0.8, "the soak's rate as a share of the sustainable rate")
	flag.IntVar(&cfg.lanes, "lanes", 8, "queries outstanding during the probe (aiconform serve runs 4 × GOMAXPROCS inferences at once by default)")
	flag.DurationVar(&cfg.sample, "sample", 10*time.Second, "interval of the VmRSS samples")
	flag.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "limit of each query")
	flag.Uint64Var(&cfg.seed, "seed", 1, "seed of the load's schedule")
	flag.StringVar(&out, "out", "", "write the report as JSON to this file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	rep.print(os.Stdout)
	if out != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
			os.Exit(2)
		}
	}
	if !rep.Pass {
		os.Exit(1)
	}
}

// report is what a soak measured, and its verdict.
type report struct {
	Target string `json:"target"`
	// SustainableRate is the probe's achieved rate (queries/s);
	// SoakRate the soak's offered rate.
	SustainableRate float64 `json:"sustainableRate"`
	SoakRate        float64 `json:"soakRate"`
	Probe           phase   `json:"probe"`
	Soak            phase   `json:"soak"`
	// GoodLatency is the latency of the soak's good requests, from their
	// scheduled send time, in ms.
	GoodLatency latency `json:"goodLatencyMs"`
	// Kinds counts the soak's queries of each kind of the mix.
	Kinds []kindCount `json:"kinds"`
	// GoodErrors counts the soak's good requests that did not get 200;
	// HostileUnexpected the hostile ones that did not get their
	// rejection, LeavingUnexpected the leaving clients that saw an error.
	GoodErrors        int64 `json:"goodErrors"`
	HostileUnexpected int64 `json:"hostileUnexpected"`
	LeavingUnexpected int64 `json:"leavingUnexpected"`
	// GoroutinesBefore is the server's goroutine count before the probe,
	// GoroutinesAfter once the load settled (-1: no -debug).
	GoroutinesBefore int `json:"goroutinesBefore"`
	GoroutinesAfter  int `json:"goroutinesAfter"`
	// RSS samples the server's VmRSS during the soak (none without -pid).
	RSS []rssSample `json:"rss"`
	// Pass is the verdict; Failures say what failed it.
	Pass     bool     `json:"pass"`
	Failures []string `json:"failures,omitempty"`
}

// phase is one load phase's figures.
type phase struct {
	Seconds     float64 `json:"seconds"`
	Sent        int64   `json:"sent"`
	Throughput  float64 `json:"throughput"`
	Doubt       string  `json:"doubt,omitempty"`
	Interrupted bool    `json:"interrupted,omitempty"`
}

// latency is a distribution's percentiles in ms.
type latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99.9"`
	Max   float64 `json:"max"`
}

// kindCount is how the queries of one kind of the mix ended.
type kindCount struct {
	Kind       string   `json:"kind"`
	Class      class    `json:"class"`
	Sent       int64    `json:"sent"`
	Unexpected int64    `json:"unexpected"`
	Examples   []string `json:"examples,omitempty"`
}

// rssSample is one VmRSS sample, at seconds into the soak.
type rssSample struct {
	Seconds float64 `json:"seconds"`
	MiB     float64 `json:"mib"`
}

// tally counts a phase's queries by kind, and the good ones' latency.
type tally struct {
	mu    sync.Mutex
	kinds map[string]*kindCount
	good  *hdrhistogram.Histogram
}

func newTally(kinds []kind) *tally {
	t := &tally{kinds: map[string]*kindCount{}, good: hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)}
	for _, k := range kinds {
		t.kinds[k.name] = &kindCount{Kind: k.name, Class: k.class}
	}
	return t
}

// add records a query of kind k that ended as o (with what, when
// unexpected) after d from its scheduled time.
func (t *tally) add(k kind, o outcome, what string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.kinds[k.name]
	c.Sent++
	if o == unexpected {
		c.Unexpected++
		if len(c.Examples) < 3 {
			c.Examples = append(c.Examples, what)
		}
	}
	if k.class == good && o == asExpected {
		_ = t.good.RecordValue(max(int64(d/time.Microsecond), 1))
	}
}

// target is the load generator's target: query seq of the mix.
func target(c *client, kinds []kind, t *tally) load.Target {
	return load.TargetFunc(func(ctx context.Context, q load.Query) error {
		k, v := pick(kinds, q.Seq)
		o, what := k.send(ctx, c, v)
		if !q.Warmup {
			t.add(k, o, what, time.Since(q.Scheduled))
		}
		if o == unexpected {
			return &load.QueryError{Kind: load.KindInvalid, Err: fmt.Errorf("%s: %s", k.name, what)}
		}
		return nil
	})
}

// run runs the three phases against cfg.target, logging progress to log.
func run(ctx context.Context, cfg config, log io.Writer) (*report, error) {
	if cfg.duration <= 0 || cfg.probe <= 0 || cfg.sample <= 0 || cfg.load <= 0 || cfg.lanes <= 0 {
		return nil, fmt.Errorf("-duration, -probe, -sample, -load and -lanes must be positive")
	}
	c, err := newClient(cfg.target, cfg.timeout)
	if err != nil {
		return nil, err
	}
	defer c.close()
	kinds := mix()
	rep := &report{Target: cfg.target, GoroutinesBefore: -1, GoroutinesAfter: -1}
	if cfg.debug != "" {
		if rep.GoroutinesBefore, err = goroutines(ctx, cfg.debug); err != nil {
			return nil, err
		}
	}
	opts := load.Options{Timeout: cfg.timeout, MaxLateness: 10 * time.Millisecond}

	fmt.Fprintf(log, "soak: probing the sustainable rate for %s with %d queries outstanding\n", cfg.probe, cfg.lanes)
	probe, err := load.Run(ctx, load.Plan{Concurrency: cfg.lanes, Duration: cfg.probe, Seed: cfg.seed}, target(c, kinds, newTally(kinds)), opts)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	rep.Probe = phaseOf(probe)
	rep.SustainableRate = rep.Probe.Throughput
	rep.SoakRate = cfg.load * rep.SustainableRate
	if rep.SoakRate <= 0 || probe.Interrupted {
		return nil, fmt.Errorf("probe: no sustainable rate (%d queries sent, interrupted %v)", probe.Sent, probe.Interrupted)
	}

	fmt.Fprintf(log, "soak: %.1f queries/s sustained; soaking at %.1f queries/s for %s\n", rep.SustainableRate, rep.SoakRate, cfg.duration)
	t := newTally(kinds)
	stopRSS := sampleRSS(cfg.pid, cfg.sample, &rep.RSS, log)
	soak, err := load.Run(ctx, load.Plan{Rate: rep.SoakRate, Arrival: load.Constant, Duration: cfg.duration, Seed: cfg.seed + 1}, target(c, kinds, t), opts)
	stopRSS()
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	rep.Soak = phaseOf(soak)
	rep.GoodLatency = latencyOf(t.good)
	for _, k := range kinds {
		kc := *t.kinds[k.name]
		rep.Kinds = append(rep.Kinds, kc)
		switch k.class {
		case good:
			rep.GoodErrors += kc.Unexpected
		case hostile:
			rep.HostileUnexpected += kc.Unexpected
		case leaving:
			rep.LeavingUnexpected += kc.Unexpected
		}
	}

	c.close()
	if cfg.debug != "" {
		fmt.Fprintln(log, "soak: waiting for the server's goroutines to settle")
		deadline := time.Now().Add(settleTimeout)
		for {
			if rep.GoroutinesAfter, err = goroutines(ctx, cfg.debug); err != nil {
				return nil, err
			}
			if rep.GoroutinesAfter <= rep.GoroutinesBefore || time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	rep.judge()
	return rep, nil
}

// judge sets the verdict.
func (r *report) judge() {
	if r.GoodErrors > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d good requests failed", r.GoodErrors))
	}
	if r.HostileUnexpected > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d hostile requests did not get their rejection", r.HostileUnexpected))
	}
	if r.LeavingUnexpected > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d early-leaving clients saw an error before leaving", r.LeavingUnexpected))
	}
	if r.GoroutinesBefore >= 0 && r.GoroutinesAfter > r.GoroutinesBefore+goroutineSlack {
		r.Failures = append(r.Failures, fmt.Sprintf("the server has %d goroutines after the soak, %d before", r.GoroutinesAfter, r.GoroutinesBefore))
	}
	if ok, why := flat(r.RSS); !ok {
		r.Failures = append(r.Failures, why)
	}
	if r.Soak.Interrupted {
		r.Failures = append(r.Failures, "the soak was interrupted")
	}
	r.Pass = len(r.Failures) == 0
}

// flat reports whether the VmRSS samples stayed flat: the highest of the
// second half at most flatRatio (or flatMiB, whichever is more) above the
// highest of the first half. Fewer than 4 samples say nothing.
func flat(s []rssSample) (bool, string) {
	if len(s) < 4 {
		return true, ""
	}
	peak := func(s []rssSample) float64 {
		m := 0.0
		for _, x := range s {
			m = max(m, x.MiB)
		}
		return m
	}
	first, second := peak(s[:len(s)/2]), peak(s[len(s)/2:])
	if allowed := max(first*(1+flatRatio), first+flatMiB); second > allowed {
		return false, fmt.Sprintf("VmRSS grew: %.0f MiB at most in the soak's second half, %.0f MiB in its first (allowed %.0f)", second, first, allowed)
	}
	return true, ""
}

// phaseOf summarises a load result.
func phaseOf(r *load.Result) phase {
	p := phase{Seconds: r.Elapsed().Seconds(), Sent: r.Sent, Doubt: r.Doubt, Interrupted: r.Interrupted}
	if p.Seconds > 0 {
		p.Throughput = float64(r.Sent) / p.Seconds
	}
	return p
}

// latencyOf summarises a histogram of microseconds in ms.
func latencyOf(h *hdrhistogram.Histogram) latency {
	ms := func(q float64) float64 { return float64(h.ValueAtQuantile(q)) / 1000 }
	return latency{Count: h.TotalCount(), P50: ms(50), P90: ms(90), P99: ms(99), P999: ms(99.9), Max: float64(h.Max()) / 1000}
}

// goroutines reads the server's goroutine count from expvar at debug.
func goroutines(ctx context.Context, debug string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(debug, "/")+"/debug/vars", nil)
	if err != nil {
		return 0, fmt.Errorf("the debug endpoint: %w", err)
	}
	req.Close = true // a kept-alive connection would hold a goroutine of the server
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("the debug endpoint: %w", err)
	}
	defer resp.Body.Close()
	var vars struct {
		Goroutines *int `json:"goroutines"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil || vars.Goroutines == nil {
		return 0, fmt.Errorf("the debug endpoint %s/debug/vars has no goroutine count (status %d, %v)", debug, resp.StatusCode, err)
	}
	return *vars.Goroutines, nil
}

// sampleRSS samples the VmRSS of process pid into *into every interval,
// from now until the returned stop is called (which takes a last sample).
// With pid 0 it samples nothing.
func sampleRSS(pid int, interval time.Duration, into *[]rssSample, log io.Writer) (stop func()) {
	if pid == 0 {
		return func() {}
	}
	start := time.Now()
	take := func() {
		mib, err := vmRSS(pid)
		if err != nil {
			fmt.Fprintln(log, "soak:", err)
			return
		}
		s := rssSample{Seconds: time.Since(start).Seconds(), MiB: mib}
		*into = append(*into, s)
		fmt.Fprintf(log, "soak: %5.0f s  VmRSS %.0f MiB\n", s.Seconds, s.MiB)
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		take()
		for {
			select {
			case <-tick.C:
				take()
			case <-done:
				take()
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}

// vmRSS reads the VmRSS of process pid, in MiB.
func vmRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the server's memory: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				break
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

// print writes the report for a person.
func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "target %s\n", r.Target)
	fmt.Fprintf(w, "probe: %d queries in %.1f s, %.1f queries/s sustained (closed loop)\n", r.Probe.Sent, r.Probe.Seconds, r.SustainableRate)
	fmt.Fprintf(w, "soak:  %d queries in %.1f s at %.1f queries/s offered, %.1f achieved\n", r.Soak.Sent, r.Soak.Seconds, r.SoakRate, r.Soak.Throughput)
	if r.Soak.Doubt != "" {
		fmt.Fprintf(w, "       the generator doubts its measurement: %s\n", r.Soak.Doubt)
	}
	l := r.GoodLatency
	fmt.Fprintf(w, "good requests: %d, latency from the scheduled send p50 %.2f ms, p90 %.2f, p99 %.2f, p99.9 %.2f, max %.2f\n", l.Count, l.P50, l.P90, l.P99, l.P999, l.Max)
	fmt.Fprintf(w, "errors: %d good requests failed, %d hostile requests not rejected as they should be, %d leaving clients saw an error\n", r.GoodErrors, r.HostileUnexpected, r.LeavingUnexpected)
	kinds := append([]kindCount(nil), r.Kinds...)
	sort.SliceStable(kinds, func(i, j int) bool { return kinds[i].Class < kinds[j].Class })
	for _, k := range kinds {
		fmt.Fprintf(w, "  %-8s %-28s %7d sent %5d unexpected", k.Class, k.Kind, k.Sent, k.Unexpected)
		if len(k.Examples) > 0 {
			fmt.Fprintf(w, "  e.g. %s", k.Examples[0])
		}
		fmt.Fprintln(w)
	}
	if r.GoroutinesBefore >= 0 {
		fmt.Fprintf(w, "server goroutines: %d before, %d after\n", r.GoroutinesBefore, r.GoroutinesAfter)
	}
	if len(r.RSS) > 0 {
		var parts []string
		for _, s := range r.RSS {
			parts = append(parts, fmt.Sprintf("%.0fs %.0f", s.Seconds, s.MiB))
		}
		fmt.Fprintf(w, "server VmRSS (MiB): %s\n", strings.Join(parts, ", "))
	}
	if r.Pass {
		fmt.Fprintln(w, "verdict: pass")
		return
	}
	fmt.Fprintf(w, "verdict: FAIL: %s\n", strings.Join(r.Failures, "; "))
}
