// Command loadbench measures aiconform's load generator (conformance/load)
// beside vegeta and a net/http client against one trivial Go server, for
// "The load generator" in docs/performance.md. scripts/loadbench.sh runs
// it; it is a tool for a person, not a test.
//
//	loadbench serve  -addr 127.0.0.1:8089 [-delay 5ms] [-slow-every 100 -slow-delay 50ms]
//	loadbench ours   -url http://127.0.0.1:8089/ -rate 20000 -d 10s [-conns 256] [-truth]
//	loadbench nethttp ... (the same flags, net/http as the client)
//	loadbench vegeta ... (the same flags, vegeta as the generator)
//
// serve answers every request with 200 and a 16-byte body, after the
// given delay (every slow-every-th request after slow-delay instead), and
// records how long each request spent in its handler, the response
// flushed to the socket: the truth a generator's latency is compared
// with. GET /truth returns that
// distribution and clears it.
//
// Each client prints one JSON line: the offered and achieved rates, the
// share of sends more than 1 ms late against their schedule, latency
// percentiles (ours: from the scheduled send time, and from the actual
// send; vegeta: from the actual send, the only one it has), the
// server's truth when -truth is set, and the process's peak RSS.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/aiconform/aiconform/conformance/load"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadbench serve|ours|nethttp|vegeta [flags]")
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		err = serve(args)
	case "ours", "nethttp", "vegeta":
		err = client(cmd, args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

// truth is the server's own record of its handler times.
type truth struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

func (t *truth) record(d time.Duration) {
	t.mu.Lock()
	t.h.RecordValue(int64(d / time.Microsecond)) //nolint:errcheck // clamped by the range below
	t.mu.Unlock()
}

// summary is a distribution's percentiles in milliseconds.
type summary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

func summarise(h *hdrhistogram.Histogram) summary {
	ms := func(q float64) float64 { return float64(h.ValueAtQuantile(q)) / 1000 }
	return summary{Count: h.TotalCount(), P50: ms(50), P90: ms(90), P99: ms(99), Max: float64(h.Max()) / 1000}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8089", "listen address")
	delay := fs.Duration("delay", 0, "handler delay")
	slowEvery := fs.Int64("slow-every", 0, "every n-th request takes slow-delay (0: none)")
	slowDelay := fs.Duration("slow-delay", 50*time.Millisecond, "delay of the slow requests")
	fs.Parse(args)
	tr := &truth{h: hdrhistogram.New(1, 3_600_000_000, 3)}
	var n atomic.Int64
	body := []byte("0123456789abcdef")
	mux := http.NewServeMux()
	mux.HandleFunc("/truth", func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		s := summarise(tr.h)
		tr.h.Reset()
		tr.mu.Unlock()
		json.NewEncoder(w).Encode(s)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		io.Copy(io.Discard, r.Body)
		d := *delay
		if *slowEvery > 0 && n.Add(1)%*slowEvery == 0 {
			d = *slowDelay
		}
		if d > 0 {
			time.Sleep(d)
		}
		w.Write(body)
		// The response leaves for the client here, not when the
		// handler returns: flush it inside the timed span.
		w.(http.Flusher).Flush()
		tr.record(time.Since(start))
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// report is what a client prints.
type report struct {
	Tool        string   `json:"tool"`
	Offered     float64  `json:"offered"`
	Achieved    float64  `json:"achieved"`
	Sent        int64    `json:"sent"`
	Failed      int64    `json:"failed"`
	LateShare   float64  `json:"lateShare"` // sends more than 1 ms late
	LateP99     float64  `json:"latenessP99"`
	Latency     summary  `json:"latency"`               // from the scheduled send (ours)
	Uncorrected *summary `json:"uncorrected,omitempty"` // from the actual send
	Truth       *summary `json:"truth,omitempty"`
	PeakOut     int      `json:"peakOutstanding,omitempty"`
	Doubt       string   `json:"doubt,omitempty"`
	MaxRSSMiB   float64  `json:"maxRSSMiB"`
	HeapMiB     float64  `json:"heapInuseMiB"`  // at the end of the run
	StackMiB    float64  `json:"stackInuseMiB"` // at the end of the run
	CPUSeconds  float64  `json:"cpuSeconds"`
}

func client(tool string, args []string) error {
	fs := flag.NewFlagSet(tool, flag.ExitOnError)
	url := fs.String("url", "http://127.0.0.1:8089/", "target URL")
	rate := fs.Float64("rate", 10000, "open-loop rate, queries per second")
	d := fs.Duration("d", 10*time.Second, "duration")
	conns := fs.Int("conns", 256, "connection (and sender) cap")
	lanes := fs.Int("lanes", 0, "closed loop with this many lanes instead of -rate (ours, nethttp)")
	minQ := fs.Int64("min", 0, "minimum queries (ours)")
	arrival := fs.String("arrival", "constant", "constant or poisson (ours, nethttp)")
	withTruth := fs.Bool("truth", false, "read the server's truth before and after")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	fs.Parse(args)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	base := *url
	if *withTruth {
		if _, err := fetchTruth(base); err != nil {
			return err
		}
	}
	var rep report
	var err error
	switch tool {
	case "ours", "nethttp":
		rep, err = runOurs(tool, base, *rate, *lanes, *d, *conns, *minQ, load.Arrival(*arrival))
	case "vegeta":
		rep, err = runVegeta(base, *rate, *d, *conns)
	}
	if err != nil {
		return err
	}
	if *withTruth {
		s, err := fetchTruth(base)
		if err != nil {
			return err
		}
		rep.Truth = &s
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.HeapMiB, rep.StackMiB = float64(ms.HeapInuse)/(1<<20), float64(ms.StackInuse)/(1<<20)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	rep.MaxRSSMiB = float64(ru.Maxrss) / 1024
	rep.CPUSeconds = time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime)).Seconds()
	return json.NewEncoder(os.Stdout).Encode(rep)
}

func fetchTruth(base string) (summary, error) {
	var s summary
	resp, err := http.Get(base + "truth")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// netHTTPTarget is a load.Target on net/http, for the client comparison.
type netHTTPTarget struct {
	c   *http.Client
	url string
}

func (t *netHTTPTarget) Hit(ctx context.Context, q load.Query) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return err
	}
	resp, err := t.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return &load.QueryError{Kind: load.KindStatus, Status: resp.StatusCode}
	}
	return nil
}

