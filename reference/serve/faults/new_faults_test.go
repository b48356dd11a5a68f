package faults

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/schemas"
)

// This file shows the misbehaviour of the faults of the protocol's routes
// (health, readiness, metadata, output selection, errors, unknown models,
// binary data) and of golden-only, each next to the plain server's answer
// to the same requests.

// ntModels are echo-sum at fp32 and fp64, and zeta, echo-sum at fp32
// under another id (after echo-sum lexically).
func ntModels() []reference.Model {
	zeta := echoSum("fp32", numerics.FP32)
	zeta.id = "zeta"
	return []reference.Model{echoSum("fp32", numerics.FP32), echoSum("fp64", numerics.FP64), zeta}
}

// ntInfer is an echo-sum request of one row with the given data of x and,
// when not empty, outputs member.
func ntInfer(data, outputs string) []byte {
	s := `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":` + data + `}]`
	if outputs != "" {
		s += `,"outputs":` + outputs
	}
	return []byte(s + "}")
}

// ntOutputs decodes a 200 inference answer and returns its outputs by name
// and their names in the order sent.
func ntOutputs(t *testing.T, a ftAnswer) (oip.InferenceResponse, map[string]numerics.Tensor, []string) {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %.300s", a.status, a.body)
	}
	resp, outs, err := ftDecode(a)
	if err != nil {
		t.Fatalf("%v; body %.300s", err, a.body)
	}
	var names []string
	for _, o := range resp.Outputs {
		names = append(names, o.Name)
	}
	return resp, outs, names
}

// ntSchemaViolations returns the violations of body against the project's
// schema of kind.
func ntSchemaViolations(t testing.TB, kind string, body []byte) []string {
	t.Helper()
	doc, err := schemas.DecodeDocument(kind+".json", body)
	if err != nil {
		t.Fatalf("%s is not JSON: %v", kind, err)
	}
	vs, err := schemas.Validate(kind, "v1", doc)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	return out
}

func TestFaultHealthAndReadiness(t *testing.T) {
	const versioned, unversioned = "/v2/models/echo-sum/versions/fp32/ready", "/v2/models/echo-sum/ready"
	tests := []struct {
		fault string
		path  string
		want  int // the fault's status; the plain server's is plain
		plain int
	}{
		{"not-live", "/v2/health/live", 503, 200},
		{"not-live", "/v2/health/ready", 200, 200},
		{"not-live", versioned, 200, 200},
		{"never-ready", "/v2/health/ready", 503, 200},
		{"never-ready", "/v2/health/live", 200, 200},
		{"never-ready", versioned, 200, 200},
		{"never-ready", unversioned, 200, 200},
		{"model-not-ready", versioned, 503, 200},
		{"model-not-ready", "/v2/models/echo-sum/versions/fp64/ready", 503, 200},
		{"model-not-ready", unversioned, 200, 200},
		{"model-not-ready", "/v2/models/nope/versions/fp32/ready", 404, 404},
		{"model-not-ready", "/v2/models/echo-sum/versions/nope/ready", 404, 404},
		{"model-not-ready", "/v2/health/ready", 200, 200},
	}
	clean := ftHandler(t, ntModels(), nil)
	for _, tc := range tests {
		t.Run(tc.fault+" "+tc.path, func(t *testing.T) {
			h := ftHandler(t, ntModels(), []string{tc.fault})
			a := ftDo(t, h, http.MethodGet, tc.path, nil, nil)
			c := ftDo(t, clean, http.MethodGet, tc.path, nil, nil)
			if a.status != tc.want || c.status != tc.plain {
				t.Fatalf("GET %s: %d, plain server %d; want %d and %d", tc.path, a.status, c.status, tc.want, tc.plain)
			}
			if a.status == http.StatusServiceUnavailable {
				if ct := a.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q, want application/json", ct)
				}
				if vs := ntSchemaViolations(t, "oip-error", a.body); len(vs) > 0 {
					t.Errorf("the 503 body %s is not an error response: %v", a.body, vs)
				}
				return
			}
			if !bytes.Equal(a.body, c.body) {
				t.Errorf("answer changed: %s, plain server %s", a.body, c.body)
			}
		})
	}
	// The rest of the protocol is untouched.
	for _, fault := range []string{"not-live", "never-ready", "model-not-ready"} {
		h := ftHandler(t, ntModels(), []string{fault})
		for _, path := range []string{"/v2", "/v2/models/echo-sum/versions/fp32"} {
			if a, c := ftDo(t, h, http.MethodGet, path, nil, nil), ftDo(t, clean, http.MethodGet, path, nil, nil); a.status != c.status || !bytes.Equal(a.body, c.body) {
				t.Errorf("%s: GET %s changed: %d %s, plain server %d %s", fault, path, a.status, a.body, c.status, c.body)
			}
		}
	}
}

