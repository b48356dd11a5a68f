package faults

import (
	"context"
	"crypto/tls"
	"io/fs"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/internal/racedetect"
	"github.com/aiconform/aiconform/internal/testpki"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
	"github.com/aiconform/aiconform/spec"
)

// matrixTimeout is the request timeout of the matrix' runs (see
// matrixOptions).
const matrixTimeout = conformance.DefaultRequestTimeout

// matrixSeed seeds the inputs the matrix' runs draw.
const matrixSeed uint64 = 0x5eed_2026

// The token of the runs against ignore-auth: the server requires it, and
// the run's profile names mtTokenEnv, which the run's Getenv answers.
const (
	mtTokenEnv = "AICONFORM_FAULT_TEST_TOKEN"
	mtToken    = "fault-test-token-5d1c"
)

// matrixEnv selects the fault matrix's runs: "full" runs every fault of
// the registry alone, over each binding; "short" runs, over each binding,
// the plain server and matrixMechanisms composed on one server. Unset, the
// matrix is full, and short under the race detector, which computes many
// times slower: CI runs the short matrix with every other test under it
// and the full one in a step of its own (see .ci/run).
const matrixEnv = "AICONFORM_FAULT_MATRIX"

// matrixMechanisms are the faults of the short matrix: one for each way a
// fault plugs into the server, so that each way is seen to reach the
// requests of each binding — a handler wrapper (no-id-echo), a model
// wrapper (numeric-drift), a handler wrapper that rewrites requests with
// the catalog of served models (accepts-wrong-shape), the exemption from
// authentication (ignore-auth) and the TLS settings (tls-1.0-allowed). The
// five break five requirements apart from one another, so one server with
// all of them shows each.
var matrixMechanisms = []string{"no-id-echo", "numeric-drift", "accepts-wrong-shape", "ignore-auth", "tls-1.0-allowed"}

// matrixFull reports whether the matrix runs every fault (matrixEnv).
func matrixFull(t *testing.T) bool {
	switch v := os.Getenv(matrixEnv); v {
	case "full":
		return true
	case "short":
		return false
	case "":
		return !racedetect.Enabled
	default:
		t.Fatalf("%s=%q, want full or short", matrixEnv, v)
		return false
	}
}

