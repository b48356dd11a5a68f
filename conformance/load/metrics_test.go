package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// resultOf folds outcomes of the given latencies (ms; negative for a
// failed query) into a finished result.
func resultOf(t *testing.T, latMs []float64) *Result {
	t.Helper()
	p := Plan{Rate: 100, Duration: time.Second}
	rec := newRecorder(100 * time.Millisecond)
	for i, ms := range latMs {
		o := outcome{sched: int64(i) * int64(time.Millisecond)}
		o.sent = o.sched
		if ms < 0 {
			o.err = &QueryError{Kind: KindStatus, Status: 503}
			o.done = o.sent
		} else {
			o.done = o.sent + int64(ms*float64(time.Millisecond))
		}
		rec.record(o)
	}
	res := &Result{Plan: p}
	s, err := Options{}.settings(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.finish(rec, p, s); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestPercentileNearestRank(t *testing.T) {
	hundred := make([]float64, 100) // 1 ms … 100 ms
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	failing := append([]float64{}, hundred[:95]...) // 95 good, 5 failed
	failing = append(failing, -1, -1, -1, -1, -1)
	tests := []struct {
		name   string
		lat    []float64
		p      float64
		want   time.Duration
		finite bool
	}{
		{"median", hundred, 0.5, 50 * time.Millisecond, true},
		{"p90", hundred, 0.9, 90 * time.Millisecond, true},
		{"p99 is rank 99, not 100", hundred, 0.99, 99 * time.Millisecond, true},
		{"max", hundred, 1, 100 * time.Millisecond, true},
		{"smallest rank", hundred, 0.001, time.Millisecond, true},
		{"below the failures", failing, 0.95, 95 * time.Millisecond, true},
		{"on a failure", failing, 0.96, infinite, false},
		{"failures exceed 1-p", failing, 0.99, infinite, false},
		{"no queries", nil, 0.5, infinite, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := resultOf(t, tt.lat)
			got, finite := r.Percentile(tt.p)
			if finite != tt.finite {
				t.Fatalf("Percentile(%g) finite = %v, want %v", tt.p, finite, tt.finite)
			}
			// The bucket's highest value overstates by at most 0.1%.
			if got < tt.want || finite && float64(got) > float64(tt.want)*1.001 {
				t.Errorf("Percentile(%g) = %v, want %v (up to 0.1%% above)", tt.p, got, tt.want)
			}
		})
	}
	r := resultOf(t, failing)
	if !math.IsInf(float64(r.Latency.P99), 1) || !math.IsInf(float64(r.Latency.Max), 1) || math.IsInf(float64(r.Latency.P90), 0) {
		t.Errorf("latency summary %+v: want p99 and max +Inf, p90 finite", r.Latency)
	}
	if r.Errors["status 503"] != 5 || r.Failed != 5 || r.Succeeded != 95 || r.Latency.Count != 95 {
		t.Errorf("counts: failed %d, succeeded %d, errors %v", r.Failed, r.Succeeded, r.Errors)
	}
}

// directBound is the smallest k with P(Binomial(n, p) ≤ k−1) ≥ c, by
// summing the binomial terms in log space.
func directBound(n int64, p, c float64) (int64, bool) {
	logTerm := float64(n) * math.Log1p(-p) // log P(X = 0)
	logCDF := logTerm
	for k := int64(1); k <= n; k++ {
		if math.Exp(logCDF) >= c {
			return k, true
		}
		j := k - 1 // next term: P(X = k)
		logTerm += math.Log(float64(n-j)) - math.Log(float64(j+1)) + math.Log(p) - math.Log1p(-p)
		hi, lo := max(logCDF, logTerm), min(logCDF, logTerm)
		logCDF = hi + math.Log1p(math.Exp(lo-hi))
	}
	return 0, false
}

func TestUpperBoundRank(t *testing.T) {
	// The maximum of n latencies bounds the p90 at 99% confidence from
	// n = ⌈ln 0.01 / ln 0.9⌉ = 44 on.
	if _, ok := boundRank(43, 0.9, 0.99); ok {
		t.Errorf("boundRank(43, 0.9, 0.99) ok; 1−0.9^43 < 0.99")
	}
	if k, ok := boundRank(44, 0.9, 0.99); !ok || k != 44 {
		t.Errorf("boundRank(44, 0.9, 0.99) = %d, %v; want the maximum, 44", k, ok)
	}
	for _, tt := range []struct {
		n    int64
		p, c float64
	}{
		{100, 0.9, 0.99}, {1024, 0.9, 0.99}, {4096, 0.99, 0.99}, {270000, 0.99, 0.99}, {1000, 0.5, 0.95}, {50000, 0.999, 0.9},
	} {
		want, wok := directBound(tt.n, tt.p, tt.c)
		got, ok := boundRank(tt.n, tt.p, tt.c)
		if got != want || ok != wok {
			t.Errorf("boundRank(%d, %g, %g) = %d, %v; direct sum gives %d, %v", tt.n, tt.p, tt.c, got, ok, want, wok)
		}
	}
	// Millions of queries: the bound lies a few standard deviations above
	// the mean rank, and the CDF there is what it should be.
	n, p, c := int64(5_000_000), 0.99, 0.99
	k, ok := boundRank(n, p, c)
	mean, sd := float64(n)*p, math.Sqrt(float64(n)*p*(1-p))
	if !ok || float64(k) < mean+2*sd || float64(k) > mean+3*sd {
		t.Errorf("boundRank(%d, %g, %g) = %d, %v; want about mean + 2.33 sd = %.0f", n, p, c, k, ok, mean+2.33*sd)
	}
	if binomialCDF(k-1, n, p) < c || binomialCDF(k-2, n, p) >= c {
		t.Errorf("CDF around k = %d: %g, %g; want the first to reach %g", k, binomialCDF(k-2, n, p), binomialCDF(k-1, n, p), c)
	}
}

func TestUpperBound(t *testing.T) {
	lat := make([]float64, 100)
	for i := range lat {
		lat[i] = float64(i + 1)
	}
	r := resultOf(t, lat)
	k, _ := directBound(100, 0.9, 0.99)
	d, finite, ok := r.UpperBound(0.9, 0.99)
	if !ok || !finite || d < time.Duration(k)*time.Millisecond || d > time.Duration(k)*time.Millisecond*1001/1000 {
		t.Errorf("UpperBound(0.9, 0.99) = %v, %v, %v; want the %d-th latency, %d ms", d, finite, ok, k, k)
	}
	if _, _, ok := resultOf(t, lat[:40]).UpperBound(0.9, 0.99); ok {
		t.Errorf("UpperBound with 40 queries ok; want too few")
	}
	lat[99], lat[98], lat[97], lat[96], lat[95] = -1, -1, -1, -1, -1
	if _, finite, ok := resultOf(t, lat).UpperBound(0.9, 0.99); !ok || finite {
		t.Errorf("UpperBound with 5 failures of 100 = finite %v, ok %v; want an infinite bound", finite, ok)
	}
}

func TestHighestEquivalent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, digits := range []int{2, 3} {
		h := hdrhistogram.New(histLowest, histHighest, digits)
		for range 2000 {
			h.RecordValue(int64(math.Exp(rng.Float64() * math.Log(float64(histHighest)))))
		}
		for _, b := range h.Distribution() {
			if got := highestEquivalent(b.From, digits); got != b.To {
				t.Fatalf("digits %d: highestEquivalent(%d) = %d, the histogram says %d", digits, b.From, got, b.To)
			}
		}
	}
}