func TestFaultBadServerMetadata(t *testing.T) {
	h := ftHandler(t, ntModels(), []string{"bad-server-metadata"})
	clean := ftHandler(t, ntModels(), nil)
	for _, path := range []string{"/v2", "/v2/"} {
		a, c := ftDo(t, h, http.MethodGet, path, nil, nil), ftDo(t, clean, http.MethodGet, path, nil, nil)
		if a.status != http.StatusOK || c.status != http.StatusOK {
			t.Fatalf("GET %s: %d, plain server %d; want 200", path, a.status, c.status)
		}
		var got, want map[string]any
		if err := json.Unmarshal(a.body, &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(c.body, &want); err != nil {
			t.Fatal(err)
		}
		if _, ok := got["version"]; ok {
			t.Errorf("GET %s: %s still has a version", path, a.body)
		}
		if want["version"] == nil {
			t.Errorf("GET %s: the plain server's %s has no version", path, c.body)
		}
		delete(want, "version")
		if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
			t.Errorf("GET %s: %s, want the plain server's metadata without version %s", path, g, w)
		}
		if vs := ntSchemaViolations(t, "oip-server-metadata", a.body); len(vs) == 0 {
			t.Errorf("GET %s: %s validates against oip-server-metadata", path, a.body)
		}
		if vs := ntSchemaViolations(t, "oip-server-metadata", c.body); len(vs) > 0 {
			t.Errorf("the plain server's metadata breaks the schema: %v", vs)
		}
	}
}

// mustJSON encodes v (map keys sorted).
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFaultFlatDataOnly(t *testing.T) {
	h := ftHandler(t, ntModels(), []string{"flat-data-only"})
	clean := ftHandler(t, ntModels(), nil)
	const path = "/v2/models/echo-sum/infer"
	binHeader := `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}`
	raw, err := oip.EncodeBinary(numerics.NewF32([]int64{1, 4}, []float32{1, 2, 3, 4}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		body   []byte
		header map[string]string
		want   int
	}{
		{"nested", ntInfer("[[1,2,3,4]]", ""), nil, 400},
		{"nested, two rows", []byte(`{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[[1,2,3,4],[5,6,7,8]]}]}`), nil, 400},
		{"flat", ntInfer("[1,2,3,4]", ""), nil, 200},
		{"binary", oip.JoinBody([]byte(binHeader), raw), map[string]string{oip.HeaderInferenceContentLength: strconv.Itoa(len(binHeader))}, 200},
		{"malformed", []byte(`{"inputs": [`), nil, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := ftDo(t, h, http.MethodPost, path, tc.body, tc.header)
			c := ftDo(t, clean, http.MethodPost, path, tc.body, tc.header)
			if a.status != tc.want {
				t.Fatalf("status %d, want %d; body %s", a.status, tc.want, a.body)
			}
			if strings.HasPrefix(tc.name, "nested") {
				if c.status != http.StatusOK {
					t.Errorf("the plain server answered nested data %d %s, want 200", c.status, c.body)
				}
				if string(a.body) != `{"error":"input \"x\": data must be flat"}`+"\n" {
					t.Errorf("body %s, want the error that data must be flat", a.body)
				}
				return
			}
			if a.status != c.status || !bytes.Equal(a.body, c.body) {
				t.Errorf("answer changed: %d %s, plain server %d %s", a.status, a.body, c.status, c.body)
			}
		})
	}
}

