package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
)

// binaryBody returns the body and headers of a request of the binary
// tensor data extension: header, a JSON object, then the chunks.
func binaryBody(header string, chunks ...[]byte) (string, map[string]string) {
	return string(oip.JoinBody([]byte(header), chunks...)), map[string]string{
		"Content-Type":                   oip.ContentTypeBinary,
		oip.HeaderInferenceContentLength: strconv.Itoa(len(header)),
	}
}

// mustBinary returns the raw bytes of t.
func mustBinary(t *testing.T, x numerics.Tensor) []byte {
	t.Helper()
	b, err := oip.EncodeBinary(x)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeAnswer checks a 200 inference answer, JSON or binary, against the
// schemas and returns its response object and its outputs as tensors.
func decodeAnswer(t *testing.T, r response) (oip.InferenceResponse, map[string]numerics.Tensor) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %q", r.status, r.body)
	}
	hl := r.header.Get(oip.HeaderInferenceContentLength)
	wantCT := "application/json"
	if hl != "" {
		wantCT = oip.ContentTypeBinary
	}
	if ct := r.header.Get("Content-Type"); ct != wantCT {
		t.Errorf("Content-Type = %q, want %q (Inference-Header-Content-Length %q)", ct, wantCT, hl)
	}
	if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(r.body)) {
		t.Errorf("Content-Length = %q, body has %d bytes", cl, len(r.body))
	}
	header, bin, err := oip.SplitBody(r.body, hl)
	if err != nil {
		t.Fatalf("splitting the answer: %v", err)
	}
	checkSchema(t, "oip-infer-response", header)
	var resp oip.InferenceResponse
	if err := json.Unmarshal(header, &resp); err != nil {
		t.Fatalf("answer header: %v\n%s", err, header)
	}
	outs, err := oip.DecodeOutputs(resp, bin)
	if err != nil {
		t.Fatalf("decoding the outputs: %v", err)
	}
	return resp, outs
}

// sameBits fails unless got and want hold the same datatype, shape and
// element bits.
func sameBits(t *testing.T, what string, got, want numerics.Tensor) {
	t.Helper()
	if got.DType != want.DType || !cmp.Equal(got.Shape, want.Shape) {
		t.Errorf("%s: %s %v, want %s %v", what, got.DType, got.Shape, want.DType, want.Shape)
		return
	}
	if g, w := mustBinary(t, got), mustBinary(t, want); !bytes.Equal(g, w) {
		t.Errorf("%s: bits differ:\n got %x\nwant %x", what, g, w)
	}
}

// randomTensor returns an FP32 or FP64 tensor of shape [n,4] with values
// over many magnitudes, where a decimal rendering that is not the shortest
// round-trip form would lose bits.
func randomTensor(rng *rand.Rand, dt numerics.DType, n int64) numerics.Tensor {
	vals := make([]float64, n*4)
	for i := range vals {
		vals[i] = (rng.Float64()*2 - 1) * math.Pow(10, float64(rng.Intn(60)-30))
	}
	if dt == numerics.FP64 {
		return numerics.NewF64([]int64{n, 4}, vals)
	}
	f := make([]float32, len(vals))
	for i, v := range vals {
		f[i] = float32(v)
	}
	return numerics.NewF32([]int64{n, 4}, f)
}

