package conformance

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/spec"
)

// performanceChecks is the table of the performance level
// (spec/v1/performance.md): one check per scenario, each covering every
// profile model that declares the scenario's budget.
var performanceChecks = []check{
	{ID: "performance/single-stream", Requirements: []string{"LAT-SINGLE-STREAM"}, Level: spec.Performance,
		Title: "with one query outstanding, the 90th percentile latency of each model is within its budget", Run: performanceCheck(singleStream)},
	{ID: "performance/server", Requirements: []string{"LAT-SERVER"}, Level: spec.Performance,
		Title: "under Poisson arrivals at the declared rate, the 99th percentile latency of each model is within its budget", Run: performanceCheck(server)},
	{ID: "performance/offline", Requirements: []string{"LAT-OFFLINE"}, Level: spec.Performance,
		Title: "with 4 requests of 32 samples outstanding, each model completes at least its floor of samples per second", Run: performanceCheck(offline)},
	{ID: "performance/cache-audit", Requirements: []string{"LAT-CACHE-AUDIT"}, Level: spec.Performance,
		Title: "a repeated sample is not answered markedly faster than fresh ones (p90 ratio at least 0.9)", Run: performanceCheck(cacheAudit)},
}

// Parameters of the scenarios (spec/v1/performance.md).
const (
	// warmupQueries are sent untimed before each scenario (rule 5).
	warmupQueries = 32
	// offlineSamples is the batch of an offline query; offlineOutstanding
	// the queries kept outstanding.
	offlineSamples     = 32
	offlineOutstanding = 4
	// auditBlock is the length of a block of LAT-CACHE-AUDIT; auditRatio
	// the least ratio of the p90s, repeated over distinct.
	auditBlock = 128
	auditRatio = 0.9
	// auditTries bounds the runs of the audit: one below auditRatio is
	// confirmed by another, and the audit fails only when all fail.
	auditTries = 3
	// earlyStopConfidence is the confidence of the early-stopping bound.
	earlyStopConfidence = 0.99
	// stabilityWindows are the last windows whose p99s the stability
	// figure compares; stabilitySpread is the spread called stable.
	stabilityWindows = 3
	stabilitySpread  = 0.10
)

// ScenarioEvidence is what one scenario measured on one served model.
type ScenarioEvidence struct {
	// Scenario is single-stream, server, offline or cache-audit.
	Scenario string `json:"scenario"`
	Model    string `json:"model"`
	Version  string `json:"version,omitempty"`
	// Status is the scenario's verdict on this model, Message why.
	Status  spec.Status `json:"status"`
	Message string      `json:"message"`
	// Budget is what the scenario is held to: a latency (ms), a
	// throughput floor (samples/s) or, for the cache audit, the least
	// ratio of the p90s. BudgetSource says where it was declared
	// ("FILE: /pointer").
	Budget       Measure `json:"budget"`
	BudgetSource string  `json:"budgetSource,omitempty"`
	// ServerQPS is the declared arrival rate of the server scenario.
	ServerQPS *Measure `json:"serverQPS,omitempty"`
	// Measured is the figure compared with Budget; Basis says what it
	// is ("p90", "p99", "early-stopping bound of p99 at 99% confidence",
	// "throughput", "p90 ratio repeated/distinct").
	Measured Measure `json:"measured"`
	Basis    string  `json:"basis"`
	// SamplesPerQuery is the batch of each query.
	SamplesPerQuery int `json:"samplesPerQuery"`
	// Minimums are the minimums the run used and whether it met them.
	Minimums MinimumsEvidence `json:"minimums"`
	// AchievedRate is timed queries sent per second; Throughput samples
	// of successful queries per second; FailedShare the share of timed
	// queries that failed.
	AchievedRate Measure `json:"achievedRate"`
	Throughput   Measure `json:"throughput"`
	FailedShare  Measure `json:"failedShare"`
	// LateBodies counts the request bodies the look-ahead had not
	// prepared in time, so that their encoding fell on the timed path.
	LateBodies int64 `json:"lateBodies"`
	// Result is the load generator's measurement: the plan (the load
	// asked), the counts, every percentile and the histograms themselves.
	Result *load.Result `json:"result,omitempty"`
	// Arms are the two arms of the cache audit's last run.
	Arms []ArmEvidence `json:"arms,omitempty"`
	// AuditRatios are the ratios of every run of the cache audit: a
	// ratio below 0.9 is confirmed by running the audit again, up to
	// three runs in all.
	AuditRatios []numerics.Float `json:"auditRatios,omitempty"`
	// Accuracy summarises the comparison of the accuracy sample (rule 6).
	Accuracy *AccuracyEvidence `json:"accuracy,omitempty"`
	// Stability compares the p99 of the last windows of the timed phase;
	// it is reported, not judged.
	Stability *StabilityEvidence `json:"stability,omitempty"`
}