func TestFaultOutputSelection(t *testing.T) {
	const path = "/v2/models/echo-sum/infer"
	tests := []struct {
		fault   string
		outputs string
		want    []string // the outputs the fault's answer holds; nil: 400
		plain   []string // the plain server's; nil: 400
	}{
		{"inverted-output-selection", `[{"name":"sum"}]`, []string{"echo"}, []string{"sum"}},
		{"inverted-output-selection", `[{"name":"echo"}]`, []string{"sum"}, []string{"echo"}},
		{"inverted-output-selection", `[{"name":"sum"},{"name":"echo"}]`, []string{"sum", "echo"}, []string{"sum", "echo"}},
		{"inverted-output-selection", "", []string{"sum", "echo"}, []string{"sum", "echo"}},
		{"inverted-output-selection", `[{"name":"nope"}]`, nil, nil},
		{"inverted-output-selection", `[{"name":"sum"},{"name":"nope"}]`, nil, nil},
		{"unknown-output-accepted", `[{"name":"sum"},{"name":"nope"}]`, []string{"sum"}, nil},
		{"unknown-output-accepted", `[{"name":"nope"}]`, []string{"sum", "echo"}, nil},
		{"unknown-output-accepted", `[{"name":"echo"}]`, []string{"echo"}, []string{"echo"}},
		{"unknown-output-accepted", "", []string{"sum", "echo"}, []string{"sum", "echo"}},
	}
	clean := ftHandler(t, ntModels(), nil)
	for _, tc := range tests {
		t.Run(tc.fault+" "+tc.outputs, func(t *testing.T) {
			h := ftHandler(t, ntModels(), []string{tc.fault})
			body := ntInfer("[1,2,3,4]", tc.outputs)
			for _, s := range []struct {
				who  string
				h    http.Handler
				want []string
			}{{tc.fault, h, tc.want}, {"the plain server", clean, tc.plain}} {
				a := ftDo(t, s.h, http.MethodPost, path, body, nil)
				if s.want == nil {
					if a.status != http.StatusBadRequest || !strings.Contains(string(a.body), "nope") {
						t.Errorf("%s: %d %s, want 400 naming the unknown output", s.who, a.status, a.body)
					}
					continue
				}
				_, outs, names := ntOutputs(t, a)
				if !slices.Equal(names, s.want) {
					t.Errorf("%s: outputs %v, want %v", s.who, names, s.want)
				}
				if sum, ok := outs["sum"]; ok && sum.F32[0] != 10 {
					t.Errorf("%s: sum %v, want 10", s.who, sum.F32)
				}
			}
		})
	}
	// The inverted outputs keep the parameters of the output named: binary
	// data stays binary data.
	h := ftHandler(t, ntModels(), []string{"inverted-output-selection"})
	a := ftDo(t, h, http.MethodPost, path, ntInfer("[1,2,3,4]", `[{"name":"sum","parameters":{"binary_data":true}}]`), nil)
	resp, outs, names := ntOutputs(t, a)
	if !slices.Equal(names, []string{"echo"}) || resp.Outputs[0].Data != nil || !slices.Equal(outs["echo"].F32, []float32{1, 2, 3, 4}) {
		t.Errorf("outputs %v, data %s, values %v; want echo as binary data [1 2 3 4]", names, resp.Outputs[0].Data, outs["echo"].F32)
	}
}

