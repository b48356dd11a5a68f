package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// runShards runs every shard of p against a target that fails one query
// in ten.
func runShards(t *testing.T, p Plan, count int) []*Result {
	t.Helper()
	target := TargetFunc(func(_ context.Context, q Query) error {
		if q.Seq%10 == 9 {
			return &QueryError{Kind: KindStatus, Status: 503}
		}
		return nil
	})
	var out []*Result
	for i := range count {
		s, err := p.ForShard(i, count)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Run(context.Background(), s, target, Options{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func roundTrip(t *testing.T, r *Result) *Result {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	again, err := json.Marshal(&back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, again) {
		t.Fatalf("JSON round trip differs:\n%s\n%s", b, again)
	}
	return &back
}

var cmpResult = cmp.Options{cmpopts.IgnoreUnexported(Result{}), cmpopts.EquateNaNs()}

func TestMerge(t *testing.T) {
	p := Plan{Rate: 3000, Duration: 60 * time.Millisecond, MinQueries: 100, Seed: 5}
	shards := runShards(t, p, 3)
	merged, err := Merge(shards[2], shards[0], shards[1])
	if err != nil {
		t.Fatal(err)
	}
	var sent, failed int64
	whole := newHist(histDigits)
	for _, s := range shards {
		sent += s.Sent
		failed += s.Failed
		whole.Merge(s.hist.lat)
		if s.Start.Before(merged.Start) || s.End.After(merged.End) {
			t.Errorf("shard %d spans %v–%v outside the merge's %v–%v", s.Plan.Shard.Index, s.Start, s.End, merged.Start, merged.End)
		}
	}
	if merged.Sent != sent || merged.Failed != failed || merged.Errors["status 503"] != failed || merged.Succeeded != sent-failed {
		t.Errorf("merged sent %d failed %d errors %v; shards sent %d failed %d", merged.Sent, merged.Failed, merged.Errors, sent, failed)
	}
	if !merged.hist.lat.Equals(whole) || merged.Latency.Count != whole.TotalCount() {
		t.Errorf("merged latency histogram differs from the sum of the shards'")
	}
	if merged.Plan.Rate != 3000 || merged.Plan.MinQueries != 102 || merged.Plan.Shard != (Shard{}) || merged.Windows != nil {
		t.Errorf("merged plan %+v, %d windows", merged.Plan, len(merged.Windows))
	}

	// Through JSON: every shard round-trips, and merging the decoded
	// shards gives the same result.
	var decoded []*Result
	for _, s := range shards {
		decoded = append(decoded, roundTrip(t, s))
	}
	fromJSON, err := Merge(decoded...)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(merged, fromJSON, cmpResult); d != "" {
		t.Errorf("merge of decoded shards differs (-memory +json):\n%s", d)
	}
	roundTrip(t, merged)
	d1, f1 := merged.Percentile(0.5)
	d2, f2 := fromJSON.Percentile(0.5)
	if d1 != d2 || f1 != f2 {
		t.Errorf("median %v/%v in memory, %v/%v from JSON", d1, f1, d2, f2)
	}
}

func TestMergeRefuses(t *testing.T) {
	p := Plan{Rate: 2000, Duration: 20 * time.Millisecond, Seed: 5}
	shards := runShards(t, p, 3)
	other := runShards(t, Plan{Rate: 2000, Duration: 20 * time.Millisecond, Seed: 6}, 3)
	tests := []struct {
		name string
		in   []*Result
		want string
	}{
		{"none", nil, "no results"},
		{"missing", []*Result{shards[0], shards[2]}, "shard 1 of 3 missing"},
		{"missing two", []*Result{shards[1]}, "shard 0, 2 of 3 missing"},
		{"twice", []*Result{shards[0], shards[1], shards[1], shards[2]}, "shard 1 of 3 given twice"},
		{"other plan", []*Result{shards[0], shards[1], other[2]}, "seed"},
		{"nil", []*Result{shards[0], nil}, "result 1 is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r, err := Merge(tt.in...); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Merge = %v, %v; want an error containing %q", r, err, tt.want)
			}
		})
	}
}

func TestResultJSONRefusesInconsistency(t *testing.T) {
	r := runShards(t, Plan{Rate: 1000, Duration: 20 * time.Millisecond}, 1)[0]
	b, _ := json.Marshal(r)
	var m map[string]any
	json.Unmarshal(b, &m)
	m["sent"] = float64(r.Sent + 1)
	bad, _ := json.Marshal(m)
	var back Result
	if err := json.Unmarshal(bad, &back); err == nil || !strings.Contains(err.Error(), "do not add up") {
		t.Errorf("Unmarshal with a wrong count = %v", err)
	}
	m["sent"] = float64(r.Sent)
	m["latency"].(map[string]any)["histogram"] = "bm90IGEgaGlzdG9ncmFt"
	bad, _ = json.Marshal(m)
	if err := json.Unmarshal(bad, &back); err == nil || !strings.Contains(err.Error(), "latency") {
		t.Errorf("Unmarshal with a broken histogram = %v", err)
	}
}

func TestWriteLog(t *testing.T) {
	r := runShards(t, Plan{Rate: 2000, Duration: 50 * time.Millisecond}, 1)[0]
	var buf bytes.Buffer
	if err := r.WriteLog(&buf); err != nil {
		t.Fatal(err)
	}
	lr := hdrhistogram.NewHistogramLogReader(&buf)
	var got []*hdrhistogram.Histogram
	for {
		h, err := lr.NextIntervalHistogram()
		if errors.Is(err, io.EOF) || h == nil && err == nil {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h)
	}
	if len(got) != 1 || got[0].TotalCount() != r.Latency.Count || !got[0].Equals(r.hist.lat) {
		t.Fatalf("log holds %d histograms; want one equal to the latency histogram (%d values)", len(got), r.Latency.Count)
	}
	if got[0].Tag() != "latency" {
		t.Errorf("tag %q", got[0].Tag())
	}
}
