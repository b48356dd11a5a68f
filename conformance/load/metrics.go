package load

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/gonum/mathext"

	"github.com/aiconform/aiconform/numerics"
)

// Histogram geometry: values in microseconds from 1 µs to an hour. A
// value above an hour is recorded as an hour and counted in
// Distribution.Clamped.
const (
	histLowest  = 1
	histHighest = int64(time.Hour / time.Microsecond)
	// histDigits is the precision of the run's histograms: a recorded
	// value is reported as the highest value of its bucket, at most 0.1%
	// above it.
	histDigits = 3
	// windowDigits is the precision of the stability windows' histograms
	// (1%), which keeps each window's memory small.
	windowDigits = 2
)

// newHist returns an empty histogram of the run's geometry.
func newHist(digits int) *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, digits)
}

// micros converts a duration to whole microseconds, clamped to the
// histograms' range; clamped reports whether it was above it.
func micros(d time.Duration) (v int64, clamped bool) {
	v = int64(d / time.Microsecond)
	switch {
	case v < 0:
		return 0, false
	case v > histHighest:
		return histHighest, true
	}
	return v, false
}

// rank is the nearest rank of the p-th quantile of n values, ⌈p·n⌉, at
// least 1. A product that lands a rounding error above an integer counts
// as that integer (0.99·100 is 99, not 100).
func rank(p float64, n int64) int64 {
	x := p * float64(n)
	r := math.Ceil(x)
	if r-x > 1-1e-9 {
		r--
	}
	if r < 1 {
		r = 1
	}
	return int64(r)
}

// rankValues returns, for each of the ascending ranks, the highest value
// equivalent to the bucket of the rank-th smallest recorded value, or -1
// when the rank passes the recorded values (it falls on a failed query).
func rankValues(h *hdrhistogram.Histogram, ranks []int64) []int64 {
	if h == nil {
		return rankWalk(func(func(int64, int64) bool) {}, ranks)
	}
	return rankWalk(func(yield func(high, n int64) bool) {
		for _, b := range h.Distribution() {
			if !yield(b.To, b.Count) {
				return
			}
		}
	}, ranks)
}

// rankWalk is rankValues over any histogram: buckets yields, in
// ascending order, each bucket's highest equivalent value and its count.
func rankWalk(buckets func(yield func(high, n int64) bool), ranks []int64) []int64 {
	out := make([]int64, len(ranks))
	for i := range out {
		out[i] = -1
	}
	var cum int64
	j := 0
	buckets(func(high, n int64) bool {
		cum += n
		for j < len(ranks) && ranks[j] <= cum {
			out[j] = high
			j++
		}
		return j < len(ranks)
	})
	return out
}

// msOf converts a histogram value (µs) to milliseconds, -1 to +Inf.
func msOf(v int64) numerics.Float {
	if v < 0 {
		return numerics.Float(math.Inf(1))
	}
	return numerics.Float(float64(v) / 1000)
}

// summaryQuantiles are the quantiles a Distribution reports, the last
// being the maximum.
var summaryQuantiles = [...]float64{0.5, 0.9, 0.95, 0.99, 0.999, 1}

// summarise returns the distribution of h ranked over total values, the
// total − h.TotalCount() missing ones counting as infinite.
func summarise(h *hdrhistogram.Histogram, total, clamped int64) (Distribution, error) {
	d := Distribution{Count: h.TotalCount(), Unit: "ms", Clamped: clamped}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return d, fmt.Errorf("encoding a histogram: %w", err)
	}
	d.Histogram = string(enc)
	if total == 0 {
		return d, nil
	}
	ranks := make([]int64, len(summaryQuantiles))
	for i, q := range summaryQuantiles {
		ranks[i] = rank(q, total)
	}
	v := rankValues(h, ranks)
	d.P50, d.P90, d.P95, d.P99, d.P999, d.Max = msOf(v[0]), msOf(v[1]), msOf(v[2]), msOf(v[3]), msOf(v[4]), msOf(v[5])
	return d, nil
}

