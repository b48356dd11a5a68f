package golden

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/spec"
)

// weightsPath is the weights file the fixture's set names, relative to the
// testdata root.
const weightsPath = "weights/m.safetensors"

// fixture returns a golden directory of one seed-rnn fp32 set with one case
// (input [1,2,10], logits [1,2]), a testdata root holding its weights file,
// and the manifest, for tests to edit and write with writeManifest.
func fixture(t *testing.T) (goldens, testdata fstest.MapFS, m *Manifest) {
	t.Helper()
	const model = "seed-rnn"
	c, err := spec.ModelContract(model, "fp32")
	if err != nil {
		t.Fatal(err)
	}
	if c.Inputs[0].Name != "input" || c.Outputs[0].Name != "logits" || !c.Inputs[0].Matches([]int64{1, 2, 10}) || !c.Outputs[0].Matches([]int64{1, 2}) {
		t.Fatalf("the fixture's tensors do not fit the contract of %s", model)
	}
	in := map[string]numerics.Tensor{"input": numerics.NewF32([]int64{1, 2, 10}, make([]float32, 20))}
	out := map[string]numerics.Tensor{"logits": numerics.NewF32([]int64{1, 2}, []float32{3, 4})}
	b, err := EncodeCase(in, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	weights := []byte("weights")
	file := model + "/fp32/case-000.safetensors"
	m = &Manifest{
		Kind: Kind, SpecVersion: spec.Version, Generator: Producer{Name: "test", Version: "1"},
		Sets: []Set{{
			Model: model, Version: "fp32", DType: numerics.FP32, Device: "cpu",
			Producer: Producer{Name: "test", Version: "1"}, ToleranceClass: "fp32",
			Weights: FileRef{Path: weightsPath, SHA256: Digest(weights)},
			Cases: []Case{{
				Name: "case-000", File: file, SHA256: Digest(b),
				Inputs: SortedNames(in), Outputs: SortedNames(out),
			}},
		}},
	}
	goldens = fstest.MapFS{file: {Data: b}}
	writeManifest(t, goldens, m)
	return goldens, fstest.MapFS{weightsPath: {Data: weights}}, m
}

// writeManifest stores m as the manifest of goldens.
func writeManifest(t *testing.T, goldens fstest.MapFS, m *Manifest) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	goldens[ManifestFile] = &fstest.MapFile{Data: b}
}

// rewriteCase replaces the tensors of the fixture's case, updating its
// digest and tensor lists.
func rewriteCase(t *testing.T, goldens fstest.MapFS, m *Manifest, in, out map[string]numerics.Tensor) {
	t.Helper()
	b, err := EncodeCase(in, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &m.Sets[0].Cases[0]
	goldens[c.File] = &fstest.MapFile{Data: b}
	c.SHA256, c.Inputs, c.Outputs = Digest(b), SortedNames(in), SortedNames(out)
}

func TestOpen(t *testing.T) {
	goldens, testdata, m := fixture(t)
	d, err := Open(goldens, testdata)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, d.Manifest); diff != "" {
		t.Errorf("manifest (-want +got):\n%s", diff)
	}
	if len(d.Sets) != 1 || len(d.Sets[0].Loaded) != 1 {
		t.Fatalf("Open returned %d sets, want 1 with 1 case", len(d.Sets))
	}
	s := d.Sets[0]
	want, _ := spec.Tolerance("fp32")
	if s.Tolerance != want || s.Contract.Model != m.Sets[0].Model || s.Contract.Version != "fp32" {
		t.Errorf("set tolerance %+v, contract %s/%s; want %+v, %s/fp32", s.Tolerance, s.Contract.Model, s.Contract.Version, want, m.Sets[0].Model)
	}
	if got := s.Loaded[0].Outputs["logits"].F32; !cmp.Equal(got, []float32{3, 4}) {
		t.Errorf("logits = %v", got)
	}
	delete(testdata, weightsPath)
	if _, err := Open(goldens, testdata); err != nil {
		t.Errorf("Open without the weights file: %v, want it skipped", err)
	}
	if _, err := Open(goldens, nil); err != nil {
		t.Errorf("Open without a testdata root: %v", err)
	}
}

