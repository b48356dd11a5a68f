package load

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/aiconform/aiconform/internal/jsonexact"
)

// resultFields has Result's fields without its methods, so that decoding
// into it does not recurse into Result.UnmarshalJSON.
type resultFields Result

// UnmarshalJSON reads a result as MarshalJSON wrote it and decodes its
// histograms, so that a result that does not decode is refused here
// rather than misread later. Member names are matched exactly: a result
// may carry members of a later build, and one whose name only folds to a
// field's ("ſent") must not be read as that field.
func (r *Result) UnmarshalJSON(b []byte) error {
	var f resultFields
	if err := jsonexact.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("result: %w", err)
	}
	*r = Result(f)
	r.hist = hists{}
	lat, unc, late, err := r.histograms()
	if err != nil {
		return fmt.Errorf("result: %w", err)
	}
	for _, c := range []struct {
		name string
		d    Distribution
		h    *hdrhistogram.Histogram
	}{{"latency", r.Latency, lat}, {"uncorrectedLatency", r.Uncorrected, unc}, {"sendLateness", r.Lateness, late}} {
		if c.h.TotalCount() != c.d.Count {
			return fmt.Errorf("result: %s: histogram holds %d values, count says %d", c.name, c.h.TotalCount(), c.d.Count)
		}
	}
	if r.Sent != r.Succeeded+r.Failed || r.Latency.Count != r.Succeeded {
		return fmt.Errorf("result: sent %d, succeeded %d, failed %d, latency count %d do not add up", r.Sent, r.Succeeded, r.Failed, r.Latency.Count)
	}
	r.hist = hists{lat: lat, unc: unc, late: late}
	return nil
}

// Merge combines the results of the shards of one plan into one: counts
// add, histograms merge exactly (bucket by bucket), Start is the earliest
// and End the latest, EarlyStopped and Interrupted hold when they held
// for any shard, and each shard's doubt is kept, prefixed with its
// index. PeakOutstanding is the sum of the shards' peaks: an upper
// bound, since the peaks need not have coincided. The merged plan is the
// whole plan the shards came from (Plan.ForShard): the shards' rates and
// minimum query counts summed, shard zero of zero. The stability windows
// are dropped: each shard's windows start at its own Start, so they do
// not line up, and a window's percentiles cannot be combined without its
// histogram; read them per shard.
//
// Merge fails when the shards disagree on the plan (SamePlan), when a
// shard is given twice or when one is missing, naming the index.
func Merge(shards ...*Result) (*Result, error) {
	if len(shards) == 0 {
		return nil, fmt.Errorf("merge: no results")
	}
	for i, s := range shards {
		if s == nil {
			return nil, fmt.Errorf("merge: result %d is nil", i)
		}
	}
	first := shards[0].Plan
	count := max(first.Shard.Count, 1)
	seen := make(map[int]bool, len(shards))
	for i, s := range shards {
		if err := SamePlan(first, s.Plan); err != nil {
			return nil, fmt.Errorf("merge: result %d (shard %d) and result 0 (shard %d): %w", i, s.Plan.Shard.Index, first.Shard.Index, err)
		}
		if seen[s.Plan.Shard.Index] {
			return nil, fmt.Errorf("merge: shard %d of %d given twice", s.Plan.Shard.Index, count)
		}
		seen[s.Plan.Shard.Index] = true
	}
	var missing []string
	for i := range count {
		if !seen[i] {
			missing = append(missing, fmt.Sprint(i))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("merge: shard %s of %d missing", strings.Join(missing, ", "), count)
	}

	out := &Result{Plan: first, Errors: map[string]int64{}}
	out.Plan.Shard = Shard{}
	out.Plan.Rate = first.Rate * float64(count)
	out.Plan.MinQueries = first.MinQueries * int64(count)
	lat, unc, late := newHist(histDigits), newHist(histDigits), newHist(histDigits)
	var clamped [3]int64
	var doubts []string
	ordered := slices.SortedFunc(slices.Values(shards), func(a, b *Result) int { return a.Plan.Shard.Index - b.Plan.Shard.Index })
	for i, s := range ordered {
		sl, su, sla, err := s.histograms()
		if err != nil {
			return nil, fmt.Errorf("merge: shard %d: %w", s.Plan.Shard.Index, err)
		}
		for _, m := range []struct{ dst, src *hdrhistogram.Histogram }{{lat, sl}, {unc, su}, {late, sla}} {
			if dropped := m.dst.Merge(m.src); dropped != 0 {
				return nil, fmt.Errorf("merge: shard %d: %d values outside the histogram's range", s.Plan.Shard.Index, dropped)
			}
		}
		clamped[0] += s.Latency.Clamped
		clamped[1] += s.Uncorrected.Clamped
		clamped[2] += s.Lateness.Clamped
		out.Sent += s.Sent
		out.Succeeded += s.Succeeded
		out.Failed += s.Failed
		for k, n := range s.Errors {
			out.Errors[k] += n
		}
		if i == 0 || s.Start.Before(out.Start) {
			out.Start = s.Start
		}
		if i == 0 || s.End.After(out.End) {
			out.End = s.End
		}
		out.PeakOutstanding += s.PeakOutstanding
		out.EarlyStopped = out.EarlyStopped || s.EarlyStopped
		out.Interrupted = out.Interrupted || s.Interrupted
		if s.Doubt != "" {
			doubts = append(doubts, fmt.Sprintf("shard %d: %s", s.Plan.Shard.Index, s.Doubt))
		}
	}
	if len(out.Errors) == 0 {
		out.Errors = nil
	}
	out.Doubt = strings.Join(doubts, "; ")
	var err error
	if out.Latency, err = summarise(lat, out.Sent, clamped[0]); err != nil {
		return nil, fmt.Errorf("merge: latency: %w", err)
	}
	if out.Uncorrected, err = summarise(unc, out.Sent, clamped[1]); err != nil {
		return nil, fmt.Errorf("merge: uncorrected latency: %w", err)
	}
	if out.Lateness, err = summarise(late, late.TotalCount(), clamped[2]); err != nil {
		return nil, fmt.Errorf("merge: send lateness: %w", err)
	}
	out.hist = hists{lat: lat, unc: unc, late: late}
	return out, nil
}

// WriteLog writes the result's latency histogram (from scheduled send
// time, in microseconds, successful queries only) as an HdrHistogram
// interval log of one interval from Start to End, readable by
// HdrHistogram's tools (HistogramLogProcessor, hdrhistogram-go's
// HistogramLogReader). The log's start time is Start.
func (r *Result) WriteLog(w io.Writer) error {
	lat, _, _, err := r.histograms()
	if err != nil {
		return fmt.Errorf("writing the histogram log: %w", err)
	}
	h := lat.Clone()
	h.SetStartTimeMs(r.Start.UnixMilli())
	h.SetEndTimeMs(max(r.End.UnixMilli(), r.Start.UnixMilli()))
	h.SetTag("latency")
	lw := hdrhistogram.NewHistogramLogWriter(w)
	steps := []func() error{
		lw.OutputLogFormatVersion,
		func() error {
			return lw.OutputComment("aiconform load: latency from scheduled send time, microseconds")
		},
		func() error { return lw.OutputStartTime(r.Start.UnixMilli()) },
		func() error { lw.SetBaseTime(r.Start.UnixMilli()); return lw.OutputBaseTime(r.Start.UnixMilli()) },
		lw.OutputLegend,
		func() error { return lw.OutputIntervalHistogram(h) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("writing the histogram log: %w", err)
		}
	}
	return nil
}