func TestFaultUnknownInput500(t *testing.T) {
	h := ftHandler(t, ntModels(), []string{"unknown-input-500"})
	clean := ftHandler(t, ntModels(), nil)
	tests := []struct {
		name, path, body string
		want             int
	}{
		{"unknown input", "/v2/models/echo-sum/infer", `{"inputs":[{"name":"nope","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, 500},
		{"unknown input beside x", "/v2/models/echo-sum/versions/fp64/infer", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[1,2,3,4]},{"name":"y","shape":[1],"datatype":"FP64","data":[1]}]}`, 500},
		{"wrong shape", "/v2/models/echo-sum/infer", `{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}`, 400},
		{"unknown model", "/v2/models/nope/infer", `{"inputs":[{"name":"nope","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, 404},
		{"valid", "/v2/models/echo-sum/infer", string(ntInfer("[1,2,3,4]", "")), 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := ftDo(t, h, http.MethodPost, tc.path, []byte(tc.body), nil)
			c := ftDo(t, clean, http.MethodPost, tc.path, []byte(tc.body), nil)
			if a.status != tc.want {
				t.Fatalf("status %d, want %d; body %s", a.status, tc.want, a.body)
			}
			if tc.want == 500 {
				if c.status != http.StatusBadRequest {
					t.Errorf("the plain server answered %d %s, want 400", c.status, c.body)
				}
				if string(a.body) != `{"error":"internal server error"}`+"\n" {
					t.Errorf("body %s, want the server's generic error", a.body)
				}
				return
			}
			if a.status != c.status || !bytes.Equal(a.body, c.body) {
				t.Errorf("answer changed: %d %s, plain server %d %s", a.status, a.body, c.status, c.body)
			}
		})
	}
}

func TestFaultUnknownModelDefault(t *testing.T) {
	h := ftHandler(t, ntModels(), []string{"unknown-model-default"})
	clean := ftHandler(t, ntModels(), nil)
	infer := ntInfer("[1,2,3,4]", "")
	tests := []struct {
		method, path string
		// name and version that serve the request under the fault ("" for
		// a version: the answer names none); "" name: answered as the
		// plain server answers.
		name, version string
	}{
		{http.MethodGet, "/v2/models/nope", "echo-sum", ""},
		{http.MethodGet, "/v2/models/nope/versions/fp64", "echo-sum", ""},
		{http.MethodGet, "/v2/models/nope/ready", "echo-sum", ""},
		{http.MethodGet, "/v2/models/nope/versions/fp64/ready", "echo-sum", ""},
		{http.MethodPost, "/v2/models/nope/infer", "echo-sum", "fp32"},
		{http.MethodPost, "/v2/models/nope/versions/fp64/infer", "echo-sum", "fp32"},
		{http.MethodPost, "/v2/models/zeta/versions/nope/infer", "zeta", "fp32"},
		{http.MethodGet, "/v2/models/zeta/versions/nope", "zeta", ""},
		{http.MethodPost, "/v2/models/echo-sum/versions/fp64/infer", "", ""},
		{http.MethodGet, "/v2/models/zeta", "", ""},
		{http.MethodGet, "/v2/nope", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			var body []byte
			if tc.method == http.MethodPost {
				body = infer
			}
			a, c := ftDo(t, h, tc.method, tc.path, body, nil), ftDo(t, clean, tc.method, tc.path, body, nil)
			if tc.name == "" {
				if a.status != c.status || !bytes.Equal(a.body, c.body) {
					t.Errorf("answer changed: %d %s, plain server %d %s", a.status, a.body, c.status, c.body)
				}
				return
			}
			if c.status != http.StatusNotFound {
				t.Errorf("the plain server answered %d, want 404", c.status)
			}
			if a.status != http.StatusOK {
				t.Fatalf("status %d, want 200; body %s", a.status, a.body)
			}
			var got struct {
				Name         string `json:"name"`
				ModelName    string `json:"model_name"`
				ModelVersion string `json:"model_version"`
			}
			if err := json.Unmarshal(a.body, &got); err != nil {
				t.Fatal(err)
			}
			name := got.Name
			if tc.method == http.MethodPost {
				name = got.ModelName
			}
			if name != tc.name || got.ModelVersion != tc.version {
				t.Errorf("served by %q version %q, want %q version %q: %s", name, got.ModelVersion, tc.name, tc.version, a.body)
			}
		})
	}
}

func TestFaultBinaryBigEndian(t *testing.T) {
	h := ftHandler(t, ntModels(), []string{"binary-big-endian"})
	clean := ftHandler(t, ntModels(), nil)
	for _, version := range []string{"fp32", "fp64"} {
		path := "/v2/models/echo-sum/versions/" + version + "/infer"
		dt := numerics.FP32
		if version == "fp64" {
			dt = numerics.FP64
		}
		x := numerics.NewF64([]int64{2, 4}, []float64{1.5, -2, 3.25, 1e-3, 5, 6, 7, 8})
		if dt == numerics.FP32 {
			x = numerics.NewF32([]int64{2, 4}, []float32{1.5, -2, 3.25, 1e-3, 5, 6, 7, 8})
		}
		// Binary outputs: each element's bytes reversed.
		body := ftRequest(t, map[string]numerics.Tensor{"x": x}, "", true)
		a, c := ftDo(t, h, http.MethodPost, path, body, nil), ftDo(t, clean, http.MethodPost, path, body, nil)
		_, bin, abin, err := ntBinary(a)
		if err != nil {
			t.Fatal(err)
		}
		_, want, cbin, err := ntBinary(c)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(want["echo"].Float64s(), x.Float64s()) {
			t.Fatalf("%s: the plain server echoed %v, want %v", version, want["echo"].Float64s(), x.Float64s())
		}
		if slices.Equal(bin["echo"].Float64s(), want["echo"].Float64s()) {
			t.Errorf("%s: binary echo %v is the plain server's", version, bin["echo"].Float64s())
		}
		size := dt.Size()
		swapped := slices.Clone(abin)
		for i := 0; i+size <= len(swapped); i += size {
			slices.Reverse(swapped[i : i+size])
		}
		if !bytes.Equal(swapped, cbin) {
			t.Errorf("%s: binary outputs with each element's bytes reversed %x, want the plain server's %x", version, swapped, cbin)
		}
		// JSON outputs, and binary inputs, are unaffected.
		body = ftRequest(t, map[string]numerics.Tensor{"x": x}, "", false)
		if a, c := ftDo(t, h, http.MethodPost, path, body, nil), ftDo(t, clean, http.MethodPost, path, body, nil); !bytes.Equal(a.body, c.body) {
			t.Errorf("%s: JSON answer changed: %s, plain server %s", version, a.body, c.body)
		}
		raw, err := oip.EncodeBinary(x)
		if err != nil {
			t.Fatal(err)
		}
		js := `{"inputs":[{"name":"x","shape":[2,4],"datatype":"` + string(dt) + `","parameters":{"binary_data_size":` + strconv.Itoa(len(raw)) + `}}]}`
		hdr := map[string]string{oip.HeaderInferenceContentLength: strconv.Itoa(len(js))}
		a, c = ftDo(t, h, http.MethodPost, path, oip.JoinBody([]byte(js), raw), hdr), ftDo(t, clean, http.MethodPost, path, oip.JoinBody([]byte(js), raw), hdr)
		if a.status != http.StatusOK || !bytes.Equal(a.body, c.body) {
			t.Errorf("%s: answer to binary inputs changed: %d %s, plain server %s", version, a.status, a.body, c.body)
		}
	}
}

// ntBinary decodes a 200 answer with binary outputs and returns the
// decoded outputs and the binary data after the JSON part.
func ntBinary(a ftAnswer) (oip.InferenceResponse, map[string]numerics.Tensor, []byte, error) {
	resp, outs, err := ftDecode(a)
	if err != nil {
		return resp, nil, nil, err
	}
	_, bin, err := oip.SplitBody(a.body, a.header.Get(oip.HeaderInferenceContentLength))
	if err != nil || len(bin) == 0 {
		return resp, nil, nil, &ftError{"the answer has no binary data"}
	}
	return resp, outs, bin, err
}

func TestFaultGoldenOnly(t *testing.T) {
	models := ftModels(t)
	h := ftHandler(t, models, []string{"golden-only"})
	drift := ftHandler(t, models, []string{"numeric-drift"})
	clean := ftHandler(t, models, nil)
	for _, c := range []struct{ model, version, name string }{
		{"seed-cnn", "fp32", "case-030"}, {"seed-rnn", "fp64", "case-037"}, {"seed-transformer", "fp32", "case-027"},
	} {
		gc := ftCase(t, c.model, c.version, c.name)
		path := "/v2/models/" + c.model + "/versions/" + c.version + "/infer"
		// The published case is computed correctly.
		body := ftRequest(t, gc.Inputs, "", false)
		if a, p := ftDo(t, h, http.MethodPost, path, body, nil), ftDo(t, clean, http.MethodPost, path, body, nil); a.status != http.StatusOK || !bytes.Equal(a.body, p.body) {
			t.Errorf("%s %s %s: the golden case's answer differs from the plain server's", c.model, c.version, c.name)
		}
		// Its second sample alone, one value changed, is not a published
		// case: it gets numeric-drift's answer, which the plain server does
		// not give.
		alone := ftRequest(t, ntChanged(ftSamples(gc.Inputs)[1]), "", false)
		a, d, p := ftDo(t, h, http.MethodPost, path, alone, nil), ftDo(t, drift, http.MethodPost, path, alone, nil), ftDo(t, clean, http.MethodPost, path, alone, nil)
		if a.status != http.StatusOK || !bytes.Equal(a.body, d.body) {
			t.Errorf("%s %s %s sample 1 alone: %d %.200s, want numeric-drift's answer %.200s", c.model, c.version, c.name, a.status, a.body, d.body)
		}
		if bytes.Equal(a.body, p.body) {
			t.Errorf("%s %s %s sample 1 alone: the plain server's answer, want a drifted one", c.model, c.version, c.name)
		}
	}
}

// ntChanged returns inputs with the first value of every input that is not
// attention_mask changed within the input domain: a float moves to 0.5
// (0.25 when it is 0.5), a token id to the next one.
func ntChanged(inputs map[string]numerics.Tensor) map[string]numerics.Tensor {
	out := map[string]numerics.Tensor{}
	for name, x := range inputs {
		x = x.Clone()
		switch {
		case name == "attention_mask":
		case x.DType == numerics.FP32:
			x.F32[0] = float32(ntOther(float64(x.F32[0])))
		case x.DType == numerics.FP64:
			x.F64[0] = ntOther(x.F64[0])
		case x.DType == numerics.INT64:
			x.I64[0] = (x.I64[0] + 1) % 100
		}
		out[name] = x
	}
	return out
}

// ntOther is 0.5, or 0.25 when v is 0.5.
func ntOther(v float64) float64 {
	if v == 0.5 {
		return 0.25
	}
	return 0.5
}
