package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of Options.
const (
	// minWindow is the shortest stability window.
	minWindow = 100 * time.Millisecond
	// fdMargin is how many file descriptors the default connection bound
	// leaves to the rest of the process.
	fdMargin = 64
	// stopEvery is how often, at most, Options.Stop is asked.
	stopEvery = 10 * time.Millisecond
	// coarseSleep is how long before a send the dispatcher switches from
	// the runtime's timers (coarse, but cancellable) to the precise timer.
	coarseSleep = 2 * time.Millisecond
	// maxInterruptGrace bounds how long a canceled run waits for the
	// queries it cut short to return.
	maxInterruptGrace = time.Second
)

// settings are Options with their defaults applied.
type settings struct {
	timeout     time.Duration
	maxConns    int
	maxLateness time.Duration
	window      time.Duration
	stop        func(*Result) bool
}

// defaultMaxConnections is DefaultMaxConnections, or fewer when the
// process's file-descriptor limit leaves less room than that.
func defaultMaxConnections() int {
	n := DefaultMaxConnections
	if l := fdLimit(); l > 0 && l-fdMargin < n {
		n = max(l-fdMargin, 1)
	}
	return n
}

// settings checks the options against the plan and applies the defaults.
func (o Options) settings(p Plan) (settings, error) {
	s := settings{timeout: o.Timeout, maxConns: o.MaxConnections, maxLateness: o.MaxLateness, window: o.Window, stop: o.Stop}
	switch {
	case s.timeout < 0:
		return s, fmt.Errorf("options: timeout %v; want a positive duration, or zero for %v", s.timeout, DefaultTimeout)
	case s.maxConns < 0:
		return s, fmt.Errorf("options: maxConnections %d; want a positive number, or zero for the default", s.maxConns)
	case s.maxLateness < 0:
		return s, fmt.Errorf("options: maxLateness %v; want a positive duration, or zero for %v", s.maxLateness, DefaultMaxLateness)
	case s.window != 0 && s.window < minWindow:
		return s, fmt.Errorf("options: window %v; want at least %v, or zero for a tenth of the duration", s.window, minWindow)
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if s.maxConns == 0 {
		s.maxConns = defaultMaxConnections()
	}
	if s.maxLateness == 0 {
		s.maxLateness = DefaultMaxLateness
	}
	if s.window == 0 {
		s.window = max(p.Duration/10, minWindow)
	}
	if p.Concurrency > s.maxConns {
		return s, fmt.Errorf("options: plan concurrency %d exceeds maxConnections %d", p.Concurrency, s.maxConns)
	}
	return s, nil
}

// Run sends the plan to the target and returns what it measured. It
// errors only when the plan or options are invalid; failed queries are
// data (Result.Errors), and a run its context ends returns its result so
// far with Interrupted set.
//
// Open loop, one goroutine (the dispatcher) walks the schedule: it
// sleeps until each query's scheduled time and hands the query to an
// idle sender, starting a new sender when none is idle. Senders are
// never more than Options.MaxConnections, so the pool grows to what the
// load needs (by Little's law, the rate times the latency) and no
// further; it starts at that size when the warm-up measured a latency.
// When every sender is busy the dispatcher waits for one, and the
// queries behind it go out late. That is honest: their latency still
// runs from their scheduled time, their lateness is recorded, and past
// Options.MaxLateness the result says that the generator, not the
// target, fell behind (Result.Doubt).
//
// Closed loop, Concurrency lanes each send a query as soon as their
// previous one completed; the query's scheduled time is when its lane
// became free.
//
// The timed phase ends once Plan.Duration has passed (by scheduled
// time, open loop) and Plan.MinQueries queries were sent, or when
// Options.Stop says so; the queries still outstanding then complete
// (each within the timeout) and count. When ctx ends the run, the
// queries outstanding are cut short (their context is canceled); Run
// waits up to a second for them, counts those that still succeed, and
// leaves out those that fail once the cancellation came: their failure
// says nothing of the target.
func Run(ctx context.Context, p Plan, t Target, opts Options) (*Result, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if t == nil {
		return nil, errors.New("load: nil target")
	}
	s, err := opts.settings(p)
	if err != nil {
		return nil, err
	}
	p.Arrival = p.arrival()
	res := &Result{Plan: p}

	warmMean, ok := warmUp(ctx, p.Warmup, t, s.timeout)
	if !ok {
		res.Interrupted = true
		now := time.Now()
		res.Start, res.End = now, now
		return res, res.finish(newRecorder(s.window), p, s)
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	e := &engine{
		target:  t,
		ctx:     runCtx,
		timeout: s.timeout,
		results: make(chan outcome, 4096),
		abandon: make(chan struct{}),
	}
	rec := newRecorder(s.window)
	e.base = time.Now()
	if p.Concurrency > 0 {
		e.startLanes(p)
	} else {
		// Without a precise timer (a process out of descriptors has
		// none), the runtime's timers serve; their lateness is measured
		// like any other.
		timer, err := newPreciseTimer()
		if err != nil {
			timer = nil
		}
		initial := 1
		if warmMean > 0 {
			initial = int(math.Ceil(p.Rate * warmMean.Seconds() * 2))
		}
		e.startDispatcher(p, s.maxConns, min(max(initial, 1), s.maxConns), timer)
	}
	e.collect(ctx, rec, p, s, res)
	res.Start = e.base
	res.End = e.base.Add(time.Duration(rec.end))
	if rec.sent == 0 {
		res.End = res.Start
	}
	res.PeakOutstanding = int(e.peak.Load())
	return res, res.finish(rec, p, s)
}

// warmUp sends n untimed queries one after another and returns their
// mean latency (zero when none succeeded); ok is false when ctx ended.
func warmUp(ctx context.Context, n int, t Target, timeout time.Duration) (mean time.Duration, ok bool) {
	var sum time.Duration
	var good int
	for i := range n {
		if ctx.Err() != nil {
			return 0, false
		}
		qctx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		err := t.Hit(qctx, Query{Seq: uint64(i), Warmup: true, Scheduled: start})
		took := time.Since(start)
		cancel()
		if err == nil {
			sum += took
			good++
		}
	}
	if ctx.Err() != nil {
		return 0, false
	}
	if good == 0 {
		return 0, true
	}
	return sum / time.Duration(good), true
}

// outcome is one timed query as a sender saw it; times are offsets from
// the run's base time.
type outcome struct {
	sched, sent, done int64
	err               error
	// cut marks a query that failed once the run's context had ended:
	// the cancellation cut it short, so it says nothing of the target.
	cut bool
}

// job is one open-loop query handed to a sender.
type job struct {
	seq   uint64
	sched int64
}

// engine is the state a run's goroutines share.
type engine struct {
	target  Target
	ctx     context.Context // canceled when the run is interrupted
	base    time.Time
	timeout time.Duration

	results chan outcome
	abandon chan struct{} // closed when an interrupted run stops waiting

	inflight atomic.Int64
	peak     atomic.Int64
	issued   atomic.Int64 // timed queries issued
	stop     atomic.Bool  // the timed phase is over
	senders  sync.WaitGroup
}

// now is the time since the run's base, from the monotonic clock.
func (e *engine) now() int64 { return int64(time.Since(e.base)) }

// hit sends one query and returns its outcome.
func (e *engine) hit(seq uint64, sched int64) outcome {
	sent := e.now()
	n := e.inflight.Add(1)
	for {
		p := e.peak.Load()
		if n <= p || e.peak.CompareAndSwap(p, n) {
			break
		}
	}
	qctx := newQueryCtx(e.ctx, e.base.Add(time.Duration(sent)+e.timeout))
	err := e.target.Hit(qctx, Query{Seq: seq, Scheduled: e.base.Add(time.Duration(sched))})
	qctx.release()
	done := e.now()
	e.inflight.Add(-1)
	return outcome{sched: sched, sent: sent, done: done, err: err, cut: err != nil && e.ctx.Err() != nil}
}

// report hands an outcome to the collector, unless it stopped waiting.
func (e *engine) report(o outcome) {
	select {
	case e.results <- o:
	case <-e.abandon:
	}
}

// sender sends the jobs it is handed, first included, until the
// dispatcher closes jobs.
func (e *engine) sender(first *job, jobs <-chan job) {
	defer e.senders.Done()
	if first != nil {
		e.report(e.hit(first.seq, first.sched))
	}
	for j := range jobs {
		e.report(e.hit(j.seq, j.sched))
	}
}

// startDispatcher starts the open-loop dispatcher and its first senders;
// the results channel closes when every sender is done. The dispatcher
// owns the timer (nil for the runtime's timers) and closes it.
func (e *engine) startDispatcher(p Plan, maxConns, initial int, timer *preciseTimer) {
	jobs := make(chan job)
	senders := initial
	e.senders.Add(senders)
	for range senders {
		go e.sender(nil, jobs)
	}
	go func() {
		defer func() {
			if timer != nil {
				timer.close() //nolint:errcheck // a timerfd's close has nothing to report
			}
			close(jobs)
			e.senders.Wait()
			close(e.results)
		}()
		sched := newSchedule(p)
		seq := uint64(p.Warmup)
		done := e.ctx.Done()
		for issued := int64(0); ; issued++ {
			off := int64(sched.next())
			if e.stop.Load() || (off >= int64(p.Duration) && issued >= p.MinQueries) {
				return
			}
			if !e.sleepUntil(off, timer) {
				return
			}
			j := job{seq: seq, sched: off}
			select {
			case jobs <- j:
			default:
				if senders < maxConns {
					senders++
					e.senders.Add(1)
					go e.sender(&j, jobs)
					break
				}
				select {
				case jobs <- j:
				case <-done:
					return
				}
			}
			seq++
			e.issued.Add(1)
		}
	}()
}

// sleepUntil waits until the offset off from the base; false when the
// run was interrupted meanwhile.
func (e *engine) sleepUntil(off int64, timer *preciseTimer) bool {
	for {
		wait := time.Duration(off - e.now())
		if wait <= 0 {
			return e.ctx.Err() == nil
		}
		if wait > coarseSleep {
			t := time.NewTimer(wait - coarseSleep)
			select {
			case <-t.C:
			case <-e.ctx.Done():
				t.Stop()
				return false
			}
			continue
		}
		if timer == nil || timer.sleep(wait) != nil {
			time.Sleep(wait)
		}
	}
}

// startLanes starts the closed-loop lanes; the results channel closes
// when every lane is done.
func (e *engine) startLanes(p Plan) {
	var seq atomic.Uint64
	e.senders.Add(p.Concurrency)
	for range p.Concurrency {
		go func() {
			defer e.senders.Done()
			for !e.stop.Load() && e.ctx.Err() == nil {
				now := e.now()
				if n := e.issued.Add(1); now >= int64(p.Duration) && n > p.MinQueries {
					return
				}
				e.report(e.hit(uint64(p.Warmup)+seq.Add(1)-1, now))
			}
		}()
	}
	go func() {
		e.senders.Wait()
		close(e.results)
	}()
}

// collect folds the outcomes into rec until the senders are done, asks
// Options.Stop when due, and handles the run's interruption.
func (e *engine) collect(ctx context.Context, rec *recorder, p Plan, s settings, res *Result) {
	tick := time.NewTicker(stopEvery)
	defer tick.Stop()
	var lastAsk time.Time
	ask := func() {
		if s.stop == nil || e.stop.Load() || time.Since(lastAsk) < stopEvery {
			return
		}
		if e.now() < int64(p.Duration) || e.issued.Load() >= p.MinQueries {
			return
		}
		lastAsk = time.Now()
		partial := rec.partial(p)
		if s.stop(partial) {
			e.stop.Store(true)
			res.EarlyStopped = true
		}
	}
	for {
		select {
		case o, ok := <-e.results:
			if !ok {
				return
			}
			if !o.cut {
				rec.record(o)
			}
			if rec.sent%64 == 0 {
				ask()
			}
		case <-tick.C:
			ask()
		case <-ctx.Done():
			e.interrupted(rec, res)
			return
		}
	}
}

// interrupted ends an interrupted run: it stops the senders, records the
// outcomes of the queries the cancellation did not cut short, and waits a
// bounded time for the others.
func (e *engine) interrupted(rec *recorder, res *Result) {
	res.Interrupted = true
	e.stop.Store(true)
	grace := time.NewTimer(min(e.timeout, maxInterruptGrace))
	defer grace.Stop()
	for {
		select {
		case o, ok := <-e.results:
			if !ok {
				return
			}
			if !o.cut {
				rec.record(o)
			}
		case <-grace.C:
			close(e.abandon)
			return
		}
	}
}
