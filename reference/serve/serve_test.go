package serve

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/schemas"
	"github.com/aiconform/aiconform/spec"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a server.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newTestServer returns the handler over testModels and its log.
func newTestServer(t *testing.T, opts ...Option) (http.Handler, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	opts = append([]Option{WithLogger(slog.New(slog.NewJSONHandler(logs, nil))), WithServerVersion("1.2.3")}, opts...)
	s, err := New(testModels(), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s.Handler(), logs
}

// response is what a request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, h http.Handler, method, path, body string, header map[string]string) response {
	t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	var req *http.Request
	if rd != nil {
		req = httptest.NewRequest(method, path, rd)
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{rec.Code, rec.Header(), rec.Body.Bytes()}
}

// checkJSON fails unless r carries a JSON body with the JSON Content-Type,
// and returns the decoded body.
func checkJSON(t *testing.T, r response) any {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.body)
	}
	return v
}

// checkError fails unless r is an error answer with status whose message
// holds every part of contains and none of the leak markers.
func checkError(t *testing.T, r response, status int, contains ...string) string {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	v := checkJSON(t, r)
	obj, ok := v.(map[string]any)
	if !ok || len(obj) != 1 {
		t.Fatalf("error body = %s, want an object with only \"error\"", r.body)
	}
	checkSchema(t, "oip-error", r.body)
	msg, ok := obj["error"].(string)
	if !ok || msg == "" {
		t.Fatalf("error body = %s, want a non-empty string \"error\"", r.body)
	}
	for _, c := range contains {
		if !strings.Contains(msg, c) {
			t.Errorf("error %q does not mention %q", msg, c)
		}
	}
	for _, leak := range []string{secretPath, "goroutine", ".go:", "boom"} {
		if strings.Contains(msg, leak) {
			t.Errorf("error %q leaks %q", msg, leak)
		}
	}
	return msg
}

// checkSchema fails unless body validates against the schema of kind (v1)
// and against the corresponding schema of the official OpenAPI file: the
// server, the published schemas and the protocol must agree.
func checkSchema(t *testing.T, kind string, body []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decoding %s: %v", kind, err)
	}
	vs, err := schemas.Validate(kind, "v1", doc)
	if err != nil {
		t.Fatalf("validating %s: %v", kind, err)
	}
	for _, v := range vs {
		t.Errorf("%s schema violation: %s\n%s", kind, v, body)
	}
	checkOpenAPI(t, kind, body)
}

func mustJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad expected JSON %s: %v", s, err)
	}
	return v
}

func TestGetEndpoints(t *testing.T) {
	h, _ := newTestServer(t)
	meta32 := `{"name":"echo-sum","versions":["fp32","fp64"],"platform":"aiconform-gorgonia",
		"inputs":[{"name":"x","datatype":"FP32","shape":[-1,4]},{"name":"offset","datatype":"FP32","shape":[-1,1]}],
		"outputs":[{"name":"sum","datatype":"FP32","shape":[-1,1]},{"name":"echo","datatype":"FP32","shape":[-1,4]}]}`
	meta64 := strings.ReplaceAll(meta32, "FP32", "FP64")
	tests := []struct {
		path   string
		want   string
		schema string // the body's schema kind, if it has one
	}{
		{"/v2/health/live", `{"live":true}`, ""},
		{"/v2/health/ready", `{"ready":true}`, ""},
		{"/v2", `{"name":"aiconform-reference","version":"1.2.3","extensions":["binary_tensor_data"]}`, "oip-server-metadata"},
		{"/v2/", `{"name":"aiconform-reference","version":"1.2.3","extensions":["binary_tensor_data"]}`, "oip-server-metadata"},
		{"/v2/models/echo-sum/ready", `{"name":"echo-sum","ready":true}`, ""},
		{"/v2/models/echo-sum/versions/fp64/ready", `{"name":"echo-sum","ready":true}`, ""},
		{"/v2/models/echo-sum", meta32, "oip-model-metadata"},
		{"/v2/models/echo-sum/versions/fp32", meta32, "oip-model-metadata"},
		{"/v2/models/echo-sum/versions/fp64", meta64, "oip-model-metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := do(t, h, http.MethodGet, tt.path, "", nil)
			if r.status != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", r.status, r.body)
			}
			if diff := cmp.Diff(mustJSON(t, tt.want), checkJSON(t, r)); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
			if tt.schema != "" {
				checkSchema(t, tt.schema, r.body)
			}
		})
	}
}

