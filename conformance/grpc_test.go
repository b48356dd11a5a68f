package conformance

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/aiconform/aiconform/internal/fakeoip"
	"github.com/aiconform/aiconform/internal/testnet"
	"github.com/aiconform/aiconform/internal/testpki"
	"github.com/aiconform/aiconform/oip/grpcbind"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
	"github.com/aiconform/aiconform/schemas"
	"github.com/aiconform/aiconform/spec"
)

// grpcTargetOf serves svc, a service of the gRPC binding, on a loopback port
// until the test ends and returns its grpc:// URL.
func grpcTargetOf(t *testing.T, svc pb.GRPCInferenceServiceServer, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	pb.RegisterGRPCInferenceServiceServer(srv, svc)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return "grpc://" + lis.Addr().String()
}

// grpcsTargetOf serves svc over TLS with cfg as it is (grpc-go's own TLS
// credentials would narrow its cipher suites) and returns its grpcs://
// URL.
func grpcsTargetOf(t *testing.T, svc pb.GRPCInferenceServiceServer, cfg *tls.Config) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.Clone()
	cfg.NextProtos = append(cfg.NextProtos, "h2")
	srv := grpc.NewServer()
	pb.RegisterGRPCInferenceServiceServer(srv, svc)
	go srv.Serve(tls.NewListener(lis, cfg))
	t.Cleanup(srv.Stop)
	return "grpcs://" + lis.Addr().String()
}

// runFakeGRPC is runFake over the gRPC binding: the fake's handler served
// through grpcbind's Gateway.
func runFakeGRPC(t *testing.T, f *fakeoip.Server, opts Options) *Report {
	t.Helper()
	return runGRPC(t, grpcbind.NewGateway(f.Handler()), opts)
}

// runGRPC runs the suite against svc with runAt's defaults.
func runGRPC(t *testing.T, svc pb.GRPCInferenceServiceServer, opts Options) *Report {
	t.Helper()
	return runAt(t, grpcTargetOf(t, svc), opts)
}

// TestRunGRPCConformant runs the core level over gRPC against the
// conforming fake: every check passes as over REST, the run and its
// evidence say gRPC (the call, its status and the status it is judged
// as), and the nested-data request of OIP-INFER-SCHEMA, which has no gRPC
// form, is left out and said to be.
func TestRunGRPCConformant(t *testing.T) {
	rep := runFakeGRPC(t, &fakeoip.Server{}, Options{})
	if rep.Binding != spec.GRPC || !strings.HasPrefix(rep.Target, "grpc://127.0.0.1:") {
		t.Errorf("binding %q, target %q; want grpc and the grpc:// target", rep.Binding, rep.Target)
	}
	if n := checksAt(spec.Core); len(rep.Checks) != n {
		t.Errorf("%d results, want %d", len(rep.Checks), n)
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
		for _, ex := range r.Evidence.Exchanges {
			if ex.Method != methodGRPC || !strings.HasPrefix(ex.Path, "/inference.GRPCInferenceService/") {
				t.Errorf("%s: exchange %s %s, want a gRPC call", r.ID, ex.Method, ex.Path)
			}
		}
	}
	if !rep.Conformant() || len(rep.Claim) != 1 || !rep.Claim[0].Claimable {
		t.Errorf("verdict %s, claim %+v; want pass and claimable", rep.Verdict, rep.Claim)
	}
	hl := result(t, rep, "api/health-live")
	if ex := hl.Evidence.Exchanges[0]; ex.Path != "/inference.GRPCInferenceService/ServerLive" || ex.GRPCStatus != "OK" || ex.StatusCode != 200 || !strings.HasPrefix(ex.ContentType, "application/grpc") {
		t.Errorf("health-live exchange %+v", ex)
	}
	if !strings.Contains(hl.Message, "ServerLive answered OK, judged as 200") {
		t.Errorf("health-live message %q", hl.Message)
	}
	is := result(t, rep, "api/infer-schema")
	if !strings.Contains(is.Message, "1 inference responses (a batch of 2 with flat data") ||
		!strings.Contains(is.Message, `seed-cnn@fp32 with nested data (it has no gRPC form: input "input" has nested data, and typed contents are flat`) {
		t.Errorf("infer-schema: %s", is.Message)
	}
	if n := len(is.Evidence.Exchanges); n != 1 {
		t.Errorf("infer-schema made %d exchanges, want the flat request only", n)
	}
	mr := result(t, rep, "api/model-ready")
	var reqs []string
	for _, ex := range mr.Evidence.Exchanges {
		reqs = append(reqs, ex.RequestExcerpt)
	}
	if got := strings.Join(reqs, " "); !strings.Contains(got, `"name":"seed-cnn"`) || !strings.Contains(got, `"version":"fp32"`) {
		t.Errorf("model-ready asked %s; want the model, then the model and its version, in protojson", got)
	}
}