func TestOpenRejects(t *testing.T) {
	f32 := func(shape []int64) numerics.Tensor {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		return numerics.NewF32(shape, make([]float32, n))
	}
	input, logits := f32([]int64{1, 2, 10}), f32([]int64{1, 2})
	tests := []struct {
		name      string
		edit      func(t *testing.T, goldens, testdata fstest.MapFS, m *Manifest)
		want      string
		integrity string // the file an *IntegrityError names, if one is wanted
	}{
		{"no manifest", func(_ *testing.T, g, _ fstest.MapFS, _ *Manifest) { delete(g, ManifestFile) }, "open manifest.json", ""},
		{"not JSON", func(_ *testing.T, g, _ fstest.MapFS, _ *Manifest) { g[ManifestFile].Data = []byte("{") }, "manifest.json:1:2: invalid JSON", ""},
		{"schema", func(_ *testing.T, _, _ fstest.MapFS, m *Manifest) { m.Sets[0].Device = "tpu" }, "manifest.json: /sets/0/device: ", ""},
		{"spec version", func(_ *testing.T, _, _ fstest.MapFS, m *Manifest) { m.SpecVersion = "v9" }, `manifest.json: /specVersion: expected "v1", got "v9"`, ""},
		{"case byte flipped", func(_ *testing.T, g, _ fstest.MapFS, m *Manifest) { g[m.Sets[0].Cases[0].File].Data[20] ^= 1 }, "sha256 is", "seed-rnn/fp32/case-000.safetensors"},
		{"case missing", func(_ *testing.T, g, _ fstest.MapFS, m *Manifest) { delete(g, m.Sets[0].Cases[0].File) }, "file does not exist", "seed-rnn/fp32/case-000.safetensors"},
		{"weights byte flipped", func(_ *testing.T, _, td fstest.MapFS, _ *Manifest) { td[weightsPath].Data[0] ^= 1 }, "sha256 is", weightsPath},
		{"unknown model", func(_ *testing.T, _, _ fstest.MapFS, m *Manifest) { m.Sets[0].Model = "seed-gan" }, `manifest.json: /sets/0/model: "seed-gan" is not a reference model`, ""},
		{"unknown version", func(_ *testing.T, _, _ fstest.MapFS, m *Manifest) { m.Sets[0].Version = "int8" }, `manifest.json: /sets/0/version: "int8" is not a reference version`, ""},
		{"dtype", func(_ *testing.T, _, _ fstest.MapFS, m *Manifest) { m.Sets[0].DType = numerics.FP64 }, "manifest.json: /sets/0/dtype: FP64, but reference version fp32 computes in FP32", ""},
		{"tolerance class", func(_ *testing.T, _, _ fstest.MapFS, m *Manifest) { m.Sets[0].ToleranceClass = "loose" }, `manifest.json: /sets/0/toleranceClass: "loose" is not a tolerance class`, ""},
		{"listed tensor not in the file", func(_ *testing.T, _, _ fstest.MapFS, m *Manifest) {
			m.Sets[0].Cases[0].Outputs = append(m.Sets[0].Cases[0].Outputs, "probabilities")
		}, `seed-rnn/fp32/case-000.safetensors: case case-000 lists output "probabilities" but the file has no tensor "output.probabilities"`, ""},
		{"input shape", func(t *testing.T, g, _ fstest.MapFS, m *Manifest) {
			rewriteCase(t, g, m, map[string]numerics.Tensor{"input": f32([]int64{1, 2, 9})}, map[string]numerics.Tensor{"logits": logits})
		}, `manifest.json: /sets/0/cases/0 (seed-rnn/fp32/case-000.safetensors): input "input": shape [1 2 9] does not fit the contract's [-1 -1 10]`, ""},
		{"input datatype", func(t *testing.T, g, _ fstest.MapFS, m *Manifest) {
			rewriteCase(t, g, m, map[string]numerics.Tensor{"input": numerics.NewF64([]int64{1, 2, 10}, make([]float64, 20))}, map[string]numerics.Tensor{"logits": logits})
		}, `/sets/0/cases/0 (seed-rnn/fp32/case-000.safetensors): input "input": datatype FP64, the contract says FP32`, ""},
		{"foreign input", func(t *testing.T, g, _ fstest.MapFS, m *Manifest) {
			rewriteCase(t, g, m, map[string]numerics.Tensor{"input": input, "extra": input}, map[string]numerics.Tensor{"logits": logits})
		}, `/sets/0/cases/0 (seed-rnn/fp32/case-000.safetensors): input "extra" is not an input of seed-rnn`, ""},
		{"foreign output", func(t *testing.T, g, _ fstest.MapFS, m *Manifest) {
			rewriteCase(t, g, m, map[string]numerics.Tensor{"input": input}, map[string]numerics.Tensor{"logits": logits, "probabilities": logits})
		}, `/sets/0/cases/0 (seed-rnn/fp32/case-000.safetensors): output "probabilities" is not an output of seed-rnn`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			goldens, testdata, m := fixture(t)
			tc.edit(t, goldens, testdata, m)
			if tc.name != "no manifest" && tc.name != "not JSON" {
				writeManifest(t, goldens, m)
			}
			_, err := Open(goldens, testdata)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open error = %v, want one containing %q", err, tc.want)
			}
			var ie *IntegrityError
			if got := errors.As(err, &ie); got != (tc.integrity != "") || got && ie.File != tc.integrity {
				t.Fatalf("Open error = %v (%T); want an *IntegrityError naming %q: %v", err, err, tc.integrity, got)
			}
			var se *SchemaError
			if errors.As(err, &se) != (tc.name == "schema" || tc.name == "spec version") {
				t.Errorf("Open error = %v (%T); a *SchemaError only for the schema violations", err, err)
			}
		})
	}
}

