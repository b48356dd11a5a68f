package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiconform/aiconform/internal/sharedtest"
	"github.com/aiconform/aiconform/internal/tooltest"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/reference"
)

// wireCheckPython is the interpreter of crosscheck/grpc/wire_check.py:
// Debian's, which python3-grpcio and python3-grpc-tools install into (the
// python3 first on PATH may be another).
const wireCheckPython = "/usr/bin/python3"

// wireSummary is what wire_check.py prints.
type wireSummary struct {
	Generated      []string `json:"generated"`
	ServerLive     bool     `json:"server_live"`
	ServerReady    bool     `json:"server_ready"`
	ModelReady     bool     `json:"model_ready"`
	ServerMetadata struct {
		Name       string   `json:"name"`
		Version    string   `json:"version"`
		Extensions []string `json:"extensions"`
	} `json:"server_metadata"`
	ModelMetadata  oip.ModelMetadata `json:"model_metadata"`
	Typed          wireAnswer        `json:"typed"`
	Raw            wireAnswer        `json:"raw"`
	RawEqualsTyped bool              `json:"raw_equals_typed"`
	TopClasses     []int             `json:"top_classes"`
	Errors         map[string]struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// wireAnswer is an inference answer as wire_check.py reports it.
type wireAnswer struct {
	ModelName         string `json:"model_name"`
	ModelVersion      string `json:"model_version"`
	ID                string `json:"id"`
	RawOutputContents int    `json:"raw_output_contents"`
	Outputs           []struct {
		Name             string  `json:"name"`
		Datatype         string  `json:"datatype"`
		Shape            []int64 `json:"shape"`
		HasTypedContents bool    `json:"has_typed_contents"`
		LE               string  `json:"le_b64"`
	} `json:"outputs"`
}

// TestGRPCWireCompatibility talks to the reference server's gRPC binding
// with a client generated, by grpc_tools.protoc in Python, from the
// upstream open_inference_grpc.proto alone (crosscheck/grpc/wire_check.py):
// no code of this project on the client side. Its answers must be those
// of REST for the same inputs, bit for bit, and the golden case's top
// classes; the calls that must fail must fail with the binding's codes.
func TestGRPCWireCompatibility(t *testing.T) {
	proto := sharedtest.File(t, "anchors/open-inference-protocol/open_inference_grpc.proto")
	if _, err := os.Stat(wireCheckPython); err != nil {
		tooltest.Missing(t, wireCheckPython+" is not installed")
	}
	if out, err := exec.Command(wireCheckPython, "-c", "import grpc, grpc_tools.protoc").CombinedOutput(); err != nil {
		tooltest.Missing(t, wireCheckPython+" cannot import grpc and grpc_tools (Debian: python3-grpcio, python3-grpc-tools): "+string(bytes.TrimSpace(out)))
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "crosscheck", "grpc", "wire_check.py"))
	if err != nil {
		t.Fatal(err)
	}

	const token = "wire-check-token-3a9f1c"
	srv, _ := newCNNServer(t, WithAuthToken(token))
	addr := serveGRPC(t, srv, nil).addr
	gc := goldenCase(t, reference.SeedCNNID, "fp32", "case-017") // batch 8 of edge cases
	x := gc.Inputs["input"]
	caseFile := filepath.Join(t.TempDir(), "case.json")
	b, err := json.Marshal(map[string]any{
		"model": reference.SeedCNNID, "version": "fp32", "id": "wire-1",
		"input": map[string]any{"name": "input", "datatype": "FP32", "shape": x.Shape, "raw_b64": base64.StdEncoding.EncodeToString(mustBinary(t, x))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caseFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, wireCheckPython, script, "--proto", proto, "--target", addr, "--case", caseFile, "--token", token)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("wire_check.py: %v\nstderr:\n%s", err, stderr.String())
	}
	var got wireSummary
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("wire_check.py's summary: %v\n%s", err, stdout.String())
	}
	t.Logf("wire_check.py generated %v", got.Generated)

	if !got.ServerLive || !got.ServerReady || !got.ModelReady {
		t.Errorf("live %v, ready %v, model ready %v", got.ServerLive, got.ServerReady, got.ModelReady)
	}
	auth := map[string]string{"Authorization": "Bearer " + token}
	var sm oip.ServerMetadata
	if err := json.Unmarshal(do(t, srv.Handler(), "GET", "/v2", "", auth).body, &sm); err != nil {
		t.Fatal(err)
	}
	if got.ServerMetadata.Name != sm.Name || got.ServerMetadata.Version != sm.Version || !slices.Equal(got.ServerMetadata.Extensions, sm.Extensions) || sm.Name == "" {
		t.Errorf("server metadata over gRPC %+v, over REST %+v", got.ServerMetadata, sm)
	}
	var mm oip.ModelMetadata
	if err := json.Unmarshal(do(t, srv.Handler(), "GET", "/v2/models/seed-cnn/versions/fp32", "", auth).body, &mm); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(mm, got.ModelMetadata); diff != "" || len(mm.Inputs) != 1 {
		t.Errorf("model metadata (-REST +gRPC):\n%s", diff)
	}

	path := "/v2/models/seed-cnn/versions/fp32/infer"
	body, _ := inferRequest(t, gc.Inputs, false)
	_, restJSON := decodeAnswer(t, do(t, srv.Handler(), "POST", path, string(body), map[string]string{"Content-Type": "application/json", "Authorization": auth["Authorization"]}))
	body, hl := inferRequest(t, gc.Inputs, true)
	_, restBinary := decodeAnswer(t, do(t, srv.Handler(), "POST", path, string(body), map[string]string{
		"Content-Type": oip.ContentTypeBinary, oip.HeaderInferenceContentLength: hl, "Authorization": auth["Authorization"]}))
	for _, a := range []struct {
		what   string
		answer wireAnswer
		id     string
		raw    bool
		rest   map[string]numerics.Tensor
	}{
		{"typed contents", got.Typed, "wire-1-typed", false, restJSON},
		{"raw contents", got.Raw, "wire-1-raw", true, restBinary},
	} {
		if a.answer.ModelName != reference.SeedCNNID || a.answer.ModelVersion != "fp32" || a.answer.ID != a.id || len(a.answer.Outputs) != len(a.rest) || len(a.rest) != 2 {
			t.Errorf("%s: answer names %q %q id %q with %d outputs", a.what, a.answer.ModelName, a.answer.ModelVersion, a.answer.ID, len(a.answer.Outputs))
			continue
		}
		if (a.answer.RawOutputContents == len(a.answer.Outputs)) != a.raw {
			t.Errorf("%s: %d raw output contents for %d outputs, want raw %v", a.what, a.answer.RawOutputContents, len(a.answer.Outputs), a.raw)
		}
		for _, o := range a.answer.Outputs {
			want := a.rest[o.Name]
			if o.HasTypedContents == a.raw || o.Datatype != string(want.DType) || !slices.Equal(o.Shape, want.Shape) {
				t.Errorf("%s: output %q is %s %v (typed contents %v), REST's %s %v", a.what, o.Name, o.Datatype, o.Shape, o.HasTypedContents, want.DType, want.Shape)
			}
			if o.LE != base64.StdEncoding.EncodeToString(mustBinary(t, want)) {
				t.Errorf("%s: output %q differs from REST's, bit for bit", a.what, o.Name)
			}
		}
	}
	if !got.RawEqualsTyped {
		t.Error("the raw outputs differ from the typed ones")
	}
	if want := topClasses(gc.Outputs["probabilities"]); !slices.Equal(got.TopClasses, want) || len(want) != 8 {
		t.Errorf("top classes %v, the golden case's %v", got.TopClasses, want)
	}

	wantErrors := map[string]string{
		"unknown_model":   "NOT_FOUND",
		"unknown_version": "NOT_FOUND",
		"bad_shape":       "INVALID_ARGUMENT",
		"bad_raw_size":    "INVALID_ARGUMENT",
		"no_credential":   "UNAUTHENTICATED",
	}
	for name, code := range wantErrors {
		if e, ok := got.Errors[name]; !ok || e.Code != code || e.Message == "" {
			t.Errorf("call %s: %+v (failed: %v), want %s with a message", name, e, ok, code)
		}
	}
	for name := range got.Errors {
		if _, ok := wantErrors[name]; !ok {
			t.Errorf("call %s failed unexpectedly: %+v", name, got.Errors[name])
		}
	}
}
