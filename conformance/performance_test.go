package conformance

import (
	"context"
	"errors"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/internal/fakeoip"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/spec"
)

// perfLatency is the latency member of the fake's performance runs:
// budgets no fake misses (ten seconds, one sample per second), short
// explicit minimums, and a send-lateness bound a shared machine keeps.
const perfLatency = `latency:
  singleStreamP90: 10s
  serverQPS: 200
  serverP99: 10s
  offlineMinThroughput: 1
  maxSendLateness: 1s
  minimums:
    singleStream: {queries: 64, duration: 50ms}
    server: {queries: 64, duration: 100ms}
    offline: {samples: 96, duration: 50ms}
    cacheAudit: {queries: 256}`

// fakePerfProfile is the fake's profile at the performance level with
// the given latency member.
func fakePerfProfile(t *testing.T, latency string) *Profile {
	t.Helper()
	doc := strings.Replace(fakeProfileYAML, "levels: [core]", "levels: [performance]", 1)
	doc = strings.Replace(doc, "auth:\n  scheme: none\n", "auth:\n  scheme: none\n"+latency+"\n", 1)
	p, err := ParseProfile("perf.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var perfIDs = []string{"performance/single-stream", "performance/server", "performance/offline", "performance/cache-audit"}

func TestPerformanceChecks(t *testing.T) {
	tests := []struct {
		name    string
		fault   string
		latency string
		want    map[string]spec.Status
		message map[string]string
	}{
		{
			name: "a conforming fake meets generous budgets", latency: perfLatency,
			want: map[string]spec.Status{"performance/single-stream": spec.Pass, "performance/server": spec.Pass, "performance/offline": spec.Pass},
		},
		{
			name: "wrong numbers fail every scenario's accuracy sample", fault: fakeoip.FaultWrongNumbers, latency: perfLatency,
			want:    map[string]spec.Status{"performance/single-stream": spec.Fail, "performance/server": spec.Fail, "performance/offline": spec.Fail, "performance/cache-audit": spec.Fail},
			message: map[string]string{"performance/server": "queries of the accuracy sample disagree with the reference"},
		},
		{
			name: "budgets out of reach fail", latency: strings.NewReplacer("singleStreamP90: 10s", "singleStreamP90: 1ns", "serverP99: 10s", "serverP99: 1ns", "offlineMinThroughput: 1", "offlineMinThroughput: 1e12").Replace(perfLatency),
			want:    map[string]spec.Status{"performance/single-stream": spec.Fail, "performance/server": spec.Fail, "performance/offline": spec.Fail},
			message: map[string]string{"performance/single-stream": "seed-cnn@fp32: p90 ", "performance/offline": "< floor 1e+12"},
		},
		{
			name: "undeclared budgets are not applicable", latency: "latency:\n  offlineMinThroughput: 1\n  minimums: development\n  maxSendLateness: 1s",
			want:    map[string]spec.Status{"performance/single-stream": spec.Skip, "performance/server": spec.Skip, "performance/offline": spec.Pass, "performance/cache-audit": spec.Skip},
			message: map[string]string{"performance/server": spec.NotApplicablePrefix + "no profile model has a declared server budget", "performance/cache-audit": spec.NotApplicablePrefix},
		},
		{
			name: "no budgets at all", latency: "",
			want: map[string]spec.Status{"performance/single-stream": spec.Skip, "performance/server": spec.Skip, "performance/offline": spec.Skip, "performance/cache-audit": spec.Skip},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := runFake(t, &fakeoip.Server{Fault: tt.fault}, Options{Profile: fakePerfProfile(t, tt.latency)})
			for id, want := range tt.want {
				r := result(t, rep, id)
				if r.Status != want {
					t.Errorf("%s = %s (%s), want %s", id, r.Status, r.Message, want)
				}
				if m := tt.message[id]; !strings.Contains(r.Message, m) {
					t.Errorf("%s message %q lacks %q", id, r.Message, m)
				}
				if r.Status == spec.Skip {
					if !strings.HasPrefix(r.Message, spec.NotApplicablePrefix) {
						t.Errorf("%s skipped with %q, want a not-applicable reason", id, r.Message)
					}
					continue
				}
				checkScenarioEvidence(t, r)
			}
		})
	}
}

// checkScenarioEvidence holds the evidence of a performance check that
// ran: one entry for the fake's model with its minimums, its result and
// its accuracy sample.
func checkScenarioEvidence(t *testing.T, r Result) {
	t.Helper()
	if len(r.Evidence.Performance) != 1 {
		t.Fatalf("%s has %d performance entries, want 1", r.ID, len(r.Evidence.Performance))
	}
	ev := r.Evidence.Performance[0]
	if ev.Model != fakeoip.Model || ev.Status != r.Status {
		t.Errorf("%s evidence is of %s with status %s, want %s with %s", r.ID, ev.Model, ev.Status, fakeoip.Model, r.Status)
	}
	if ev.Minimums.Conformance || !ev.Minimums.Met {
		t.Errorf("%s minimums = %+v, want development minimums that were met", r.ID, ev.Minimums)
	}
	if ev.Result == nil || ev.Result.Sent == 0 || ev.Result.Latency.Histogram == "" {
		t.Errorf("%s evidence has no load result with a histogram", r.ID)
	}
	if want := min(accuracyMinimum, ev.Result.Succeeded); ev.Accuracy == nil || int64(ev.Accuracy.Compared) < want {
		t.Errorf("%s accuracy sample = %+v, want at least %d compared", r.ID, ev.Accuracy, want)
	}
	if !strings.HasSuffix(ev.BudgetSource, "perf.yaml: /latency") {
		t.Errorf("%s budget source = %q, want the profile's /latency", r.ID, ev.BudgetSource)
	}
	if r.Status == spec.Fail && ev.Accuracy != nil && ev.Accuracy.Failed > 0 && !slices.ContainsFunc(r.Evidence.Cases, func(c CaseEvidence) bool { return c.Status == spec.Fail }) {
		t.Errorf("%s failed its accuracy sample but holds no failed case", r.ID)
	}
}

// TestPerformanceClaim holds claim rule 4 on real runs: development
// minimums make the level unclaimable, and a profile without any budget
// covers no requirement of it.
func TestPerformanceClaim(t *testing.T) {
	rep := runFake(t, &fakeoip.Server{}, Options{Profile: fakePerfProfile(t, perfLatency)})
	c := rep.Claim[0]
	if c.Level != spec.Performance || c.Claimable {
		t.Fatalf("claim = %+v, want performance not claimable", c)
	}
	if !slices.ContainsFunc(c.Reasons, func(r string) bool {
		return strings.HasPrefix(r, "rule 4: performance/single-stream ran the single-stream scenario on seed-cnn@fp32 with minimums below")
	}) {
		t.Errorf("reasons %q lack rule 4 for the development minimums", c.Reasons)
	}
}

// TestPerformanceWithoutOracle holds that no scenario can pass without
// the oracle: it is skipped as not checked, before any load is sent.
func TestPerformanceWithoutOracle(t *testing.T) {
	srv := httptest.NewServer((&fakeoip.Server{}).Handler())
	defer srv.Close()
	seed := uint64(7)
	rep, err := Run(context.Background(), Options{Target: srv.URL, Profile: fakePerfProfile(t, perfLatency), Goldens: fakeoip.Goldens(t, 1), Seed: &seed, ToolVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	validateReport(t, rep)
	for _, id := range perfIDs {
		r := result(t, rep, id)
		if r.Status != spec.Skip || !strings.HasPrefix(r.Message, "not checked: no reference oracle") {
			t.Errorf("%s = %s (%s), want skipped as not checked", id, r.Status, r.Message)
		}
	}
}

// TestPerformanceDoubt holds rule 8: a measurement the load generator
// doubts ends the check with status error and the doubt as its message,
// however the server did.
func TestPerformanceDoubt(t *testing.T) {
	defer func(f func(context.Context, load.Plan, load.Target, load.Options) (*load.Result, error)) { runLoad = f }(runLoad)
	runLoad = func(ctx context.Context, p load.Plan, tg load.Target, o load.Options) (*load.Result, error) {
		res, err := load.Run(ctx, p, tg, o)
		if res != nil {
			res.Doubt = "p99 send lateness 7 ms > 1 ms (a test's doubt)"
		}
		return res, err
	}
	for _, fault := range []string{fakeoip.FaultNone, fakeoip.FaultWrongNumbers} {
		rep := runFake(t, &fakeoip.Server{Fault: fault}, Options{Profile: fakePerfProfile(t, perfLatency)})
		for _, id := range perfIDs {
			r := result(t, rep, id)
			if r.Status != spec.Error || !strings.Contains(r.Message, "could not keep its schedule: p99 send lateness 7 ms") {
				t.Errorf("fault %q: %s = %s (%s), want error with the doubt", fault, id, r.Status, r.Message)
			}
		}
	}
}

// TestPerformanceRunRefused holds a scenario whose run never starts: the
// check errs with the generator's refusal, and every figure of its
// evidence is NaN in its own unit, so the report still validates.
func TestPerformanceRunRefused(t *testing.T) {
	defer func(f func(context.Context, load.Plan, load.Target, load.Options) (*load.Result, error)) { runLoad = f }(runLoad)
	runLoad = func(context.Context, load.Plan, load.Target, load.Options) (*load.Result, error) {
		return nil, errors.New("a test's refusal")
	}
	rep := runFake(t, &fakeoip.Server{}, Options{Profile: fakePerfProfile(t, perfLatency)})
	for _, id := range perfIDs {
		r := result(t, rep, id)
		if r.Status != spec.Error || !strings.Contains(r.Message, "the load generator refused the plan: a test's refusal") {
			t.Errorf("%s = %s (%s), want error with the refusal", id, r.Status, r.Message)
		}
		if len(r.Evidence.Performance) == 0 {
			t.Errorf("%s: no scenario evidence", id)
		}
		for _, ev := range r.Evidence.Performance {
			for name, m := range map[string]Measure{"measured": ev.Measured, "achieved rate": ev.AchievedRate, "throughput": ev.Throughput, "failed share": ev.FailedShare} {
				if !math.IsNaN(float64(m.Value)) || m.Unit == "" {
					t.Errorf("%s on %s: %s = %v %q, want NaN in its unit", id, ev.Model, name, m.Value, m.Unit)
				}
			}
		}
	}
}

func TestCountJSONValues(t *testing.T) {
	tests := []struct {
		data string
		want int
		bad  bool
	}{
		{`[1, 2.5, -3e-7]`, 3, false},
		{`[[1,2],[3,4]]`, 4, false},
		{`[]`, 0, false},
		{`[[],[]]`, 0, false},
		{` [ "NaN" , "+Inf", 1 ] `, 3, false},
		{`["a\"b", 2]`, 2, false},
		{`{"a": 1}`, 0, true},
		{`[{"a": 1}, {"b": 2}]`, 0, true},
		{`[1, null]`, 0, true},
		{`[true, false]`, 2, false},
		{`[1, 2`, 0, true},
		{`["open`, 0, true},
		{``, 0, true},
	}
	for _, tt := range tests {
		n, err := countJSONValues([]byte(tt.data))
		if (err != nil) != tt.bad || n != tt.want {
			t.Errorf("countJSONValues(%s) = %d, %v; want %d, error %v", tt.data, n, err, tt.want, tt.bad)
		}
	}
}

// TestKeeper holds the accuracy sample of rule 6: a seeded 1%, at least
// 16, the same for the same seed, and bounded.
func TestKeeper(t *testing.T) {
	tests := []struct {
		queries  uint64
		min, max int
	}{
		{10, 10, 10},      // fewer than 16: every query
		{100, 16, 16},     // 1% is 1: the 16 of smallest key
		{20000, 180, 260}, // about 1% (200), and the 16 among them
	}
	for _, tt := range tests {
		pick := func(seed uint64) []uint64 {
			k := newKeeper(seed, "test")
			for seq := range tt.queries {
				if k.wants(seq) {
					k.add(kept{seq: seq})
				}
			}
			var seqs []uint64
			for _, q := range k.sample() {
				seqs = append(seqs, q.seq)
			}
			return seqs
		}
		a, b, c := pick(1), pick(1), pick(2)
		if len(a) < tt.min || len(a) > tt.max {
			t.Errorf("%d queries: kept %d, want %d…%d", tt.queries, len(a), tt.min, tt.max)
		}
		if !slices.Equal(a, b) {
			t.Errorf("%d queries: the same seed kept different queries", tt.queries)
		}
		if tt.queries > 16 && slices.Equal(a, c) {
			t.Errorf("%d queries: seeds 1 and 2 kept the same queries", tt.queries)
		}
	}
}

// TestLookahead holds that bodies are prepared ahead, in any order of
// asking, and that one asked before it was prepared is encoded then.
func TestLookahead(t *testing.T) {
	encoded := make(chan uint64, 1024)
	a := newLookahead(1<<20, func(seq uint64) ([]byte, error) {
		encoded <- seq
		return []byte{byte(seq)}, nil
	})
	defer a.close()
	for _, seq := range []uint64{0, 2, 1, 3, 500, 4} {
		if b := a.take(load.Query{Seq: seq}); len(b) != 1 || b[0] != byte(seq) {
			t.Errorf("take(%d) = %v, want [%d]", seq, b, byte(seq))
		}
	}
	if a.late.Load() < 1 {
		t.Errorf("late = %d, want at least 1 (query 500 was asked far beyond the look-ahead)", a.late.Load())
	}
}

func TestAuditArms(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
			if x < 0 {
				out[i] = -1
			}
		}
		return out
	}
	ten := func(base int) []int { // ten latencies: base … base+9
		out := make([]int, 10)
		for i := range out {
			out[i] = base + i
		}
		return out
	}
	tests := []struct {
		name      string
		rep, dist []time.Duration
		n         int
		ratio     float64
		why       string
	}{
		{"equal arms", ms(ten(10)...), ms(ten(10)...), 10, 1, ""},
		{"a cache halves the repeated arm", ms(ten(5)...), ms(ten(10)...), 10, 13.0 / 18, ""},
		{"only the first n count", ms(append(ten(10), 1000)...), ms(ten(10)...), 10, 1, ""},
		{"a short arm", ms(ten(10)[:5]...), ms(ten(10)...), 10, 0, "has 5 queries, want 10"},
		{"a failed query", ms(append(ten(10)[:9], -1)...), ms(ten(10)...), 10, 0, ""},
		{"failures make p90 infinite", ms(-1, -1, 3, 4, 5, 6, 7, 8, 9, 10), ms(ten(10)...), 10, 0, "its p90 is infinite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &auditArms{lats: [2][]time.Duration{tt.rep, tt.dist}}
			ratio, arms, why := a.judge(tt.n)
			if !strings.Contains(why, tt.why) || (tt.why == "") != (why == "") {
				t.Fatalf("why = %q, want %q", why, tt.why)
			}
			if len(arms) != 2 || arms[0].Arm != "repeated" || arms[1].Arm != "distinct" {
				t.Errorf("arms = %+v", arms)
			}
			if why == "" && tt.ratio != 0 && math.Abs(ratio-tt.ratio) > 1e-9 {
				t.Errorf("ratio = %v, want %v", ratio, tt.ratio)
			}
		})
	}
}

