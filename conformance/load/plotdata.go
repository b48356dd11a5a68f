package load

import (
	"fmt"
	"math"
	"sort"
)

// CurvePoint is one point of a percentile curve.
type CurvePoint struct {
	// Percentile is the share of the ranked values at or below Value, in
	// [0, 1].
	Percentile float64
	// Value is in milliseconds; +Inf where the rank falls on a failed
	// query.
	Value float64
}

// Bucket counts the recorded values of one range.
type Bucket struct {
	// Low and High bound the range in milliseconds: a bucket holds the
	// values above Low up to High, the first one Low itself as well.
	Low, High float64
	Count     int64
}

// Curve returns the percentile curve of the distribution, ranked by
// nearest rank over total values as its percentiles are, the total −
// Count missing ones (failed queries) counting as infinite: the value at
// the percentiles 1 − 10^(−k/perDecade) for k = 0, 1, … while their rank
// stays below total, then the maximum at percentile 1. The points are
// evenly spaced on the axis of HdrHistogram's percentile plots,
// log₁₀(1/(1−p)). Each value is the highest of its histogram bucket, as
// for the percentiles. It returns no points when total is zero.
func (d Distribution) Curve(total int64, perDecade int) ([]CurvePoint, error) {
	if perDecade < 1 {
		return nil, fmt.Errorf("load: curve with %d points per decade, want at least 1", perDecade)
	}
	if total < d.Count {
		return nil, fmt.Errorf("load: curve over %d values of a histogram that holds %d", total, d.Count)
	}
	if total == 0 {
		return nil, nil
	}
	h, err := decodeHist(d.Histogram, histDigits)
	if err != nil {
		return nil, fmt.Errorf("load: curve: %w", err)
	}
	if h.TotalCount() != d.Count {
		return nil, fmt.Errorf("load: curve: histogram holds %d values, count says %d", h.TotalCount(), d.Count)
	}
	var ps []float64
	var ranks []int64
	for k := 0; ; k++ {
		p := 1 - math.Pow(10, -float64(k)/float64(perDecade))
		r := rank(p, total)
		if r >= total {
			break
		}
		ps, ranks = append(ps, p), append(ranks, r)
	}
	ps, ranks = append(ps, 1), append(ranks, total)
	vs := rankValues(h, ranks)
	out := make([]CurvePoint, len(ps))
	for i, p := range ps {
		out[i] = CurvePoint{Percentile: p, Value: float64(msOf(vs[i]))}
	}
	return out, nil
}

// Buckets returns the recorded values counted in n ranges of equal width
// on a logarithmic scale, from the lowest recorded value to the highest
// (each the highest of its histogram bucket, as for the percentiles); a
// value of zero counts in the first range, which starts at the lowest
// value above zero. One range holds every value when they are all equal.
// Failed queries are not recorded, so they are in no range. It returns no
// ranges when nothing was recorded.
func (d Distribution) Buckets(n int) ([]Bucket, error) {
	if n < 1 {
		return nil, fmt.Errorf("load: %d buckets, want at least 1", n)
	}
	h, err := decodeHist(d.Histogram, histDigits)
	if err != nil {
		return nil, fmt.Errorf("load: buckets: %w", err)
	}
	type bar struct{ v, n int64 }
	var bars []bar
	for _, b := range h.Distribution() {
		if b.Count > 0 {
			bars = append(bars, bar{b.To, b.Count})
		}
	}
	if len(bars) == 0 {
		return nil, nil
	}
	lo, hi := int64(0), bars[len(bars)-1].v
	for _, b := range bars {
		if b.v > 0 {
			lo = b.v
			break
		}
	}
	if lo == 0 || lo == hi {
		return []Bucket{{Low: float64(msOf(lo)), High: float64(msOf(hi)), Count: h.TotalCount()}}, nil
	}
	out := make([]Bucket, n)
	span := math.Log(float64(hi) / float64(lo))
	for i := range out {
		out[i].Low = float64(msOf(lo)) * math.Exp(span*float64(i)/float64(n))
		out[i].High = float64(msOf(lo)) * math.Exp(span*float64(i+1)/float64(n))
	}
	out[0].Low, out[n-1].High = float64(msOf(lo)), float64(msOf(hi))
	for _, b := range bars {
		v := float64(msOf(b.v))
		i := sort.Search(n-1, func(i int) bool { return v <= out[i].High })
		out[i].Count += b.n
	}
	return out, nil
}