// TestFaultMatrix runs the conformance engine at levels core and safety,
// over every reference model at fp32 with a cut-down golden set, over
// each binding (REST, and gRPC through the server's own gRPC frontend),
// against the plain server (in the clear, and over TLS with a test CA and
// a bearer token) and against the server with each fault of the registry
// (over TLS when the fault needs it, with a token for ignore-auth), and
// holds each run to what the registry says (judgeMatrixRun):
//
//   - against the plain server every check passes, or is skipped as not
//     applicable;
//   - against a fault, every check that fails or errs cites only the
//     fault's Requirement and Also; when the fault breaks the TLS
//     handshake itself, the run sends nothing and the other checks err;
//   - when this build has a check of the fault's Requirement, at least
//     one check citing it fails (fails, not errs), unless the fault
//     cannot show over the binding (NotOver): then every check passes or
//     is not applicable.
//
// So a fault whose requirement has no check yet must leave every check
// passing but those of its Also, and the matrix tightens by itself as
// checks are added. The short matrix (matrixEnv) composes
// matrixMechanisms on one server in place of the faults alone. The
// performance level runs apart, over each binding, against the faults
// that break its requirements (matrixPerformance).
func TestFaultMatrix(t *testing.T) {
	goldens, err := ftGoldens()
	if err != nil {
		t.Fatal(err)
	}
	models := ftModels(t)
	pki, err := testpki.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	levels := []spec.Level{spec.Core, spec.Safety}
	checked := map[string]bool{} // requirements with a check at those levels
	for _, c := range conformance.Checks() {
		if slices.Contains(levels, c.Level) {
			for _, id := range c.Requirements {
				checked[id] = true
			}
		}
	}
	type matrixCase struct {
		name string
		fs   []Fault // none: the plain server
		tls  bool    // served over TLS with a certificate of the test CA
		auth bool    // the server requires the bearer token mtToken
	}
	cases := []matrixCase{{name: "plain"}, {name: "plain-tls", tls: true, auth: true}}
	if matrixFull(t) {
		for _, f := range All() {
			cases = append(cases, matrixCase{name: f.Name, fs: []Fault{f}, tls: f.NeedsTLS, auth: f.Name == "ignore-auth"})
		}
	} else {
		fs, err := Lookup(matrixMechanisms...)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, matrixCase{name: strings.Join(matrixMechanisms, "+"), fs: fs, tls: true, auth: true})
	}
	bindings := []spec.Binding{spec.REST, spec.GRPC}
	t.Logf("%d runs over each of %v (%s=full runs every fault alone)", len(cases), bindings, matrixEnv)
	// The performance level runs first, while the parallel runs below
	// wait (a parallel subtest starts only when this function returns):
	// the scenarios measure time, so they do not share the machine with
	// the other runs of the matrix.
	t.Run("performance", func(t *testing.T) { matrixPerformance(t, bindings, goldens, models) })
	for _, b := range bindings {
		for _, tc := range cases {
			t.Run(string(b)+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				p := &conformance.Profile{
					Kind: conformance.ProfileKind, SpecVersion: spec.Version, Name: "fault-matrix-" + string(b) + "-" + tc.name,
					Levels: levels, Goldens: conformance.BuiltinGoldens,
					Auth: &conformance.Auth{Scheme: conformance.AuthNone},
				}
				for _, id := range spec.ReferenceModels() {
					p.Models = append(p.Models, conformance.ModelRef{Name: id, Version: "fp32", Reference: id, ReferenceVersion: "fp32"})
				}
				opts, err := Options(tc.fs...)
				if err != nil {
					t.Fatal(err)
				}
				if tc.auth {
					opts = append(opts, serve.WithAuthToken(mtToken))
					p.Auth = &conformance.Auth{Scheme: conformance.AuthBearer, TokenEnv: mtTokenEnv}
				}
				srv, err := serve.New(models, opts...)
				if err != nil {
					t.Fatal(err)
				}
				var cfg *tls.Config
				if tc.tls {
					if cfg, err = TLSConfig(serve.TLSConfig(pki.Certificate), tc.fs...); err != nil {
						t.Fatal(err)
					}
				}
				mo := matrixOptions(t, ftServe(t, b, srv, cfg), p, goldens, models)
				mo.RootCAs = pki.Pool
				rep, err := conformance.Run(context.Background(), mo)
				if err != nil {
					t.Fatalf("conformance.Run: %v", err)
				}
				judgeMatrixRun(t, tc.fs, rep, checked, b)
			})
		}
	}
}

// ftServe serves srv over binding b until the test ends, over TLS with
// cfg when cfg is not nil, and returns the target.
func ftServe(t *testing.T, b spec.Binding, srv *serve.Server, cfg *tls.Config) string {
	t.Helper()
	if b == spec.GRPC {
		return ftServeGRPC(t, srv, cfg)
	}
	return ftServeREST(t, srv, cfg)
}

// ftServeREST serves srv's REST handler until the test ends; over https
// with cfg when cfg is not nil. It returns the http:// or https:// target.
func ftServeREST(t *testing.T, srv *serve.Server, cfg *tls.Config) string {
	t.Helper()
	ts := httptest.NewUnstartedServer(srv.Handler())
	if cfg != nil {
		ts.TLS = cfg
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return ts.URL
}

// ftServeGRPC serves srv over the gRPC binding with its own gRPC frontend
// (serve.GRPCServer, under serve.ServeGRPC) until the test ends, when it
// shuts down gracefully and must do so without error; over TLS with cfg
// when cfg is not nil. It returns the grpc:// or grpcs:// target.
func ftServeGRPC(t *testing.T, srv *serve.Server, cfg *tls.Config) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := "grpc://" + lis.Addr().String()
	var opts []grpc.ServerOption
	if cfg != nil {
		opts = append(opts, grpc.Creds(serve.GRPCCredentials(cfg)))
		target = "grpcs://" + lis.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve.ServeGRPC(ctx, lis, srv.GRPCServer(opts...)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeGRPC: %v", err)
		}
	})
	return target
}