// decodeHist decodes a Distribution's histogram; an empty one decodes to
// an empty histogram of the run's geometry. A histogram of another
// geometry is refused before it is decoded (checkHistGeometry).
func decodeHist(s string, digits int) (*hdrhistogram.Histogram, error) {
	if s == "" {
		return newHist(digits), nil
	}
	if err := checkHistGeometry(s, digits); err != nil {
		return nil, err
	}
	h, err := hdrhistogram.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("decoding histogram: %w", err)
	}
	return h, nil
}

// histograms returns the result's latency histograms, decoding them when
// the result did not come from Run, Merge or UnmarshalJSON.
func (r *Result) histograms() (lat, unc, late *hdrhistogram.Histogram, err error) {
	if r.hist.lat != nil {
		return r.hist.lat, r.hist.unc, r.hist.late, nil
	}
	if lat, err = decodeHist(r.Latency.Histogram, histDigits); err != nil {
		return nil, nil, nil, fmt.Errorf("latency: %w", err)
	}
	if unc, err = decodeHist(r.Uncorrected.Histogram, histDigits); err != nil {
		return nil, nil, nil, fmt.Errorf("uncorrectedLatency: %w", err)
	}
	if late, err = decodeHist(r.Lateness.Histogram, histDigits); err != nil {
		return nil, nil, nil, fmt.Errorf("sendLateness: %w", err)
	}
	return lat, unc, late, nil
}

// hists holds a result's decoded histograms beside their encoded form.
type hists struct {
	lat, unc, late *hdrhistogram.Histogram
}

// infinite is the duration Percentile and UpperBound return for an
// infinite latency: the largest Duration, above any budget.
const infinite = time.Duration(math.MaxInt64)

// orderStatistic returns the k-th smallest latency from scheduled send
// time over the Sent timed queries, failed ones counting as infinite.
func (r *Result) orderStatistic(k int64) (time.Duration, bool) {
	lat, _, _, err := r.histograms()
	if err != nil || k < 1 || k > r.Sent {
		return infinite, false
	}
	v := rankValues(lat, []int64{k})[0]
	if v < 0 {
		return infinite, false
	}
	return time.Duration(v) * time.Microsecond, true
}

// Percentile returns the p-th percentile (0 < p ≤ 1) of the latencies
// from scheduled send time by nearest rank over every timed query: the
// ⌈p·Sent⌉-th smallest, failed queries counting as infinite (finite is
// false and d the largest Duration then, as when no query was sent or
// the result's histogram does not decode). The value is the highest
// value equivalent to that rank's histogram bucket, so it overstates the
// exact value by at most the histogram's precision (0.1%) and never
// understates it. It panics unless 0 < p ≤ 1.
func (r *Result) Percentile(p float64) (d time.Duration, finite bool) {
	if !(p > 0 && p <= 1) {
		panic(fmt.Sprintf("load: percentile %g outside (0, 1]", p))
	}
	if r.Sent == 0 {
		return infinite, false
	}
	return r.orderStatistic(rank(p, r.Sent))
}

// UpperBound is the early-stopping estimate of the p-th percentile, as
// MLPerf LoadGen computes it: the smallest order statistic of the timed
// latencies that bounds the true p-th percentile from above with the
// given confidence (a one-sided binomial test). With n timed queries it
// is the k-th smallest latency for the smallest k such that
// P(Binomial(n, p) ≤ k−1) ≥ confidence: the k-th smallest of n draws
// lies at or above the true p-quantile unless k or more draws fall below
// it. ok is false when there are too few queries for any order statistic
// to do so (even the largest, k = n, needs 1 − pⁿ ≥ confidence). Failed
// queries count as infinite, as in Percentile. It panics unless p and
// confidence lie in (0, 1).
func (r *Result) UpperBound(p, confidence float64) (d time.Duration, finite, ok bool) {
	if !(p > 0 && p < 1) || !(confidence > 0 && confidence < 1) {
		panic(fmt.Sprintf("load: upper bound of percentile %g at confidence %g: both must lie in (0, 1)", p, confidence))
	}
	k, ok := boundRank(r.Sent, p, confidence)
	if !ok {
		return infinite, false, false
	}
	d, finite = r.orderStatistic(k)
	return d, finite, true
}