func TestServerNameOption(t *testing.T) {
	h, _ := newTestServer(t, WithServerName("acme"), WithServerVersion("9"))
	r := do(t, h, http.MethodGet, "/v2", "", nil)
	if diff := cmp.Diff(mustJSON(t, `{"name":"acme","version":"9","extensions":["binary_tensor_data"]}`), checkJSON(t, r)); diff != "" {
		t.Errorf("server metadata mismatch (-want +got):\n%s", diff)
	}
}

func TestRoutingErrors(t *testing.T) {
	h, _ := newTestServer(t)
	tests := []struct {
		name, method, path string
		status             int
		allow              string
		contains           []string
	}{
		{"unknown model ready", "GET", "/v2/models/nope/ready", 404, "", []string{`"nope"`, "echo-sum"}},
		{"unknown version ready", "GET", "/v2/models/echo-sum/versions/fp16/ready", 404, "", []string{`"fp16"`, "fp32, fp64"}},
		{"unknown model metadata", "GET", "/v2/models/nope", 404, "", []string{`"nope"`}},
		{"unknown version metadata", "GET", "/v2/models/echo-sum/versions/int8", 404, "", []string{`"int8"`}},
		{"unknown model infer", "POST", "/v2/models/nope/infer", 404, "", []string{`"nope"`}},
		{"unknown version infer", "POST", "/v2/models/echo-sum/versions/fp16/infer", 404, "", []string{`"fp16"`}},
		{"unknown route", "GET", "/v2/other", 404, "", []string{"/v2/other"}},
		{"outside v2", "GET", "/", 404, "", nil},
		{"empty model name", "GET", "/v2/models/", 404, "", nil},
		{"empty segment", "POST", "/v2/models/echo-sum//infer", 404, "", []string{"empty, . or .. segment"}},
		{"dot segment", "GET", "/v2/./health/live", 404, "", []string{"/v2/./health/live"}},
		{"dot-dot segment", "GET", "/v2/models/x/../echo-sum", 404, "", nil},
		{"no leading slash", "OPTIONS", "*", 404, "", nil},
		{"GET infer", "GET", "/v2/models/echo-sum/infer", 405, "POST", []string{"GET", "POST"}},
		{"GET versioned infer", "GET", "/v2/models/echo-sum/versions/fp32/infer", 405, "POST", []string{"POST"}},
		{"POST live", "POST", "/v2/health/live", 405, "GET, HEAD", []string{"POST"}},
		{"DELETE metadata", "DELETE", "/v2/models/echo-sum", 405, "GET, HEAD", []string{"DELETE"}},
		{"PUT server metadata", "PUT", "/v2", 405, "GET, HEAD", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, h, tt.method, tt.path, "", nil)
			checkError(t, r, tt.status, tt.contains...)
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	good := echoSum("fp32", numerics.FP32)
	withSpec := func(mut func(*fakeModel)) reference.Model {
		m := echoSum("fp32", numerics.FP32)
		m.inputs = append([]spec.Tensor(nil), m.inputs...)
		mut(m)
		return m
	}
	tests := []struct {
		name     string
		models   []reference.Model
		opts     []Option
		contains string
	}{
		{"no models", nil, nil, "no models"},
		{"nil model", []reference.Model{nil}, nil, "nil"},
		{"duplicate", []reference.Model{good, echoSum("fp32", numerics.FP32)}, nil, "twice"},
		{"empty id", []reference.Model{withSpec(func(m *fakeModel) { m.id = "" })}, nil, "id"},
		{"slash in version", []reference.Model{withSpec(func(m *fakeModel) { m.version = "a/b" })}, nil, "version"},
		{"no inputs", []reference.Model{withSpec(func(m *fakeModel) { m.inputs = nil })}, nil, "no inputs"},
		{"unnamed input", []reference.Model{withSpec(func(m *fakeModel) { m.inputs[0].Name = "" })}, nil, "no name"},
		{"duplicate input", []reference.Model{withSpec(func(m *fakeModel) { m.inputs[1].Name = "x" })}, nil, `"x" is declared twice`},
		{"bad dtype", []reference.Model{withSpec(func(m *fakeModel) { m.inputs[0].Datatype = "BF16" })}, nil, "BF16"},
		{"zero dim", []reference.Model{withSpec(func(m *fakeModel) { m.inputs[0].Shape = []int64{-1, 0} })}, nil, "dimension 1 is 0"},
		{"zero body limit", []reference.Model{good}, []Option{WithMaxBodyBytes(0)}, "max body bytes"},
		{"zero timeout", []reference.Model{good}, []Option{WithRequestTimeout(0)}, "request timeout is 0s"},
		{"negative timeout", []reference.Model{good}, []Option{WithRequestTimeout(-time.Second)}, "request timeout"},
		{"zero concurrency", []reference.Model{good}, []Option{WithMaxConcurrent(0)}, "max concurrent inferences is 0"},
		{"empty token", []reference.Model{good}, []Option{WithAuthToken("")}, "token is empty"},
		{"token with a space", []reference.Model{good}, []Option{WithAuthToken("s3cr3t value")}, "space or control character at byte 6"},
		{"token with a newline", []reference.Model{good}, []Option{WithAuthToken("s3cr3t\n")}, "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.models, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.contains)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("New error %q quotes the token", err)
			}
		})
	}
}

