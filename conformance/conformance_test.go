package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiconform/aiconform/internal/fakeoip"
	"github.com/aiconform/aiconform/internal/testnet"
	"github.com/aiconform/aiconform/schemas"
	"github.com/aiconform/aiconform/spec"
)

// fakeProfileYAML is the profile the engine tests run: the fake serves one
// model, a stand-in for seed-cnn at fp32, with the goldens of fakeGoldens.
const fakeProfileYAML = `kind: profile
specVersion: v1
name: fake
levels: [core]
goldens: builtin
timeouts:
  request: 30s
auth:
  scheme: none
models:
  - name: seed-cnn
    version: fp32
    reference: seed-cnn
    referenceVersion: fp32
`

// fakeProfile parses fakeProfileYAML.
func fakeProfile(t *testing.T) *Profile {
	t.Helper()
	p, err := ParseProfile("fake.yaml", []byte(fakeProfileYAML))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runFake runs the suite with fakeProfile (unless opts has a profile)
// against a fake with the given fault.
func runFake(t *testing.T, f *fakeoip.Server, opts Options) *Report {
	t.Helper()
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	return runAt(t, srv.URL, opts)
}

// runAt runs the suite against target with opts, filling in what opts
// leaves out (fakeProfile, four golden cases, a 5 s request timeout, the
// fake's oracle, seed 42), and validates the report.
func runAt(t *testing.T, target string, opts Options) *Report {
	t.Helper()
	opts.Target = target
	if opts.Profile == nil {
		opts.Profile = fakeProfile(t)
	}
	if opts.Goldens == nil {
		opts.Goldens = fakeoip.Goldens(t, 4)
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 5 * time.Second
	}
	if opts.ToolVersion == "" {
		opts.ToolVersion = "test"
	}
	if opts.Oracle == nil {
		opts.Oracle = fakeoip.Oracle{}
	}
	if opts.Seed == nil {
		seed := uint64(42)
		opts.Seed = &seed
	}
	rep, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	validateReport(t, rep)
	return rep
}

// validateReport checks the report's JSON form against the report schema.
func validateReport(t *testing.T, rep *Report) {
	t.Helper()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatalf("marshal report: %v", err)
	}
	doc, err := schemas.DecodeDocument("report.json", b)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := schemas.Validate(ReportKind, "v1", doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("report breaks its schema: %s", v)
	}
}

