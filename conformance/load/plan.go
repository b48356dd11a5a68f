package load

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Validate checks that the plan is either open loop (Rate > 0, Arrival
// constant or poisson) or closed loop (Concurrency > 0), has a positive
// Duration, and a shard index within its count.
func (p Plan) Validate() error {
	switch {
	case p.Rate > 0 && p.Concurrency > 0:
		return fmt.Errorf("plan: rate %g and concurrency %d both set; want one (open loop: rate, closed loop: concurrency)", p.Rate, p.Concurrency)
	case p.Rate > 0:
		if math.IsInf(p.Rate, 0) || math.IsNaN(p.Rate) {
			return fmt.Errorf("plan: rate %g; want a finite number of queries per second", p.Rate)
		}
		if p.Arrival != "" && p.Arrival != Constant && p.Arrival != Poisson {
			return fmt.Errorf("plan: arrival %q; want %q or %q", p.Arrival, Constant, Poisson)
		}
	case p.Concurrency > 0:
		if p.Arrival != "" {
			return fmt.Errorf("plan: arrival %q set on a closed-loop plan (concurrency %d); want it empty", p.Arrival, p.Concurrency)
		}
	case p.Rate < 0 || math.IsNaN(p.Rate):
		return fmt.Errorf("plan: rate %g; want a positive number of queries per second", p.Rate)
	case p.Concurrency < 0:
		return fmt.Errorf("plan: concurrency %d; want a positive number of outstanding queries", p.Concurrency)
	default:
		return errors.New("plan: neither rate nor concurrency set; want rate > 0 (open loop) or concurrency > 0 (closed loop)")
	}
	if p.Duration <= 0 {
		return fmt.Errorf("plan: duration %v; want a positive duration", p.Duration)
	}
	if p.MinQueries < 0 {
		return fmt.Errorf("plan: minQueries %d; want zero or more", p.MinQueries)
	}
	if p.Warmup < 0 {
		return fmt.Errorf("plan: warmup %d; want zero or more", p.Warmup)
	}
	if p.Shard.Count < 0 || p.Shard.Index < 0 || (p.Shard.Count == 0 && p.Shard.Index != 0) ||
		(p.Shard.Count > 0 && p.Shard.Index >= p.Shard.Count) {
		return fmt.Errorf("plan: shard %d of %d; want an index from 0 to count-1", p.Shard.Index, p.Shard.Count)
	}
	if p.Shard.Count > 1 && p.arrival() != Poisson {
		return fmt.Errorf("plan: shard %d of %d of a %s plan; only a Poisson open-loop plan shards", p.Shard.Index, p.Shard.Count, p.kind())
	}
	return nil
}

// kind names the plan's load for messages.
func (p Plan) kind() string {
	if p.Concurrency > 0 {
		return "closed-loop"
	}
	return string(p.arrival())
}

// arrival is the plan's arrival process with the default filled in; empty
// for a closed-loop plan.
func (p Plan) arrival() Arrival {
	if p.Rate <= 0 {
		return ""
	}
	if p.Arrival == "" {
		return Poisson
	}
	return p.Arrival
}

// normalized fills in the defaults a run applies: the arrival process of
// an open-loop plan, and shard 0 of 1 for the whole plan.
func (p Plan) normalized() Plan {
	p.Arrival = p.arrival()
	if p.Shard.Count == 0 {
		p.Shard.Count = 1
	}
	return p
}

// ForShard returns shard index of count: an independent Poisson stream
// whose Rate is the plan's Rate/count, whose MinQueries is the plan's
// MinQueries/count rounded up (so the shards together send at least the
// plan's minimum), and whose StreamSeed derives from Seed and index.
// Duration and Warmup are the plan's: every shard runs as long as the
// whole plan and warms its own connections. Only a Poisson open-loop
// plan shards (the sum of independent Poisson streams is a Poisson
// stream at the summed rate), and only a whole plan does.
func (p Plan) ForShard(index, count int) (Plan, error) {
	if err := p.Validate(); err != nil {
		return Plan{}, err
	}
	if p.Shard.Count > 1 {
		return Plan{}, fmt.Errorf("plan: already shard %d of %d; shard the whole plan", p.Shard.Index, p.Shard.Count)
	}
	if p.arrival() != Poisson {
		return Plan{}, fmt.Errorf("plan: a %s plan does not shard; only a Poisson open-loop plan does", p.kind())
	}
	if count < 1 || index < 0 || index >= count {
		return Plan{}, fmt.Errorf("plan: shard %d of %d; want count ≥ 1 and an index from 0 to count-1", index, count)
	}
	s := p.normalized()
	s.Rate = p.Rate / float64(count)
	s.MinQueries = (p.MinQueries + int64(count) - 1) / int64(count)
	s.Shard = Shard{Index: index, Count: count}
	return s, nil
}

// StreamSeed is the seed of the plan's arrival times: Seed itself for an
// unsharded plan, else splitmix64 of Seed combined with the splitmix64 of
// the shard index, so that neighbouring seeds and indexes give unrelated
// streams.
func (p Plan) StreamSeed() uint64 {
	if p.Shard.Count <= 1 {
		return p.Seed
	}
	return splitmix64(p.Seed ^ splitmix64(uint64(p.Shard.Index)+1))
}

// splitmix64 is the finaliser of the SplitMix64 generator: a bijective
// mixer of 64-bit values.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// SamePlan reports whether two shards belong to one plan: every field
// equal but the shard index, and the same shard count; the error names
// the first field that differs. An empty Arrival equals "poisson" and
// shard 0 of 0 equals shard 0 of 1, as Run reads them.
func SamePlan(a, b Plan) error {
	a, b = a.normalized(), b.normalized()
	switch {
	case a.Rate != b.Rate:
		return fmt.Errorf("plans differ in rate: %g and %g", a.Rate, b.Rate)
	case a.Arrival != b.Arrival:
		return fmt.Errorf("plans differ in arrival: %q and %q", a.Arrival, b.Arrival)
	case a.Concurrency != b.Concurrency:
		return fmt.Errorf("plans differ in concurrency: %d and %d", a.Concurrency, b.Concurrency)
	case a.Duration != b.Duration:
		return fmt.Errorf("plans differ in duration: %v and %v", a.Duration, b.Duration)
	case a.MinQueries != b.MinQueries:
		return fmt.Errorf("plans differ in minQueries: %d and %d", a.MinQueries, b.MinQueries)
	case a.Warmup != b.Warmup:
		return fmt.Errorf("plans differ in warmup: %d and %d", a.Warmup, b.Warmup)
	case a.Seed != b.Seed:
		return fmt.Errorf("plans differ in seed: %d and %d", a.Seed, b.Seed)
	case a.Shard.Count != b.Shard.Count:
		return fmt.Errorf("plans differ in shard count: %d and %d", a.Shard.Count, b.Shard.Count)
	}
	return nil
}

// planJSON is Plan's JSON form: its fields with Duration as a string.
type planJSON struct {
	planFields
	Duration string `json:"duration"`
}

// planFields has Plan's fields without its methods, so that encoding it
// does not recurse into Plan.MarshalJSON.
type planFields Plan

// MarshalJSON writes the plan with "duration" as a Go duration string.
func (p Plan) MarshalJSON() ([]byte, error) {
	return json.Marshal(planJSON{planFields: planFields(p), Duration: p.Duration.String()})
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (p *Plan) UnmarshalJSON(b []byte) error {
	var j planJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	*p = Plan(j.planFields)
	if j.Duration == "" {
		p.Duration = 0
		return nil
	}
	d, err := time.ParseDuration(j.Duration)
	if err != nil {
		return fmt.Errorf("plan: duration %q: want a Go duration such as \"60s\": %w", j.Duration, err)
	}
	p.Duration = d
	return nil
}

// schedule yields the scheduled send times of an open-loop plan as
// offsets from the first: a pure function of the plan (its arrival
// process, rate and stream seed).
type schedule struct {
	constant bool
	rate     float64
	rng      *rand.Rand
	i        int64
	t        float64 // seconds since the first arrival (Poisson)
}

// newSchedule returns the schedule of an open-loop plan.
func newSchedule(p Plan) *schedule {
	s := p.StreamSeed()
	return &schedule{
		constant: p.arrival() == Constant,
		rate:     p.Rate,
		rng:      rand.New(rand.NewPCG(s, splitmix64(s))),
	}
}

// next returns the offset of the next query from the first one: i/Rate
// for constant arrivals; for Poisson arrivals the first query is at 0 and
// each later gap is drawn from the exponential distribution of mean
// 1/Rate.
func (s *schedule) next() time.Duration {
	i := s.i
	s.i++
	if s.constant {
		return time.Duration(float64(i) * 1e9 / s.rate)
	}
	if i > 0 {
		s.t += s.rng.ExpFloat64() / s.rate
	}
	return time.Duration(s.t * 1e9)
}