func runOurs(tool, url string, rate float64, lanes int, d time.Duration, conns int, minQ int64, arrival load.Arrival) (report, error) {
	var target load.Target
	if tool == "ours" {
		t, err := load.NewHTTPTarget(load.HTTPConfig{URL: url, MaxConnections: conns})
		if err != nil {
			return report{}, err
		}
		defer t.Close()
		target = t
	} else {
		tr := &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns}
		target = &netHTTPTarget{c: &http.Client{Transport: tr}, url: url}
	}
	p := load.Plan{Rate: rate, Arrival: arrival, Duration: d, MinQueries: minQ, Warmup: 32, Seed: 1}
	if lanes > 0 {
		p.Rate, p.Arrival, p.Concurrency = 0, "", lanes
	}
	r, err := load.Run(context.Background(), p, target, load.Options{MaxConnections: conns})
	if err != nil {
		return report{}, err
	}
	lat, err := hdrhistogram.Decode([]byte(r.Latency.Histogram))
	if err != nil {
		return report{}, err
	}
	unc, err := hdrhistogram.Decode([]byte(r.Uncorrected.Histogram))
	if err != nil {
		return report{}, err
	}
	late, err := hdrhistogram.Decode([]byte(r.Lateness.Histogram))
	if err != nil {
		return report{}, err
	}
	var over int64
	for _, b := range late.Distribution() {
		if b.From > 1000 {
			over += b.Count
		}
	}
	u := summarise(unc)
	return report{
		Tool: tool, Offered: p.Rate, Achieved: r.Rate(), Sent: r.Sent, Failed: r.Failed,
		LateShare: float64(over) / float64(max(late.TotalCount(), 1)), LateP99: float64(r.Lateness.P99),
		Latency: summarise(lat), Uncorrected: &u, PeakOut: r.PeakOutstanding, Doubt: r.Doubt,
	}, nil
}

func runVegeta(url string, rate float64, d time.Duration, conns int) (report, error) {
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url})
	// Capped like ours: at most conns workers (each one request in flight)
	// and conns connections. vegeta's defaults (unbounded workers, 10000
	// idle connections) open a connection per outstanding request.
	a := vegeta.NewAttacker(vegeta.Workers(uint64(min(conns, 64))), vegeta.MaxWorkers(uint64(conns)),
		vegeta.Connections(conns), vegeta.MaxConnections(conns), vegeta.KeepAlive(true))
	pacer := vegeta.Rate{Freq: int(rate), Per: time.Second}
	lat := hdrhistogram.New(1, 3_600_000_000, 3)
	late := hdrhistogram.New(1, 3_600_000_000, 3)
	interval := float64(time.Second) / rate
	// vegeta sends hit i at began + i/rate; its results carry the actual
	// send time. began is not reported: the earliest send less its
	// scheduled offset stands for it (hit 0 goes out at once).
	var origins []int64 // send time less scheduled offset, ns since first
	var first time.Time
	var sent, failed int64
	var last time.Time
	for res := range a.Attack(targeter, pacer, d, "bench") {
		if first.IsZero() {
			first = res.Timestamp
		}
		sent++
		if res.Code != 200 || res.Error != "" {
			failed++
		} else {
			lat.RecordValue(int64(res.Latency / time.Microsecond))
		}
		origins = append(origins, int64(res.Timestamp.Sub(first))-int64(float64(res.Seq)*interval))
		if e := res.End(); e.After(last) {
			last = e
		}
	}
	began := int64(0)
	for i, o := range origins {
		if i == 0 || o < began {
			began = o
		}
	}
	for _, o := range origins {
		late.RecordValue((o - began) / int64(time.Microsecond))
	}
	var over int64
	for _, b := range late.Distribution() {
		if b.From > 1000 {
			over += b.Count
		}
	}
	return report{
		Tool: "vegeta", Offered: rate, Achieved: float64(sent) / last.Sub(first.Add(time.Duration(began))).Seconds(), Sent: sent, Failed: failed,
		LateShare: float64(over) / float64(max(late.TotalCount(), 1)), LateP99: float64(late.ValueAtQuantile(99)) / 1000,
		Latency: summarise(lat),
	}, nil
}
