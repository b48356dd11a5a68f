package serve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/internal/fuzzcheck"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/schemas"
)

// fuzzMaxBody caps the request bodies of FuzzHandler: bigger ones are
// answered 413, so that no input makes a model run for long.
const fuzzMaxBody = 64 << 10

// inferRequest returns the JSON request of the inputs of a golden case,
// as flat data or, when binary, as binary data after the JSON object with
// its Inference-Header-Content-Length, asking for every output as binary
// data too.
func inferRequest(t testing.TB, inputs map[string]numerics.Tensor, binary bool) ([]byte, string) {
	t.Helper()
	var req oip.InferenceRequest
	var chunks [][]byte
	for _, name := range golden.SortedNames(inputs) {
		x := inputs[name]
		in := oip.RequestInput{Name: name, Shape: x.Shape, Datatype: string(x.DType)}
		if binary {
			raw, err := oip.EncodeBinary(x)
			if err != nil {
				t.Fatal(err)
			}
			in.Parameters = oip.Parameters{oip.ParamBinaryDataSize: len(raw)}
			chunks = append(chunks, raw)
		} else {
			data, err := oip.EncodeData(x)
			if err != nil {
				t.Fatal(err)
			}
			in.Data = data
		}
		req.Inputs = append(req.Inputs, in)
	}
	if binary {
		req.Parameters = oip.Parameters{oip.ParamBinaryDataOutput: true}
	}
	js, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if !binary {
		return js, ""
	}
	return oip.JoinBody(js, chunks...), strconv.Itoa(len(js))
}