func TestBinaryMatchesJSONBitForBit(t *testing.T) {
	h, _ := newTestServer(t)
	rng := rand.New(rand.NewSource(4))
	for _, tc := range []struct {
		version string
		dt      numerics.DType
	}{{"fp32", numerics.FP32}, {"fp64", numerics.FP64}} {
		x := randomTensor(rng, tc.dt, 3)
		off := randomTensor(rng, tc.dt, 3)
		off.Shape, off.F32, off.F64 = []int64{3, 1}, nil, nil
		if tc.dt == numerics.FP32 {
			off.F32 = []float32{1.5, -2.25, 1e-3}
		} else {
			off.F64 = []float64{1.5, -2.25, 1e-3}
		}
		path := "/v2/models/echo-sum/versions/" + tc.version + "/infer"
		xJSON, _ := oip.EncodeData(x)
		offJSON, _ := oip.EncodeData(off)
		jsonBody := fmt.Sprintf(`{"id":"j","inputs":[{"name":"x","shape":[3,4],"datatype":%q,"data":%s},{"name":"offset","shape":[3,1],"datatype":%q,"data":%s}]}`, tc.dt, xJSON, tc.dt, offJSON)
		checkSchema(t, "oip-infer-request", []byte(jsonBody))
		_, want := decodeAnswer(t, do(t, h, http.MethodPost, path, jsonBody, nil))

		tests := []struct {
			name        string
			header      string
			chunks      [][]byte
			binaryOuts  []string // outputs expected as binary data, in order
			jsonOutputs []string // outputs expected as JSON data
		}{
			{
				name:       "binary inputs, every output binary by binary_data_output",
				header:     fmt.Sprintf(`{"id":"b","parameters":{"binary_data_output":true},"inputs":[{"name":"x","shape":[3,4],"datatype":%q,"parameters":{"binary_data_size":%d}},{"name":"offset","shape":[3,1],"datatype":%q,"parameters":{"binary_data_size":%d}}]}`, tc.dt, 12*tc.dt.Size(), tc.dt, 3*tc.dt.Size()),
				chunks:     [][]byte{mustBinary(t, x), mustBinary(t, off)},
				binaryOuts: []string{"sum", "echo"},
			},
			{
				name:        "binary and JSON inputs, outputs chosen one by one, binary_data false overrides binary_data_output",
				header:      fmt.Sprintf(`{"id":"m","parameters":{"binary_data_output":true,"vendor_hint":{"a":1}},"inputs":[{"name":"offset","shape":[3,1],"datatype":%q,"data":%s},{"name":"x","shape":[3,4],"datatype":%q,"parameters":{"binary_data_size":%d,"content_type":"np"}}],"outputs":[{"name":"echo","parameters":{"binary_data":true}},{"name":"sum","parameters":{"binary_data":false}}]}`, tc.dt, offJSON, tc.dt, 12*tc.dt.Size()),
				chunks:      [][]byte{mustBinary(t, x)},
				binaryOuts:  []string{"echo"},
				jsonOutputs: []string{"sum"},
			},
			{
				name:        "outputs named without binary_data follow binary_data_output",
				header:      strings.Replace(jsonBody, `"inputs"`, `"parameters":{"binary_data_output":true},"outputs":[{"name":"sum","parameters":{"binary_data":false}},{"name":"echo"}],"inputs"`, 1),
				binaryOuts:  []string{"echo"},
				jsonOutputs: []string{"sum"},
			},
			{
				name:       "JSON inputs, one binary output",
				header:     strings.Replace(jsonBody, `"inputs"`, `"outputs":[{"name":"sum","parameters":{"binary_data":true}}],"inputs"`, 1),
				binaryOuts: []string{"sum"},
			},
			{
				name:        "binary inputs, JSON outputs",
				header:      fmt.Sprintf(`{"inputs":[{"name":"x","shape":[3,4],"datatype":%q,"parameters":{"binary_data_size":%d}},{"name":"offset","shape":[3,1],"datatype":%q,"parameters":{"binary_data_size":%d}}]}`, tc.dt, 12*tc.dt.Size(), tc.dt, 3*tc.dt.Size()),
				chunks:      [][]byte{mustBinary(t, x), mustBinary(t, off)},
				jsonOutputs: []string{"sum", "echo"},
			},
		}
		for _, tt := range tests {
			t.Run(tc.version+"/"+tt.name, func(t *testing.T) {
				checkSchema(t, "oip-infer-request", []byte(tt.header))
				body, hdr := binaryBody(tt.header, tt.chunks...)
				if len(tt.chunks) == 0 {
					hdr = nil // a plain JSON request asking for binary outputs
				}
				r := do(t, h, http.MethodPost, path, body, hdr)
				resp, got := decodeAnswer(t, r)
				var binaryOuts, jsonOuts []string
				size := 0
				for _, o := range resp.Outputs {
					if n, ok, _ := oip.BinaryDataSize(o.Parameters); ok {
						binaryOuts = append(binaryOuts, o.Name)
						size += int(n)
					} else {
						jsonOuts = append(jsonOuts, o.Name)
					}
				}
				if !cmp.Equal(binaryOuts, tt.binaryOuts) || !cmp.Equal(jsonOuts, tt.jsonOutputs) {
					t.Errorf("binary outputs %v and JSON outputs %v, want %v and %v", binaryOuts, jsonOuts, tt.binaryOuts, tt.jsonOutputs)
				}
				hl := r.header.Get(oip.HeaderInferenceContentLength)
				if len(tt.binaryOuts) == 0 && hl != "" {
					t.Errorf("a JSON-only answer has Inference-Header-Content-Length %q", hl)
				}
				if n, _ := strconv.Atoi(hl); len(tt.binaryOuts) > 0 && n+size != len(r.body) {
					t.Errorf("header length %d + binary sizes %d != body length %d", n, size, len(r.body))
				}
				if resp.ModelVersion != tc.version {
					t.Errorf("model_version = %q", resp.ModelVersion)
				}
				for name, w := range want {
					if g, ok := got[name]; ok {
						sameBits(t, name, g, w)
					}
				}
				if len(got) != len(tt.binaryOuts)+len(tt.jsonOutputs) {
					t.Errorf("got outputs %v", resp.Outputs)
				}
			})
		}
	}
}

