package load

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Plan{Rate: 10, Duration: time.Second}
	tests := []struct {
		name string
		p    Plan
		want string // substring of the error; empty for none
	}{
		{"open loop", ok, ""},
		{"constant", Plan{Rate: 10, Arrival: Constant, Duration: time.Second}, ""},
		{"closed loop", Plan{Concurrency: 2, Duration: time.Second}, ""},
		{"shard", Plan{Rate: 10, Duration: time.Second, Shard: Shard{Index: 2, Count: 3}}, ""},
		{"neither", Plan{Duration: time.Second}, "neither rate nor concurrency"},
		{"both", Plan{Rate: 1, Concurrency: 1, Duration: time.Second}, "both set"},
		{"negative rate", Plan{Rate: -1, Duration: time.Second}, "rate -1"},
		{"infinite rate", Plan{Rate: math.Inf(1), Duration: time.Second}, "finite"},
		{"bad arrival", Plan{Rate: 1, Arrival: "burst", Duration: time.Second}, `arrival "burst"`},
		{"closed arrival", Plan{Concurrency: 1, Arrival: Poisson, Duration: time.Second}, "closed-loop"},
		{"no duration", Plan{Rate: 1}, "duration 0s"},
		{"negative min", Plan{Rate: 1, Duration: time.Second, MinQueries: -1}, "minQueries -1"},
		{"negative warmup", Plan{Rate: 1, Duration: time.Second, Warmup: -1}, "warmup -1"},
		{"shard out of range", Plan{Rate: 1, Duration: time.Second, Shard: Shard{Index: 3, Count: 3}}, "shard 3 of 3"},
		{"index without count", Plan{Rate: 1, Duration: time.Second, Shard: Shard{Index: 1}}, "shard 1 of 0"},
		{"constant shard", Plan{Rate: 1, Arrival: Constant, Duration: time.Second, Shard: Shard{Index: 0, Count: 2}}, "only a Poisson"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func offsets(p Plan, n int) []time.Duration {
	s := newSchedule(p)
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = s.next()
	}
	return out
}

func TestScheduleDeterministic(t *testing.T) {
	p := Plan{Rate: 500, Duration: time.Second, Seed: 7}
	a, b := offsets(p, 1000), offsets(p, 1000)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("offset %d: %v then %v for the same plan", i, a[i], b[i])
		}
		if i > 0 && a[i] < a[i-1] {
			t.Fatalf("offset %d: %v before offset %d: %v", i, a[i], i-1, a[i-1])
		}
	}
	if a[0] != 0 {
		t.Errorf("first offset %v, want 0", a[0])
	}
	p.Seed = 8
	c := offsets(p, 1000)
	same := 0
	for i := 1; i < len(a); i++ {
		if a[i] == c[i] {
			same++
		}
	}
	if same > 0 {
		t.Errorf("seeds 7 and 8 share %d of 999 offsets", same)
	}
	constant := offsets(Plan{Rate: 3, Arrival: Constant, Duration: time.Second}, 4)
	for i, want := range []time.Duration{0, 333333333, 666666666, time.Second} {
		if constant[i] != want {
			t.Errorf("constant offset %d = %v, want %v", i, constant[i], want)
		}
	}
}

func TestSchedulePoissonMoments(t *testing.T) {
	for _, seed := range []uint64{1, 42, 1 << 60} {
		const rate, n = 1000.0, 200000
		p := Plan{Rate: rate, Duration: time.Second, Seed: seed}
		o := offsets(p, n+1)
		var sum, sumsq float64
		for i := 1; i <= n; i++ {
			g := (o[i] - o[i-1]).Seconds()
			sum += g
			sumsq += g * g
		}
		mean := sum / n
		variance := sumsq/n - mean*mean
		// The gaps are exponential of mean 1/rate: the sample mean has a
		// relative standard error of 1/√n and the sample variance one of
		// √(8/n); five of them bound a correct generator with certainty
		// for practical purposes.
		if rel := math.Abs(mean*rate - 1); rel > 5/math.Sqrt(n) {
			t.Errorf("seed %d: mean gap %g s, want %g within %.2g%%", seed, mean, 1/rate, 500/math.Sqrt(n))
		}
		if rel := math.Abs(variance*rate*rate - 1); rel > 5*math.Sqrt(8.0/n) {
			t.Errorf("seed %d: gap variance %g s², want %g within %.2g%%", seed, variance, 1/(rate*rate), 500*math.Sqrt(8.0/n))
		}
	}
}