// FuzzHandler sends arbitrary requests (method, request target, body,
// Inference-Header-Content-Length and Content-Type, read as a server reads
// them off the wire) to the reference server over the built-in reference
// models. No request makes it fail: it answers no 5xx (a panic would be a
// 500); every error is a 4xx JSON {"error": message}; every 200 is JSON
// (or binary tensor data after a JSON object), and an inference's 200 is
// a schema-valid inference response whose outputs decode.
func FuzzHandler(f *testing.F) {
	models, err := reference.Builtin()
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(models, WithMaxBodyBytes(fuzzMaxBody))
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	dir, err := golden.Open(aiconform.Goldens(), nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, set := range dir.Sets {
		l := set.Loaded[0]
		path := "/v2/models/" + set.Model + "/versions/" + set.Version + "/infer"
		for _, binary := range []bool{false, true} {
			body, hl := inferRequest(f, l.Inputs, binary)
			if len(body) > fuzzMaxBody {
				continue
			}
			f.Add(http.MethodPost, path, body, hl, "application/json")
		}
	}
	for _, s := range []struct{ method, target, body, hl, ct string }{
		{"GET", "/v2/health/live", "", "", ""},
		{"GET", "/v2", "", "", ""},
		{"GET", "/v2/models/seed-rnn", "", "", ""},
		{"GET", "/v2/models/seed-rnn/versions/fp64/ready", "", "", ""},
		{"PUT", "/v2/models/seed-rnn/infer", "{}", "", ""},
		{"POST", "/v2/models/seed-rnn/infer", `{"inputs":[{"name":"input","shape":[1,1,10],"datatype":"FP32","data":[[[1,2,3,4,5,6,7,8,9,10]]]}],"outputs":[{"name":"logits","parameters":{"binary_data":true}}]}`, "", "application/json"},
		{"POST", "/v2/models/seed-transformer/infer", `{"inputs":[{"name":"input_ids","shape":[1,3],"datatype":"INT64","data":[1,2,3]},{"name":"attention_mask","shape":[1,3],"datatype":"INT64","data":[1,1,0]}]}`, "", "application/json"},
		{"POST", "/v2/models/seed-transformer/infer", `{"inputs":[{"name":"input_ids","shape":[1,3],"datatype":"INT64","data":[1,2,300]}]}`, "", "application/json"},
		{"POST", "/v2/models/seed-rnn/infer", `{"inputs":[{"name":"input","shape":[1,1,10],"datatype":"FP32","parameters":{"binary_data_size":40}}]}`, "", "application/octet-stream"},
		{"POST", "/v2/models/seed-rnn/infer", `{"inputs":[{"name":"input","shape":[2147483647,1,10],"datatype":"FP32","data":[1]}]}`, "", ""},
		{"POST", "/v2/models/seed-rnn/infer", `{"inputs":[{"name":"input","shape":[1,100000,10],"datatype":"FP32","parameters":{"binary_data_size":4000000}}]}`, "90", ""},
	} {
		f.Add(s.method, s.target, []byte(s.body), s.hl, s.ct)
	}
	f.Fuzz(func(t *testing.T, method, target string, body []byte, headerLength, contentType string) {
		var raw bytes.Buffer
		fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\nHost: reference.test\r\nContent-Length: %d\r\n", method, target, len(body))
		if headerLength != "" {
			fmt.Fprintf(&raw, "%s: %s\r\n", oip.HeaderInferenceContentLength, headerLength)
		}
		if contentType != "" {
			fmt.Fprintf(&raw, "Content-Type: %s\r\n", contentType)
		}
		raw.WriteString("\r\n")
		raw.Write(body)
		size := raw.Len()
		req, err := http.ReadRequest(bufio.NewReader(&raw))
		if err != nil {
			return // no server would get this far with it
		}
		rec := httptest.NewRecorder()
		fuzzcheck.Bounded(t, fuzzcheck.Limit(size), "serving the request", func() {
			h.ServeHTTP(rec, req)
		})
		status, hdr, out := rec.Code, rec.Header(), rec.Body.Bytes()
		what := fmt.Sprintf("%s %s answered %d", req.Method, req.URL.Path, status)
		switch {
		case status >= 500:
			t.Fatalf("%s: %s", what, out)
		case status >= 400:
			if msg := checkErrorBody(hdr, out); msg != "" {
				t.Fatalf("%s: %s: %s", what, msg, out)
			}
		case status == http.StatusOK:
			if msg := checkOKBody(req, hdr, out); msg != "" {
				t.Fatalf("%s: %s", what, msg)
			}
		default:
			t.Fatalf("%s, want 200 or a 4xx", what)
		}
	})
}

// checkErrorBody says what is wrong with an error answer, "" when it is a
// JSON {"error": message} with a message.
func checkErrorBody(h http.Header, body []byte) string {
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt != "application/json" {
		return fmt.Sprintf("Content-Type %q, want application/json", h.Get("Content-Type"))
	}
	var e map[string]any
	if err := json.Unmarshal(body, &e); err != nil {
		return fmt.Sprintf("body is not a JSON object: %v", err)
	}
	msg, ok := e["error"].(string)
	if !ok || msg == "" || len(e) != 1 {
		return `body is not {"error": message}`
	}
	return ""
}

// checkOKBody says what is wrong with a 200 answer, "" when it is JSON
// and, for an inference, a schema-valid response (binary tensor data
// after its JSON object included) whose outputs decode.
func checkOKBody(req *http.Request, h http.Header, body []byte) string {
	js, bin, err := oip.SplitBody(body, h.Get(oip.HeaderInferenceContentLength))
	if err != nil {
		return err.Error()
	}
	ct, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	switch {
	case len(bin) > 0 && ct != oip.ContentTypeBinary:
		return fmt.Sprintf("binary tensor data with Content-Type %q", h.Get("Content-Type"))
	case len(bin) == 0 && ct != "application/json":
		return fmt.Sprintf("Content-Type %q, want application/json", h.Get("Content-Type"))
	}
	doc, err := schemas.DecodeDocument("answer.json", js)
	if err != nil {
		return err.Error()
	}
	if !strings.HasSuffix(req.URL.Path, "/infer") {
		return ""
	}
	vs, err := schemas.Validate("oip-infer-response", "v1", doc)
	if err != nil || len(vs) > 0 {
		return fmt.Sprintf("not a valid inference response: %v %v", err, vs)
	}
	var resp oip.InferenceResponse
	if err := json.Unmarshal(js, &resp); err != nil {
		return err.Error()
	}
	if _, err := oip.DecodeOutputs(resp, bin); err != nil {
		return fmt.Sprintf("outputs do not decode: %v", err)
	}
	return ""
}