func result(t *testing.T, rep *Report, id string) Result {
	t.Helper()
	for _, r := range rep.Checks {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no result for check %s", id)
	return Result{}
}

// checksAt counts the checks of the table at level l.
func checksAt(l spec.Level) int {
	n := 0
	for _, c := range checks {
		if c.Level == l {
			n++
		}
	}
	return n
}

func TestRunConformant(t *testing.T) {
	rep := runFake(t, &fakeoip.Server{}, Options{Clock: fixedClock(time.Millisecond)})
	nCore := checksAt(spec.Core)
	if len(rep.Checks) != nCore {
		t.Errorf("%d results, want one per check of level core (%d)", len(rep.Checks), nCore)
	}
	for _, r := range rep.Checks {
		if w, ok := baseline[r.ID]; ok {
			if r.Status != w.status || !strings.HasPrefix(r.Message, w.msg[0]) {
				t.Errorf("%s: %s: %s, want %s: %s…", r.ID, r.Status, r.Message, w.status, w.msg[0])
			}
			continue
		}
		if r.Status != spec.Pass {
			t.Errorf("%s: %s: %s", r.ID, r.Status, r.Message)
		}
	}
	if !rep.Conformant() || rep.Verdict != spec.VerdictPass {
		t.Errorf("verdict %s, want pass", rep.Verdict)
	}
	if len(rep.Claim) != 1 || !rep.Claim[0].Claimable || len(rep.Uncovered[spec.Core]) != 0 || rep.Seed != "42" {
		t.Errorf("claim %+v, uncovered %v, seed %q; want core claimable, nothing uncovered, seed 42", rep.Claim, rep.Uncovered, rep.Seed)
	}
	want := map[spec.Level]spec.Verdict{spec.Core: spec.VerdictPass, spec.Performance: spec.VerdictNotRun, spec.Safety: spec.VerdictNotRun}
	for l, v := range want {
		if rep.Levels[l] != v {
			t.Errorf("level %s: %s, want %s", l, rep.Levels[l], v)
		}
	}
	if rep.Summary != (Summary{Total: nCore, Pass: nCore - 1, Skip: 1}) {
		t.Errorf("summary %+v", rep.Summary)
	}
	if rep.Kind != ReportKind || rep.SpecVersion != spec.Version || rep.Tool.Version != "test" || rep.Profile.Name != "fake" || rep.Profile.Source != "fake.yaml" {
		t.Errorf("report header %+v %+v %+v", rep.Kind, rep.Tool, rep.Profile)
	}
	if rep.Goldens.Source != BuiltinGoldens || len(rep.Goldens.SHA256) != 64 || rep.ModelCard != nil {
		t.Errorf("goldens %+v, model card %+v; want the built-in goldens by their manifest's sha256 and no card", rep.Goldens, rep.ModelCard)
	}
	derived := *rep
	derived.Levels, derived.Claim, derived.Summary, derived.Verdict = nil, nil, Summary{}, ""
	derived.Derive()
	if d := cmp.Diff(rep, &derived); d != "" {
		t.Errorf("Derive on the report's checks disagrees with Run (-run +derive):\n%s", d)
	}
	if !rep.EndTime.After(rep.StartTime) || rep.Duration.Unit != UnitMillisecond || rep.Duration.Value <= 0 {
		t.Errorf("times %v..%v, duration %+v", rep.StartTime, rep.EndTime, rep.Duration)
	}
	g := result(t, rep, "numerics/golden")
	if len(g.Evidence.Cases) != 4 {
		t.Errorf("numerics/golden evidence has %d cases, want 4", len(g.Evidence.Cases))
	}
	for _, c := range g.Evidence.Cases {
		if c.Status != spec.Pass || len(c.Outputs) != 2 || c.Tolerance.Class != "fp32" {
			t.Errorf("case %+v", c)
		}
	}
	if g.Evidence.Figures["cases"].Value != 4 || g.Evidence.Figures["casesFailed"].Value != 0 {
		t.Errorf("figures %+v", g.Evidence.Figures)
	}
	mr := result(t, rep, "api/model-ready")
	var paths []string
	for _, ex := range mr.Evidence.Exchanges {
		paths = append(paths, ex.Path)
	}
	if got := strings.Join(paths, " "); got != "/v2/models/seed-cnn/ready /v2/models/seed-cnn/versions/fp32/ready" {
		t.Errorf("model-ready asked %s", got)
	}
	hl := result(t, rep, "api/health-live")
	if len(hl.Evidence.Exchanges) != 1 || hl.Evidence.Exchanges[0].StatusCode != 200 || hl.Evidence.Exchanges[0].Method != "GET" {
		t.Errorf("health-live evidence %+v", hl.Evidence)
	}
}

// baseline is what the fake's checks end with when nothing else is said:
// it does not advertise binary tensor data.
var baseline = want1("api/binary-data", spec.Skip, "not applicable: the server metadata's extensions [] do not contain binary_tensor_data")

// TestRunFaults runs the suite against fakes that each break one rule:
// exactly the checks named fail (or skip), with an actionable message.
func TestRunFaults(t *testing.T) {
	// Checks that examine what the other numerics checks received have
	// nothing to examine when every inference response is broken.
	nothingToExamine := []any{
		"numerics/top1", spec.Skip, []string{"not checked: the numerics checks received no classification rows"},
		"numerics/output-valid", spec.Skip, []string{"not checked: the numerics checks received no output values to examine"},
	}
	brokenInference := func(msg, errorFormat string) map[string]wantResult {
		return wantN(append([]any{
			"api/infer-schema", spec.Fail, []string{"POST /v2/models/seed-cnn/versions/fp32/infer", msg},
			"api/infer-id-echo", spec.Skip, []string{"not checked: no inference succeeded, so the id echo could not be judged"},
			"api/output-select", spec.Fail, []string{msg},
			"api/error-format", spec.Fail, []string{errorFormat},
			"numerics/golden", spec.Fail, []string{msg, "4 of 4 golden cases failed"},
			"numerics/live", spec.Fail, []string{msg, "10 of 10 requests of fresh inputs (16 samples, seed 42) failed"},
			"numerics/batch-invariance", spec.Fail, []string{msg},
			"numerics/determinism", spec.Fail, []string{msg, "10 of 10 repeated answers failed"},
		}, nothingToExamine...)...)
	}
	tests := []struct {
		fault string
		opts  Options
		// want maps check IDs to the status and message fragments expected;
		// every other check must end as the baseline says, or pass.
		want map[string]wantResult
	}{
		{fault: fakeoip.FaultNotReady, want: wantN(
			"api/health-ready", spec.Fail, []string{"GET /v2/health/ready answered 503, want 200", "asked 5 times"},
			"api/model-ready", spec.Skip, []string{"not checked: OIP-MODEL-READY is asked after OIP-HEALTH-READY passed"})},
		{fault: fakeoip.FaultModelNotReady, want: want1("api/model-ready", spec.Fail, "GET /v2/models/seed-cnn/versions/fp32/ready answered 503, want 200")},
		{fault: fakeoip.FaultNoExtensions, want: wantN(
			"api/server-metadata", spec.Fail, []string{"GET /v2", `missing property "extensions"`},
			"api/binary-data", spec.Skip, []string{"not applicable: the server metadata's extensions [] do not contain binary_tensor_data"})},
		{fault: fakeoip.FaultMetadataShape, want: want1("api/model-metadata", spec.Fail, `input "input": shape [-1 28 28], want [-1 1 28 28]`)},
		{fault: fakeoip.FaultNoIDEcho, want: want1("api/infer-id-echo", spec.Fail, "is not echoed")},
		{fault: fakeoip.FaultWrongID, want: want1("api/infer-id-echo", spec.Fail, `id is "fixed-id", want the request's "aiconform-`)},
		{fault: fakeoip.FaultWrongNumbers, want: wantN(
			"numerics/golden", spec.Fail, []string{"output logits", "elements outside class fp32 (rtol 1.0e-04, atol 1.0e-05)",
				"worst at index [0 3] (flat 3)", "abs error 0.5", "4 of 4 golden cases failed"},
			"numerics/live", spec.Fail, []string{"output logits", "abs error 0.5", "10 of 10 requests of fresh inputs"},
			// Only the first sample of each answer is wrong, so a sample
			// alone and the same sample in a batch differ.
			"numerics/batch-invariance", spec.Fail, []string{"seed-cnn@fp32 batch of 8 sample", "7 of 8 samples sent in a batch and alone failed"},
			"numerics/top1", spec.Fail, []string{"rows", "agree on the top class", "the returned top class is 3"})},
		{fault: fakeoip.FaultOutputDatatype, want: wantN(append([]any{
			"api/infer-schema", spec.Fail, []string{`output "logits" has datatype FP64, want FP32`},
			"api/output-select", spec.Fail, []string{`output "logits" has datatype FP64, want FP32`},
			"numerics/golden", spec.Fail, []string{`datatype FP64, want FP32`},
			"numerics/live", spec.Fail, []string{`datatype FP64, want FP32`},
			"numerics/batch-invariance", spec.Fail, []string{`datatype FP64, want FP32`},
			"numerics/determinism", spec.Fail, []string{`datatype FP64, want FP32`},
		}, nothingToExamine...)...)},
		{fault: fakeoip.Fault500BadRequest, want: wantN(
			"api/error-format", spec.Fail, []string{"answered 500, want 400", noSuchInput},
			"api/output-select", spec.Fail, []string{"answered 500, want 400", noSuchOutput})},
		{fault: fakeoip.FaultErrorNotJSON, want: wantN(
			"api/error-format", spec.Fail, []string{`Content-Type "text/plain", want application/json`},
			"api/output-select", spec.Fail, []string{`Content-Type "text/plain", want application/json`},
			"api/unknown-model", spec.Fail, []string{`Content-Type "text/plain", want application/json`})},
		{fault: fakeoip.FaultUnknownModel200, want: want1("api/unknown-model", spec.Fail, "GET /v2/models/aiconform-no-such-model-", "answered 200, want 404")},
		{fault: fakeoip.FaultGarbageInfer, want: brokenInference("body is not JSON", "answered 200, want 400")},
		{fault: fakeoip.FaultHugeInfer, opts: Options{MaxBodyBytes: 1 << 20}, want: brokenInference("answered 200 with a body over the 1048576-byte limit", "answered 200 with a body over the 1048576-byte limit, want an error response")},
	}
	for _, tt := range tests {
		t.Run(tt.fault, func(t *testing.T) {
			t.Parallel()
			rep := runFake(t, &fakeoip.Server{Fault: tt.fault}, tt.opts)
			expectResults(t, rep, tt.want, baseline)
			if rep.Conformant() || rep.Levels[spec.Core] != spec.VerdictFail {
				t.Errorf("verdict %s, core %s; want fail", rep.Verdict, rep.Levels[spec.Core])
			}
			if rep.Claim[0].Claimable {
				t.Errorf("a failed core level is claimable: %+v", rep.Claim)
			}
		})
	}
}

type wantResult = struct {
	status spec.Status
	msg    []string
}

func want1(id string, status spec.Status, msg ...string) map[string]wantResult {
	return map[string]wantResult{id: {status, msg}}
}

// expectResults holds each check of rep to the first of wants that names
// it, and to pass where none does: its status, each phrase its message
// must hold, and, for a failure of a check that sends requests, the
// exchanges of its evidence.
func expectResults(t *testing.T, rep *Report, wants ...map[string]wantResult) {
	t.Helper()
	for _, r := range rep.Checks {
		w := wantResult{status: spec.Pass}
		for _, m := range wants {
			if mw, ok := m[r.ID]; ok {
				w = mw
				break
			}
		}
		if r.Status != w.status {
			t.Errorf("%s: %s, want %s: %s", r.ID, r.Status, w.status, r.Message)
		}
		for _, m := range w.msg {
			if !strings.Contains(r.Message, m) {
				t.Errorf("%s: message %q lacks %q", r.ID, r.Message, m)
			}
		}
		sends := r.ID != "numerics/top1" && r.ID != "numerics/output-valid"
		if r.Status == spec.Fail && sends && len(r.Evidence.Exchanges) == 0 {
			t.Errorf("%s: no exchanges in the evidence", r.ID)
		}
	}
}

// wantN takes (id, status, []string) triples.
func wantN(args ...any) map[string]wantResult {
	out := map[string]wantResult{}
	for i := 0; i < len(args); i += 3 {
		out[args[i].(string)] = wantResult{args[i+1].(spec.Status), args[i+2].([]string)}
	}
	return out
}

func TestRunWrongNumbersEvidence(t *testing.T) {
	rep := runFake(t, &fakeoip.Server{Fault: fakeoip.FaultWrongNumbers}, Options{})
	g := result(t, rep, "numerics/golden")
	if len(g.Evidence.Cases) != 4 {
		t.Fatalf("%d cases", len(g.Evidence.Cases))
	}
	c := g.Evidence.Cases[0]
	if c.Status != spec.Fail || c.Outputs[0].Name != "logits" || c.Outputs[0].Violations != 1 ||
		len(c.Outputs[0].WorstIndex) != 2 || c.Outputs[0].WorstIndex[1] != 3 || c.Outputs[0].WorstRatio <= 1 {
		t.Errorf("case evidence %+v", c)
	}
	if c.Outputs[1].Name != "probabilities" || c.Outputs[1].Violations != 0 {
		t.Errorf("probabilities evidence %+v", c.Outputs[1])
	}
	if len(g.Evidence.Exchanges) != 4 {
		t.Errorf("%d exchanges, want one per failing case", len(g.Evidence.Exchanges))
	}
}

// TestRunHangingEndpoint: inference hangs while health and metadata
// answer. Two timeouts in infer-schema and a third in the next check make
// the run give up: the checks that broke on those requests and every
// later one end error, the later ones without another wait.
func TestRunHangingEndpoint(t *testing.T) {
	const timeout = 200 * time.Millisecond
	start := time.Now()
	rep := runFake(t, &fakeoip.Server{Fault: fakeoip.FaultHangInfer}, Options{RequestTimeout: timeout})
	if d := time.Since(start); d > DefaultMaxStrikes*timeout+5*time.Second {
		t.Errorf("run took %v", d)
	}
	is := result(t, rep, "api/infer-schema")
	if is.Status != spec.Error || !strings.HasPrefix(is.Message, "target stopped answering") || !strings.Contains(is.Message, "no complete response within the request timeout (200ms)") {
		t.Errorf("infer-schema: %s: %s", is.Status, is.Message)
	}
	if ex := is.Evidence.Exchanges[0]; ex.StatusCode != 0 || ex.Error == "" {
		t.Errorf("exchange %+v", ex)
	}
	if e := result(t, rep, "api/infer-id-echo"); e.Status != spec.Error || !strings.HasPrefix(e.Message, "target stopped answering: 3 requests in a row got no response within 200ms") {
		t.Errorf("id-echo: %s: %s", e.Status, e.Message)
	}
	after := false
	for _, r := range rep.Checks {
		if r.ID == "api/output-select" {
			after = true
		}
		if after && (r.Status != spec.Error || !strings.Contains(r.Message, "not run")) {
			t.Errorf("%s after the target stopped: %s: %s", r.ID, r.Status, r.Message)
		}
	}
	if h := result(t, rep, "api/health-live"); h.Status != spec.Pass {
		t.Errorf("health-live: %s: %s", h.Status, h.Message)
	}
	if !strings.Contains(rep.Stopped, "stopped answering") || rep.Levels[spec.Core] != spec.VerdictFail {
		t.Errorf("stopped %q, core %s", rep.Stopped, rep.Levels[spec.Core])
	}
}

// TestRunBlackHole runs against a listener that accepts connections and
// never answers, over each binding (over gRPC it never sends the HTTP/2
// preface): the run gives up after DefaultMaxStrikes timeouts (the first
// is the reachability probe) and still returns its report, every check an
// error.
func TestRunBlackHole(t *testing.T) {
	for _, b := range []spec.Binding{spec.REST, spec.GRPC} {
		t.Run(string(b), func(t *testing.T) {
			addr := testnet.BlackHole(t)
			const timeout = 150 * time.Millisecond
			scheme := map[spec.Binding]string{spec.REST: "http", spec.GRPC: "grpc"}[b]
			start := time.Now()
			rep, err := Run(context.Background(), Options{Target: scheme + "://" + addr, Profile: fakeProfile(t), Goldens: fakeoip.Goldens(t, 2), RequestTimeout: timeout, Oracle: fakeoip.Oracle{}})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			validateReport(t, rep)
			if d := time.Since(start); d > DefaultMaxStrikes*timeout+3*time.Second {
				t.Errorf("the run took %v, want about %v", d, DefaultMaxStrikes*timeout)
			}
			for _, r := range rep.Checks {
				if r.Status != spec.Error {
					t.Errorf("%s: %s: %s, want error", r.ID, r.Status, r.Message)
				}
			}
			if rep.Binding != b || rep.Summary.Error != checksAt(spec.Core) || rep.Verdict != spec.VerdictFail || rep.Stopped == "" || rep.Claim[0].Claimable {
				t.Errorf("binding %q, summary %+v, verdict %s, stopped %q, claim %+v", rep.Binding, rep.Summary, rep.Verdict, rep.Stopped, rep.Claim)
			}
		})
	}
}

// TestRunDeadline caps a run against a slow target: the check running at
// the deadline and every later one end error, and the report comes back.
func TestRunDeadline(t *testing.T) {
	start := time.Now()
	rep := runFake(t, &fakeoip.Server{Fault: fakeoip.FaultHangInfer}, Options{RequestTimeout: 5 * time.Second, Deadline: 700 * time.Millisecond})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the run took %v, want about the 700ms deadline", d)
	}
	if !strings.Contains(rep.Stopped, "deadline of 700ms passed") || rep.Deadline == nil || rep.Deadline.Value != 700 {
		t.Errorf("stopped %q, deadline %+v", rep.Stopped, rep.Deadline)
	}
	if r := result(t, rep, "numerics/golden"); r.Status != spec.Error || !strings.Contains(r.Message, "deadline of 700ms passed; not run") {
		t.Errorf("golden: %s: %s", r.Status, r.Message)
	}
	if r := result(t, rep, "api/health-live"); r.Status != spec.Pass {
		t.Errorf("health-live: %s: %s", r.Status, r.Message)
	}
	if _, err := Run(context.Background(), Options{Target: "http://127.0.0.1:1", Profile: fakeProfile(t), Goldens: fakeoip.Goldens(t, 1), Deadline: -time.Second}); !errors.Is(err, ErrConfig) {
		t.Errorf("a negative deadline: %v", err)
	}
}

