package conformance

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aiconform/aiconform/internal/fakeoip"
	"github.com/aiconform/aiconform/schemas"
	"github.com/aiconform/aiconform/spec"
)

// errSignal stands for the cause signal.NotifyContext gives.
var errSignal = errors.New("interrupt signal received")

// TestRunInterruptedMidRun interrupts a run while a check waits on the
// target and checks that the run returns promptly with a report that says
// what did not run.
func TestRunInterruptedMidRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   int // the check, from 1, whose start interrupts the run
	}{
		{"during the first check", 1},
		{"during a later check", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeoip.Server{}
			block := make(chan struct{})
			defer close(block)
			var started atomic.Int64
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			cancelledAt := make(chan time.Time, 1)
			h := f.Handler()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if started.Load() == int64(tc.at) {
					// The check waits on an answer that never comes until
					// the run is interrupted.
					select {
					case <-block:
					case <-r.Context().Done():
					}
					return
				}
				h.ServeHTTP(w, r)
			}))
			defer srv.Close()
			opts := Options{Target: srv.URL, Profile: fakeProfile(t), Goldens: fakeoip.Goldens(t, 1), RequestTimeout: time.Minute}
			opts.Progress = func(ev ProgressEvent) {
				if ev.Result != nil {
					return
				}
				started.Store(int64(ev.Index))
				if ev.Index == tc.at {
					go func() {
						time.Sleep(50 * time.Millisecond)
						cancelledAt <- time.Now()
						cancel(errSignal)
					}()
				}
			}
			rep, err := Run(ctx, opts)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if took := time.Since(<-cancelledAt); took > InterruptGrace+500*time.Millisecond {
				t.Errorf("Run returned %v after the interruption, want within %v", took, InterruptGrace)
			}
			if !strings.Contains(rep.Interrupted, errSignal.Error()) || !strings.Contains(rep.Interrupted, "during "+rep.Checks[tc.at-1].ID) {
				t.Errorf("Interrupted = %q, want the cause and the check", rep.Interrupted)
			}
			total := 0
			for _, ch := range checks {
				if ch.Level == spec.Core {
					total++
				}
			}
			if len(rep.Checks) != total {
				t.Fatalf("%d checks in the report, want all %d of the requested level", len(rep.Checks), total)
			}
			for i, r := range rep.Checks {
				notRun := r.Status == spec.Skip && strings.HasPrefix(r.Message, spec.NotRunPrefix)
				if (i >= tc.at-1) != notRun {
					t.Errorf("check %d %s: %s %q; want not run exactly from check %d", i+1, r.ID, r.Status, r.Message, tc.at)
				}
				if r.ID == "" || len(r.Requirements) == 0 || r.Level == "" {
					t.Errorf("check %d lacks its id, requirements or level: %+v", i+1, r)
				}
			}
			if !strings.Contains(rep.Checks[tc.at-1].Message, "while this check ran") {
				t.Errorf("the check cut short says %q", rep.Checks[tc.at-1].Message)
			}
			if rep.Verdict != spec.VerdictNotRun || rep.Levels[spec.Core] != spec.VerdictNotRun {
				t.Errorf("verdict %s, core %s; want not-run for both", rep.Verdict, rep.Levels[spec.Core])
			}
			if rep.Conformant() {
				t.Error("an interrupted run is conformant")
			}
			for _, c := range rep.Claim {
				if c.Claimable {
					t.Errorf("level %s is claimable after an interrupted run", c.Level)
				}
			}
			if vs, err := schemas.Validate(ReportKind, "v1", rep); err != nil || len(vs) > 0 {
				t.Errorf("the interrupted report breaks its schema: %v %v", vs, err)
			}
		})
	}
}

// TestInterruptVerdicts checks the verdicts Derive gives an interrupted
// report: a level with a check not run is not-run unless a MUST check of
// it failed; a level that finished keeps its verdict.
func TestInterruptVerdicts(t *testing.T) {
	must := func(l spec.Level, s spec.Status, msg string) Result {
		return Result{ID: "X", Requirements: []string{"OIP-HEALTH-LIVE"}, Level: l, Status: s, Message: msg}
	}
	notRun := spec.NotRunPrefix + "the run was interrupted before this check"
	rep := &Report{
		RequestedLevels: []spec.Level{spec.Core, spec.Performance, spec.Safety},
		Interrupted:     "the run was interrupted before X, after 3 of 6 checks",
		Checks: []Result{
			must(spec.Core, spec.Pass, "ok"),
			must(spec.Performance, spec.Fail, "bad"),
			must(spec.Safety, spec.Pass, "ok"),
			must(spec.Performance, spec.Skip, notRun),
			must(spec.Safety, spec.Skip, notRun),
		},
	}
	rep.Derive()
	want := map[spec.Level]spec.Verdict{spec.Core: spec.VerdictPass, spec.Performance: spec.VerdictFail, spec.Safety: spec.VerdictNotRun}
	for l, v := range want {
		if rep.Levels[l] != v {
			t.Errorf("level %s: %s, want %s", l, rep.Levels[l], v)
		}
	}
	if rep.Verdict != spec.VerdictNotRun {
		t.Errorf("verdict %s, want not-run", rep.Verdict)
	}
}

// TestRunInterruptibleLeavesAStuckCheck checks that a check that ignores
// the interruption is left behind after InterruptGrace.
func TestRunInterruptibleLeavesAStuckCheck(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	ch := check{ID: "STUCK", Level: spec.Core, Requirements: []string{"OIP-HEALTH-LIVE"}, Run: func(context.Context, *env) Result {
		<-stuck
		return Result{Status: spec.Pass}
	}}
	e := &env{c: &client{now: time.Now}}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, ok := runInterruptible(ctx, ctx, ch, e, 0)
	took := time.Since(start)
	if ok {
		t.Error("a check cut short by the interruption gave a result")
	}
	if took < InterruptGrace || took > InterruptGrace+time.Second {
		t.Errorf("returned after %v, want about InterruptGrace (%v) after the interruption", took, InterruptGrace)
	}
}
