package load

import (
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/aiconform/aiconform/numerics"
)

// recorder folds outcomes into histograms and counts. One goroutine owns
// it. Its memory is flat in the number of queries: three dense
// histograms and one sparse histogram per stability window, of which
// there are at most maxWindows.
type recorder struct {
	lat, unc, late                    *hdrhistogram.Histogram
	latClamped, uncClamped, lateClamp int64

	sent, ok, failed int64
	errors           map[string]int64
	exhausted        map[string]int64 // failed sends by the resource that ran out
	end              int64            // the latest completion

	window  int64
	windows []windowStat
}

// windowStat is one stability window being recorded.
type windowStat struct {
	sent, failed int64
	lat          *hdrhistogram.PackedHistogram // latencies of its successful queries
	last         int64                         // the latest scheduled time in it
}

// newRecorder returns an empty recorder with windows of the given length.
func newRecorder(window time.Duration) *recorder {
	return &recorder{
		lat: newHist(histDigits), unc: newHist(histDigits), late: newHist(histDigits),
		errors: map[string]int64{}, exhausted: map[string]int64{},
		window: int64(window),
	}
}

// record folds one outcome in.
func (r *recorder) record(o outcome) {
	r.sent++
	if o.done > r.end {
		r.end = o.done
	}
	v, c := micros(time.Duration(o.sent - o.sched))
	r.late.RecordValue(v) //nolint:errcheck // v is within the histogram's range
	if c {
		r.lateClamp++
	}
	wi := int(o.sched / r.window)
	for wi >= maxWindows {
		r.coarsen()
		wi = int(o.sched / r.window)
	}
	for len(r.windows) <= wi {
		r.windows = append(r.windows, windowStat{})
	}
	w := &r.windows[wi]
	w.sent++
	w.last = max(w.last, o.sched)
	if o.err != nil {
		r.failed++
		w.failed++
		r.errors[ErrorKind(o.err)]++
		if x := exhaustion(o.err); x != "" {
			r.exhausted[x]++
		}
		return
	}
	r.ok++
	v, c = micros(time.Duration(o.done - o.sched))
	r.lat.RecordValue(v) //nolint:errcheck // v is within the histogram's range
	if c {
		r.latClamped++
	}
	if w.lat == nil {
		w.lat = hdrhistogram.NewPacked(histLowest, histHighest, windowDigits)
	}
	w.lat.RecordValue(v) //nolint:errcheck // v is within the histogram's range
	v, c = micros(time.Duration(o.done - o.sent))
	r.unc.RecordValue(v) //nolint:errcheck // v is within the histogram's range
	if c {
		r.uncClamped++
	}
}

// maxWindows bounds the stability windows a run keeps: past it, the
// window length doubles (coarsen), so that a long run's memory stays
// bounded.
const maxWindows = 256

// coarsen doubles the window length, merging the windows pairwise.
func (r *recorder) coarsen() {
	r.window *= 2
	merged := r.windows[:0]
	for i := 0; i < len(r.windows); i += 2 {
		w := r.windows[i]
		if i+1 < len(r.windows) {
			v := r.windows[i+1]
			w.sent += v.sent
			w.failed += v.failed
			w.last = max(w.last, v.last)
			switch {
			case w.lat == nil:
				w.lat = v.lat
			case v.lat != nil:
				w.lat.Merge(v.lat) //nolint:errcheck // same geometry: nothing drops
			}
		}
		merged = append(merged, w)
	}
	clear(r.windows[len(merged):])
	r.windows = merged
}

// partial is the result so far, for Options.Stop: the counts and the
// live histograms, without the summaries.
func (r *recorder) partial(p Plan) *Result {
	res := &Result{Plan: p, Sent: r.sent, Succeeded: r.ok, Failed: r.failed, Errors: r.errors}
	res.hist = hists{lat: r.lat, unc: r.unc, late: r.late}
	res.Latency.Count, res.Uncorrected.Count, res.Lateness.Count = r.lat.TotalCount(), r.unc.TotalCount(), r.late.TotalCount()
	return res
}