func TestRunHugeBodyExcerpt(t *testing.T) {
	rep := runFake(t, &fakeoip.Server{Fault: fakeoip.FaultHugeInfer}, Options{})
	ex := result(t, rep, "api/infer-schema").Evidence.Exchanges[0]
	if !ex.BodyOverLimit || ex.ResponseBytes.Value != DefaultMaxBodyBytes || ex.ResponseBytes.Unit != UnitByte {
		t.Errorf("exchange %+v", ex)
	}
	if len(ex.ResponseExcerpt) > ExcerptLimit || !strings.HasSuffix(ex.ResponseExcerpt, "[cut off at the 16777216-byte limit]") {
		t.Errorf("excerpt of %d bytes: %q", len(ex.ResponseExcerpt), ex.ResponseExcerpt[len(ex.ResponseExcerpt)-40:])
	}
}

func TestRunBearerAuth(t *testing.T) {
	const token = "s3cret-token-value"
	p, err := ParseProfile("auth.yaml", []byte(strings.Replace(fakeProfileYAML, "scheme: none", "scheme: bearer\n  tokenEnv: FAKE_TOKEN", 1)))
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "FAKE_TOKEN" {
			return token
		}
		return ""
	}
	rep := runFake(t, &fakeoip.Server{Token: token, Fault: fakeoip.FaultEchoAuthInErrors}, Options{Profile: p, Getenv: getenv})
	for _, r := range rep.Checks {
		if _, ok := baseline[r.ID]; !ok && r.Status != spec.Pass {
			t.Errorf("%s: %s: %s", r.ID, r.Status, r.Message)
		}
	}
	b, _ := json.Marshal(rep)
	if strings.Contains(string(b), token) {
		t.Errorf("the report holds the token")
	}
	if !strings.Contains(string(b), "Bearer [redacted]") {
		t.Errorf("the echoed token is not shown redacted")
	}

	// Without the variable the run cannot happen.
	srv := httptest.NewServer((&fakeoip.Server{Token: token}).Handler())
	defer srv.Close()
	_, err = Run(context.Background(), Options{Target: srv.URL, Profile: p, Goldens: fakeoip.Goldens(t, 1), Getenv: func(string) string { return "" }})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "/auth/tokenEnv") || !strings.Contains(err.Error(), "FAKE_TOKEN") {
		t.Errorf("err = %v", err)
	}
}