// TestOpenPublished opens the published golden set with the published
// weights: every set of every reference model at every version is there.
func TestOpenPublished(t *testing.T) {
	d, err := Open(aiconform.Goldens(), aiconform.Testdata())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range d.Sets {
		got[s.Model+"/"+s.Version] = len(s.Loaded) == len(s.Cases) && len(s.Loaded) > 0
	}
	for _, model := range spec.ReferenceModels() {
		for _, version := range spec.ReferenceVersions() {
			if !got[model+"/"+version] {
				t.Errorf("the published goldens have no loaded set %s/%s", model, version)
			}
		}
	}
}

func TestLoadCase(t *testing.T) {
	goldens, _, m := fixture(t)
	c := m.Sets[0].Cases[0]
	got, _, err := ReadManifest(goldens, ".")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Case{c}, got.Sets[0].Cases); diff != "" {
		t.Fatalf("manifest cases (-want +got):\n%s", diff)
	}
	l, err := LoadCase(goldens, ".", c)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Outputs["logits"].F32; !cmp.Equal(got, []float32{3, 4}) {
		t.Errorf("logits = %v", got)
	}
	if got := SortedNames(l.Inputs); !cmp.Equal(got, []string{"input"}) {
		t.Errorf("inputs = %v", got)
	}
	goldens[c.File].Data[20] ^= 1
	if _, err := LoadCase(goldens, ".", c); err == nil || !strings.Contains(err.Error(), c.File+": sha256 is") {
		t.Errorf("LoadCase of a changed file: error %v, want one naming the file's digest", err)
	}
}

func TestReadManifestRejects(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"unknown field", `{"kind":"golden-manifest","specVersion":"v1","sets":[],"extra":1}`, `unknown field "extra"`},
		{"wrong kind", `{"kind":"profile","specVersion":"v1","sets":[]}`, `/kind is "profile"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"manifest.json": {Data: []byte(tc.data)}}
			_, _, err := ReadManifest(fsys, ".")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadManifest error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