func TestBinaryIDEcho(t *testing.T) {
	h, _ := newTestServer(t)
	x := numerics.NewF32([]int64{1, 4}, []float32{1, 2, 3, 4})
	body, hdr := binaryBody(`{"id":"é\"\\😀","inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}],"outputs":[{"name":"sum","parameters":{"binary_data":true}}]}`, mustBinary(t, x))
	resp, outs := decodeAnswer(t, do(t, h, http.MethodPost, "/v2/models/echo-sum/infer", body, hdr))
	if resp.ID != "é\"\\😀" {
		t.Errorf("id = %q", resp.ID)
	}
	sameBits(t, "sum", outs["sum"], numerics.NewF32([]int64{1, 1}, []float32{10}))
}

func TestBinaryErrors(t *testing.T) {
	h, _ := newTestServer(t)
	x := mustBinary(t, numerics.NewF32([]int64{1, 4}, []float32{1, 2, 3, 4}))
	off := mustBinary(t, numerics.NewF32([]int64{1, 1}, []float32{5}))
	in := func(name string, shape string, size any) string {
		return fmt.Sprintf(`{"name":%q,"shape":%s,"datatype":"FP32","parameters":{"binary_data_size":%v}}`, name, shape, size)
	}
	req := func(inputs ...string) string { return `{"inputs":[` + strings.Join(inputs, ",") + `]}` }
	two := req(in("x", "[1,4]", 16), in("offset", "[1,1]", 4))
	tests := []struct {
		name     string
		json     string            // the JSON object
		bin      string            // the bytes after it
		header   map[string]string // replaces Inference-Header-Content-Length: len(json) when set
		contains []string
	}{
		{name: "header length beyond the body", json: two, bin: string(x), header: map[string]string{oip.HeaderInferenceContentLength: strconv.Itoa(len(two) + 17)}, contains: []string{"Inference-Header-Content-Length", "but the body has only"}},
		{name: "header length not a number", json: two, header: map[string]string{oip.HeaderInferenceContentLength: "lots"}, contains: []string{"Inference-Header-Content-Length", `"lots"`}},
		{name: "header length negative", json: two, header: map[string]string{oip.HeaderInferenceContentLength: "-1"}, contains: []string{`"-1"`}},
		{name: "header length cuts the JSON", json: two, bin: string(x) + string(off), header: map[string]string{oip.HeaderInferenceContentLength: strconv.Itoa(len(two) - 1)}, contains: []string{"not valid JSON"}},
		{name: "header length zero", json: two, bin: string(x) + string(off), header: map[string]string{oip.HeaderInferenceContentLength: "0"}, contains: []string{"empty"}},
		{name: "header length past the JSON into the binary", json: two, bin: string(x) + string(off), header: map[string]string{oip.HeaderInferenceContentLength: strconv.Itoa(len(two) + 3)}, contains: []string{"after the JSON object", "Inference-Header-Content-Length"}},
		{name: "binary data without the header", json: two, bin: string(x) + string(off), header: map[string]string{}, contains: []string{"after the JSON object", "Inference-Header-Content-Length"}},
		{name: "binary_data_size without the header and without bytes", json: req(in("x", "[1,4]", 16)), header: map[string]string{}, contains: []string{`input "x"`, "no header Inference-Header-Content-Length"}},
		{name: "size smaller than the shape needs", json: req(in("x", "[1,4]", 12)), bin: string(x[:12]), contains: []string{`input "x"`, "binary_data_size is 12 bytes", "[1,4] of FP32 needs 16"}},
		{name: "size larger than the shape needs", json: req(in("x", "[1,4]", 20)), bin: string(x) + "\x00\x00\x00\x00", contains: []string{`input "x"`, "20 bytes", "needs 16"}},
		{name: "FP64-sized data for FP32", json: req(in("x", "[1,4]", 32)), bin: string(x) + string(x), contains: []string{`input "x"`, "needs 16"}},
		{name: "bytes missing for the last input", json: two, bin: string(x) + string(off[:3]), contains: []string{`input "offset"`, "more than the 3 bytes left"}},
		{name: "no bytes at all", json: two, contains: []string{`input "x"`, "more than the 0 bytes left"}},
		{name: "leftover bytes", json: two, bin: string(x) + string(off) + "\x01", contains: []string{`input "offset"`, "1 bytes", "belong to no input"}},
		{name: "bytes but no binary input", json: req(`{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}`), bin: "\x01\x02", contains: []string{"2 bytes of binary data", "no input has parameter binary_data_size"}},
		{name: "size not an integer", json: req(in("x", "[1,4]", 15.5)), bin: string(x), contains: []string{`input "x"`, "binary_data_size", "15.5"}},
		{name: "size negative", json: req(in("x", "[1,4]", -16)), bin: string(x), contains: []string{`input "x"`, "binary_data_size", "-16"}},
		{name: "size a string", json: req(in("x", "[1,4]", `"16"`)), bin: string(x), contains: []string{`input "x"`, "binary_data_size", "a string"}},
		{name: "both data and binary_data_size", json: req(`{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4],"parameters":{"binary_data_size":16}}`), bin: string(x), contains: []string{`input "x"`, "both data and parameter binary_data_size"}},
		{name: "binary input with a wrong shape", json: req(in("x", "[2,2]", 16)), bin: string(x), contains: []string{`input "x"`, "dimension 1 is 2"}},
		{name: "binary input with a wrong datatype", json: `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","parameters":{"binary_data_size":32}}]}`, bin: string(x) + string(x), contains: []string{`input "x"`, "expects FP32"}},
		{name: "binary input with a huge shape", json: req(in("x", "[2147483648,4]", 16)), bin: string(x), contains: []string{`input "x"`, "more than"}},
		{name: "binary input unknown", json: req(in("y", "[1,4]", 16)), bin: string(x), contains: []string{`input "y"`, "no such input"}},
		{name: "missing required input", json: req(in("offset", "[1,1]", 4)), bin: string(off), contains: []string{`input "x"`, "required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !json.Valid([]byte(tt.json)) {
				t.Fatalf("the test's JSON part is not JSON: %s", tt.json)
			}
			header := tt.header
			if header == nil {
				header = map[string]string{oip.HeaderInferenceContentLength: strconv.Itoa(len(tt.json))}
			}
			r := do(t, h, http.MethodPost, "/v2/models/echo-sum/infer", tt.json+tt.bin, header)
			checkError(t, r, http.StatusBadRequest, tt.contains...)
		})
	}
}