// judgeMatrixRun holds a run of the matrix over binding b to what the
// registry says of the faults fs the server had (none: the plain server;
// several: composed); checked are the requirements this build has checks
// of at the run's levels.
//
//   - Against the plain server, or faults that all cannot show over b
//     (NotOver), every check passes or is skipped as not applicable.
//   - Against faults, every check that fails or errs cites only their
//     Requirements and Also; when a fault breaks the TLS handshake
//     itself, the run sends nothing and the other checks err.
//   - For each fault that shows over b, when this build has a check of
//     its Requirement, at least one check citing it fails (fails, not
//     errs).
func judgeMatrixRun(t *testing.T, fs []Fault, rep *conformance.Report, checked map[string]bool, b spec.Binding) {
	t.Helper()
	if len(rep.Checks) == 0 {
		t.Fatal("the run made no checks")
	}
	if rep.Binding != b {
		t.Errorf("the run spoke %q, want %q", rep.Binding, b)
	}
	var claimed, names []string
	var shows []Fault
	needsTLS := false
	for _, f := range fs {
		names = append(names, f.Name)
		if why, notOver := f.NotOver[b]; notOver {
			t.Logf("fault %s cannot show over %s: %s", f.Name, b.Name(), why)
			continue
		}
		shows = append(shows, f)
		claimed = append(append(claimed, f.Requirement), f.Also...)
		needsTLS = needsTLS || f.NeedsTLS
	}
	untrusted := needsTLS && strings.Contains(rep.Stopped, "TLS handshake with the target failed")
	broke := map[string]bool{}
	for _, c := range rep.Checks {
		if c.Status != spec.Pass {
			t.Logf("%s (%v) %s: %s", c.ID, c.Requirements, c.Status, c.Message)
		}
		if len(shows) == 0 {
			if c.Status != spec.Pass && (c.Status != spec.Skip || !strings.HasPrefix(c.Message, spec.NotApplicablePrefix)) {
				if len(fs) > 0 {
					t.Errorf("faults %v cannot show over %s, but check %s ended %s: %s", names, b.Name(), c.ID, c.Status, c.Message)
				} else {
					t.Errorf("against the plain server, check %s ended %s: %s", c.ID, c.Status, c.Message)
				}
			}
			continue
		}
		if c.Status == spec.Fail {
			for _, id := range c.Requirements {
				broke[id] = true
			}
		}
		if c.Status != spec.Fail && c.Status != spec.Error {
			continue
		}
		if untrusted && c.Status == spec.Error && !slices.ContainsFunc(shows, func(f Fault) bool { return slices.Contains(c.Requirements, f.Requirement) }) {
			continue
		}
		for _, id := range c.Requirements {
			if !slices.Contains(claimed, id) {
				t.Errorf("check %s (requirements %v) ended %s, but faults %v break only %v: %s", c.ID, c.Requirements, c.Status, names, claimed, c.Message)
				break
			}
		}
	}
	for _, f := range shows {
		// A run that sent nothing but the TLS handshakes can show only
		// the faults of TLS.
		if checked[f.Requirement] && !broke[f.Requirement] && (!untrusted || f.NeedsTLS) {
			t.Errorf("no check citing %s failed over %s, though this build has one and fault %s breaks it", f.Requirement, b.Name(), f.Name)
		}
	}
}

