package load

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// instant is a target that answers at once.
var instant = TargetFunc(func(context.Context, Query) error { return nil })

func TestRunInvalid(t *testing.T) {
	ok := Plan{Rate: 10, Duration: time.Second}
	tests := []struct {
		name string
		p    Plan
		t    Target
		o    Options
		want string
	}{
		{"plan", Plan{Duration: time.Second}, instant, Options{}, "neither rate nor concurrency"},
		{"target", ok, nil, Options{}, "nil target"},
		{"timeout", ok, instant, Options{Timeout: -1}, "timeout"},
		{"connections", ok, instant, Options{MaxConnections: -1}, "maxConnections"},
		{"lateness", ok, instant, Options{MaxLateness: -1}, "maxLateness"},
		{"window", ok, instant, Options{Window: time.Millisecond}, "window"},
		{"lanes over the cap", Plan{Concurrency: 4, Duration: time.Second}, instant, Options{MaxConnections: 2}, "concurrency 4 exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Run(context.Background(), tt.p, tt.t, tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) || r != nil {
				t.Fatalf("Run = %v, %v; want an error containing %q", r, err, tt.want)
			}
		})
	}
}

func TestRunTermination(t *testing.T) {
	tests := []struct {
		name      string
		p         Plan
		wantSent  int64 // exact, when the schedule fixes it
		atLeast   int64
		wantCalls int64 // warm-up included
	}{
		// Constant arrivals every millisecond: offsets 0 … 99 ms fall
		// inside 100 ms.
		{"duration", Plan{Rate: 1000, Arrival: Constant, Duration: 100 * time.Millisecond}, 100, 0, 100},
		{"min queries", Plan{Rate: 2000, Arrival: Constant, Duration: 50 * time.Millisecond, MinQueries: 300}, 300, 0, 300},
		{"warm-up", Plan{Rate: 1000, Arrival: Constant, Duration: 20 * time.Millisecond, Warmup: 7}, 20, 0, 27},
		{"closed loop", Plan{Concurrency: 3, Duration: 30 * time.Millisecond, MinQueries: 500}, 0, 500, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls, warm atomic.Int64
			var mu sync.Mutex
			seqs := map[uint64]bool{}
			target := TargetFunc(func(_ context.Context, q Query) error {
				calls.Add(1)
				mu.Lock()
				defer mu.Unlock()
				if seqs[q.Seq] {
					t.Errorf("sequence number %d sent twice", q.Seq)
				}
				seqs[q.Seq] = true
				if q.Warmup {
					warm.Add(1)
					if q.Seq >= uint64(tt.p.Warmup) {
						t.Errorf("warm-up query numbered %d, want below %d", q.Seq, tt.p.Warmup)
					}
				}
				return nil
			})
			began := time.Now()
			r, err := Run(context.Background(), tt.p, target, Options{})
			wall := time.Since(began)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantSent > 0 && r.Sent != tt.wantSent || r.Sent < tt.atLeast {
				t.Errorf("sent %d, want %d (at least %d)", r.Sent, tt.wantSent, tt.atLeast)
			}
			if tt.wantCalls > 0 && calls.Load() != tt.wantCalls {
				t.Errorf("%d calls, want %d", calls.Load(), tt.wantCalls)
			}
			if warm.Load() != int64(tt.p.Warmup) {
				t.Errorf("%d warm-up queries, want %d", warm.Load(), tt.p.Warmup)
			}
			if r.Sent != r.Succeeded || r.Latency.Count != r.Sent || r.Lateness.Count != r.Sent {
				t.Errorf("sent %d, succeeded %d, latency count %d, lateness count %d", r.Sent, r.Succeeded, r.Latency.Count, r.Lateness.Count)
			}
			// Open loop, the last query is scheduled just inside the
			// plan, so the run spans it. Closed loop, the run ends at the
			// last completion, which a lane descheduled just after it can
			// leave short of the plan; what the plan fixes is that no
			// lane stops before it has passed.
			if tt.p.Concurrency == 0 && r.Elapsed() < tt.p.Duration*9/10 || r.End.Before(r.Start) || r.Elapsed() > wall {
				t.Errorf("elapsed %v (wall %v) for a plan of %v", r.Elapsed(), wall, tt.p.Duration)
			}
			if tt.p.Concurrency > 0 && wall < tt.p.Duration {
				t.Errorf("closed loop returned after %v, before the plan's %v", wall, tt.p.Duration)
			}
			if r.EarlyStopped || r.Interrupted || len(r.Windows) == 0 {
				t.Errorf("early stopped %v, interrupted %v, %d windows", r.EarlyStopped, r.Interrupted, len(r.Windows))
			}
			var wsent int64
			for _, w := range r.Windows {
				wsent += w.Sent
			}
			if wsent != r.Sent {
				t.Errorf("windows hold %d queries, the run %d", wsent, r.Sent)
			}
		})
	}
}