// TestRunGRPCFaults runs the fake's faults over gRPC: each fails exactly
// the checks it fails over REST, and the message names the call, the gRPC
// status and the status it is judged as.
func TestRunGRPCFaults(t *testing.T) {
	tests := []struct {
		fault string
		opts  Options
		want  map[string]wantResult
	}{
		{fault: fakeoip.FaultModelNotReady, want: want1("api/model-ready", spec.Fail,
			"GRPC /inference.GRPCInferenceService/ModelReady for seed-cnn version fp32 answered UNAVAILABLE, judged as 503, want 200")},
		{fault: fakeoip.FaultNoIDEcho, want: want1("api/infer-id-echo", spec.Fail, "is not echoed")},
		{fault: fakeoip.FaultWrongNumbers, want: wantN(
			"numerics/golden", spec.Fail, []string{"output logits", "4 of 4 golden cases failed"},
			"numerics/live", spec.Fail, []string{"output logits"},
			"numerics/batch-invariance", spec.Fail, []string{"7 of 8 samples sent in a batch and alone failed"},
			"numerics/top1", spec.Fail, []string{"the returned top class is 3"})},
		{fault: fakeoip.Fault500BadRequest, want: wantN(
			"api/error-format", spec.Fail, []string{"ModelInfer for seed-cnn version fp32 answered INTERNAL, judged as 500, want 400", noSuchInput},
			"api/output-select", spec.Fail, []string{"answered INTERNAL, judged as 500, want 400", noSuchOutput})},
		{fault: fakeoip.FaultUnknownModel200, want: want1("api/unknown-model", spec.Fail, "ModelMetadata for aiconform-no-such-model-", "answered OK, judged as 200, want 404")},
	}
	for _, tt := range tests {
		t.Run(tt.fault, func(t *testing.T) {
			t.Parallel()
			rep := runFakeGRPC(t, &fakeoip.Server{Fault: tt.fault}, tt.opts)
			expectResults(t, rep, tt.want, baseline)
			if rep.Stopped != "" {
				t.Errorf("the run stopped: %s", rep.Stopped)
			}
		})
	}
}

// answers is a service of the gRPC binding that answers as the fake does
// but for the calls it replaces.
type answers struct {
	*grpcbind.Gateway
	ready func(context.Context) (*pb.ServerReadyResponse, error)
	infer func(context.Context, *pb.ModelInferRequest) (*pb.ModelInferResponse, error)
}

func (a answers) ServerReady(ctx context.Context, req *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	if a.ready != nil {
		return a.ready(ctx)
	}
	return a.Gateway.ServerReady(ctx, req)
}

func (a answers) ModelInfer(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
	if a.infer != nil {
		return a.infer(ctx, req)
	}
	return a.Gateway.ModelInfer(ctx, req)
}

