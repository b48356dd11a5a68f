package load

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// distOf is the distribution of the given values in microseconds.
func distOf(t *testing.T, us ...int64) Distribution {
	t.Helper()
	h := newHist(histDigits)
	for _, v := range us {
		if err := h.RecordValue(v); err != nil {
			t.Fatal(err)
		}
	}
	d, err := summarise(h, h.TotalCount(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCurve(t *testing.T) {
	thousand := make([]float64, 1000) // 1 ms … 1000 ms
	for i := range thousand {
		thousand[i] = float64(i + 1)
	}
	failing := make([]float64, 100) // 1 ms … 95 ms, then 5 failed
	for i := range failing {
		failing[i] = float64(i + 1)
		if i >= 95 {
			failing[i] = -1
		}
	}
	inf := math.Inf(1)
	tests := []struct {
		name      string
		lat       []float64
		perDecade int
		want      []CurvePoint
	}{
		{"one point per decade", thousand, 1, []CurvePoint{{0, 1}, {0.9, 900}, {0.99, 990}, {0.999, 999}, {1, 1000}}},
		{"failed queries are infinite", failing, 1, []CurvePoint{{0, 1}, {0.9, 90}, {0.99, inf}, {1, inf}}},
		{"two points per decade", failing, 2, []CurvePoint{{0, 1}, {1 - math.Pow(10, -0.5), 69}, {0.9, 90}, {1 - math.Pow(10, -1.5), inf}, {0.99, inf}, {1, inf}}},
		{"one query", []float64{7}, 4, []CurvePoint{{1, 7}}},
		{"no queries", nil, 4, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := resultOf(t, tt.lat)
			got, err := r.Latency.Curve(r.Sent, tt.perDecade)
			if err != nil {
				t.Fatal(err)
			}
			// Values are the highest of their bucket: 0.1% above at most.
			approx := cmp.Comparer(func(a, b float64) bool {
				if math.IsInf(a, 1) || math.IsInf(b, 1) {
					return a == b
				}
				return math.Abs(a-b) <= 1e-3*math.Max(math.Abs(a), math.Abs(b))+1e-12
			})
			if diff := cmp.Diff(tt.want, got, approx); diff != "" {
				t.Errorf("Curve (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCurveErrors(t *testing.T) {
	d := distOf(t, 1000, 2000)
	broken := d
	broken.Histogram = "not a histogram"
	miscounted := d
	miscounted.Count = 3
	tests := []struct {
		name      string
		d         Distribution
		total     int64
		perDecade int
		want      string
	}{
		{"no points per decade", d, 2, 0, "at least 1"},
		{"total below count", d, 1, 10, "over 1 values of a histogram that holds 2"},
		{"undecodable", broken, 2, 10, "decoding histogram"},
		{"count disagrees", miscounted, 3, 10, "holds 2 values, count says 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.d.Curve(tt.total, tt.perDecade)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Curve error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestBuckets(t *testing.T) {
	tests := []struct {
		name string
		us   []int64
		n    int
		want []Bucket
	}{
		// 3000 and 8000 µs lie in HdrHistogram buckets 2 and 4 µs wide.
		{"log-spaced", []int64{1000, 2000, 3000, 8000}, 3, []Bucket{
			{1, math.Cbrt(8.003), 2},
			{math.Cbrt(8.003), math.Pow(8.003, 2.0/3), 1},
			{math.Pow(8.003, 2.0/3), 8.003, 1},
		}},
		{"values on one bucket", []int64{5000, 5000, 5000}, 10, []Bucket{{5.003, 5.003, 3}}},
		{"zero counts in the first", []int64{0, 0, 10, 1000}, 2, []Bucket{{0.01, 0.1, 3}, {0.1, 1, 1}}},
		{"only zeros", []int64{0, 0}, 5, []Bucket{{0, 0, 2}}},
		{"nothing recorded", nil, 5, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := distOf(t, tt.us...).Buckets(tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateApprox(0, 2e-3)); diff != "" {
				t.Errorf("Buckets (-want +got):\n%s", diff)
			}
			var sum int64
			for _, b := range got {
				sum += b.Count
			}
			if sum != int64(len(tt.us)) {
				t.Errorf("the buckets count %d values, want %d", sum, len(tt.us))
			}
		})
	}
	if _, err := distOf(t, 1).Buckets(0); err == nil {
		t.Error("Buckets(0) did not fail")
	}
}
