package load

// This file holds the contract of the package's functions; each body is
// replaced by its implementation.

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"time"
)

// Run sends the plan to the target and returns what it measured. It
// errors only when the plan or options are invalid; failed queries are
// data (Result.Errors), and a run its context ends returns its result so
// far with Interrupted set.
func Run(ctx context.Context, p Plan, t Target, opts Options) (*Result, error) {
	panic("unimplemented")
}

// Validate checks that the plan is either open loop (Rate > 0, Arrival
// constant or poisson) or closed loop (Concurrency > 0), has a positive
// Duration, and a shard index within its count.
func (p Plan) Validate() error { panic("unimplemented") }

// ForShard returns shard index of count: an independent Poisson stream at
// Rate/count whose StreamSeed derives from Seed and index. Only a Poisson
// open-loop plan shards (the sum of independent Poisson streams is a
// Poisson stream at the summed rate).
func (p Plan) ForShard(index, count int) (Plan, error) { panic("unimplemented") }

// StreamSeed is the seed of the plan's arrival times: Seed itself for an
// unsharded plan, else a value derived from Seed and the shard index.
func (p Plan) StreamSeed() uint64 { panic("unimplemented") }

// SamePlan reports whether two shards belong to one plan: every field
// equal but the shard index, and the same shard count; the error names
// the first field that differs.
func SamePlan(a, b Plan) error { panic("unimplemented") }

// Percentile returns the p-th percentile (0 < p ≤ 1) of the latencies
// from scheduled send time by nearest rank over every timed query: the
// ⌈p·Sent⌉-th smallest, failed queries counting as infinite (finite is
// false then). The value is the highest value equivalent to that rank's
// bucket, so it overstates the exact value by at most the histogram's
// precision (0.1%).
func (r *Result) Percentile(p float64) (d time.Duration, finite bool) { panic("unimplemented") }

// UpperBound is the early-stopping estimate of the p-th percentile, as
// MLPerf LoadGen computes it: the smallest order statistic of the timed
// latencies that bounds the true p-th percentile from above with the
// given confidence (a one-sided binomial test). ok is false when there
// are too few queries for any order statistic to do so.
func (r *Result) UpperBound(p, confidence float64) (d time.Duration, finite, ok bool) {
	panic("unimplemented")
}

// Elapsed is End − Start.
func (r *Result) Elapsed() time.Duration { panic("unimplemented") }

// Rate is the achieved rate: timed queries sent per second of Elapsed.
func (r *Result) Rate() float64 { panic("unimplemented") }

// Throughput is successful queries per second of Elapsed.
func (r *Result) Throughput() float64 { panic("unimplemented") }

// Merge combines the results of the shards of one plan into one: counts
// add, histograms merge exactly, Start is the earliest and End the
// latest. It fails when the shards disagree on the plan (SamePlan), when
// a shard is given twice or when one is missing.
func Merge(shards ...*Result) (*Result, error) { panic("unimplemented") }

// WriteLog writes the result's latency histogram (from scheduled send
// time) as an HdrHistogram log, readable by HdrHistogram's tools.
func (r *Result) WriteLog(w io.Writer) error { panic("unimplemented") }

// Error implements error.
func (e *QueryError) Error() string { panic("unimplemented") }

// Unwrap returns the cause.
func (e *QueryError) Unwrap() error { return e.Err }

// ErrorKind is the name a failed query is counted under in
// Result.Errors: "status NNN" for a QueryError of kind KindStatus, the
// kind of any other QueryError, and KindTransport otherwise (KindTimeout
// when the error is a deadline).
func ErrorKind(err error) string { panic("unimplemented") }

// HTTPConfig describes an HTTP target.
type HTTPConfig struct {
	// URL is the absolute URL every query is sent to.
	URL string
	// Method defaults to POST when Body is set, else GET.
	Method string
	// Header is sent with every query (Content-Type, Authorization).
	Header http.Header
	// Body returns the request body of a query; nil sends none.
	Body func(q Query) []byte
	// Check judges a complete response; nil accepts status 200 alone. A
	// non-nil error fails the query (a QueryError keeps its kind; any
	// other error counts as KindInvalid).
	Check func(q Query, status int, body []byte) error
	// TLS configures https; nil uses the system roots.
	TLS *tls.Config
	// MaxConnections bounds the open connections; zero uses
	// DefaultMaxConnections.
	MaxConnections int
	// MaxBodyBytes bounds a response body; a longer one fails the query
	// (KindInvalid). Zero uses 64 MiB.
	MaxBodyBytes int
	// Timeout bounds each query; zero uses DefaultTimeout.
	Timeout time.Duration
}

// HTTPTarget is a Target that sends HTTP/1.1 requests over a bounded
// pool of keep-alive connections.
type HTTPTarget struct{}

// NewHTTPTarget checks the configuration and returns its target.
func NewHTTPTarget(c HTTPConfig) (*HTTPTarget, error) { panic("unimplemented") }

// Hit implements Target.
func (t *HTTPTarget) Hit(ctx context.Context, q Query) error { panic("unimplemented") }

// Close closes the target's idle connections.
func (t *HTTPTarget) Close() error { panic("unimplemented") }