// finish fills the result's counts, distributions, windows and doubt
// from the recorder.
func (res *Result) finish(r *recorder, p Plan, s settings) error {
	res.Sent, res.Succeeded, res.Failed = r.sent, r.ok, r.failed
	if len(r.errors) > 0 {
		res.Errors = r.errors
	}
	var err error
	if res.Latency, err = summarise(r.lat, r.sent, r.latClamped); err != nil {
		return fmt.Errorf("load: latency: %w", err)
	}
	if res.Uncorrected, err = summarise(r.unc, r.sent, r.uncClamped); err != nil {
		return fmt.Errorf("load: uncorrected latency: %w", err)
	}
	if res.Lateness, err = summarise(r.late, r.late.TotalCount(), r.lateClamp); err != nil {
		return fmt.Errorf("load: send lateness: %w", err)
	}
	res.hist = hists{lat: r.lat, unc: r.unc, late: r.late}
	res.Windows = r.summariseWindows()

	var doubts []string
	if p.Rate > 0 && r.late.TotalCount() > 0 {
		p99 := time.Duration(rankValues(r.late, []int64{rank(0.99, r.late.TotalCount())})[0]) * time.Microsecond
		if p99 > s.maxLateness {
			doubts = append(doubts, fmt.Sprintf("the generator could not keep its schedule: p99 send lateness %s > %s", fmtMs(p99), fmtMs(s.maxLateness)))
		}
	}
	for _, x := range []string{"file descriptors", "ephemeral ports"} {
		if n := r.exhausted[x]; n > 0 {
			doubts = append(doubts, fmt.Sprintf("the generator ran out of %s (%d failed sends)", x, n))
		}
	}
	if len(doubts) > 0 {
		res.Doubt = strings.Join(doubts, "; ") + "; the measurement, not the target, is in doubt"
	}
	return nil
}

// fmtMs writes a duration in milliseconds, as the doubt states it.
func fmtMs(d time.Duration) string {
	return fmt.Sprintf("%.3g ms", float64(d)/float64(time.Millisecond))
}

// summariseWindows turns the windows into their reports. A window's
// rate is its queries per second of its length; the last window's
// length runs to its last scheduled query.
func (r *recorder) summariseWindows() []Window {
	out := make([]Window, 0, len(r.windows))
	for i, w := range r.windows {
		length := r.window
		if i == len(r.windows)-1 {
			length = max(w.last-int64(i)*r.window, 1)
			if length < r.window/10 && len(r.windows) > 1 {
				// A sliver of a window: its rate would say little.
				length = r.window / 10
			}
		}
		rw := Window{
			Offset: msOf(int64(i) * r.window / int64(time.Microsecond)),
			Sent:   w.sent,
			Failed: w.failed,
			Rate:   numerics.Float(float64(w.sent) / (float64(length) / 1e9)),
		}
		if w.sent > 0 {
			v := packedRankValues(w.lat, []int64{rank(0.5, w.sent), rank(0.99, w.sent)})
			rw.P50, rw.P99 = msOf(v[0]), msOf(v[1])
		}
		out = append(out, rw)
	}
	return out
}

// packedRankValues is rankValues for a window's sparse histogram.
func packedRankValues(h *hdrhistogram.PackedHistogram, ranks []int64) []int64 {
	if h == nil {
		return rankWalk(func(func(int64, int64) bool) {}, ranks)
	}
	return rankWalk(func(yield func(high, n int64) bool) {
		h.ForEachBucket(func(v, n int64) bool { return yield(highestEquivalent(v, windowDigits), n) })
	}, ranks)
}

// highestEquivalent is the highest value in the bucket whose lowest value
// is v, in the geometry of a histogram of lowest value 1 and the given
// significant digits: buckets of width 1 up to the sub-bucket count (the
// power of two at or above 2·10^digits), then each power of two doubling
// the width.
func highestEquivalent(v int64, digits int) int64 {
	single := int64(2)
	for range digits {
		single *= 10
	}
	mag := bits.Len64(uint64(single - 1)) // log2 of the sub-bucket count
	if v < 1<<mag {
		return v
	}
	width := int64(1) << (bits.Len64(uint64(v)) - mag)
	return v + width - 1
}
