package conformancetest_test

import (
	"context"
	"fmt"
	"github.com/aiconform/aiconform/internal/fakeoip"
	"github.com/aiconform/aiconform/internal/testnet"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/conformancetest"
	"github.com/aiconform/aiconform/spec"
)

// Both a *testing.T and the recorder are tests Run can report to.
var (
	_ conformancetest.TB[*testing.T] = (*testing.T)(nil)
	_ conformancetest.TB[*recorder]  = (*recorder)(nil)
)

// recorder is a test that records what Run reports to it, so that a test
// can watch subtests fail and skip without failing itself.
type recorder struct {
	name    string
	ctx     context.Context
	failed  bool
	fatal   bool
	skipped bool
	// logs are the messages of Logf, Errorf, Fatalf and Skip, in order.
	logs []string
	subs []*recorder
}

func (r *recorder) Helper()                  {}
func (r *recorder) Context() context.Context { return r.ctx }
func (r *recorder) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}
func (r *recorder) Errorf(format string, args ...any) {
	r.failed = true
	r.Logf(format, args...)
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = true
	r.Errorf(format, args...)
}
func (r *recorder) Skip(args ...any) {
	r.skipped = true
	r.logs = append(r.logs, fmt.Sprint(args...))
}
func (r *recorder) Run(name string, f func(*recorder)) bool {
	sub := &recorder{name: name, ctx: r.ctx}
	r.subs = append(r.subs, sub)
	f(sub)
	if sub.failed {
		r.failed = true
	}
	return !sub.failed
}

func (r *recorder) log() string { return strings.Join(r.logs, "\n") }

// fakeOptions are the options of a run against a fake with the given
// fault, with the fake's goldens and oracle.
func fakeOptions(t *testing.T, f *fakeoip.Server) conformance.Options {
	t.Helper()
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	p, err := conformance.ParseProfile("fake.yaml", []byte(fakeProfileYAML))
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(42)
	return conformance.Options{
		Target: srv.URL, Profile: p, Goldens: fakeoip.Goldens(t, 4), Oracle: fakeoip.Oracle{},
		RequestTimeout: 5 * time.Second, ToolVersion: "test", Seed: &seed,
	}
}

// fakeProfileYAML is a profile for the fake's one model.
const fakeProfileYAML = `kind: profile
specVersion: v1
name: fake
levels: [core]
goldens: builtin
models:
  - {name: seed-cnn, version: fp32, reference: seed-cnn, referenceVersion: fp32}
`

// TestRun: the subtests are the checks, in order, and pass, fail or skip
// as the report says; a failure carries the check's message and evidence,
// and a run that cannot happen fails the test itself.
func TestRun(t *testing.T) {
	tests := []struct {
		name string
		opts func(t *testing.T) conformance.Options
		// fatal: the run cannot happen; the test fails with want in its log.
		fatal bool
		want  []string
		// failing are checks that fail, each with what its log holds.
		failing map[string][]string
	}{
		{name: "conformant", opts: func(t *testing.T) conformance.Options { return fakeOptions(t, &fakeoip.Server{}) }},
		{name: "no oracle: numerics/live skips", opts: func(t *testing.T) conformance.Options {
			o := fakeOptions(t, &fakeoip.Server{})
			o.Oracle = nil
			return o
		}},
		{name: "wrong numbers", opts: func(t *testing.T) conformance.Options {
			return fakeOptions(t, &fakeoip.Server{Fault: fakeoip.FaultWrongNumbers})
		},
			want: []string{"verdict: NOT CONFORMANT at core (fail)", "seed 42"},
			failing: map[string][]string{
				"numerics/golden": {"fail: ", "requirements: NUM-GOLDEN (core)", "cases: 4 of 4 did not pass", "seed-cnn@fp32 ", "worst at index"},
			}},
		{name: "no id echo", opts: func(t *testing.T) conformance.Options {
			return fakeOptions(t, &fakeoip.Server{Fault: fakeoip.FaultNoIDEcho})
		},
			want: []string{"verdict: NOT CONFORMANT"},
			failing: map[string][]string{
				"api/infer-id-echo": {"fail: ", "requirements: OIP-INFER-ID-ECHO (core)", "exchanges: ", "POST /v2/models/seed-cnn", " → 200 application/json", "request:  {", "response: {"},
			}},
		{name: "unreachable", fatal: true, want: []string{"target unreachable"}, opts: func(t *testing.T) conformance.Options {
			o := fakeOptions(t, &fakeoip.Server{})
			o.Target = "http://" + testnet.ClosedAddr(t)
			return o
		}},
		{name: "bad target", fatal: true, want: []string{"invalid configuration", "localhost:8000"}, opts: func(t *testing.T) conformance.Options {
			o := fakeOptions(t, &fakeoip.Server{})
			o.Target = "localhost:8000"
			return o
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{ctx: t.Context()}
			rep := conformancetest.Run(rec, tt.opts(t))
			for _, w := range tt.want {
				if !strings.Contains(rec.log(), w) {
					t.Errorf("the test's log lacks %q:\n%s", w, rec.log())
				}
			}
			if tt.fatal {
				if rep != nil || !rec.fatal || len(rec.subs) != 0 {
					t.Errorf("report %v, fatal %v, %d subtests; want no report, a fatal error, no subtests", rep != nil, rec.fatal, len(rec.subs))
				}
				return
			}
			if rep == nil {
				t.Fatalf("no report:\n%s", rec.log())
			}
			if rec.fatal || rec.failed != !rep.Conformant() {
				t.Errorf("the test failed %v (fatal %v), the report is conformant %v:\n%s", rec.failed, rec.fatal, rep.Conformant(), rec.log())
			}
			if len(rec.subs) != len(rep.Checks) {
				t.Fatalf("%d subtests for %d checks", len(rec.subs), len(rep.Checks))
			}
			failed := 0
			for i, c := range rep.Checks {
				sub := rec.subs[i]
				bad := c.Status == spec.Fail || c.Status == spec.Error
				if sub.name != c.ID || sub.failed != bad || sub.skipped != (c.Status == spec.Skip) || !strings.Contains(sub.log(), c.Message) {
					t.Errorf("subtest %d %q failed %v skipped %v log %q; the check is %s %s: %s", i, sub.name, sub.failed, sub.skipped, sub.log(), c.ID, c.Status, c.Message)
				}
				if !bad {
					continue
				}
				failed++
				for _, w := range tt.failing[c.ID] {
					if !strings.Contains(sub.log(), w) {
						t.Errorf("%s: the failure lacks %q:\n%s", c.ID, w, sub.log())
					}
				}
			}
			for id := range tt.failing {
				if i := indexOf(rep, id); i < 0 || rep.Checks[i].Status != spec.Fail {
					t.Errorf("%s did not fail", id)
				}
			}
			if failed == 0 && len(tt.failing) > 0 {
				t.Error("no subtest failed")
			}
		})
	}
}

// indexOf returns the index of check id in rep, or -1.
func indexOf(rep *conformance.Report, id string) int {
	for i, c := range rep.Checks {
		if c.ID == id {
			return i
		}
	}
	return -1
}

// TestRunWithTestingT reports to a real *testing.T: against a conformant
// fake every subtest passes or skips, so this test passes.
func TestRunWithTestingT(t *testing.T) {
	rep := conformancetest.Run(t, fakeOptions(t, &fakeoip.Server{}))
	if rep == nil || !rep.Conformant() {
		t.Fatalf("report %+v", rep)
	}
}
