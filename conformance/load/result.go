package load

import (
	"time"

	"github.com/aiconform/aiconform/numerics"
)

// Result is what a run measured. Its JSON form carries every count, the
// percentiles and the histograms themselves (HdrHistogram V2 compressed
// encoding), so results decode and merge without loss. A result keeps
// its histograms decoded beside their encoding, in an unexported field:
// compare results with go-cmp under cmpopts.IgnoreUnexported(Result{}).
type Result struct {
	Plan Plan `json:"plan"`
	// Start is the scheduled time of the first timed query; End is when
	// the last timed response completed.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Sent counts timed queries; Succeeded and Failed split them.
	Sent      int64 `json:"sent"`
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
	// Errors counts failed queries by kind ("timeout", "status 503", ...).
	Errors map[string]int64 `json:"errors,omitempty"`
	// Latency is measured from each query's scheduled send time; failed
	// queries count as infinitely slow.
	Latency Distribution `json:"latency"`
	// Uncorrected is measured from each query's actual send time.
	Uncorrected Distribution `json:"uncorrectedLatency"`
	// Lateness is how late each send was against its schedule.
	Lateness Distribution `json:"sendLateness"`
	// Windows split the timed phase by scheduled time, for stability.
	Windows []Window `json:"windows,omitempty"`
	// PeakOutstanding is the most queries that were outstanding at once.
	PeakOutstanding int `json:"peakOutstanding"`
	// EarlyStopped is set when Options.Stop ended the timed phase.
	EarlyStopped bool `json:"earlyStopped,omitempty"`
	// Interrupted is set when the run's context ended it.
	Interrupted bool `json:"interrupted,omitempty"`
	// Doubt, when not empty, says why the measurement itself is in doubt.
	Doubt string `json:"doubt,omitempty"`

	// hist holds the decoded histograms of Latency, Uncorrected and
	// Lateness when the result came from Run, Merge or UnmarshalJSON.
	hist hists
}

// Distribution is one histogram with its summary. Values are in
// milliseconds. The latencies rank over every timed query by nearest
// rank, failed ones counting as infinitely slow, so a percentile that
// falls on a failed query is +Inf (and so is Max when any failed); send
// lateness ranks over every send. Each value is the highest of its
// histogram bucket: at most 0.1% above the exact one.
type Distribution struct {
	// Count is the number of recorded values: the successful queries for
	// a latency, every timed send for the lateness.
	Count int64          `json:"count"`
	P50   numerics.Float `json:"p50"`
	P90   numerics.Float `json:"p90"`
	P95   numerics.Float `json:"p95"`
	P99   numerics.Float `json:"p99"`
	P999  numerics.Float `json:"p99.9"`
	Max   numerics.Float `json:"max"`
	Unit  string         `json:"unit"`
	// Clamped counts values above the histogram's range (an hour), which
	// are recorded as an hour rather than dropped.
	Clamped int64 `json:"clamped,omitempty"`
	// Histogram is the HdrHistogram itself (microseconds), V2 compressed
	// and base64-encoded as HdrHistogram's tools write it.
	Histogram string `json:"histogram"`
}

// Window is the measurement of one stability window.
type Window struct {
	// Offset is the window's start after Result.Start.
	Offset numerics.Float `json:"offsetMs"`
	Sent   int64          `json:"sent"`
	Failed int64          `json:"failed"`
	Rate   numerics.Float `json:"rate"`
	P50    numerics.Float `json:"p50"`
	P99    numerics.Float `json:"p99"`
}