func TestClamp(t *testing.T) {
	rec := newRecorder(time.Second)
	rec.record(outcome{sched: 0, sent: 0, done: int64(2 * time.Hour)})
	res := &Result{}
	p := Plan{Rate: 1, Duration: time.Second}
	s, _ := Options{}.settings(p)
	if err := res.finish(rec, p, s); err != nil {
		t.Fatal(err)
	}
	if res.Latency.Clamped != 1 || res.Latency.Count != 1 || float64(res.Latency.Max) < 3.6e6 {
		t.Errorf("latency of 2 h: %+v; want one value clamped to an hour", res.Latency)
	}
}

func TestErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&QueryError{Kind: KindStatus, Status: 503}, "status 503"},
		{&QueryError{Kind: KindInvalid, Err: errors.New("bad")}, KindInvalid},
		{errors.New("boom"), KindTransport},
		{fmt.Errorf("query: %w", context.DeadlineExceeded), KindTimeout},
	}
	for _, tt := range tests {
		if got := ErrorKind(tt.err); got != tt.want {
			t.Errorf("ErrorKind(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	if got := (&QueryError{Kind: KindStatus, Status: 404}).Error(); got != "status 404" {
		t.Errorf("Error() = %q", got)
	}
}

func TestWindowsCoarsen(t *testing.T) {
	rec := newRecorder(100 * time.Millisecond)
	// 2000 windows' worth of queries, ten a window, one in ten failing.
	for i := range 20000 {
		o := outcome{sched: int64(i) * int64(10*time.Millisecond)}
		o.sent, o.done = o.sched, o.sched+int64(time.Millisecond)
		if i%10 == 0 {
			o.err = errors.New("reset")
		}
		rec.record(o)
	}
	if len(rec.windows) > maxWindows || rec.window != int64(800*time.Millisecond) {
		t.Fatalf("%d windows of %v; want at most %d, of 800 ms", len(rec.windows), time.Duration(rec.window), maxWindows)
	}
	ws := rec.summariseWindows()
	var sent, failed int64
	for i, w := range ws {
		sent += w.Sent
		failed += w.Failed
		if float64(w.Offset) != float64(i)*800 || i < len(ws)-1 && (w.Sent != 80 || float64(w.Rate) != 100) {
			t.Errorf("window %d: %+v", i, w)
		}
	}
	if sent != 20000 || failed != 2000 {
		t.Errorf("windows hold %d queries, %d failed; want 20000 and 2000", sent, failed)
	}
}

// TestDecodeHistGeometry: a histogram of another geometry than the run's
// is refused from its header, before its counts are allocated.
func TestDecodeHistGeometry(t *testing.T) {
	encode := func(h *hdrhistogram.Histogram) string {
		t.Helper()
		b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	run := newHist(histDigits)
	if err := run.RecordValue(1500); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		enc  string
		err  string // "" for success
	}{
		{"the run's geometry", encode(run), ""},
		{"empty", "", ""},
		{"the widest range at 5 digits", encode(hdrhistogram.New(1, math.MaxInt64/4, 5)), "want the run's 1 to 3600000000 µs at 3"},
		{"other digits", encode(newHist(2)), "at 2 significant digits"},
		{"other range", encode(hdrhistogram.New(1, 1000, histDigits)), "tracks 1 to 1000 µs"},
		{"not base64", "%%%", "not base64"},
		{"short", "AAAA", "shorter than its 8-byte header"},
		{"not zlib", "AAAAAAAAAAAAAAAA", "decoding histogram"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := decodeHist(tt.enc, histDigits)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if h.SignificantFigures() != histDigits || h.HighestTrackableValue() != histHighest {
					t.Errorf("decoded a histogram of %d digits up to %d", h.SignificantFigures(), h.HighestTrackableValue())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("decodeHist error %v, want one containing %q", err, tt.err)
			}
		})
	}
}
