package serve

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/spec"
)

// ftTokenEnv is the environment variable the ignore-auth run's profile
// names; the run's Getenv answers it.
const (
	ftTokenEnv = "AICONFORM_FAULT_TEST_TOKEN"
	ftToken    = "fault-test-token-5d1c"
)

// TestFaultsAgainstConformanceEngine runs the conformance engine, with a
// profile of seed-cnn and seed-rnn at fp32 over a cut-down golden set,
// against the server with each fault, and checks that exactly the checks
// the fault should break fail, and that each of them cites the fault's
// requirement or one it lists in Also. Faults whose requirement has no
// check in this build of the engine must leave every check passing: the
// tests of fault_test.go show their misbehaviour directly.
func TestFaultsAgainstConformanceEngine(t *testing.T) {
	goldens, err := ftGoldens()
	if err != nil {
		t.Fatal(err)
	}
	models := ftModels(t)
	tests := []struct {
		fault   string // "" for the conforming server
		failing []string
	}{
		{"", nil},
		{"bad-metadata", []string{"api/model-metadata"}},
		{"batch-variant", nil},
		{"dies-after-abuse", nil},
		{"ignore-auth", nil},
		{"leaky-errors", nil},
		{"nan-output", []string{"numerics/golden"}},
		{"no-id-echo", []string{"api/infer-id-echo"}},
		{"nondeterministic", nil},
		{"numeric-drift", []string{"numerics/golden"}},
		{"result-cache", nil},
		{"server-error-on-bad-input", nil},
		{"slow-tail", nil},
		{"wrong-class", []string{"numerics/golden"}},
	}
	var covered []string
	for _, tc := range tests {
		if tc.fault != "" {
			covered = append(covered, tc.fault)
		}
	}
	if !slices.Equal(covered, FaultNames()) {
		t.Fatalf("the table covers faults %v, want every fault %v", covered, FaultNames())
	}
	for _, tc := range tests {
		name := tc.fault
		if name == "" {
			name = "conforming"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var faults []string
			var claimed []string
			if tc.fault != "" {
				faults = []string{tc.fault}
				fs, err := LookupFaults(tc.fault)
				if err != nil {
					t.Fatal(err)
				}
				claimed = append([]string{fs[0].Requirement}, fs[0].Also...)
			}
			p := &conformance.Profile{
				Kind: conformance.ProfileKind, SpecVersion: spec.Version, Name: "fault-" + name,
				Levels: []spec.Level{spec.Core}, Goldens: conformance.BuiltinGoldens,
				Auth: &conformance.Auth{Scheme: conformance.AuthNone},
				Models: []conformance.ModelRef{
					{Name: "seed-cnn", Version: "fp32", Reference: "seed-cnn", ReferenceVersion: "fp32"},
					{Name: "seed-rnn", Version: "fp32", Reference: "seed-rnn", ReferenceVersion: "fp32"},
				},
			}
			var opts []Option
			if tc.fault == "ignore-auth" {
				opts = append(opts, WithAuthToken(ftToken))
				p.Auth = &conformance.Auth{Scheme: conformance.AuthBearer, TokenEnv: ftTokenEnv}
			}
			ts := httptest.NewServer(ftHandler(t, models, faults, opts...))
			defer ts.Close()
			rep, err := conformance.Run(context.Background(), conformance.Options{
				Target:  ts.URL,
				Profile: p,
				Goldens: goldens,
				Getenv: func(k string) string {
					if k == ftTokenEnv {
						return ftToken
					}
					return ""
				},
			})
			if err != nil {
				t.Fatalf("conformance.Run: %v", err)
			}
			var failing []string
			for _, c := range rep.Checks {
				if c.Status == spec.Pass {
					continue
				}
				failing = append(failing, c.ID)
				t.Logf("%s %s: %s", c.ID, c.Status, c.Message)
				if c.Status != spec.Fail {
					t.Errorf("check %s ended %s, want pass or fail: %s", c.ID, c.Status, c.Message)
				}
				if !slices.ContainsFunc(c.Requirements, func(id string) bool { return slices.Contains(claimed, id) }) {
					t.Errorf("check %s (requirements %v) fails, but fault %q claims only %v", c.ID, c.Requirements, tc.fault, claimed)
				}
			}
			if !slices.Equal(failing, tc.failing) {
				t.Errorf("failing checks %v, want %v", failing, tc.failing)
			}
			if len(rep.Checks) < 10 {
				t.Errorf("the run made %d checks: %s", len(rep.Checks), strings.Join(failing, ", "))
			}
		})
	}
}