// MinimumsEvidence records the minimums of a scenario run.
type MinimumsEvidence struct {
	// Count is the minimum count, in Unit: queries, samples (offline)
	// or queries per arm (cache audit).
	Count int64  `json:"count"`
	Unit  string `json:"unit"`
	// Duration is the minimum duration of the timed phase (zero for the
	// cache audit).
	Duration Measure `json:"duration"`
	// Conformance says the minimums are at least those of
	// spec/v1/performance.md, rule 7; false for development minimums.
	Conformance bool `json:"conformance"`
	// Met says the run reached its minimums, or ended by the
	// early-stopping rule after the minimum duration (EarlyStopped).
	Met          bool `json:"met"`
	EarlyStopped bool `json:"earlyStopped,omitempty"`
	// MaxSendLateness is the bound of rule 8 the run used; Conformance
	// is false when it is looser than 1 ms.
	MaxSendLateness Measure `json:"maxSendLateness"`
}

// ArmEvidence is one arm of the cache audit.
type ArmEvidence struct {
	// Arm is "repeated" (one fixed sample) or "distinct".
	Arm     string  `json:"arm"`
	Queries int     `json:"queries"`
	Failed  int     `json:"failed"`
	P90     Measure `json:"p90"`
}

// AccuracyEvidence summarises the accuracy sample of a scenario run.
type AccuracyEvidence struct {
	// Compared queries were compared with the reference model; Failed
	// did not agree under the model version's tolerance class.
	Compared int `json:"compared"`
	Failed   int `json:"failed"`
	// WorstToleranceRatio is the largest share of its allowed error any
	// compared element used.
	WorstToleranceRatio numerics.Float `json:"worstToleranceRatio"`
	// Tolerance is the class of the comparison.
	Tolerance string `json:"tolerance"`
	// Message names the worst disagreement, when there was one.
	Message string `json:"message,omitempty"`
}

// StabilityEvidence compares the p99 of the last windows of a run.
type StabilityEvidence struct {
	// LastP99 are the p99s of the last windows, oldest first.
	LastP99 []Measure `json:"lastP99"`
	// Spread is max/min − 1 of LastP99.
	Spread numerics.Float `json:"spread"`
	// Stable says Spread is within 10%.
	Stable bool `json:"stable"`
}

// declares reports whether b declares the budget of scenario sc.
func declares(sc scenario, b LatencyBudgets) bool {
	switch sc {
	case singleStream, cacheAudit:
		return b.SingleStreamP90 != nil
	case server:
		return b.ServerP99 != nil && b.ServerQPS > 0
	case offline:
		return b.OfflineMinThroughput > 0
	}
	return false
}

// budgetMembers names the budget members a scenario needs, in a profile
// and in a model card, for the message of a skip.
var budgetMembers = map[scenario][2]string{
	singleStream: {"latency.singleStreamP90", "singleStreamP90"},
	server:       {"latency.serverQPS and latency.serverP99", "serverTargetQPS and serverP99"},
	offline:      {"latency.offlineMinThroughput", "offlineThroughput"},
	cacheAudit:   {"latency.singleStreamP90 (the cache audit applies where LAT-SINGLE-STREAM does)", "singleStreamP90 (the cache audit applies where LAT-SINGLE-STREAM does)"},
}