// TestGRPCAnswers holds what the binding makes of answers only gRPC can
// give: OK saying not ready is not the 200 readiness asks for; raw
// contents beside typed ones break the binding; a RESOURCE_EXHAUSTED the
// server sent is its answer (413), not a message over the body limit,
// even when its message reads like grpc-go's; and a status with metadata
// shows it to the checks as headers.
func TestGRPCAnswers(t *testing.T) {
	gw := grpcbind.NewGateway((&fakeoip.Server{}).Handler())
	mixed := func(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
		resp, err := gw.ModelInfer(ctx, req)
		if err != nil {
			return nil, err
		}
		resp.RawOutputContents = [][]byte{make([]byte, 40)}
		return resp, nil
	}
	huge := func(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
		resp, err := gw.ModelInfer(ctx, req)
		if err != nil {
			return nil, err
		}
		resp.Outputs[0].Contents.Fp32Contents = make([]float32, 1<<19)
		return resp, nil
	}
	// A status that reads as grpc-go's own for a message over a limit:
	// the server's, for its limit, after a header of its own, and the
	// server's in a trailers-only answer, however it reads.
	exhausted := func(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
		grpc.SetHeader(ctx, metadata.Pairs("x-why", "too big"))
		return nil, status.Error(codes.ResourceExhausted, "grpc: received message larger than max (5 vs. 4194304)")
	}
	exhaustedAlone := func(ctx context.Context, req *pb.ModelInferRequest) (*pb.ModelInferResponse, error) {
		return nil, status.Error(codes.ResourceExhausted, "grpc: received message larger than max (5 vs. 16777216)")
	}
	tests := []struct {
		name string
		svc  answers
		opts Options
		want map[string]wantResult
	}{
		{"message over the body limit", answers{Gateway: gw, infer: huge}, Options{MaxBodyBytes: 1 << 20}, wantN(
			"api/infer-schema", spec.Fail, []string{"ModelInfer for seed-cnn version fp32 answered with a message over the 1048576-byte limit, want 200"},
			"api/error-format", spec.Pass, []string{},
			"numerics/golden", spec.Fail, []string{"over the 1048576-byte limit"})},
		{"ready false", answers{Gateway: gw, ready: func(context.Context) (*pb.ServerReadyResponse, error) { return &pb.ServerReadyResponse{}, nil }}, Options{RequestTimeout: 1500 * time.Millisecond}, wantN(
			"api/health-ready", spec.Fail, []string{"ServerReady answered OK with ready false, judged as 400, want 200"},
			"api/model-ready", spec.Skip, []string{"not checked"})},
		{"raw beside typed contents", answers{Gateway: gw, infer: mixed}, Options{}, wantN(
			"api/infer-schema", spec.Fail, []string{"the ModelInferResponse breaks the gRPC binding", "raw_output_contents holds 1 entries for 2 outputs"},
			"api/infer-id-echo", spec.Pass, []string{},
			"api/output-select", spec.Fail, []string{"breaks the gRPC binding"})},
		{"server says resource exhausted", answers{Gateway: gw, infer: exhausted}, Options{}, wantN(
			"api/infer-schema", spec.Fail, []string{"answered RESOURCE_EXHAUSTED, judged as 413, want 200"})},
		{"server says resource exhausted, trailers only", answers{Gateway: gw, infer: exhaustedAlone}, Options{}, wantN(
			"api/infer-schema", spec.Fail, []string{"answered RESOURCE_EXHAUSTED, judged as 413, want 200"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := runGRPC(t, tt.svc, tt.opts)
			for id, w := range tt.want {
				r := result(t, rep, id)
				if r.Status != w.status {
					t.Errorf("%s: %s, want %s: %s", id, r.Status, w.status, r.Message)
				}
				for _, m := range w.msg {
					if !strings.Contains(r.Message, m) {
						t.Errorf("%s: message %q lacks %q", id, r.Message, m)
					}
				}
			}
			if tt.name == "message over the body limit" {
				ex := result(t, rep, "api/infer-schema").Evidence.Exchanges[0]
				if !ex.BodyOverLimit || ex.GRPCStatus != "" || ex.Error != "" {
					t.Errorf("exchange %+v, want a message over the limit, its status not read", ex)
				}
			}
			if strings.HasPrefix(tt.name, "server says resource exhausted") {
				ex := result(t, rep, "api/infer-schema").Evidence.Exchanges[0]
				if ex.BodyOverLimit || ex.GRPCStatus != "RESOURCE_EXHAUSTED" || ex.StatusCode != 413 {
					t.Errorf("exchange %+v, want the server's RESOURCE_EXHAUSTED judged as 413", ex)
				}
			}
		})
	}
}

// TestRunGRPCHangingEndpoint: over gRPC as over REST, calls that get no
// answer within the request timeout are strikes, and the run gives up
// after three in bounded time.
func TestRunGRPCHangingEndpoint(t *testing.T) {
	const timeout = 200 * time.Millisecond
	start := time.Now()
	rep := runFakeGRPC(t, &fakeoip.Server{Fault: fakeoip.FaultHangInfer}, Options{RequestTimeout: timeout})
	if d := time.Since(start); d > DefaultMaxStrikes*timeout+5*time.Second {
		t.Errorf("run took %v", d)
	}
	is := result(t, rep, "api/infer-schema")
	if is.Status != spec.Error || !strings.Contains(is.Message, "no complete response within the request timeout (200ms)") {
		t.Errorf("infer-schema: %s: %s", is.Status, is.Message)
	}
	if ex := is.Evidence.Exchanges[0]; ex.StatusCode != 0 || ex.GRPCStatus != "" || ex.Error == "" {
		t.Errorf("exchange %+v, want no status and the error", ex)
	}
	if !strings.Contains(rep.Stopped, "stopped answering") {
		t.Errorf("stopped %q", rep.Stopped)
	}
}

// TestRunGRPCUnreachable: a gRPC target nothing listens on is
// unreachable, as over REST, and says so at once.
func TestRunGRPCUnreachable(t *testing.T) {
	start := time.Now()
	_, err := Run(context.Background(), Options{Target: "grpc://" + testnet.ClosedAddr(t), Profile: fakeProfile(t), Goldens: fakeoip.Goldens(t, 2), Oracle: fakeoip.Oracle{}})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("err %v, want ErrUnreachable with the dial error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestGRPCCredentials: the profile's token travels as authorization
// metadata (the fake refuses calls without it), and none of the run's
// exchanges or messages holds it.
func TestGRPCCredentials(t *testing.T) {
	p := securityProfile(t, true)
	p.Levels = []spec.Level{spec.Core}
	rep := runFakeGRPC(t, &fakeoip.Server{Token: securityToken}, Options{Profile: p, Getenv: securityGetenv})
	if !rep.Conformant() {
		for _, r := range rep.Checks {
			t.Logf("%s %s: %s", r.ID, r.Status, r.Message)
		}
		t.Errorf("verdict %s with the token, want pass", rep.Verdict)
	}
	b, _ := json.Marshal(rep)
	if strings.Contains(string(b), securityToken) {
		t.Error("the report holds the token")
	}
}

// TestSafetyChecksGRPC runs the safety level over gRPC: SAFE-MALFORMED-JSON
// is not applicable (the catalog's reason), the battery's cases that have
// no gRPC form are left out and listed, and the faults that show over
// gRPC fail their checks with the call's status. (The fake's
// dies-after-battery wedges after 20 rejections, which its one model's
// battery does not reach over gRPC without the malformed bodies; the
// reference server's fault matrix runs that fault over gRPC.)
func TestSafetyChecksGRPC(t *testing.T) {
	malformed := wantResult{spec.Skip, []string{"not applicable: SAFE-MALFORMED-JSON has no meaning over gRPC: The gRPC binding carries an inference request as a protobuf message"}}
	tests := []struct {
		fault string
		want  map[string]wantResult
	}{
		{fault: fakeoip.FaultNone, want: wantN(
			"safety/wrong-dtype", spec.Pass, []string{`not sent, having no form in the run's binding`, `"a string in the FP32 data of input"`, `"an unknown datatype name"`},
			"safety/shape-data-mismatch", spec.Pass, []string{`"nested data one level deeper than shape [2 1 28 28]" (it has no gRPC form: input "input" has nested data`},
			"safety/oversize", spec.Pass, []string{"all 2 oversized requests got 400 or 413", `"data nested 100000 arrays deep"`},
		)},
		{fault: fakeoip.Fault500BadRequest, want: wantN(
			"safety/wrong-shape", spec.Fail, []string{`case "rank one lower [1 1 784]"`, "answered INTERNAL, judged as 500, want 400"},
			"safety/wrong-dtype", spec.Fail, []string{`case "FP64 for FP32 input input"`, "fp64Contents", "answered INTERNAL"},
			"safety/shape-data-mismatch", spec.Fail, []string{`case "data one element short (1567 for shape [2 1 28 28])"`, "answered INTERNAL"},
			"safety/missing-input", spec.Fail, []string{`case "without required input input"`, "answered INTERNAL, judged as 500"},
			"safety/nonfinite", spec.Fail, []string{`case "1e39 in the FP32 data of input"`, "answered INTERNAL"},
			"safety/oversize", spec.Fail, []string{`case "shape [2147483648 1 28 28] with one data element"`, "answered INTERNAL"},
		)},
		{fault: fakeoip.FaultLeakyErrors, want: want1("safety/error-hygiene", spec.Fail,
			"whose status message holds a Go goroutine header", `"goroutine 7 [`)},
	}
	for _, tt := range tests {
		name := tt.fault
		if name == "" {
			name = "conforming"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rep := runFakeGRPC(t, &fakeoip.Server{Fault: tt.fault}, Options{Profile: safetyProfile(t), RequestTimeout: 2 * time.Second})
			other := wantN("security/auth-required", spec.Skip, []string{spec.NotApplicablePrefix},
				"security/tls", spec.Skip, []string{"not applicable: target is grpc, not grpcs"})
			other["safety/malformed-json"] = malformed
			expectResults(t, rep, tt.want, other)
			if c := rep.Claim[0]; tt.fault == fakeoip.FaultNone && !c.Claimable {
				t.Errorf("the conforming fake's safety level is not claimable over gRPC: %v", c.Reasons)
			}
		})
	}
}

// TestOversizeMemoryGRPC sends SAFE-OVERSIZE's 256 MiB message to a gRPC
// server with grpc-go's default limit, which answers RESOURCE_EXHAUSTED
// when it reads the message's length: the check passes, and its
// allocations stay well under the message's size (it is never held).
func TestOversizeMemoryGRPC(t *testing.T) {
	models, _, err := loadModels(fakeProfile(t), fakeoip.Goldens(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	target := grpcTargetOf(t, grpcbind.NewGateway((&fakeoip.Server{}).Handler()))
	c := &client{timeout: 30 * time.Second, maxBody: DefaultMaxBodyBytes, now: time.Now, maxStrikes: DefaultMaxStrikes}
	b, err := newBinding(c, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	e := &env{b: b, c: c, models: models, seed: 1, results: map[string]Result{}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res := checkOversize(context.Background(), e)
	runtime.ReadMemStats(&after)
	if res.Status != spec.Pass {
		t.Errorf("oversize %s: %s", res.Status, res.Message)
	}
	ex := res.Evidence.Exchanges[0]
	if ex.GRPCStatus != "RESOURCE_EXHAUSTED" || ex.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(ex.RequestExcerpt, "268435456 bytes in all") {
		t.Errorf("the 256 MiB exchange %+v", ex)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB during the check", alloc>>10)
	if alloc > 32<<20 {
		t.Errorf("the check allocated %d MiB, want well under the %d MiB message", alloc>>20, oversizeBytes>>20)
	}
}

// TestReportSchemaBinding: the report schema takes a gRPC run's report
// and holds its binding, target and exchanges together.
func TestReportSchemaBinding(t *testing.T) {
	rep := runFakeGRPC(t, &fakeoip.Server{Fault: fakeoip.FaultModelNotReady}, Options{})
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	doc := func() map[string]any {
		var d map[string]any
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	exchange := func(d map[string]any) map[string]any {
		for _, c := range d["checks"].([]any) {
			if c.(map[string]any)["id"] == "api/model-ready" {
				return c.(map[string]any)["evidence"].(map[string]any)["exchanges"].([]any)[0].(map[string]any)
			}
		}
		t.Fatal("no api/model-ready")
		return nil
	}
	tests := []struct {
		name    string
		mutate  func(d map[string]any)
		pointer string // "" : valid
	}{
		{"as written", func(map[string]any) {}, ""},
		{"gRPC binding, http target", func(d map[string]any) { d["target"] = "http://127.0.0.1:1" }, "/target"},
		{"grpc target, no binding", func(d map[string]any) { delete(d, "binding") }, ""},
		{"unknown binding", func(d map[string]any) { d["binding"] = "soap" }, "/binding"},
		{"grpcStatus on an HTTP exchange", func(d map[string]any) { exchange(d)["method"] = "GET" }, "/method"},
		{"unknown gRPC status", func(d map[string]any) { exchange(d)["grpcStatus"] = "Unavailable" }, "/grpcStatus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := doc()
			tt.mutate(d)
			vs, err := schemas.Validate(ReportKind, "v1", d)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.name == "as written":
				if len(vs) > 0 {
					t.Errorf("violations %v", vs)
				}
			case !slices.ContainsFunc(vs, func(v schemas.Violation) bool { return strings.HasSuffix(v.Pointer, tt.pointer) }):
				t.Errorf("the schema accepts a report with %s (violations %v; want one at …%s)", tt.name, vs, tt.pointer)
			}
		})
	}
}

// TestSecurityTLSGRPC serves the fake over grpcs and holds SEC-TLS to it
// as over https: the same handshakes, and a target whose certificate does
// not verify gets nothing but them.
func TestSecurityTLSGRPC(t *testing.T) {
	good, err := testpki.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	expired, err := testpki.New(time.Now().Add(-time.Hour), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		pki      *testpki.PKI
		minTLS   uint16
		status   spec.Status
		msg      string
		untrusts bool
	}{
		{name: "good", pki: good, status: spec.Pass, msg: "negotiated TLS 1.3 with TLS_"},
		{name: "TLS 1.0 allowed", pki: good, minTLS: tls.VersionTLS10, status: spec.Fail, msg: "a handshake offering at most TLS 1.1 was accepted with TLS 1.1"},
		{name: "expired", pki: expired, status: spec.Fail, msg: "expired", untrusts: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &tls.Config{Certificates: []tls.Certificate{tt.pki.Certificate}, MinVersion: tls.VersionTLS12}
			if tt.minTLS != 0 {
				cfg.MinVersion = tt.minTLS
			}
			target := grpcsTargetOf(t, grpcbind.NewGateway((&fakeoip.Server{}).Handler()), cfg)
			rep, err := Run(context.Background(), Options{Target: target, Profile: securityProfile(t, false), Goldens: fakeoip.Goldens(t, 1),
				RequestTimeout: 5 * time.Second, Oracle: fakeoip.Oracle{}, RootCAs: tt.pki.Pool})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			validateReport(t, rep)
			r := result(t, rep, tlsCheckID)
			if r.Status != tt.status || !strings.Contains(r.Message, tt.msg) {
				t.Errorf("%s: %s: %s, want %s: …%s…", r.ID, r.Status, r.Message, tt.status, tt.msg)
			}
			for _, c := range rep.Checks {
				switch {
				case c.ID == tlsCheckID:
				case c.ID == "safety/malformed-json":
					// Not applicable over gRPC, whatever the target.
					if c.Status != spec.Skip || !strings.HasPrefix(c.Message, spec.NotApplicablePrefix) {
						t.Errorf("%s: %s: %s, want not applicable", c.ID, c.Status, c.Message)
					}
				case tt.untrusts && (c.Status != spec.Error || !strings.Contains(c.Message, "TLS handshake with the target failed")):
					t.Errorf("%s: %s: %s, want error: the TLS handshake failed", c.ID, c.Status, c.Message)
				case !tt.untrusts && c.Status != spec.Pass && c.Status != spec.Skip:
					t.Errorf("%s: %s: %s", c.ID, c.Status, c.Message)
				}
			}
			if tt.untrusts != (rep.Stopped != "") {
				t.Errorf("stopped %q", rep.Stopped)
			}
		})
	}
}

// lateContext is a context whose deadline has passed but whose timer has
// not fired yet: Err is still nil.
type lateContext struct {
	context.Context
	deadline time.Time
}

func (c lateContext) Deadline() (time.Time, bool) { return c.deadline, true }

// TestPastDeadline: a call whose deadline passed counts as timed out even
// before the context's timer says so (the server's reset of the stream,
// sent when its copy of the deadline passes, can arrive first).
func TestPastDeadline(t *testing.T) {
	bg := context.Background()
	if pastDeadline(bg) {
		t.Error("a context without a deadline is past it")
	}
	if pastDeadline(lateContext{bg, time.Now().Add(time.Hour)}) {
		t.Error("a deadline an hour away has passed")
	}
	if !pastDeadline(lateContext{bg, time.Now().Add(-time.Millisecond)}) {
		t.Error("a deadline a millisecond ago has not passed")
	}
}
