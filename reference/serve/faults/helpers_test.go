package faults

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
	"github.com/aiconform/aiconform/spec"
)

// Helpers of the fault tests. Their names start with ft so that they do
// not collide with the helpers of the package's other tests.

// ftCases are the golden cases the fault tests use: first cases, batches
// of 8, 2 and 1, and the out-of-domain edge cases (seed-cnn case-004 has
// unnormalised pixel bytes and a probability that underflows FP32, case-030
// mixes edge cases in a batch of 8; seed-rnn case-014 has values in
// [-4,4); seed-transformer case-015 and case-027 are padded).
var ftCases = map[string][]string{
	"seed-cnn/fp32":         {"case-000", "case-004", "case-015", "case-030"},
	"seed-rnn/fp32":         {"case-000", "case-014", "case-028", "case-037"},
	"seed-transformer/fp32": {"case-000", "case-015", "case-019", "case-027"},
}

// ftGoldens is the published golden set cut down to ftCases: the manifest
// lists only those cases, whose files are the published ones.
var ftGoldens = sync.OnceValues(func() (fs.FS, error) {
	src := aiconform.Goldens()
	man, _, err := golden.ReadManifest(src, ".")
	if err != nil {
		return nil, err
	}
	out := fstest.MapFS{}
	var sets []golden.Set
	for _, s := range man.Sets {
		keep := ftCases[s.Model+"/"+s.Version]
		if keep == nil {
			continue
		}
		s.Cases = slices.DeleteFunc(slices.Clone(s.Cases), func(c golden.Case) bool { return !slices.Contains(keep, c.Name) })
		for _, c := range s.Cases {
			b, err := fs.ReadFile(src, c.File)
			if err != nil {
				return nil, err
			}
			out[c.File] = &fstest.MapFile{Data: b}
		}
		sets = append(sets, s)
	}
	man.Sets = sets
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return nil, err
	}
	out[golden.ManifestFile] = &fstest.MapFile{Data: b}
	return out, nil
})