func TestRunCoordinatedOmission(t *testing.T) {
	// One connection; the fifth query blocks for 300 ms while queries keep
	// being scheduled every 2 ms. The ones scheduled meanwhile wait for
	// the connection: their latency from the schedule includes the wait,
	// their latency from the actual send does not, and the generator
	// says it fell behind.
	var n atomic.Int64
	target := TargetFunc(func(ctx context.Context, q Query) error {
		if n.Add(1) == 5 {
			select {
			case <-time.After(300 * time.Millisecond):
			case <-ctx.Done():
			}
		}
		return nil
	})
	p := Plan{Rate: 500, Arrival: Constant, Duration: 400 * time.Millisecond}
	r, err := Run(context.Background(), p, target, Options{MaxConnections: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 200 || r.PeakOutstanding != 1 {
		t.Fatalf("sent %d, peak outstanding %d; want 200 and 1", r.Sent, r.PeakOutstanding)
	}
	// About 150 of the 200 queries were scheduled during the block.
	if r.Latency.P50 < 100 || r.Uncorrected.P50 > 50 {
		t.Errorf("median latency %v ms from the schedule, %v ms from the send; want above 100 and below 50", r.Latency.P50, r.Uncorrected.P50)
	}
	if r.Lateness.P50 < 50 {
		t.Errorf("median send lateness %v ms; want above 50", r.Lateness.P50)
	}
	if !strings.Contains(r.Doubt, "could not keep its schedule") || !strings.Contains(r.Doubt, "not the target") {
		t.Errorf("doubt %q; want the generator's lateness named", r.Doubt)
	}
}

func TestRunConnectionCap(t *testing.T) {
	for _, cap := range []int{1, 4, 16} {
		var now, peak atomic.Int64
		target := TargetFunc(func(ctx context.Context, q Query) error {
			c := now.Add(1)
			defer now.Add(-1)
			for {
				p := peak.Load()
				if c <= p || peak.CompareAndSwap(p, c) {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
			return nil
		})
		p := Plan{Rate: 5000, Duration: 40 * time.Millisecond, Seed: 3}
		r, err := Run(context.Background(), p, target, Options{MaxConnections: cap})
		if err != nil {
			t.Fatal(err)
		}
		if peak.Load() > int64(cap) || r.PeakOutstanding > cap {
			t.Errorf("cap %d: %d concurrent calls, peak outstanding %d", cap, peak.Load(), r.PeakOutstanding)
		}
		if r.Sent < 150 {
			t.Errorf("cap %d: sent %d of about 200", cap, r.Sent)
		}
		if r.Doubt == "" {
			t.Errorf("cap %d: 5 ms queries at 5000/s need 25 connections; want a doubt", cap)
		}
	}
}

func TestRunStop(t *testing.T) {
	p := Plan{Rate: 2000, Duration: 50 * time.Millisecond, MinQueries: 1 << 40}
	var calls int
	var first time.Duration
	var start time.Time
	target := TargetFunc(func(_ context.Context, q Query) error {
		return nil
	})
	stop := func(r *Result) bool {
		if calls == 0 {
			first = time.Since(start)
		}
		calls++
		return r.Sent >= 300
	}
	start = time.Now()
	r, err := Run(context.Background(), p, target, Options{Stop: stop})
	if err != nil {
		t.Fatal(err)
	}
	if !r.EarlyStopped || r.Sent < 300 {
		t.Errorf("early stopped %v after %d queries; want true after at least 300", r.EarlyStopped, r.Sent)
	}
	if first < p.Duration {
		t.Errorf("Stop first asked %v after the start, before the duration %v", first, p.Duration)
	}
	if elapsed := time.Since(start); calls > int(elapsed/stopEvery)+2 {
		t.Errorf("Stop asked %d times in %v; want at most one in %v", calls, elapsed, stopEvery)
	}

	// Not asked when MinQueries is met by the duration's end.
	asked := false
	r, err = Run(context.Background(), Plan{Rate: 1000, Duration: 30 * time.Millisecond}, target,
		Options{Stop: func(*Result) bool { asked = true; return true }})
	if err != nil || asked || r.EarlyStopped {
		t.Errorf("Run = %v; Stop asked %v, early stopped %v; want neither", err, asked, r.EarlyStopped)
	}
}

func TestRunInterrupted(t *testing.T) {
	for _, p := range []Plan{
		{Rate: 1000, Duration: time.Hour},
		{Concurrency: 2, Duration: time.Hour},
		{Rate: 1000, Duration: time.Hour, Warmup: 1 << 30},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		target := TargetFunc(func(ctx context.Context, q Query) error {
			select {
			case <-time.After(time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		start := time.Now()
		r, err := Run(ctx, p, target, Options{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if !r.Interrupted || time.Since(start) > 10*time.Second {
			t.Errorf("%+v: interrupted %v after %v", p, r.Interrupted, time.Since(start))
		}
		if r.Failed != 0 {
			t.Errorf("%+v: %d failed (%v); queries the cancellation cut short must not count", p, r.Failed, r.Errors)
		}
		if p.Warmup == 0 && r.Sent == 0 {
			t.Errorf("%+v: no queries in the partial result", p)
		}
	}
}

func TestRunFailures(t *testing.T) {
	target := TargetFunc(func(_ context.Context, q Query) error {
		switch q.Seq % 8 {
		case 0:
			return &QueryError{Kind: KindStatus, Status: 500}
		case 1:
			return errors.New("connection reset")
		}
		return nil
	})
	p := Plan{Rate: 4000, Arrival: Constant, Duration: 100 * time.Millisecond}
	r, err := Run(context.Background(), p, target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 400 || r.Failed != 100 || r.Errors["status 500"] != 50 || r.Errors[KindTransport] != 50 {
		t.Errorf("sent %d, failed %d, errors %v", r.Sent, r.Failed, r.Errors)
	}
	if _, finite := r.Percentile(0.75); !finite {
		t.Errorf("p75 infinite with a quarter failed")
	}
	if _, finite := r.Percentile(0.76); finite {
		t.Errorf("p76 finite with a quarter failed")
	}
	if r.Throughput() >= r.Rate() || r.Rate() <= 0 {
		t.Errorf("throughput %g, rate %g", r.Throughput(), r.Rate())
	}
}

func TestRunExhaustionDoubt(t *testing.T) {
	target := TargetFunc(func(_ context.Context, q Query) error {
		if q.Seq == 3 {
			return &QueryError{Kind: KindTransport, Err: errMFILE}
		}
		return nil
	})
	r, err := Run(context.Background(), Plan{Concurrency: 1, Duration: 10 * time.Millisecond, MinQueries: 10}, target, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Doubt, "ran out of file descriptors") {
		t.Errorf("doubt %q; want file descriptors named", r.Doubt)
	}
}

func TestQueryCtx(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	c := newQueryCtx(parent, time.Now().Add(30*time.Millisecond))
	if c.Err() != nil || c.Value(ctxKey{}) != "v" {
		t.Fatalf("fresh context: err %v, value %v", c.Err(), c.Value(ctxKey{}))
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed at the deadline")
	}
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Errorf("Err after the deadline = %v", c.Err())
	}
	c.release()

	c = newQueryCtx(parent, time.Now().Add(time.Hour))
	done := c.Done()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed when the parent was canceled")
	}
	if !errors.Is(c.Err(), context.Canceled) {
		t.Errorf("Err after the parent's cancellation = %v", c.Err())
	}
	if c := newQueryCtx(parent, time.Now().Add(time.Hour)); !errors.Is(c.Err(), context.Canceled) {
		t.Errorf("Err without Done under a canceled parent = %v", c.Err())
	}
}

type ctxKey struct{}

func TestSleepUntil(t *testing.T) {
	timer, err := newPreciseTimer()
	if err != nil {
		t.Fatal(err)
	}
	defer timer.close()
	for _, tt := range []struct {
		name  string
		timer *preciseTimer
		wait  time.Duration
	}{
		{"precise, short", timer, time.Millisecond},
		{"precise, long", timer, 5 * time.Millisecond},
		{"runtime timers", nil, 3 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := &engine{ctx: context.Background(), base: time.Now()}
			if !e.sleepUntil(int64(tt.wait), tt.timer) {
				t.Fatal("sleepUntil = false without a cancellation")
			}
			if got := time.Since(e.base); got < tt.wait {
				t.Errorf("woke after %v, before %v", got, tt.wait)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e := &engine{ctx: ctx, base: time.Now()}
	if e.sleepUntil(int64(time.Hour), timer) {
		t.Error("sleepUntil = true under a canceled context")
	}
}