func TestAuditBlockFor(t *testing.T) {
	for _, tt := range []struct {
		perArm int64
		want   uint64
	}{{8192, 128}, {1024, 128}, {1000, 31}, {512, 16}, {256, 8}, {2, 1}} {
		if got := auditBlockFor(tt.perArm); got != tt.want {
			t.Errorf("auditBlockFor(%d) = %d, want %d", tt.perArm, got, tt.want)
		}
	}
}

func TestAuditSample(t *testing.T) {
	tests := []struct {
		seq  uint64
		want uint64
	}{
		{0, 0}, {warmupQueries - 1, warmupQueries - 1},
		{warmupQueries, fixedSample}, {warmupQueries + auditBlock - 1, fixedSample},
		{warmupQueries + auditBlock, warmupQueries + auditBlock}, {warmupQueries + 2*auditBlock, fixedSample},
	}
	for _, tt := range tests {
		if got := auditSample(load.Query{Seq: tt.seq}, auditBlock); got != tt.want {
			t.Errorf("auditSample(%d) = %d, want %d", tt.seq, got, tt.want)
		}
	}
}

func TestStability(t *testing.T) {
	w := func(p99 ...float64) []load.Window {
		var out []load.Window
		for _, v := range p99 {
			out = append(out, load.Window{P99: numerics.Float(v)})
		}
		return out
	}
	tests := []struct {
		name   string
		ws     []load.Window
		nil    bool
		stable bool
	}{
		{"too few windows", w(1, 1), true, false},
		{"flat", w(50, 10, 10.5, 10), false, true},
		{"drifting", w(10, 10, 12), false, false},
		{"a failed window", w(10, 10, math.Inf(1)), false, false},
	}
	for _, tt := range tests {
		st := stability(tt.ws)
		if (st == nil) != tt.nil || st != nil && st.Stable != tt.stable {
			t.Errorf("%s: stability = %+v, want nil %v, stable %v", tt.name, st, tt.nil, tt.stable)
		}
	}
}

