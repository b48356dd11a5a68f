// Package conformancetest runs the conformance suite from a Go test, so
// that a vendor's own `go test` can gate on it:
//
//	func TestConformance(t *testing.T) {
//		conformancetest.Run(t, conformance.Options{Target: "http://127.0.0.1:8000"})
//	}
//
// Run reports one subtest per check, named by the check's ID: a check that
// passed passes (its message is logged, seen with -v), a skipped one is
// skipped with its reason, and one that failed or erred fails with its
// message and a compact rendering of its evidence. A run that cannot
// happen at all (a bad configuration, a target that cannot be reached)
// fails the test itself.
//
// Check IDs hold a slash ("api/health-live"), which `go test -run` reads
// as a level of subtest: TestConformance/api/health-live names one check,
// TestConformance/numerics/ every numerics check. The whole suite runs
// whatever -run selects (later checks read what earlier ones found); -run
// only chooses which results are reported.
//
// The subtests mirror the checks' statuses, so a SHOULD check that fails
// fails its subtest although the report's verdict (and the exit code of
// `aiconform run`) counts it only as a warning; and a report that is not
// conformant fails the test with its verdict even when no subtest failed
// (e.g. every check of a level was skipped).
package conformancetest

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/spec"
)

// TB is what Run needs of a test. *testing.T satisfies TB[*testing.T];
// a test of Run itself can pass a recorder of its own.
type TB[T any] interface {
	Helper()
	// Context is the run's context: *testing.T cancels it as the test ends.
	Context() context.Context
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skip(args ...any)
	// Run runs f as a subtest named name.
	Run(name string, f func(T)) bool
}

// Run runs the conformance suite with opts, reports each check as a
// subtest of t (see the package documentation) and returns the report, or
// nil when the run could not happen (t has then failed).
func Run[T TB[T]](t T, opts conformance.Options) *conformance.Report {
	t.Helper()
	rep, err := conformance.Run(t.Context(), opts)
	if err != nil {
		t.Fatalf("conformancetest: running the suite against %s: %v", opts.Target, err)
		return nil
	}
	t.Logf("aiconform %s · spec %s · target %s · profile %s · seed %s", rep.Tool.Version, rep.SpecVersion, rep.Target, rep.Profile.Name, rep.Seed)
	for _, r := range rep.Checks {
		t.Run(r.ID, func(t T) {
			t.Helper()
			switch r.Status {
			case spec.Pass:
				t.Logf("%s", r.Message)
			case spec.Skip:
				t.Skip(r.Message)
			default:
				t.Errorf("%s: %s\n%s", r.Status, r.Message, Describe(r))
			}
		})
	}
	if !rep.Conformant() {
		msg := fmt.Sprintf("verdict: NOT CONFORMANT at %s (%d checks: %d pass, %d fail, %d skip, %d error)",
			joinLevels(rep), rep.Summary.Total, rep.Summary.Pass, rep.Summary.Fail, rep.Summary.Skip, rep.Summary.Error)
		if rep.Stopped != "" {
			msg += "; stopped: " + rep.Stopped
		}
		t.Errorf("%s; seed %s", msg, rep.Seed)
	}
	return rep
}

func joinLevels(rep *conformance.Report) string {
	ls := make([]string, len(rep.RequestedLevels))
	for i, l := range rep.RequestedLevels {
		ls[i] = fmt.Sprintf("%s (%s)", l, rep.Levels[l])
	}
	return strings.Join(ls, ", ")
}

// Limits of Describe: what it leaves out, report.json holds.
const (
	maxExchanges = 5
	maxCases     = 5
	maxExcerpt   = 160
)

// Describe renders a result's requirements and evidence compactly, a few
// lines indented by two spaces: the first exchanges (method, path, status,
// body excerpts, transport error), the cases that did not pass and the
// figures. It is what Run adds to the message of a failed check.
func Describe(r conformance.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  requirements: %s (%s)\n", strings.Join(r.Requirements, ", "), r.Level)
	ex := r.Evidence.Exchanges
	if len(ex) > 0 {
		fmt.Fprintf(&b, "  exchanges: %d\n", len(ex))
	}
	for i, e := range ex {
		if i == maxExchanges {
			fmt.Fprintf(&b, "    … and %d more in the report\n", len(ex)-maxExchanges)
			break
		}
		switch {
		case e.StatusCode == 0:
			fmt.Fprintf(&b, "    %s %s → no response: %s\n", e.Method, e.Path, excerpt(e.Error))
		default:
			fmt.Fprintf(&b, "    %s %s → %d %s (%s)\n", e.Method, e.Path, e.StatusCode, e.ContentType, measure(e.Duration))
		}
		if e.RequestExcerpt != "" {
			fmt.Fprintf(&b, "      request:  %s\n", excerpt(e.RequestExcerpt))
		}
		if e.ResponseExcerpt != "" {
			over := ""
			if e.BodyOverLimit {
				over = " (body over the limit, cut)"
			}
			fmt.Fprintf(&b, "      response: %s%s\n", excerpt(e.ResponseExcerpt), over)
		}
		if e.StatusCode != 0 && e.Error != "" {
			fmt.Fprintf(&b, "      error: %s\n", excerpt(e.Error))
		}
	}
	var bad []conformance.CaseEvidence
	for _, c := range r.Evidence.Cases {
		if c.Status != spec.Pass && c.Status != spec.Skip {
			bad = append(bad, c)
		}
	}
	if len(bad) > 0 {
		fmt.Fprintf(&b, "  cases: %d of %d did not pass\n", len(bad), len(r.Evidence.Cases))
	}
	for i, c := range bad {
		if i == maxCases {
			fmt.Fprintf(&b, "    … and %d more in the report\n", len(bad)-maxCases)
			break
		}
		model := c.Model
		if c.Version != "" {
			model += "@" + c.Version
		}
		fmt.Fprintf(&b, "    %s %s %s: %s: %s\n", model, c.Set, c.Case, c.Status, excerpt(c.Message))
	}
	if len(r.Evidence.Figures) > 0 {
		names := make([]string, 0, len(r.Evidence.Figures))
		for name := range r.Evidence.Figures {
			names = append(names, name)
		}
		slices.Sort(names)
		figs := make([]string, len(names))
		for i, name := range names {
			figs[i] = name + " " + measure(r.Evidence.Figures[name])
		}
		fmt.Fprintf(&b, "  figures: %s\n", strings.Join(figs, ", "))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// excerpt folds s onto one line and cuts it to maxExcerpt characters.
func excerpt(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxExcerpt {
		return string(r[:maxExcerpt-1]) + "…"
	}
	return s
}

// measure formats a measure as "12 ms", "3.5e+06 B", or a bare count.
func measure(m conformance.Measure) string {
	if m.Unit == conformance.UnitCount {
		return fmt.Sprintf("%.4g", float64(m.Value))
	}
	return fmt.Sprintf("%.4g %s", float64(m.Value), m.Unit)
}
