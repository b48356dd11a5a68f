package faults

import (
	"context"
	"io/fs"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
	"github.com/aiconform/aiconform/spec"
)

// The token of the runs against ignore-auth: the server requires it, and
// the run's profile names mtTokenEnv, which the run's Getenv answers.
const (
	mtTokenEnv = "AICONFORM_FAULT_TEST_TOKEN"
	mtToken    = "fault-test-token-5d1c"
)

// TestFaultMatrix runs the conformance engine at levels core and safety, over every
// reference model at fp32 with a cut-down golden set, against the plain
// server and against the server with each fault of the registry, and holds
// each run to what the registry says:
//
//   - against the plain server every check passes;
//   - against a fault, every check that fails or errs cites only the
//     fault's Requirement and Also;
//   - when this build has a check of the fault's Requirement, at
//     least one check citing it fails (fails, not errs).
//
// So a fault whose requirement has no check yet (a performance or SEC-*
// requirement) must leave every check passing but those of its Also,
// and the matrix tightens by itself as checks are added.
func TestFaultMatrix(t *testing.T) {
	goldens, err := ftGoldens()
	if err != nil {
		t.Fatal(err)
	}
	models := ftModels(t)
	levels := []spec.Level{spec.Core, spec.Safety}
	checked := map[string]bool{} // requirements with a check of those levels
	for _, c := range conformance.Checks() {
		if slices.Contains(levels, c.Level) {
			for _, id := range c.Requirements {
				checked[id] = true
			}
		}
	}
	cases := append([]Fault{{}}, All()...) // the zero Fault: the plain server
	for _, f := range cases {
		name := f.Name
		if name == "" {
			name = "plain"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := &conformance.Profile{
				Kind: conformance.ProfileKind, SpecVersion: spec.Version, Name: "fault-matrix-" + name,
				Levels: levels, Goldens: conformance.BuiltinGoldens,
				Auth: &conformance.Auth{Scheme: conformance.AuthNone},
			}
			for _, id := range spec.ReferenceModels() {
				p.Models = append(p.Models, conformance.ModelRef{Name: id, Version: "fp32", Reference: id, ReferenceVersion: "fp32"})
			}
			var opts []serve.Option
			if f.Name != "" {
				fopts, err := Options(f)
				if err != nil {
					t.Fatal(err)
				}
				opts = fopts
			}
			if f.Name == "ignore-auth" {
				opts = append(opts, serve.WithAuthToken(mtToken))
				p.Auth = &conformance.Auth{Scheme: conformance.AuthBearer, TokenEnv: mtTokenEnv}
			}
			srv, err := serve.New(models, opts...)
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			rep, err := conformance.Run(context.Background(), matrixOptions(t, ts.URL, p, goldens, models))
			if err != nil {
				t.Fatalf("conformance.Run: %v", err)
			}
			if len(rep.Checks) == 0 {
				t.Fatal("the run made no checks")
			}
			claimed := append([]string{f.Requirement}, f.Also...)
			brokeRequirement := false
			for _, c := range rep.Checks {
				if c.Status != spec.Pass {
					t.Logf("%s (%v) %s: %s", c.ID, c.Requirements, c.Status, c.Message)
				}
				if f.Name == "" {
					if c.Status != spec.Pass {
						t.Errorf("against the plain server, check %s ended %s: %s", c.ID, c.Status, c.Message)
					}
					continue
				}
				if c.Status == spec.Fail && slices.Contains(c.Requirements, f.Requirement) {
					brokeRequirement = true
				}
				if c.Status != spec.Fail && c.Status != spec.Error {
					continue
				}
				for _, id := range c.Requirements {
					if !slices.Contains(claimed, id) {
						t.Errorf("check %s (requirements %v) ended %s, but fault %s breaks only %v: %s", c.ID, c.Requirements, c.Status, f.Name, claimed, c.Message)
						break
					}
				}
			}
			if f.Name != "" && checked[f.Requirement] && !brokeRequirement {
				t.Errorf("no check citing %s failed, though this build has one and fault %s breaks it", f.Requirement, f.Name)
			}
		})
	}
}

// matrixOptions returns the options of the matrix' runs: target, profile,
// goldens, the token of the ignore-auth run, the request timeout
// matrixTimeout and an oracle over the reference models.
func matrixOptions(t *testing.T, target string, p *conformance.Profile, goldens fs.FS, models []reference.Model) conformance.Options {
	t.Helper()
	oracle, err := reference.NewOracle(models)
	if err != nil {
		t.Fatal(err)
	}
	return conformance.Options{
		Target:         target,
		Profile:        p,
		Goldens:        goldens,
		RequestTimeout: matrixTimeout,
		Getenv: func(k string) string {
			if k == mtTokenEnv {
				return mtToken
			}
			return ""
		},
		Oracle: oracle,
	}
}