func TestDefaultVersion(t *testing.T) {
	tests := []struct {
		name     string
		versions []string
		want     string
	}{
		{"fp32 wins though not first", []string{"fp64", "fp32", "a"}, "fp32"},
		{"lexically first without fp32", []string{"fp64", "bf16"}, "bf16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ms []reference.Model
			for _, v := range tt.versions {
				ms = append(ms, echoSum(v, numerics.FP32))
			}
			s, err := New(ms)
			if err != nil {
				t.Fatal(err)
			}
			if p := PickDefaultVersion(tt.versions); p != tt.want {
				t.Errorf("PickDefaultVersion(%v) = %q, want %q", tt.versions, p, tt.want)
			}
			got, ok := s.DefaultVersionOf("echo-sum")
			if !ok || got != tt.want {
				t.Errorf("DefaultVersionOf = %q, %v; want %q, true", got, ok, tt.want)
			}
			r := do(t, s.Handler(), "POST", "/v2/models/echo-sum/infer", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, nil)
			if r.status != 200 || !strings.Contains(string(r.body), `"model_version":"`+tt.want+`"`) {
				t.Errorf("unversioned infer = %d %s, want model_version %q", r.status, r.body, tt.want)
			}
			if _, ok := s.DefaultVersionOf("nope"); ok {
				t.Error(`DefaultVersionOf("nope") reports a model`)
			}
		})
	}
	if p := PickDefaultVersion(nil); p != "" {
		t.Errorf("PickDefaultVersion(nil) = %q, want none", p)
	}
}

func TestAccessLog(t *testing.T) {
	h, logs := newTestServer(t)
	do(t, h, "GET", "/v2/models/nope", "", nil)
	var entry map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
	}
	if entry["msg"] != "request" || entry["method"] != "GET" || entry["path"] != "/v2/models/nope" ||
		entry["status"] != float64(404) || !positive(entry["bytes"]) || entry["duration"] == nil || entry["remote"] != "192.0.2.1:1234" {
		t.Errorf("access log entry = %v", entry)
	}
}

func positive(v any) bool { f, ok := v.(float64); return ok && f > 0 }