// ftCase returns a golden case of the published set.
func ftCase(t testing.TB, model, version, name string) golden.Loaded {
	t.Helper()
	src := aiconform.Goldens()
	man, _, err := golden.ReadManifest(src, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range man.Sets {
		if s.Model != model || s.Version != version {
			continue
		}
		for _, c := range s.Cases {
			if c.Name == name {
				l, err := golden.LoadCase(src, ".", c)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
		}
	}
	t.Fatalf("no golden case %s/%s %s", model, version, name)
	return golden.Loaded{}
}

// ftModels returns the built-in reference models.
func ftModels(t testing.TB) []reference.Model {
	t.Helper()
	models, err := reference.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	return models
}

// ftHandler returns the handler of a server over models with the named
// faults and the other options.
func ftHandler(t testing.TB, models []reference.Model, faults []string, opts ...serve.Option) http.Handler {
	t.Helper()
	fs, err := Lookup(faults...)
	if err != nil {
		t.Fatal(err)
	}
	fopts, err := Options(fs...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := serve.New(models, append(opts, fopts...)...)
	if err != nil {
		t.Fatalf("New with faults %v: %v", faults, err)
	}
	return s.Handler()
}

// ftAnswer is what a request got back.
type ftAnswer struct {
	status int
	header http.Header
	body   []byte
}

// ftDo sends a request to h in process.
func ftDo(t testing.TB, h http.Handler, method, path string, body []byte, header map[string]string) ftAnswer {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return ftAnswer{rec.Code, rec.Header(), rec.Body.Bytes()}
}

// ftRequest encodes an inference request with JSON inputs; binaryOutputs
// asks for every output as binary data.
func ftRequest(t testing.TB, inputs map[string]numerics.Tensor, id string, binaryOutputs bool) []byte {
	t.Helper()
	req := oip.InferenceRequest{ID: id}
	for _, name := range golden.SortedNames(inputs) {
		x := inputs[name]
		data, err := oip.EncodeData(x)
		if err != nil {
			t.Fatal(err)
		}
		req.Inputs = append(req.Inputs, oip.RequestInput{Name: name, Shape: x.Shape, Datatype: string(x.DType), Data: data})
	}
	if binaryOutputs {
		req.Parameters = oip.Parameters{oip.ParamBinaryDataOutput: true}
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ftInfer posts a JSON inference request to path and decodes the 200
// answer, JSON or binary; it fails the test on any other status.
func ftInfer(t testing.TB, h http.Handler, path string, body []byte) (oip.InferenceResponse, map[string]numerics.Tensor, ftAnswer) {
	t.Helper()
	a := ftDo(t, h, http.MethodPost, path, body, nil)
	if a.status != http.StatusOK {
		t.Fatalf("POST %s: status %d, want 200; body %.300s", path, a.status, a.body)
	}
	resp, outs, err := ftDecode(a)
	if err != nil {
		t.Fatalf("POST %s: %v; body %.300s", path, err, a.body)
	}
	return resp, outs, a
}

// ftDecode decodes a 200 inference answer, JSON or binary.
func ftDecode(a ftAnswer) (oip.InferenceResponse, map[string]numerics.Tensor, error) {
	var resp oip.InferenceResponse
	hl := a.header.Get(oip.HeaderInferenceContentLength)
	if cl := a.header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(a.body)) {
		return resp, nil, &ftError{"Content-Length " + cl + " but the body has " + strconv.Itoa(len(a.body)) + " bytes"}
	}
	js, bin, err := oip.SplitBody(a.body, hl)
	if err != nil {
		return resp, nil, err
	}
	if err := json.Unmarshal(js, &resp); err != nil {
		return resp, nil, err
	}
	outs, err := oip.DecodeOutputs(resp, bin)
	return resp, outs, err
}

type ftError struct{ msg string }

func (e *ftError) Error() string { return e.msg }

// ftRow returns row i of a tensor whose last dimension is its row.
func ftRow(x numerics.Tensor, i int) []float64 {
	n := int(x.Shape[len(x.Shape)-1])
	return x.Float64s()[i*n : (i+1)*n]
}

// ftSample returns sample i of a batch as a batch of one.
func ftSample(x numerics.Tensor, i int) numerics.Tensor {
	per := x.Len() / int(x.Shape[0])
	s := numerics.Tensor{DType: x.DType, Shape: slices.Clone(x.Shape)}
	s.Shape[0] = 1
	switch x.DType {
	case numerics.FP32:
		s.F32 = slices.Clone(x.F32[i*per : (i+1)*per])
	case numerics.FP64:
		s.F64 = slices.Clone(x.F64[i*per : (i+1)*per])
	case numerics.INT64:
		s.I64 = slices.Clone(x.I64[i*per : (i+1)*per])
	}
	return s
}

// ftSamples splits every input into its samples.
func ftSamples(inputs map[string]numerics.Tensor) []map[string]numerics.Tensor {
	var n int
	for _, x := range inputs {
		n = int(x.Shape[0])
	}
	out := make([]map[string]numerics.Tensor, n)
	for i := range out {
		out[i] = map[string]numerics.Tensor{}
		for name, x := range inputs {
			out[i][name] = ftSample(x, i)
		}
	}
	return out
}

// fakeModel is a reference.Model whose behaviour a test chooses.
type fakeModel struct {
	id, version string
	inputs      []spec.Tensor
	outputs     []spec.Tensor
	forward     func(map[string]numerics.Tensor) (map[string]numerics.Tensor, error)
}

func (f *fakeModel) ID() string             { return f.id }
func (f *fakeModel) Version() string        { return f.version }
func (f *fakeModel) Inputs() []spec.Tensor  { return f.inputs }
func (f *fakeModel) Outputs() []spec.Tensor { return f.outputs }
func (f *fakeModel) Forward(in map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	return f.forward(in)
}

// echoSum is the "echo-sum" model at FP32 or FP64: input x [-1,4];
// outputs sum [-1,1] (row sums of x) and echo [-1,4] (x itself).
func echoSum(version string, dt numerics.DType) *fakeModel {
	return &fakeModel{
		id:      "echo-sum",
		version: version,
		inputs:  []spec.Tensor{{Name: "x", Datatype: dt, Shape: []int64{-1, 4}}},
		outputs: []spec.Tensor{
			{Name: "sum", Datatype: dt, Shape: []int64{-1, 1}},
			{Name: "echo", Datatype: dt, Shape: []int64{-1, 4}},
		},
		forward: func(in map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
			x := in["x"]
			n := int(x.Shape[0])
			xs := x.Float64s()
			sums := make([]float64, n)
			for i := range sums {
				for _, v := range xs[i*4 : i*4+4] {
					sums[i] += v
				}
			}
			return map[string]numerics.Tensor{
				"sum":  withFloats(numerics.Tensor{DType: dt, Shape: []int64{int64(n), 1}}, sums),
				"echo": x.Clone(),
			}, nil
		},
	}
}
