package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/internal/racedetect"
	"github.com/aiconform/aiconform/internal/testnet"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
	"github.com/aiconform/aiconform/schemas"
	"github.com/aiconform/aiconform/spec"
)

// runCLI runs the CLI with args and returns the exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

// runReferenceServer serves the built-in reference models, through wrap
// when it is not nil.
func runReferenceServer(t *testing.T, wrap func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(referenceHandler(t, wrap))
	t.Cleanup(ts.Close)
	return ts
}

// referenceHandler is the REST handler of the built-in reference models,
// wrapped in wrap when it is not nil.
func referenceHandler(t *testing.T, wrap func(http.Handler) http.Handler) http.Handler {
	t.Helper()
	models, err := reference.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := serve.New(models)
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	return h
}

// runWrongNumbers perturbs element 3 of every "logits" output by +0.5.
func runWrongNumbers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/infer") {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var resp oip.InferenceResponse
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &resp) != nil {
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		for i, o := range resp.Outputs {
			if o.Name != "logits" {
				continue
			}
			tensor, err := oip.DecodeData(o.Datatype, o.Shape, o.Data)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			tensor.F32[3] += 0.5
			if resp.Outputs[i].Data, err = oip.EncodeData(tensor); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(resp)
	})
}

// runHangInfer never answers inference requests.
func runHangInfer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// runSmallProfile writes a profile for seed-cnn@fp32 whose golden set is
// the first n published cases (copied to a temporary directory), so that a
// run against the real reference server stays quick under -race.
func runSmallProfile(t *testing.T, n int) string {
	t.Helper()
	fsys := aiconform.Goldens()
	m, _, err := golden.ReadManifest(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var set *golden.Set
	for i := range m.Sets {
		if m.Sets[i].Model == "seed-cnn" && m.Sets[i].Version == "fp32" {
			set = &m.Sets[i]
			break
		}
	}
	if set == nil || len(set.Cases) < n {
		t.Fatalf("the published goldens have no %d seed-cnn/fp32 cases", n)
	}
	set.Cases = set.Cases[:n]
	m.Sets = []golden.Set{*set}
	for _, c := range set.Cases {
		b, err := fs.ReadFile(fsys, c.File)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "goldens", filepath.FromSlash(c.File))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mb, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "goldens", golden.ManifestFile), mb, 0o644); err != nil {
		t.Fatal(err)
	}
	profile := filepath.Join(dir, "small.yaml")
	doc := "kind: profile\nspecVersion: v1\nname: small\nlevels: [core]\ngoldens: goldens\nmodels:\n  - {name: seed-cnn, version: fp32, reference: seed-cnn, referenceVersion: fp32}\n"
	if err := os.WriteFile(profile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return profile
}

// runReadReport reads and schema-validates DIR/report.json.
func runReadReport(t *testing.T, dir string) conformance.Report {
	t.Helper()
	p := filepath.Join(dir, "report.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := schemas.DecodeDocument(p, b)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := schemas.Validate("report", "v1", doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("report.json breaks the report schema: %s", v)
	}
	var rep conformance.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestRunAgainstReferenceServer(t *testing.T) {
	ts := runReferenceServer(t, nil)
	out := filepath.Join(t.TempDir(), "out")
	profile := runSmallProfile(t, 3)
	code, stdout, stderr := runCLI(t, "run", "--target", ts.URL, "--out", out, "--profile", profile)
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"verdict: CONFORMANT at core", "report: " + filepath.Join(out, "report.json"), "numerics/golden", "NUM-GOLDEN"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	rep := runReadReport(t, out)
	if rep.Verdict != spec.VerdictPass || rep.Target != ts.URL || rep.Tool.Version != version || rep.Profile.Source != profile || rep.Profile.Name != "small" {
		t.Errorf("report %s %s %+v %+v", rep.Verdict, rep.Target, rep.Tool, rep.Profile)
	}
	for _, c := range rep.Checks {
		if c.Status != spec.Pass {
			t.Errorf("%s: %s: %s", c.ID, c.Status, c.Message)
		}
	}
}

func TestRunWrongNumbers(t *testing.T) {
	ts := runReferenceServer(t, runWrongNumbers)
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "--target", ts.URL, "--out", out, "--profile", runSmallProfile(t, 3))
	if code != ExitFail {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// The whole NUM-GOLDEN message: the case, the tensor, the worst
	// element and its index, the error and the tolerance.
	var msg string
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, "fail numerics/golden: ") {
			msg = line
		}
	}
	for _, want := range []string{"seed-cnn@fp32 case ", "output logits", "worst at index [0 3] (flat 3)", "got ", "want ", "abs error 0.5", "class fp32 (rtol 1.0e-04, atol 1.0e-05)", "golden cases failed"} {
		if !strings.Contains(msg, want) {
			t.Errorf("NUM-GOLDEN message %q lacks %q\nstdout:\n%s", msg, want, stdout)
		}
	}
	if !strings.Contains(stdout, "verdict: NOT CONFORMANT at core") {
		t.Errorf("stdout:\n%s", stdout)
	}
	rep := runReadReport(t, out)
	// The wrapper moves one JSON logit of every answer: the goldens, the
	// fresh inputs, batch invariance (a sample alone and in a batch move
	// differently), the top class, and binary against JSON all see it.
	failing := []string{"api/binary-data", "numerics/golden", "numerics/live", "numerics/batch-invariance", "numerics/top1"}
	for _, c := range rep.Checks {
		want := spec.Pass
		if slices.Contains(failing, c.ID) {
			want = spec.Fail
		}
		if c.Status != want {
			t.Errorf("%s: %s, want %s: %s", c.ID, c.Status, want, c.Message)
		}
	}
	if rep.Levels[spec.Core] != spec.VerdictFail || rep.Verdict != spec.VerdictFail {
		t.Errorf("levels %v verdict %s", rep.Levels, rep.Verdict)
	}
}