func TestBinaryNonFiniteInputs(t *testing.T) {
	h, _ := newTestServer(t)
	specials := []struct {
		name string
		v    float64
	}{{"NaN", math.NaN()}, {"+Inf", math.Inf(1)}, {"-Inf", math.Inf(-1)}}
	for _, sp := range specials {
		for _, dt := range []numerics.DType{numerics.FP32, numerics.FP64} {
			t.Run(sp.name+"/"+string(dt), func(t *testing.T) {
				vals := []float64{1, 2, 3, 4, 5, 6, 7, 8}
				vals[6] = sp.v
				var x numerics.Tensor
				if dt == numerics.FP32 {
					f := make([]float32, len(vals))
					for i, v := range vals {
						f[i] = float32(v)
					}
					x = numerics.NewF32([]int64{2, 4}, f)
				} else {
					x = numerics.NewF64([]int64{2, 4}, vals)
				}
				version := strings.ToLower(string(dt))
				raw := mustBinary(t, x)
				body, hdr := binaryBody(fmt.Sprintf(`{"inputs":[{"name":"x","shape":[2,4],"datatype":%q,"parameters":{"binary_data_size":%d}}]}`, dt, len(raw)), raw)
				r := do(t, h, http.MethodPost, "/v2/models/echo-sum/versions/"+version+"/infer", body, hdr)
				checkError(t, r, http.StatusBadRequest, `input "x"`, "element 6", "[1,2]", "want a finite "+string(dt))
			})
		}
	}
	// The optional input is checked too, and a NaN is named as such.
	x := mustBinary(t, numerics.NewF32([]int64{1, 4}, []float32{1, 2, 3, 4}))
	off := mustBinary(t, numerics.NewF32([]int64{1, 1}, []float32{float32(math.NaN())}))
	body, hdr := binaryBody(`{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}},{"name":"offset","shape":[1,1],"datatype":"FP32","parameters":{"binary_data_size":4}}]}`, x, off)
	checkError(t, do(t, h, http.MethodPost, "/v2/models/echo-sum/infer", body, hdr), http.StatusBadRequest, `input "offset"`, "is NaN")
}

func TestBinaryOutputOfBrokenModels(t *testing.T) {
	h, _ := newTestServer(t)
	// A non-finite output is the server's fault whether it would travel as
	// JSON (which cannot carry it) or as binary data (which could).
	body := `{"parameters":{"binary_data_output":true},"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}]}`
	for _, model := range []string{"nan", "misshapen", "wrongtype", "forgetful"} {
		r := do(t, h, http.MethodPost, "/v2/models/"+model+"/infer", body, nil)
		if msg := checkError(t, r, http.StatusInternalServerError); msg != InternalErrorMessage {
			t.Errorf("%s: error %q, want the generic message", model, msg)
		}
	}
}