// performanceCheck returns the check of scenario sc: it runs the
// scenario on every profile model that declares its budget, one after
// another, and fails when any model fails (the message names it).
func performanceCheck(sc scenario) func(context.Context, *env) Result {
	return func(ctx context.Context, e *env) Result {
		var r recorder
		var models []*modelUnderTest
		for _, m := range e.models {
			if declares(sc, m.budgets) {
				models = append(models, m)
			}
		}
		if len(models) == 0 {
			what := fmt.Sprintf("%s in the profile", budgetMembers[sc][0])
			if e.modelCard != "" {
				what = fmt.Sprintf("%s in the service.models[].latency of the model card %s", budgetMembers[sc][1], e.modelCard)
			}
			return Result{Status: spec.Skip, Message: fmt.Sprintf("%sno profile model has a declared %s budget (%s)", spec.NotApplicablePrefix, sc, what)}
		}
		if e.oracle == nil {
			return notChecked(r.ev, "not checked: no reference oracle was given to the run, so the accuracy sample of the timed queries (spec/v1/performance.md, rule 6) cannot be compared and no latency can count")
		}
		var failed, erred, passed []string
		for _, m := range models {
			ev, cases := e.runScenario(ctx, sc, m)
			r.ev.Performance = append(r.ev.Performance, ev)
			r.ev.Cases = append(r.ev.Cases, cases...)
			line := m.ref.Label() + ": " + ev.Message
			switch ev.Status {
			case spec.Fail:
				failed = append(failed, line)
			case spec.Error:
				erred = append(erred, line)
			default:
				passed = append(passed, line)
			}
			if ctx.Err() != nil {
				break
			}
		}
		switch {
		case len(failed) > 0:
			return Result{Status: spec.Fail, Evidence: r.ev, Message: summaryLine(failed, "failing model", erred)}
		case len(erred) > 0:
			return Result{Status: spec.Error, Evidence: r.ev, Message: summaryLine(erred, "undecided model", nil)}
		}
		return Result{Status: spec.Pass, Evidence: r.ev, Message: strings.Join(passed, "; ")}
	}
}

// summaryLine is the first line, with how many more there were.
func summaryLine(lines []string, noun string, others []string) string {
	msg := lines[0]
	if n := len(lines) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more %s%s, see evidence)", n, noun, plural(n))
	}
	if len(others) > 0 {
		msg += fmt.Sprintf("; %d model%s undecided", len(others), plural(len(others)))
	}
	return msg
}

// scenarioSeed is the seed of one scenario's samples and arrivals:
// every scenario draws from its own stream of the run's seed, so no
// query of the run carries a sample an earlier one carried (rule 1).
func scenarioSeed(seed uint64, sc scenario, m ModelRef, try int) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d", sc, m.Label(), try)
	return mix64(seed ^ h.Sum64())
}