// matrixOptions returns the options of the matrix' runs: target, profile,
// goldens, the token of the ignore-auth run, the request timeout
// matrixTimeout and an oracle over the reference models.
//
// The timeout is the default one: the runs share the machine with each
// other (and, under the race detector, compute about 25 times slower), and
// a batch of seed-transformer sequences of up to 64 tokens can take
// seconds there. Only never-ready's run waits it out, polling readiness.
func matrixOptions(t *testing.T, target string, p *conformance.Profile, goldens fs.FS, models []reference.Model) conformance.Options {
	t.Helper()
	oracle, err := reference.NewOracle(models)
	if err != nil {
		t.Fatal(err)
	}
	// A fixed seed: every run of the matrix sends the same inputs, so a
	// verdict that depends on what was drawn (as golden-only's did, before
	// its Also named NUM-BATCH-INVARIANCE) shows up every time or never;
	// the demo in CI draws a new seed against the plain server each run.
	seed := matrixSeed
	return conformance.Options{
		Target:         target,
		Profile:        p,
		Goldens:        goldens,
		RequestTimeout: matrixTimeout,
		Seed:           &seed,
		Getenv: func(k string) string {
			if k == mtTokenEnv {
				return mtToken
			}
			return ""
		},
		Oracle: oracle,
	}
}

// perfCard is the model card of the performance runs: budgets for
// seed-rnn at fp32 alone (the fastest model; the race detector slows
// every model down many times), none for the offline scenario (its 32
// warm-up queries of 32 samples would take the matrix' time). SERVER is
// replaced by the server budget, or by nothing where the run leaves the
// server scenario out.
const perfCard = `kind: modelcard
specVersion: v1
modelDetails: {name: fault matrix, version: {name: "1"}}
intendedUse: {primaryUses: [the fault matrix]}
service:
  protocol: open-inference-protocol-v2-rest
  baseURL: http://127.0.0.1:8000
  models:
    - name: seed-rnn
      version: fp32
      reference: {model: seed-rnn, version: fp32}
      latency:
        singleStreamP90: {value: 2, unit: s}
SERVER`

// perfServer is the server budget of the matrix' card: a p99 just under
// slow-tail's one-second holds, at a rate far below what the race
// detector's server can take.
const perfServer = `        serverTargetQPS: {value: 16, unit: queries/s}
        serverP99: {value: 990, unit: ms}
`