// boundRank is the smallest k in [1, n] with P(Binomial(n, p) ≤ k−1) ≥
// confidence, found by bisection on the binomial CDF.
func boundRank(n int64, p, confidence float64) (int64, bool) {
	if n < 1 || binomialCDF(n-1, n, p) < confidence {
		return 0, false
	}
	lo, hi := int64(1), n // the answer lies in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		if binomialCDF(mid-1, n, p) >= confidence {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, true
}

// binomialCDF is P(Binomial(n, p) ≤ j), through the regularised
// incomplete beta function I_{1−p}(n−j, j+1), which stays accurate for n
// in the millions where summing the terms would not.
func binomialCDF(j, n int64, p float64) float64 {
	switch {
	case j < 0:
		return 0
	case j >= n:
		return 1
	}
	return mathext.RegIncBeta(float64(n-j), float64(j+1), 1-p)
}

// Elapsed is End − Start, zero when End is not after Start.
func (r *Result) Elapsed() time.Duration {
	if d := r.End.Sub(r.Start); d > 0 {
		return d
	}
	return 0
}

// Rate is the achieved rate: timed queries sent per second of Elapsed
// (zero when nothing elapsed).
func (r *Result) Rate() float64 {
	if e := r.Elapsed(); e > 0 {
		return float64(r.Sent) / e.Seconds()
	}
	return 0
}

// Throughput is successful queries per second of Elapsed (zero when
// nothing elapsed).
func (r *Result) Throughput() float64 {
	if e := r.Elapsed(); e > 0 {
		return float64(r.Succeeded) / e.Seconds()
	}
	return 0
}

// histHeaderSize is the size of the inflated header of a V2 histogram:
// cookie, payload length, normalizing index offset and significant digits
// (4 bytes each, big-endian), lowest and highest trackable values (8
// bytes each) and the conversion ratio (8 bytes).
const histHeaderSize = 40

// checkHistGeometry reads the geometry of an encoded histogram (V2
// compressed, base64: an 8-byte header, then zlib) from its header,
// inflating the header alone, and fails unless it is the run's: 1 µs to
// an hour at digits significant digits. hdrhistogram.Decode allocates the
// counts of whatever geometry the header declares before anything can
// refuse it, tens of megabytes for a header of a few bytes declaring the
// widest range at 5 digits.
func checkHistGeometry(s string, digits int) error {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("decoding histogram: not base64: %w", err)
	}
	if len(raw) < 8 {
		return fmt.Errorf("decoding histogram: %d bytes, shorter than its 8-byte header", len(raw))
	}
	z, err := zlib.NewReader(bytes.NewReader(raw[8:]))
	if err != nil {
		return fmt.Errorf("decoding histogram: %w", err)
	}
	defer z.Close()
	var h [histHeaderSize]byte
	if _, err := io.ReadFull(z, h[:]); err != nil {
		return fmt.Errorf("decoding histogram: its %d-byte header: %w", histHeaderSize, err)
	}
	got := int32(binary.BigEndian.Uint32(h[12:16]))
	lowest := int64(binary.BigEndian.Uint64(h[16:24]))
	highest := int64(binary.BigEndian.Uint64(h[24:32]))
	if got != int32(digits) || lowest != histLowest || highest != histHighest {
		return fmt.Errorf("decoding histogram: it tracks %d to %d µs at %d significant digits, want the run's %d to %d µs at %d", lowest, highest, got, histLowest, histHighest, digits)
	}
	return nil
}