// runScenario runs scenario sc on model m and judges it; the cases are
// the queries of the accuracy sample that disagreed with the reference.
func (e *env) runScenario(ctx context.Context, sc scenario, m *modelUnderTest) (ScenarioEvidence, []CaseEvidence) {
	ev := ScenarioEvidence{Scenario: string(sc), Model: m.ref.Name, Version: m.ref.Version, BudgetSource: m.budgetSource, SamplesPerQuery: 1}
	mins, conformant := e.latency.minimumFor(sc)
	lateness, strict := e.latency.sendLateness()
	ev.Minimums = MinimumsEvidence{Count: mins.count, Unit: "queries", Duration: Millis(mins.duration), Conformance: conformant && strict, MaxSendLateness: Millis(lateness)}
	plan := load.Plan{Warmup: warmupQueries, Duration: mins.duration, MinQueries: mins.count}
	opts := load.Options{Timeout: e.c.timeout, MaxLateness: lateness}
	var sampleOf func(load.Query) uint64
	var percentile float64
	var budget time.Duration
	tries := 1
	switch sc {
	case singleStream:
		plan.Concurrency = 1
		percentile, budget = 0.90, time.Duration(*m.budgets.SingleStreamP90)
	case server:
		plan.Rate, plan.Arrival = m.budgets.ServerQPS, load.Poisson
		percentile, budget = 0.99, time.Duration(*m.budgets.ServerP99)
		q := Measure{Value: numerics.Float(m.budgets.ServerQPS), Unit: UnitQueriesPerSecond}
		ev.ServerQPS = &q
	case offline:
		plan.Concurrency = offlineOutstanding
		ev.SamplesPerQuery = offlineSamples
		ev.Minimums.Unit = "samples"
		plan.MinQueries = (mins.count + offlineSamples - 1) / offlineSamples
	case cacheAudit:
		plan.Concurrency = 1
		ev.Minimums.Unit = "queries per arm"
		plan.MinQueries = 2 * mins.count
		plan.Duration = time.Nanosecond // the audit has no minimum duration
		block := auditBlockFor(mins.count)
		sampleOf = func(q load.Query) uint64 { return auditSample(q, block) }
		tries = auditTries
	}
	switch sc {
	case offline:
		ev.Budget = Measure{Value: numerics.Float(m.budgets.OfflineMinThroughput), Unit: UnitSamplesPerSecond}
	case cacheAudit:
		ev.Budget = Measure{Value: auditRatio, Unit: UnitCount}
	default:
		ev.Budget = Millis(budget)
	}
	// Nothing is measured until a run is judged: a run that fails to
	// start leaves every figure NaN, in its unit.
	nan := numerics.Float(math.NaN())
	ev.Measured = Measure{Value: nan, Unit: ev.Budget.Unit}
	ev.AchievedRate = Measure{Value: nan, Unit: UnitQueriesPerSecond}
	ev.Throughput = Measure{Value: nan, Unit: UnitSamplesPerSecond}
	ev.FailedShare = Measure{Value: nan, Unit: UnitCount}
	if percentile > 0 {
		opts.Stop = func(r *load.Result) bool {
			d, finite, ok := r.UpperBound(percentile, earlyStopConfidence)
			return ok && finite && d <= budget
		}
	}
	var tally caseTally
	tally.r = &recorder{}
	var verdict string
	pass := false
	var succeeded int64 // successful timed queries of the runs
	premature := false  // an early stop proved premature
	for try := 0; try < tries; try++ {
		seed := scenarioSeed(e.seed, sc, m.ref, try)
		plan.Seed = seed
		run, err := e.measure(ctx, plan, opts, m, ev.SamplesPerQuery, seed, sampleOf, auditBlockFor(mins.count))
		if err != nil {
			ev.Status, ev.Message = spec.Error, err.Error()
			return ev, nil
		}
		res := run.res
		ev.Result = res
		succeeded += res.Succeeded
		ev.LateBodies += run.lateBodies
		ev.AchievedRate = Measure{Value: numerics.Float(res.Rate()), Unit: UnitQueriesPerSecond}
		ev.Throughput = Measure{Value: numerics.Float(res.Throughput() * float64(ev.SamplesPerQuery)), Unit: UnitSamplesPerSecond}
		ev.FailedShare = Measure{Value: numerics.Float(share(res.Failed, res.Sent)), Unit: UnitCount}
		ev.Stability = stability(res.Windows)
		ev.Minimums.EarlyStopped = res.EarlyStopped
		sent := res.Sent * int64(ev.SamplesPerQuery)
		if sc == cacheAudit {
			sent = int64(min(run.arms.count(0), run.arms.count(1)))
		}
		ev.Minimums.Met = !res.Interrupted && (sent >= mins.count || res.EarlyStopped) && res.Elapsed() >= mins.duration
		switch {
		case res.Interrupted:
			ev.Status, ev.Message = spec.Error, fmt.Sprintf("the run ended before the %s scenario met its minimums (%d of %d %s)", sc, sent, mins.count, ev.Minimums.Unit)
			return ev, nil
		case res.Doubt != "":
			// Rule 8: the measurement, not the server, is in doubt.
			ev.Status, ev.Message = spec.Error, "the load generator could not keep its schedule: "+res.Doubt
			return ev, nil
		}
		if err := e.compareAccuracy(ctx, m, run, &tally); err != nil {
			ev.Status, ev.Message = spec.Error, err.Error()
			return ev, nil
		}
		switch sc {
		case singleStream, server:
			d, finite := res.Percentile(percentile)
			ev.Basis = fmt.Sprintf("p%d", int(math.Round(percentile*100)))
			if res.EarlyStopped {
				if ub, fin, ok := res.UpperBound(percentile, earlyStopConfidence); ok {
					d, finite = ub, fin
					ev.Basis = fmt.Sprintf("early-stopping bound of %s at %g%% confidence", ev.Basis, earlyStopConfidence*100)
				}
			}
			ev.Measured = latencyMeasure(d, finite)
			pass = finite && d <= budget
			verdict = fmt.Sprintf("%s %s %s budget %s (%s)", ev.Basis, fmtLatency(d, finite), relation(pass, "≤", ">"), fmtLatency(budget, true), percentileLine(res, sc))
		case offline:
			floor := m.budgets.OfflineMinThroughput
			ev.Measured, ev.Basis = ev.Throughput, "throughput"
			got := float64(ev.Throughput.Value)
			pass = got >= floor
			verdict = fmt.Sprintf("throughput %.1f samples/s %s floor %g (%d of %d queries of %d samples succeeded)", got, relation(pass, "≥", "<"), floor, res.Succeeded, res.Sent, offlineSamples)
		case cacheAudit:
			ev.Basis = "p90 ratio repeated/distinct"
			ratio, armEv, why := run.arms.judge(int(mins.count))
			ev.Arms = armEv
			if why != "" {
				ev.Status, ev.Message = spec.Error, why
				return ev, nil
			}
			ev.Measured = Measure{Value: numerics.Float(ratio), Unit: UnitCount}
			ev.AuditRatios = append(ev.AuditRatios, numerics.Float(ratio))
			pass = ratio >= auditRatio
			verdict = fmt.Sprintf("p90 of a repeated sample %s over p90 of distinct samples %s: ratio %.3f %s %g", fmtMeasure(armEv[0].P90), fmtMeasure(armEv[1].P90), ratio, relation(pass, "≥", "<"), auditRatio)
			if len(ev.AuditRatios) > 1 {
				verdict += fmt.Sprintf(" (run %d of %d; ratios %v)", len(ev.AuditRatios), tries, ev.AuditRatios)
			}
		}
		if pass {
			break
		}
		if res.EarlyStopped && opts.Stop != nil {
			// The bound met the budget when the run was stopped, but
			// not once the queries still outstanding had completed:
			// the early stop was premature, and a fail cannot rest on
			// a bound. The scenario runs again to its minimums.
			opts.Stop = nil
			tries = try + 2
			premature = true
		}
	}
	if premature {
		verdict += "; a first run's early stop proved premature, so the scenario ran again to its minimums"
	}
	acc := &AccuracyEvidence{Compared: tally.total, Failed: tally.failed, WorstToleranceRatio: numerics.Float(tally.worstRatio), Tolerance: m.tol.Class, Message: tally.worstMsg}
	ev.Accuracy = acc
	var failedCases []CaseEvidence
	for _, c := range tally.r.ev.Cases {
		if c.Status != spec.Pass {
			failedCases = append(failedCases, c)
		}
	}
	switch {
	case acc.Failed > 0:
		ev.Status = spec.Fail
		ev.Message = fmt.Sprintf("%d of %d queries of the accuracy sample disagree with the reference: %s; %s", acc.Failed, acc.Compared, acc.Message, verdict)
	case !pass:
		ev.Status, ev.Message = spec.Fail, verdict
	case int64(acc.Compared) < min(accuracyMinimum, succeeded):
		ev.Status = spec.Error
		ev.Message = fmt.Sprintf("the accuracy sample compared %d of %d successful timed queries, want at least %d (spec/v1/performance.md, rule 6); %s", acc.Compared, succeeded, min(accuracyMinimum, succeeded), verdict)
	default:
		ev.Status, ev.Message = spec.Pass, verdict
	}
	if !ev.Minimums.Conformance {
		ev.Message += "; development minimums"
	}
	return ev, failedCases
}