// TestAppendInferBody holds the load target's body to what the checks'
// encoder writes for the same inputs.
func TestAppendInferBody(t *testing.T) {
	for _, model := range spec.ReferenceModels() {
		for _, version := range spec.ReferenceVersions() {
			c, err := spec.ModelContract(model, version)
			if err != nil {
				t.Fatal(err)
			}
			s := newSampler(3, "test", model)
			ins, err := s.draw(c, 3, sampleLength(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendInferBody(nil, ins)
			if err != nil {
				t.Fatal(err)
			}
			want, _, err := encodeInfer(inferRequest{inputs: ins})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("%s/%s: body\n%.300s\nwant\n%.300s", model, version, got, want)
			}
		}
	}
	bad := []namedTensor{{name: "x", t: numerics.NewF32([]int64{1}, []float32{float32(math.NaN())})}}
	if _, err := appendInferBody(nil, bad); err == nil {
		t.Error("a NaN input encoded without error")
	}
}

// TestInferenceTarget runs the load target against the fake: a
// conforming answer succeeds, one that breaks the contract fails with
// the kind it breaks it by.
func TestInferenceTarget(t *testing.T) {
	cnn := ModelRef{Name: fakeoip.Model, Version: fakeoip.Version, Reference: "seed-cnn", ReferenceVersion: "fp32"}
	tests := []struct {
		name    string
		fault   string
		model   ModelRef
		samples int
		errKind string // the kind every query fails with; "" for success
	}{
		{"one sample", fakeoip.FaultNone, cnn, 1, ""},
		{"a batch", fakeoip.FaultNone, cnn, 4, ""},
		{"a wrong output datatype", fakeoip.FaultOutputDatatype, cnn, 1, load.KindInvalid},
		{"garbage", fakeoip.FaultGarbageInfer, cnn, 1, load.KindInvalid},
		{"an unknown model", fakeoip.FaultNone, ModelRef{Name: "nope", Reference: "seed-cnn", ReferenceVersion: "fp32"}, 1, "status 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer((&fakeoip.Server{Fault: tt.fault}).Handler())
			defer srv.Close()
			keep := newKeeper(1, "test")
			tgt, err := newInferenceTarget(InferenceLoad{Target: srv.URL, Model: tt.model, Seed: 1, Samples: tt.samples}, keep, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tgt.Close()
			res, err := load.Run(context.Background(), load.Plan{Concurrency: 2, MinQueries: 20, Duration: time.Millisecond, Warmup: 2}, tgt, load.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if tt.errKind == "" {
				if res.Failed != 0 || res.Succeeded < 20 {
					t.Fatalf("%d of %d queries failed (%v), want none", res.Failed, res.Sent, res.Errors)
				}
				kept := keep.sample()
				if len(kept) < 16 {
					t.Fatalf("kept %d queries for the accuracy sample, want at least 16", len(kept))
				}
				for _, q := range kept {
					if got := q.outputs["logits"].Shape; !slices.Equal(got, []int64{int64(tt.samples), fakeoip.Classes}) {
						t.Errorf("query %d kept logits of shape %v", q.seq, got)
					}
				}
				return
			}
			if res.Succeeded != 0 || res.Errors[tt.errKind] != res.Sent {
				t.Errorf("errors %v of %d queries, want all %q", res.Errors, res.Sent, tt.errKind)
			}
		})
	}
	for _, bad := range []InferenceLoad{
		{Target: "ftp://x", Model: cnn},
		{Target: "http://127.0.0.1:1", Model: ModelRef{Name: "m", Reference: "resnet", ReferenceVersion: "fp32"}},
		{Target: "http://127.0.0.1:1", Model: cnn, Samples: -1},
		{Target: "http://127.0.0.1:1"},
	} {
		if _, err := NewInferenceTarget(bad); err == nil {
			t.Errorf("NewInferenceTarget(%+v) = nil error", bad)
		}
	}
}

// TestPrematureEarlyStop holds rule 9: a run whose early-stopping bound
// misses the budget once its outstanding queries completed is run again
// without early stopping, and that run decides.
func TestPrematureEarlyStop(t *testing.T) {
	defer func(f func(context.Context, load.Plan, load.Target, load.Options) (*load.Result, error)) { runLoad = f }(runLoad)
	var stops []bool // whether each single-stream run could stop early
	runLoad = func(ctx context.Context, p load.Plan, tg load.Target, o load.Options) (*load.Result, error) {
		if p.MinQueries != 64 { // the cache audit's
			return load.Run(ctx, p, tg, o)
		}
		stops = append(stops, o.Stop != nil)
		res, err := load.Run(ctx, p, tg, o)
		if res != nil && len(stops) == 1 {
			res.EarlyStopped = true // as if the bound had met the budget
		}
		return res, err
	}
	latency := "latency:\n  singleStreamP90: 1ns\n  maxSendLateness: 1s\n  minimums:\n    singleStream: {queries: 64, duration: 50ms}\n    cacheAudit: {queries: 48}"
	rep := runFake(t, &fakeoip.Server{}, Options{Profile: fakePerfProfile(t, latency)})
	r := result(t, rep, "performance/single-stream")
	if !slices.Equal(stops, []bool{true, false}) {
		t.Errorf("runs could stop early: %v, want [true false] (a second run without early stopping)", stops)
	}
	if r.Status != spec.Fail || !strings.Contains(r.Message, "early stop proved premature") || strings.Contains(r.Message, "early-stopping bound") {
		t.Errorf("single-stream = %s (%s), want a fail on the second run's p90 that says why it ran again", r.Status, r.Message)
	}
}