func TestRunTimeoutFlag(t *testing.T) {
	ts := runReferenceServer(t, runHangInfer)
	out := t.TempDir()
	start := time.Now()
	code, stdout, stderr := runCLI(t, "run", "--target", ts.URL, "--out", out, "--timeout", "150ms")
	if code != ExitFail {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the run took %v", d)
	}
	rep := runReadReport(t, out)
	for _, c := range rep.Checks {
		if c.ID == "api/infer-schema" && (c.Status != spec.Error || !strings.Contains(c.Message, "no complete response within the request timeout (150ms)")) {
			t.Errorf("%s: %s: %s", c.ID, c.Status, c.Message)
		}
	}
	if !strings.Contains(rep.Stopped, "stopped answering") {
		t.Errorf("report.stopped %q", rep.Stopped)
	}
}

// TestRunBlackHole runs against a listener that accepts and never answers,
// over each binding: the run ends after three request timeouts with exit
// 1 and a report.
func TestRunBlackHole(t *testing.T) {
	for _, scheme := range []string{"http", "grpc"} {
		t.Run(scheme, func(t *testing.T) {
			addr := testnet.BlackHole(t)
			out := t.TempDir()
			start := time.Now()
			code, stdout, stderr := runCLI(t, "run", "--target", scheme+"://"+addr, "--out", out, "--timeout", "200ms")
			if code != ExitFail {
				t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("the run took %v", d)
			}
			rep := runReadReport(t, out)
			if rep.Summary.Error != rep.Summary.Total || rep.Stopped == "" {
				t.Errorf("summary %+v, stopped %q", rep.Summary, rep.Stopped)
			}
			for _, want := range []string{"stopped: the target stopped answering", "claim: core not claimable", "verdict: NOT CONFORMANT"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
		})
	}
}

// TestRunSeed: --seed is recorded, and two runs with one seed send the
// same inputs (their NUM-LIVE evidence names the same cases and values).
func TestRunSeed(t *testing.T) {
	ts := runReferenceServer(t, nil)
	profile := runSmallProfile(t, 1)
	var lives [2]string
	for i := range lives {
		out := t.TempDir()
		code, stdout, stderr := runCLI(t, "run", "--target", ts.URL, "--out", out, "--profile", profile, "--seed", "0x2a")
		if code != ExitOK {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		rep := runReadReport(t, out)
		if rep.Seed != "42" || !strings.Contains(stdout, "seed: 42") {
			t.Errorf("seed %q, stdout:\n%s", rep.Seed, stdout)
		}
		for _, c := range rep.Checks {
			if c.ID == "numerics/live" {
				b, _ := json.Marshal(c.Evidence.Cases)
				lives[i] = string(b)
			}
		}
	}
	if lives[0] == "" || lives[0] != lives[1] {
		t.Errorf("two runs with seed 42 compared different cases:\n%s\n%s", lives[0], lives[1])
	}
	code, _, stderr := runCLI(t, "run", "--target", ts.URL, "--deadline", "-1s")
	if code != ExitUsage || !strings.Contains(stderr, "--deadline") {
		t.Errorf("a negative deadline: exit %d, stderr %s", code, stderr)
	}
}

func TestRunUnreachable(t *testing.T) {
	addr := testnet.ClosedAddr(t)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runCLI(t, "run", "--target", "http://"+addr, "--out", out)
	if code != ExitUnreachable {
		t.Fatalf("exit %d, want 3\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "target unreachable") || !strings.Contains(stderr, addr) {
		t.Errorf("stderr:\n%s", stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a report directory was written for an unreachable target: %v", err)
	}
}

func TestRunConfigErrors(t *testing.T) {
	profiles := filepath.Join("..", "..", "testdata", "profiles")
	misspelt := filepath.Join(profiles, "invalid", "misspelt-field.yaml")
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ts := runReferenceServer(t, nil)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"misspelt profile field", []string{"run", "--target", ts.URL, "--profile", misspelt},
			[]string{misspelt + `: /models/0: additional property "refrence" is not allowed`}},
		{"missing profile", []string{"run", "--target", ts.URL, "--profile", filepath.Join(profiles, "nope.yaml")}, []string{"nope.yaml"}},
		{"no target", []string{"run"}, []string{"--target is required"}},
		{"bad target", []string{"run", "--target", "localhost:8000"}, []string{"scheme must be http or https"}},
		{"negative timeout", []string{"run", "--target", ts.URL, "--timeout", "-1s"}, []string{"--timeout is -1s"}},
		{"zero timeout, as in a profile", []string{"run", "--target", ts.URL, "--timeout", "0s"}, []string{"--timeout is 0s, want a positive duration (as a profile's timeouts.request must be)"}},
		{"bad timeout", []string{"run", "--target", ts.URL, "--timeout", "soon"}, []string{"soon"}},
		{"argument", []string{"run", "extra", "--target", ts.URL}, []string{"extra"}},
		{"unwritable out", []string{"run", "--target", ts.URL, "--out", filepath.Join(notDir, "out")}, []string{"cannot write the report"}},
		{"demo argument", []string{"demo", "extra"}, []string{"extra"}},
		{"demo unwritable out", []string{"demo", "--out", filepath.Join(notDir, "out")}, []string{"cannot write the report"}},
		{"demo quiet, unwritable out", []string{"demo", "--quiet", "--out", filepath.Join(notDir, "out")}, []string{"cannot write the report"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestDemo is the walking skeleton end to end: the reference server
// in-process, the built-in profile run over REST and over gRPC at once,
// every core and safety check passing over each (SAFE-MALFORMED-JSON not
// applicable over gRPC) and every performance scenario measured over
// each. Whether the measurements meet the reference card's budgets
// depends on the machine (this test runs beside others, under the race
// detector), so here a performance check may also fail or err, provided
// it measured and said why; .ci/run runs the demo alone and requires it
// conformant at every level.
func TestDemo(t *testing.T) {
	if racedetect.Enabled {
		// About 330 s under the race detector on two cores, against 50 s
		// without it. The race detector still sees the demo's own
		// concurrency in TestDemoGate and TestDemoConcurrentRuns.
		t.Skip("the demo's whole suite is left to runs without the race detector (.ci/run runs this test without it)")
	}
	out := filepath.Join(t.TempDir(), "demo")
	code, stdout, stderr := runCLI(t, "demo", "--out", out)
	if code != ExitOK && code != ExitFail {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"reference server listening on http://127.0.0.1:", "reference server listening on grpc://127.0.0.1:",
		"== REST: http://127.0.0.1:", "== gRPC: grpc://127.0.0.1:", "verdict: ",
		"latency: single-stream seed-cnn@fp32: ", "latency: server seed-rnn@fp32: p99 ", "latency: cache-audit seed-rnn@fp32: p90 ratio repeated/distinct ",
		"report: " + filepath.Join(out, "rest", "report.json"), "report: " + filepath.Join(out, "grpc", "report.json")} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if i, j := strings.Index(stdout, "== REST"), strings.Index(stdout, "== gRPC"); i < 0 || j < i {
		t.Errorf("the REST summary does not come first:\n%s", stdout)
	}
	conformant := true
	for _, b := range []spec.Binding{spec.REST, spec.GRPC} {
		rep := runReadReport(t, filepath.Join(out, string(b)))
		if rep.Binding != b {
			t.Errorf("%s report: binding %q", b, rep.Binding)
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
			if rest, ok := strings.CutPrefix(l, string(b)+" "); ok {
				lines = append(lines, rest)
			}
		}
		checkProgressLines(t, strings.Join(lines, "\n")+"\n", rep)
		requested := 0
		for _, c := range conformance.Checks() {
			if slices.Contains(rep.RequestedLevels, c.Level) {
				requested++
			}
		}
		if len(rep.Checks) != requested {
			t.Errorf("%s: %d checks, want the %d of the requested levels %v", b, len(rep.Checks), requested, rep.RequestedLevels)
		}
		// The demo's server is plain http and grpc without auth: the
		// checks of authentication and TLS do not apply to it, nor does
		// SAFE-MALFORMED-JSON over gRPC.
		notApplicable := []string{"security/auth-required", "security/tls"}
		if b == spec.GRPC {
			notApplicable = append(notApplicable, "safety/malformed-json")
		}
		for _, c := range rep.Checks {
			switch {
			case slices.Contains(notApplicable, c.ID):
				if c.Status != spec.Skip || !strings.HasPrefix(c.Message, spec.NotApplicablePrefix) {
					t.Errorf("%s %s: %s: %s, want a not-applicable skip", b, c.ID, c.Status, c.Message)
				}
			case c.Level == spec.Performance:
				if len(c.Evidence.Performance) == 0 {
					t.Errorf("%s %s: %s: %s, with no scenario measured", b, c.ID, c.Status, c.Message)
				}
				for _, ev := range c.Evidence.Performance {
					if ev.Result == nil || ev.Result.Sent == 0 {
						t.Errorf("%s %s on %s: no timed query in its evidence", b, c.ID, ev.Model)
					}
				}
				if c.Status == spec.Skip {
					t.Errorf("%s %s: skipped: %s", b, c.ID, c.Message)
				} else if c.Status != spec.Pass {
					t.Logf("%s %s: %s on this machine: %s", b, c.ID, c.Status, c.Message)
				}
			case c.Status != spec.Pass:
				t.Errorf("%s %s: %s: %s", b, c.ID, c.Status, c.Message)
			}
		}
		if rep.Levels[spec.Core] != spec.VerdictPass || rep.Levels[spec.Safety] != spec.VerdictPass {
			t.Errorf("%s: levels %v verdict %s", b, rep.Levels, rep.Verdict)
		}
		conformant = conformant && rep.Verdict == spec.VerdictPass
	}
	if (code == ExitOK) != conformant {
		t.Errorf("exit %d, both runs conformant: %v", code, conformant)
	}
}

// TestDemoConcurrentRuns interrupts the demo once each of its two runs,
// going at once against one server, has finished a check (under the race
// detector, which TestDemo is left to runs without): both runs stop, each
// writes its report marked interrupted, the server stops, and the demo
// exits 1.
func TestDemoConcurrentRuns(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	stderr := &interruptAfter{cancel: cancel, wants: []string{"rest [", "grpc ["}}
	code := Main(ctx, []string{"demo", "--out", out, "--seed", "7"}, Streams{In: strings.NewReader(""), Out: &stdout, Err: stderr})
	if !stderr.fired() {
		t.Fatalf("the demo ended (exit %d) before both runs finished a check\nstderr:\n%s", code, stderr.String())
	}
	if code != ExitFail {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitFail, stdout.String(), stderr.String())
	}
	for _, b := range []spec.Binding{spec.REST, spec.GRPC} {
		if !strings.Contains(stdout.String(), "== "+b.Name()+": ") {
			t.Errorf("stdout lacks the %s summary:\n%s", b.Name(), stdout.String())
		}
		rep := runReadReport(t, filepath.Join(out, string(b)))
		if rep.Binding != b || rep.Interrupted == "" {
			t.Errorf("%s report: binding %q, interrupted %q; want %q, interrupted", b, rep.Binding, rep.Interrupted, b)
		}
	}
}

// interruptAfter is a writer that keeps what is written and calls cancel
// once all of wants have appeared in it.
type interruptAfter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	cancel context.CancelFunc
	wants  []string
	done   bool
}

func (w *interruptAfter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if !w.done && !slices.ContainsFunc(w.wants, func(s string) bool { return !strings.Contains(w.buf.String(), s) }) {
		w.done = true
		w.cancel()
	}
	return n, err
}

func (w *interruptAfter) fired() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done
}

func (w *interruptAfter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestDemoGate: a performance check of one run waits for the other run's
// check to end, and no check of the other run starts while it runs;
// checks of other levels run at once.
func TestDemoGate(t *testing.T) {
	g := newDemoGate()
	a, b := g.hold(), g.hold()
	start := func(h *gateHold, id string) { h.event(conformance.ProgressEvent{ID: id}) }
	end := func(h *gateHold, id string) {
		h.event(conformance.ProgressEvent{ID: id, Result: &conformance.Result{ID: id}})
	}

	start(a, "numerics/golden")
	start(b, "api/health-live") // two checks of core at once
	end(b, "api/health-live")
	perf := make(chan struct{})
	go func() {
		start(b, "performance/server")
		close(perf)
	}()
	select {
	case <-perf:
		t.Fatal("a performance check started while the other run's check ran")
	case <-time.After(50 * time.Millisecond):
	}
	end(a, "numerics/golden")
	<-perf
	next := make(chan struct{})
	go func() {
		start(a, "numerics/live")
		close(next)
	}()
	select {
	case <-next:
		t.Fatal("a check started while the other run's performance check ran")
	case <-time.After(50 * time.Millisecond):
	}
	b.release() // the run ends mid-check (interrupted): its hold goes
	<-next
	a.release()
}