func relation(pass bool, yes, no string) string {
	if pass {
		return yes
	}
	return no
}

// measured is one load run of a scenario: the result, the target (closed
// by then; it still draws the inputs of a sample again) with its accuracy
// sample and, for the cache audit, the latencies by arm.
type measured struct {
	res        *load.Result
	tgt        *InferenceTarget
	keep       *keeper
	arms       *auditArms
	lateBodies int64
}

// measure runs a plan against model m; an error means the suite could
// not make the run at all.
func (e *env) measure(ctx context.Context, plan load.Plan, opts load.Options, m *modelUnderTest, samples int, seed uint64, sampleOf func(load.Query) uint64, block uint64) (*measured, error) {
	keep := newKeeper(seed, "accuracy")
	tgt, err := newInferenceTarget(InferenceLoad{
		Target: e.c.base, Model: m.ref, Seed: seed, Samples: samples,
		Token: e.c.token, RootCAs: e.rootCAs, Timeout: e.c.timeout, MaxBodyBytes: e.c.maxBody,
	}, keep, sampleOf)
	if err != nil {
		return nil, err
	}
	defer tgt.Close()
	run := &measured{tgt: tgt, keep: keep}
	var target load.Target = tgt
	if sampleOf != nil {
		run.arms = &auditArms{block: block}
		target = run.arms.wrap(tgt)
	}
	run.res, err = e.runLoad(ctx, plan, target, opts)
	run.lateBodies = tgt.LateBodies()
	if err != nil {
		return nil, fmt.Errorf("the load generator refused the plan: %w", err)
	}
	return run, nil
}