func TestRunUnreachable(t *testing.T) {
	addr := testnet.ClosedAddr(t)
	_, err := Run(context.Background(), Options{Target: "http://" + addr, Profile: fakeProfile(t), Goldens: fakeoip.Goldens(t, 1)})
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrConfig) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("err %q does not name the target", err)
	}
}

func TestRunConfigErrors(t *testing.T) {
	srv := httptest.NewServer((&fakeoip.Server{}).Handler())
	defer srv.Close()
	good := fakeoip.Goldens(t, 2)
	tampered := fakeoip.Goldens(t, 2)
	tampered["seed-cnn/fp32/case-001.safetensors"].Data[100] ^= 1
	noSet := fakeoip.Goldens(t, 1)
	noSet["manifest.json"].Data = []byte(strings.ReplaceAll(string(noSet["manifest.json"].Data), `"model": "seed-cnn"`, `"model": "seed-rnn"`))
	rnn, err := ParseProfile("rnn.yaml", []byte(strings.Replace(fakeProfileYAML, "reference: seed-cnn", "reference: seed-rnn", 1)))
	if err != nil {
		t.Fatal(err)
	}
	fake := fakeProfile(t)
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"no goldens", Options{Target: srv.URL, Profile: fake}, []string{"/goldens", "built-in goldens but none were provided"}},
		{"tampered golden", Options{Target: srv.URL, Profile: fake, Goldens: tampered}, []string{"case-001.safetensors: sha256 is"}},
		{"a set whose cases do not fit its model", Options{Target: srv.URL, Profile: fake, Goldens: noSet}, []string{"manifest.json: /sets/0/cases/0", `input "input": shape [1 1 28 28] does not fit the contract's [-1 -1 10]`}},
		{"no golden set for the model", Options{Target: srv.URL, Goldens: good, Profile: rnn}, []string{"/models/0", "no golden cases for reference seed-rnn/fp32"}},
		{"bad target scheme", Options{Target: "ftp://example.com", Profile: fake, Goldens: good}, []string{"scheme must be http or https"}},
		{"credentials in target", Options{Target: "http://user:pw@example.com", Profile: fake, Goldens: good}, []string{"credentials do not belong in the URL"}},
		{"go profile breaks the schema", Options{Target: srv.URL, Goldens: good, Profile: &Profile{Kind: "profile", SpecVersion: "v1", Name: "x", Levels: []spec.Level{"core"}}}, []string{"/models"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.opts)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestRunInterrupted(t *testing.T) {
	srv := httptest.NewServer((&fakeoip.Server{}).Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, Options{Target: srv.URL, Profile: fakeProfile(t), Goldens: fakeoip.Goldens(t, 1)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestRunTargetPrefix checks that a base URL with a path prefix is kept.
func TestRunTargetPrefix(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/prefix/", http.StripPrefix("/prefix", (&fakeoip.Server{}).Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	rep, err := Run(context.Background(), Options{Target: srv.URL + "/prefix/", Profile: fakeProfile(t), Goldens: fakeoip.Goldens(t, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Conformant() || rep.Target != srv.URL+"/prefix" {
		t.Errorf("verdict %s, target %s", rep.Verdict, rep.Target)
	}
}

// TestRunProgress: Options.Progress hears every check start and finish, in
// order, with the results the report holds (a run that gives up on its
// target may still turn a failure into an error).
func TestRunProgress(t *testing.T) {
	tests := []struct {
		name    string
		fake    *fakeoip.Server
		timeout time.Duration
		stops   bool
	}{
		{"conformant", &fakeoip.Server{}, 0, false},
		{"a target that stops answering", &fakeoip.Server{Fault: fakeoip.FaultHangInfer}, 100 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var events []ProgressEvent
			rep := runFake(t, tt.fake, Options{RequestTimeout: tt.timeout, Progress: func(ev ProgressEvent) { events = append(events, ev) }})
			if (rep.Stopped != "") != tt.stops {
				t.Errorf("report.stopped %q", rep.Stopped)
			}
			if len(events) != 2*len(rep.Checks) {
				t.Fatalf("%d events for %d checks, want two per check", len(events), len(rep.Checks))
			}
			for i, r := range rep.Checks {
				start, end := events[2*i], events[2*i+1]
				if start.Index != i+1 || start.Total != len(rep.Checks) || start.ID != r.ID || start.Result != nil {
					t.Errorf("start event %d: %+v, want index %d of %d, %s, no result", i, start, i+1, len(rep.Checks), r.ID)
				}
				if end.Index != i+1 || end.Total != len(rep.Checks) || end.ID != r.ID || end.Result == nil {
					t.Fatalf("finish event %d: %+v, want index %d of %d, %s, a result", i, end, i+1, len(rep.Checks), r.ID)
				}
				got := *end.Result
				if got.Status == spec.Fail && r.Status == spec.Error && rep.Stopped != "" {
					got.Status, got.Message = r.Status, r.Message
				}
				if got.ID != r.ID || got.Status != r.Status || got.Message != r.Message {
					t.Errorf("finish event %d: %s %s %q, the report has %s %s %q", i, got.ID, got.Status, got.Message, r.ID, r.Status, r.Message)
				}
			}
		})
	}
}
