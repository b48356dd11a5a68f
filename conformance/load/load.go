// Package load is aiconform's load generator, usable as a library and
// behind `aiconform load`. Its shape follows vegeta's lib: a Plan (the
// schedule) drives an attacker (Run) that hits a Target and folds every
// outcome into a Result (the metrics), which reports percentiles and
// serialises losslessly (JSON, HdrHistogram log) so that shards merge.
//
// Open loop (Plan.Rate > 0): queries are scheduled at constant or Poisson
// arrival times, and each query's latency runs from its scheduled send
// time, whether or not a sender was free (coordinated omission
// corrected); the latency from the actual send is kept beside it. Closed
// loop (Plan.Concurrency > 0): that many queries are outstanding, each
// sent when the previous one of its lane completed. Warm-up queries are
// sent first and are not timed.
//
// The generator watches itself: how late each send was against its
// schedule is recorded in a histogram of its own, and when the 99th
// percentile of that lateness passes Options.MaxLateness, or the
// generator runs short of file descriptors or ports, Result.Doubt says
// so: the measurement, not the target, is in doubt. Outstanding queries
// are bounded (Options.MaxConnections), so an overloaded target never
// makes the generator open thousands of sockets.
//
// The dispatcher sleeps on a timerfd where Linux has one: the runtime's
// own timers wake an idle process up to a millisecond late, which is the
// whole lateness budget.
//
// Statistics live in HdrHistograms (microseconds, 3 significant digits,
// up to an hour), so memory stays flat however many queries run, and
// percentiles are nearest rank over every timed query with failed
// queries counting as infinitely slow. Result.UpperBound gives MLPerf
// LoadGen's early-stopping estimate of a percentile; Merge combines the
// results of the shards of one plan (Plan.ForShard) exactly.
package load

import (
	"context"
	"time"
)

// Arrival is the arrival process of an open-loop plan.
type Arrival string

// Arrival processes.
const (
	// Constant sends query i at Start + i/Rate.
	Constant Arrival = "constant"
	// Poisson draws inter-arrival times from the exponential distribution
	// of mean 1/Rate with the plan's stream seed.
	Poisson Arrival = "poisson"
)

// Plan is what a run sends: the load, how long, and the seed of its
// arrival times. Two runs of the same plan against the same target send
// the same schedule.
type Plan struct {
	// Rate is the open-loop arrival rate in queries per second; zero for
	// a closed-loop plan.
	Rate float64 `json:"rate,omitempty"`
	// Arrival is the open-loop arrival process; empty means Poisson.
	Arrival Arrival `json:"arrival,omitempty"`
	// Concurrency is the number of queries a closed-loop plan keeps
	// outstanding; zero for an open-loop plan.
	Concurrency int `json:"concurrency,omitempty"`
	// Duration is the minimum length of the timed phase. Its JSON form
	// is a Go duration string ("60s"), written by Plan's MarshalJSON.
	Duration time.Duration `json:"-"`
	// MinQueries is the minimum number of timed queries; the timed phase
	// ends when both it and Duration are met (or Options.Stop says so).
	MinQueries int64 `json:"minQueries,omitempty"`
	// Warmup is the number of untimed queries sent, one after another,
	// before the timed phase.
	Warmup int `json:"warmup,omitempty"`
	// Seed is the plan's seed; shard i of n draws its arrivals from
	// StreamSeed, derived from Seed and the shard.
	Seed uint64 `json:"seed,string"`
	// Shard is which of several independent streams this run is; the
	// zero value is the whole plan (shard 0 of 1).
	Shard Shard `json:"shard"`
}

// Shard names one of Count independent streams of a plan.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// Query is one query the generator sends.
type Query struct {
	// Seq numbers the query within the run: warm-up queries first, from 0.
	Seq uint64
	// Warmup marks an untimed warm-up query.
	Warmup bool
	// Scheduled is when the plan says the query is to be sent.
	Scheduled time.Time
}

// Target sends one query and waits for its complete response (the last
// byte of its body). It returns nil when the query succeeded, or an
// error whose kind (ErrorKind) is counted in Result.Errors. It must be
// safe for concurrent use.
type Target interface {
	Hit(ctx context.Context, q Query) error
}

// TargetFunc adapts a function to Target.
type TargetFunc func(ctx context.Context, q Query) error

// Hit calls f.
func (f TargetFunc) Hit(ctx context.Context, q Query) error { return f(ctx, q) }

// Error kinds of failed queries. A QueryError of kind KindStatus is
// counted as "status NNN".
const (
	KindTimeout   = "timeout"
	KindTransport = "transport"
	KindStatus    = "status"
	KindInvalid   = "invalid"
)

// QueryError is a failed query: its kind (one of the Kind constants),
// the HTTP status when the kind is KindStatus, and the cause.
type QueryError struct {
	Kind   string
	Status int
	Err    error
}

// Options tune how Run sends a plan; the zero value selects the
// documented defaults.
type Options struct {
	// Timeout bounds each query; zero uses DefaultTimeout. A query that
	// passes it fails with KindTimeout.
	Timeout time.Duration
	// MaxConnections bounds the queries outstanding at once (and so the
	// connections of an HTTP target); zero uses a bound derived from the
	// process's file-descriptor limit, at most DefaultMaxConnections.
	MaxConnections int
	// MaxLateness is the bound on the 99th percentile of send lateness
	// beyond which Result.Doubt is set; zero uses DefaultMaxLateness.
	MaxLateness time.Duration
	// Window is the length of the stability windows; zero uses a tenth
	// of Plan.Duration, at least 100 ms. A run that outlasts 256 windows
	// doubles their length as often as it needs to, so that its memory
	// stays bounded.
	Window time.Duration
	// Stop, when not nil, is asked from time to time once Plan.Duration
	// has passed while Plan.MinQueries is not yet met; returning true
	// ends the timed phase early (Result.EarlyStopped). It is called from
	// one goroutine, with the result so far, which it must not keep.
	Stop func(r *Result) bool
}

// Defaults of Options.
const (
	DefaultTimeout        = 30 * time.Second
	DefaultMaxConnections = 1024
	DefaultMaxLateness    = time.Millisecond
)