// percentileLine reports the percentiles a scenario reports.
func percentileLine(res *load.Result, sc scenario) string {
	ps := []float64{0.50, 0.90, 0.95, 0.99}
	if sc == server {
		ps = []float64{0.50, 0.90, 0.99}
	}
	var parts []string
	for _, p := range ps {
		d, fin := res.Percentile(p)
		parts = append(parts, fmt.Sprintf("p%d %s", int(math.Round(p*100)), fmtLatency(d, fin)))
	}
	if sc == singleStream {
		d, fin := res.Percentile(1)
		parts = append(parts, "max "+fmtLatency(d, fin))
	}
	s := fmt.Sprintf("%s over %d queries", strings.Join(parts, ", "), res.Sent)
	if sc == server {
		s += fmt.Sprintf(" at %.1f queries/s achieved, %.2f%% failed", res.Rate(), 100*share(res.Failed, res.Sent))
	}
	if len(res.Errors) > 0 {
		var kinds []string
		for _, k := range slices.Sorted(maps.Keys(res.Errors)) {
			kinds = append(kinds, fmt.Sprintf("%s: %d", k, res.Errors[k]))
		}
		s += fmt.Sprintf("; failed queries by kind: %s", strings.Join(kinds, ", "))
	}
	return s
}

func share(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
}

// latencyMeasure expresses a latency, +Inf when it is not finite.
func latencyMeasure(d time.Duration, finite bool) Measure {
	if !finite {
		return Measure{Value: numerics.Float(math.Inf(1)), Unit: UnitMillisecond}
	}
	return Millis(d)
}

func fmtLatency(d time.Duration, finite bool) string {
	if !finite {
		return "+Inf (a failed query)"
	}
	return fmtMeasure(Millis(d))
}

func fmtMeasure(m Measure) string {
	v := float64(m.Value)
	if math.IsInf(v, 1) {
		return "+Inf " + m.Unit
	}
	if math.Abs(v) >= 1000 {
		// Three significant digits without an exponent: 1002 ms, not 1e+03.
		return fmt.Sprintf("%.0f %s", v, m.Unit)
	}
	return fmt.Sprintf("%.3g %s", v, m.Unit)
}

// stability compares the p99s of the last windows.
func stability(ws []load.Window) *StabilityEvidence {
	if len(ws) < stabilityWindows {
		return nil
	}
	last := ws[len(ws)-stabilityWindows:]
	st := &StabilityEvidence{}
	lo, hi := math.Inf(1), 0.0
	for _, w := range last {
		v := float64(w.P99)
		st.LastP99 = append(st.LastP99, Measure{Value: w.P99, Unit: UnitMillisecond})
		lo, hi = min(lo, v), max(hi, v)
	}
	spread := math.Inf(1)
	if lo > 0 && !math.IsInf(hi, 1) {
		spread = hi/lo - 1
	}
	st.Spread = numerics.Float(spread)
	st.Stable = spread <= stabilitySpread
	return st
}

// auditBlockFor is the block length of a cache audit of perArm queries
// per arm: auditBlock with the conformance minimums, else (a development
// run) a 32nd of the arm, so that a slow period of the machine falls on
// blocks of both arms.
func auditBlockFor(perArm int64) uint64 {
	if perArm >= conformanceMinimums[cacheAudit].count {
		return auditBlock
	}
	return uint64(max(1, min(auditBlock, perArm/32)))
}