// matrixPerformance runs the performance level over each binding of bs,
// against the plain server and the two faults that break its
// requirements, and holds each run to what the registry says: against
// the plain server every performance check passes or is not applicable
// (offline, whose budget the card leaves out); slow-tail fails
// LAT-SERVER, whose p99 its one-second holds of 2% of the queries pass,
// while LAT-SINGLE-STREAM (p90) passes; result-cache fails
// LAT-CACHE-AUDIT, a SHOULD, so the report warns.
//
// The other faults are not run at this level: they change what the
// server answers to some requests, not how long it takes, and each run
// of the four scenarios costs seconds under the race detector. A fault
// that changes the numbers (numeric-drift, whose Also lists the LAT
// requirements for that reason) fails the accuracy sample of every
// scenario, as the conformance package's tests show against a fake that
// answers wrongly.
//
// The budgets are wide (a p90 of 2 s; a p99 of 990 ms at 16 queries/s)
// and the send-lateness bound loose (1 s), so that neither the race
// detector nor a shared machine decides a verdict. slow-tail's holds
// exceed the server budget whatever the machine: every 50th
// single-sample inference is held 1 s, so the 128 timed queries hold at
// least two, and the p99 of 128 queries is their second slowest. The
// cache audit runs 256 queries per arm in blocks of 8, so that a slow
// period of the machine falls on both arms, and confirms a low ratio
// with up to two more runs.
func matrixPerformance(t *testing.T, bs []spec.Binding, goldens fs.FS, models []reference.Model) {
	second := conformance.Duration(time.Second)
	tenth := conformance.Duration(100 * time.Millisecond)
	tests := []struct {
		fault string
		// server says the card declares the server budget (result-cache
		// leaves it out: the scenario tells nothing of a cache).
		server bool
		// want is the status of each check that must not pass.
		want    map[string]spec.Status
		warning string
	}{
		{fault: "", server: true},
		{fault: "slow-tail", server: true, want: map[string]spec.Status{"performance/server": spec.Fail}},
		{fault: "result-cache", want: map[string]spec.Status{"performance/cache-audit": spec.Fail}, warning: "performance/cache-audit (LAT-CACHE-AUDIT): fail"},
	}
	for _, b := range bs {
		for _, tt := range tests {
			name := tt.fault
			if name == "" {
				name = "plain"
			}
			t.Run(string(b)+"/"+name, func(t *testing.T) {
				// The runs share the machine with each other: the
				// cache audit's blocks of 8 put a slow period on both
				// arms, and slow-tail's holds sleep.
				t.Parallel()
				card := filepath.Join(t.TempDir(), "card.yaml")
				doc := strings.Replace(perfCard, "SERVER", "", 1)
				if tt.server {
					doc = strings.Replace(perfCard, "SERVER", perfServer, 1)
				}
				if err := os.WriteFile(card, []byte(doc), 0o644); err != nil {
					t.Fatal(err)
				}
				var opts []serve.Option
				if tt.fault != "" {
					f, err := Lookup(tt.fault)
					if err != nil {
						t.Fatal(err)
					}
					if opts, err = Options(f...); err != nil {
						t.Fatal(err)
					}
				}
				srv, err := serve.New(models, opts...)
				if err != nil {
					t.Fatal(err)
				}
				target := ftServe(t, b, srv, nil)
				p := &conformance.Profile{
					Kind: conformance.ProfileKind, SpecVersion: spec.Version, Name: "fault-matrix-performance-" + string(b) + "-" + name,
					Levels: []spec.Level{spec.Performance}, Goldens: conformance.BuiltinGoldens,
					Auth:      &conformance.Auth{Scheme: conformance.AuthNone},
					ModelCard: card,
					Latency: &conformance.Latency{MaxSendLateness: &second, Minimums: &conformance.Minimums{
						SingleStream: &conformance.ScenarioMinimum{Queries: 64, Duration: &tenth},
						Server:       &conformance.ScenarioMinimum{Queries: 128, Duration: &tenth},
						CacheAudit:   &conformance.ScenarioMinimum{Queries: 256},
					}},
					Models: []conformance.ModelRef{{Name: "seed-rnn", Version: "fp32", Reference: "seed-rnn", ReferenceVersion: "fp32"}},
				}
				rep, err := conformance.Run(context.Background(), matrixOptions(t, target, p, goldens, models))
				if err != nil {
					t.Fatalf("conformance.Run: %v", err)
				}
				if rep.Binding != b {
					t.Errorf("the run spoke %q, want %q", rep.Binding, b)
				}
				if len(rep.Checks) != 4 {
					t.Fatalf("the run made %d checks, want the 4 of the performance level", len(rep.Checks))
				}
				for _, c := range rep.Checks {
					t.Logf("%s %s: %s", c.ID, c.Status, c.Message)
					want, listed := tt.want[c.ID]
					switch {
					case listed && c.Status != want:
						t.Errorf("against %s over %s, check %s ended %s, want %s: %s", name, b.Name(), c.ID, c.Status, want, c.Message)
					case !listed && c.Status != spec.Pass && (c.Status != spec.Skip || !strings.HasPrefix(c.Message, spec.NotApplicablePrefix)):
						t.Errorf("against %s over %s, check %s ended %s, want pass (or not applicable): %s", name, b.Name(), c.ID, c.Status, c.Message)
					}
				}
				if tt.warning != "" && !slices.Contains(rep.Warnings, tt.warning) {
					t.Errorf("warnings = %q, want %q", rep.Warnings, tt.warning)
				}
			})
		}
	}
}
