package serve

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestInferOK(t *testing.T) {
	h, _ := newTestServer(t)
	tests := []struct {
		name, path, body, want string
	}{
		{
			name: "flat data, all outputs, id echoed",
			path: "/v2/models/echo-sum/infer",
			body: `{"id":"req-7","inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[1,2,3,4,5,6,7,8.5]}]}`,
			want: `{"model_name":"echo-sum","model_version":"fp32","id":"req-7","outputs":[
				{"name":"sum","shape":[2,1],"datatype":"FP32","data":[10,26.5]},
				{"name":"echo","shape":[2,4],"datatype":"FP32","data":[1,2,3,4,5,6,7,8.5]}]}`,
		},
		{
			name: "nested data, versioned path",
			path: "/v2/models/echo-sum/versions/fp32/infer",
			body: `{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[[1,2,3,4],[5,6,7,8]]}]}`,
			want: `{"model_name":"echo-sum","model_version":"fp32","outputs":[
				{"name":"sum","shape":[2,1],"datatype":"FP32","data":[10,26]},
				{"name":"echo","shape":[2,4],"datatype":"FP32","data":[1,2,3,4,5,6,7,8]}]}`,
		},
		{
			name: "fp64 version, exact float64",
			path: "/v2/models/echo-sum/versions/fp64/infer",
			body: `{"id":"","inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[0.1,0.2,0,0]}]}`,
			want: `{"model_name":"echo-sum","model_version":"fp64","outputs":[
				{"name":"sum","shape":[1,1],"datatype":"FP64","data":[0.30000000000000004]},
				{"name":"echo","shape":[1,4],"datatype":"FP64","data":[0.1,0.2,0,0]}]}`,
		},
		{
			name: "output selection in request order",
			path: "/v2/models/echo-sum/infer",
			body: `{"id":"sel","inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,1,1,1]}],"outputs":[{"name":"echo"},{"name":"sum","parameters":{"binary_data":false}}]}`,
			want: `{"model_name":"echo-sum","model_version":"fp32","id":"sel","outputs":[
				{"name":"echo","shape":[1,4],"datatype":"FP32","data":[1,1,1,1]},
				{"name":"sum","shape":[1,1],"datatype":"FP32","data":[4]}]}`,
		},
		{
			name: "one output selected",
			path: "/v2/models/echo-sum/infer",
			body: `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,1,1,1]}],"outputs":[{"name":"sum"}]}`,
			want: `{"model_name":"echo-sum","model_version":"fp32","outputs":[{"name":"sum","shape":[1,1],"datatype":"FP32","data":[4]}]}`,
		},
		{
			name: "optional input given, inputs in any order, unknown fields and parameters allowed",
			path: "/v2/models/echo-sum/infer",
			body: `{"parameters":{"priority":1},"x-vendor":true,"inputs":[
				{"name":"offset","shape":[1,1],"datatype":"FP32","data":[[100]]},
				{"name":"x","shape":[1,4],"datatype":"FP32","parameters":{"content_type":"np"},"data":[1,2,3,4]}],"outputs":[{"name":"sum"}]}`,
			want: `{"model_name":"echo-sum","model_version":"fp32","outputs":[{"name":"sum","shape":[1,1],"datatype":"FP32","data":[110]}]}`,
		},
		{
			name: "FP32 values round-trip exactly",
			path: "/v2/models/echo-sum/infer",
			body: `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[0.1,1e-30,3.4e38,-2.5]}],"outputs":[{"name":"echo"}]}`,
			want: `{"model_name":"echo-sum","model_version":"fp32","outputs":[{"name":"echo","shape":[1,4],"datatype":"FP32","data":[0.1,1e-30,3.4e38,-2.5]}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, h, http.MethodPost, tt.path, tt.body, map[string]string{"Content-Type": "application/json"})
			if r.status != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", r.status, r.body)
			}
			if diff := cmp.Diff(mustJSON(t, tt.want), checkJSON(t, r)); diff != "" {
				t.Errorf("response mismatch (-want +got):\n%s", diff)
			}
			checkSchema(t, "oip-infer-request", []byte(tt.body))
			checkSchema(t, "oip-infer-response", r.body)
		})
	}
}

func TestInferBadRequests(t *testing.T) {
	h, _ := newTestServer(t)
	x := func(shape, datatype, data string) string {
		return fmt.Sprintf(`{"inputs":[{"name":"x","shape":%s,"datatype":%q,"data":%s}]}`, shape, datatype, data)
	}
	ok4 := `{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}`
	tests := []struct {
		name     string
		path     string
		body     string
		header   map[string]string
		contains []string
	}{
		{name: "empty body", body: "", contains: []string{"empty"}},
		{name: "malformed JSON", body: `{"inputs":[`, contains: []string{"JSON"}},
		{name: "syntax error", body: `{"inputs":[}`, contains: []string{"not valid JSON", "offset"}},
		{name: "trailing data", body: `{"inputs":[` + ok4 + `]} {}`, contains: []string{"after the JSON object"}},
		{name: "not an object", body: `[1,2]`, contains: []string{"the top level is a JSON array, want an object"}},
		{name: "id is a number", body: `{"id":42,"inputs":[` + ok4 + `]}`, contains: []string{"field id", "want a string"}},
		{name: "shape is a string", body: x(`"1,4"`, "FP32", "[1,2,3,4]"), contains: []string{"shape", "want an array"}},
		{name: "missing inputs", body: `{"id":"a"}`, contains: []string{"/inputs is required"}},
		{name: "null inputs", body: `{"inputs":null}`, contains: []string{"/inputs is required"}},
		{name: "empty inputs", body: `{"inputs":[]}`, contains: []string{`input "x"`, "missing"}},
		{name: "unnamed input", body: `{"inputs":[{"shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, contains: []string{"/inputs/0", "name"}},
		{name: "unknown input", body: `{"inputs":[` + ok4 + `,{"name":"y","shape":[1],"datatype":"FP32","data":[1]}]}`, contains: []string{`input "y"`, "no such input", "x, offset"}},
		{name: "duplicate input", body: `{"inputs":[` + ok4 + `,` + ok4 + `]}`, contains: []string{`input "x"`, "more than once"}},
		{name: "missing required input", body: `{"inputs":[{"name":"offset","shape":[1,1],"datatype":"FP32","data":[1]}]}`, contains: []string{`input "x"`, "required"}},
		{name: "wrong datatype", body: x("[1,4]", "INT64", "[1,2,3,4]"), contains: []string{`input "x"`, "INT64", "expects FP32"}},
		{name: "datatype of the other version", path: "/v2/models/echo-sum/versions/fp64/infer", body: x("[1,4]", "FP32", "[1,2,3,4]"), contains: []string{"FP32", "expects FP64"}},
		{name: "not a protocol datatype", body: x("[1,4]", "FLOAT", "[1,2,3,4]"), contains: []string{`"FLOAT"`, "not a protocol datatype"}},
		{name: "missing datatype", body: `{"inputs":[{"name":"x","shape":[1,4],"data":[1,2,3,4]}]}`, contains: []string{"datatype is missing"}},
		{name: "missing shape", body: `{"inputs":[{"name":"x","datatype":"FP32","data":[1,2,3,4]}]}`, contains: []string{"shape is missing", "[-1,4]"}},
		{name: "wrong rank", body: x("[4]", "FP32", "[1,2,3,4]"), contains: []string{"rank 1", "rank 2", "[-1,4]"}},
		{name: "wrong fixed dimension", body: x("[2,2]", "FP32", "[1,2,3,4]"), contains: []string{"dimension 1 is 2", "expects 4"}},
		{name: "negative dimension", body: x("[-1,4]", "FP32", "[1,2,3,4]"), contains: []string{"dimension 0 is -1", "want > 0"}},
		{name: "empty batch", body: x("[0,4]", "FP32", "[]"), contains: []string{"dimension 0 is 0"}},
		{name: "too few elements", body: x("[2,4]", "FP32", "[1,2,3,4]"), contains: []string{"needs 8 elements", "has 4"}},
		{name: "too many elements", body: x("[1,4]", "FP32", "[1,2,3,4,5]"), contains: []string{"needs 4 elements", "has 5"}},
		{name: "nested shape mismatch", body: x("[2,4]", "FP32", "[[1,2,3,4],[5,6,7]]"), contains: []string{`input "x"`, "3 entries"}},
		{name: "non-numeric element", body: x("[1,4]", "FP32", `[1,"two",3,4]`), contains: []string{"data[1]", "a string"}},
		{name: "null element", body: x("[1,4]", "FP32", `[1,null,3,4]`), contains: []string{"data[1]", "null"}},
		{name: "data not an array", body: x("[1,4]", "FP32", `{"a":1}`), contains: []string{"must be an array"}},
		{name: "data missing", body: `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32"}]}`, contains: []string{"data is missing"}},
		{name: "FP32 overflow", body: x("[1,4]", "FP32", `[1,2,3,1e39]`), contains: []string{"data[3]", "FP32"}},
		{name: "unknown requested output", body: `{"inputs":[` + ok4 + `],"outputs":[{"name":"sum"},{"name":"mean"}]}`, contains: []string{`output "mean"`, "sum, echo"}},
		{name: "duplicate requested output", body: `{"inputs":[` + ok4 + `],"outputs":[{"name":"sum"},{"name":"sum"}]}`, contains: []string{`output "sum"`, "more than once"}},
		{name: "unnamed requested output", body: `{"inputs":[` + ok4 + `],"outputs":[{}]}`, contains: []string{"/outputs/0"}},
		{name: "NaN token in data", body: x("[1,4]", "FP32", "[1,NaN,3,4]"), contains: []string{"not valid JSON", "'N'"}},
		{name: "Infinity token in data", body: x("[1,4]", "FP32", "[1,2,Infinity,4]"), contains: []string{"not valid JSON", "'I'"}},
		{name: "negative Infinity token in data", body: x("[1,4]", "FP32", "[1,2,-Infinity,4]"), contains: []string{"not valid JSON"}},
		{name: "FP64 overflow", path: "/v2/models/echo-sum/versions/fp64/infer", body: x("[1,4]", "FP64", "[1,2,3,1e309]"), contains: []string{`input "x"`, "data[3]", "1e309", "FP64"}},
		{name: "trailing garbage", body: `{"inputs":[` + ok4 + `]}garbage`, contains: []string{"after the JSON object", "Inference-Header-Content-Length"}},
		{name: "trailing second object", body: `{"inputs":[` + ok4 + `]}` + "\n" + `{"inputs":[` + ok4 + `]}`, contains: []string{"after the JSON object"}},
		{name: "binary_data_output not a boolean", body: `{"parameters":{"binary_data_output":"yes"},"inputs":[` + ok4 + `]}`, contains: []string{"request parameters", "binary_data_output", "a string", "want a boolean"}},
		{name: "binary_data not a boolean", body: `{"inputs":[` + ok4 + `],"outputs":[{"name":"sum","parameters":{"binary_data":1}}]}`, contains: []string{`output "sum"`, "binary_data", "the number 1"}},
		{name: "classification requested", body: `{"inputs":[` + ok4 + `],"outputs":[{"name":"sum","parameters":{"classification":2}}]}`, contains: []string{`output "sum"`, "classification", "binary_tensor_data"}},
		{name: "model rejects the values", path: "/v2/models/picky/infer", body: `{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[-1,2]}]}`, contains: []string{`"picky"`, "x[0] must be ≥ 0"}},
		{name: "optional input with another batch", body: `{"inputs":[` + ok4 + `,{"name":"offset","shape":[2,1],"datatype":"FP32","data":[1,2]}]}`, contains: []string{"offset has batch 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = "/v2/models/echo-sum/infer"
			}
			r := do(t, h, http.MethodPost, path, tt.body, tt.header)
			checkError(t, r, http.StatusBadRequest, tt.contains...)
		})
	}
}

func TestInferServerFaults(t *testing.T) {
	h, logs := newTestServer(t)
	body := `{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}]}`
	for _, model := range []string{"panicker", "nan", "failer", "forgetful", "misshapen", "wrongtype"} {
		t.Run(model, func(t *testing.T) {
			r := do(t, h, http.MethodPost, "/v2/models/"+model+"/infer", body, nil)
			if msg := checkError(t, r, http.StatusInternalServerError); msg != "internal server error" {
				t.Errorf("error = %q, want the generic message", msg)
			}
			if !strings.Contains(logs.String(), model) {
				t.Errorf("the log does not record the fault of %s:\n%s", model, logs.String())
			}
		})
	}
	if !strings.Contains(logs.String(), "boom at "+secretPath) || !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("the panic and its stack are not logged:\n%s", logs.String())
	}
}

// TestSurvivesPanic runs a real HTTP server: after a model panics, the same
// server still answers health and inference.
func TestSurvivesPanic(t *testing.T) {
	h, _ := newTestServer(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for i := 0; i < 3; i++ {
		if code, b := post("/v2/models/panicker/infer", `{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}]}`); code != 500 || strings.Contains(b, "boom") {
			t.Fatalf("panicking model: %d %s, want 500 without the panic value", code, b)
		}
	}
	resp, err := http.Get(srv.URL + "/v2/health/live")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("live after panics: %v %v", resp, err)
	}
	resp.Body.Close()
	if code, b := post("/v2/models/echo-sum/infer", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`); code != 200 || !strings.Contains(b, `"data":[10]`) {
		t.Fatalf("infer after panics: %d %s", code, b)
	}
}

func TestBodyLimit(t *testing.T) {
	const limit = 200
	h, _ := newTestServer(t, WithMaxBodyBytes(limit))
	small := `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`
	big := `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],"pad":"` + strings.Repeat("a", limit) + `"}`
	if r := do(t, h, "POST", "/v2/models/echo-sum/infer", small, nil); r.status != 200 {
		t.Fatalf("small body: %d %s", r.status, r.body)
	}
	// With a Content-Length the server refuses before reading.
	checkError(t, do(t, h, "POST", "/v2/models/echo-sum/infer", big, nil), http.StatusRequestEntityTooLarge, "200 bytes")
	// Without one (chunked), the limit cuts the read.
	srv := httptest.NewServer(h)
	defer srv.Close()
	pr, pw := io.Pipe()
	go func() {
		_, _ = io.WriteString(pw, big)
		pw.Close()
	}()
	req, err := http.NewRequest("POST", srv.URL+"/v2/models/echo-sum/infer", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if req.ContentLength != -1 && req.ContentLength != 0 {
		t.Fatalf("test request has Content-Length %d; want it unknown", req.ContentLength)
	}
	checkError(t, response{resp.StatusCode, resp.Header, b}, http.StatusRequestEntityTooLarge, "200 bytes")
}