// auditSample maps a query of the cache audit to its sample: warm-up
// queries and the queries of odd blocks carry fresh samples, those of
// even blocks the fixed sample.
func auditSample(q load.Query, block uint64) uint64 {
	if q.Seq < warmupQueries {
		return q.Seq
	}
	if auditArm(q.Seq, block) == 0 {
		return fixedSample
	}
	return q.Seq
}

// auditArm returns the arm of a timed query: 0 repeated, 1 distinct.
func auditArm(seq, block uint64) int {
	return int((seq - warmupQueries) / block % 2)
}

// auditArms records the latency of each timed query of the cache audit
// by arm, from its scheduled send time to its complete response, as the
// load generator measures it; a failed query is infinitely slow.
type auditArms struct {
	block uint64
	mu    sync.Mutex
	lats  [2][]time.Duration // −1 for a failed query
}

func (a *auditArms) wrap(t load.Target) load.Target {
	return load.TargetFunc(func(ctx context.Context, q load.Query) error {
		err := t.Hit(ctx, q)
		if q.Warmup {
			return err
		}
		d := time.Since(q.Scheduled)
		if err != nil {
			d = -1
		}
		arm := auditArm(q.Seq, a.block)
		a.mu.Lock()
		a.lats[arm] = append(a.lats[arm], d)
		a.mu.Unlock()
		return err
	})
}

func (a *auditArms) count(arm int) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.lats[arm])
}

// judge computes each arm's p90 over its first n queries (runs of equal
// length) and their ratio, or why they cannot be compared.
func (a *auditArms) judge(n int) (float64, []ArmEvidence, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []ArmEvidence
	var p90 [2]time.Duration
	why := ""
	for arm, name := range []string{"repeated", "distinct"} {
		lats := slices.Clone(a.lats[arm][:min(n, len(a.lats[arm]))])
		ae := ArmEvidence{Arm: name, Queries: len(lats)}
		for i, d := range lats {
			if d < 0 {
				ae.Failed++
				lats[i] = math.MaxInt64
			}
		}
		slices.Sort(lats)
		switch {
		case len(lats) < n:
			why = fmt.Sprintf("the %s arm has %d queries, want %d", name, len(lats), n)
		default:
			p90[arm] = lats[int(math.Ceil(0.9*float64(len(lats))))-1]
		}
		ae.P90 = latencyMeasure(p90[arm], p90[arm] != math.MaxInt64)
		if p90[arm] == math.MaxInt64 && why == "" {
			why = fmt.Sprintf("%d of %d queries of the %s arm failed, so its p90 is infinite and the arms cannot be compared", ae.Failed, ae.Queries, name)
		}
		out = append(out, ae)
	}
	if why != "" {
		return 0, out, why
	}
	return float64(p90[0]) / float64(p90[1]), out, ""
}

// compareAccuracy compares the outputs of a run's accuracy sample with
// the oracle's under the model version's tolerance class (rule 6), after
// timing, into tally.
func (e *env) compareAccuracy(ctx context.Context, m *modelUnderTest, run *measured, tally *caseTally) error {
	for _, q := range run.keep.sample() {
		ins, err := run.tgt.inputs(q.sample)
		if err != nil {
			return fmt.Errorf("cannot draw the inputs of query %d of %s again: %w", q.seq, m.ref.Label(), err)
		}
		in := tensors(ins)
		want, err := e.oracle.Predict(ctx, m.ref.Reference, m.ref.ReferenceVersion, in)
		if err != nil {
			return fmt.Errorf("the reference oracle failed on query %d of %s: %w", q.seq, m.ref.Label(), err)
		}
		where := fmt.Sprintf("%s timed query %d", m.ref.Label(), q.seq)
		ce := CaseEvidence{Model: m.ref.Name, Version: m.ref.Version, Set: "performance", Case: fmt.Sprintf("query %d", q.seq), Tolerance: m.tol}
		if _, err := tally.compare(ce, where, m.contract, in, q.outputs, want, m.tol); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}