func TestForShard(t *testing.T) {
	p := Plan{Rate: 900, Duration: time.Minute, MinQueries: 1000, Warmup: 4, Seed: 99}
	seeds := map[uint64]int{}
	for i := range 3 {
		s, err := p.ForShard(i, 3)
		if err != nil {
			t.Fatal(err)
		}
		if s.Rate != 300 || s.MinQueries != 334 || s.Duration != time.Minute || s.Warmup != 4 || s.Shard != (Shard{i, 3}) || s.Arrival != Poisson {
			t.Errorf("shard %d = %+v", i, s)
		}
		if j, dup := seeds[s.StreamSeed()]; dup {
			t.Errorf("shards %d and %d share stream seed %d", j, i, s.StreamSeed())
		}
		seeds[s.StreamSeed()] = i
		if err := SamePlan(p.normalized(), s); err == nil || !strings.Contains(err.Error(), "rate") {
			t.Errorf("SamePlan(whole, shard %d) = %v, want a rate difference", i, err)
		}
	}
	if p.StreamSeed() != 99 {
		t.Errorf("whole plan's stream seed %d, want its seed 99", p.StreamSeed())
	}
	whole, _ := p.ForShard(0, 1)
	if whole.StreamSeed() != 99 || whole.Rate != 900 {
		t.Errorf("shard 0 of 1 = %+v, stream seed %d; want the whole plan", whole, whole.StreamSeed())
	}
	for _, bad := range []struct {
		p            Plan
		index, count int
		want         string
	}{
		{p, 3, 3, "shard 3 of 3"},
		{p, 0, 0, "shard 0 of 0"},
		{Plan{Rate: 1, Arrival: Constant, Duration: time.Second}, 0, 2, "does not shard"},
		{Plan{Concurrency: 1, Duration: time.Second}, 0, 2, "does not shard"},
		{Plan{Rate: 1, Duration: time.Second, Shard: Shard{1, 2}}, 0, 2, "already shard"},
	} {
		if _, err := bad.p.ForShard(bad.index, bad.count); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ForShard(%d, %d) of %+v = %v, want %q", bad.index, bad.count, bad.p, err, bad.want)
		}
	}
}

func TestSamePlan(t *testing.T) {
	base := Plan{Rate: 10, Duration: time.Second, Seed: 1, Shard: Shard{0, 2}}
	tests := []struct {
		name string
		edit func(*Plan)
		want string
	}{
		{"other index", func(p *Plan) { p.Shard.Index = 1 }, ""},
		{"empty arrival is poisson", func(p *Plan) { p.Arrival = Poisson }, ""},
		{"rate", func(p *Plan) { p.Rate = 11 }, "rate"},
		{"duration", func(p *Plan) { p.Duration = 2 * time.Second }, "duration"},
		{"min", func(p *Plan) { p.MinQueries = 5 }, "minQueries"},
		{"warmup", func(p *Plan) { p.Warmup = 5 }, "warmup"},
		{"seed", func(p *Plan) { p.Seed = 2 }, "seed"},
		{"count", func(p *Plan) { p.Shard.Count = 3 }, "shard count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := base
			tt.edit(&b)
			err := SamePlan(base, b)
			if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("SamePlan = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPlanJSON(t *testing.T) {
	p := Plan{Rate: 12.5, Arrival: Constant, Duration: 90 * time.Second, MinQueries: 10, Warmup: 3, Seed: 1<<63 + 5, Shard: Shard{1, 4}}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"duration":"1m30s"`) || !strings.Contains(string(b), `"seed":"9223372036854775813"`) {
		t.Errorf("Marshal = %s, want a duration string and the seed as a string", b)
	}
	var back Plan
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != p {
		t.Errorf("round trip = %+v, want %+v", back, p)
	}
	if err := json.Unmarshal([]byte(`{"rate":1,"duration":"soon"}`), &back); err == nil || !strings.Contains(err.Error(), `duration "soon"`) {
		t.Errorf("Unmarshal of a bad duration = %v, want an error naming it", err)
	}
}
