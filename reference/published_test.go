package reference

import (
	"bytes"
	"flag"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/internal/atomicfile"
	"github.com/aiconform/aiconform/internal/racedetect"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/safetensors"
)

// update rewrites the published weights and goldens:
//
//	go test ./reference -run TestUpdatePublished -update
var update = flag.Bool("update", false, "rewrite testdata/weights and testdata/goldens/v1 from the generator and the reference models")

// publishedGeneratorVersion is the aiconform version recorded in the
// published manifest; keep it in step with cmd/aiconform's version.
const publishedGeneratorVersion = "0.1.0-dev"

const (
	weightsDir = "../testdata/weights"
	goldensDir = "../testdata/goldens/v1"
)

// TestUpdatePublished regenerates testdata/weights and testdata/goldens/v1
// when run with -update. (The embedded copies in this test binary are the
// old ones: run the tests again afterwards.)
func TestUpdatePublished(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/weights and testdata/goldens/v1")
	}
	refs := map[string]golden.FileRef{}
	var models []Model
	for _, id := range ModelIDs() {
		w, err := GenerateWeights(id)
		if err != nil {
			t.Fatal(err)
		}
		b, err := EncodeWeights(id, w)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(weightsDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := atomicfile.WriteFile(filepath.Join(weightsDir, WeightsFile(id)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		refs[id] = WeightsRef(id, b)
		for _, dt := range []numerics.DType{numerics.FP32, numerics.FP64} {
			m, err := New(id, w, dt)
			if err != nil {
				t.Fatal(err)
			}
			models = append(models, m)
		}
	}
	opts := GenerateOptions{Generator: Generator(publishedGeneratorVersion), Weights: refs}
	if err := GenerateGoldens(models, goldensDir, opts); err != nil {
		t.Fatal(err)
	}
	t.Logf("rewrote %s and %s", weightsDir, goldensDir)
}

// TestPublishedWeightsRegenerate proves that the generator reproduces the
// committed weights files byte for byte.
func TestPublishedWeightsRegenerate(t *testing.T) {
	for _, id := range ModelIDs() {
		w, err := GenerateWeights(id)
		if err != nil {
			t.Fatal(err)
		}
		b, err := EncodeWeights(id, w)
		if err != nil {
			t.Fatal(err)
		}
		published, err := fs.ReadFile(aiconform.Weights(), WeightsFile(id))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, published) {
			t.Fatalf("regenerated %s (%d bytes, sha256 %s) differs from testdata/weights/%s (%d bytes, sha256 %s); run go test ./reference -run TestUpdatePublished -update if the generator changed on purpose",
				id, len(b), golden.Digest(b), WeightsFile(id), len(published), golden.Digest(published))
		}
		f, err := safetensors.Decode(published)
		if err != nil {
			t.Fatal(err)
		}
		if f.Metadata["seed"] != "aiconform/v1" || f.Metadata["model"] != id || f.Metadata["generator"] == "" {
			t.Errorf("metadata of %s = %v, want seed aiconform/v1, model %s and a generator", WeightsFile(id), f.Metadata, id)
		}
	}
}

// TestPublishedWeightsLayout pins the tensor names, shapes and dtypes of
// seed-cnn as spec/v1/reference-models.md lists them.
func TestPublishedWeightsLayout(t *testing.T) {
	w, _, err := LoadWeights(aiconform.Weights(), SeedCNNID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int64{
		"conv1.weight": {32, 1, 3, 3}, "conv1.bias": {32},
		"conv2.weight": {64, 32, 3, 3}, "conv2.bias": {64},
		"fc.weight": {10, 3136}, "fc.bias": {10},
	}
	if len(w) != len(want) {
		t.Errorf("weights hold %d tensors, want %d", len(w), len(want))
	}
	for name, shape := range want {
		tensor, ok := w[name]
		if !ok || tensor.DType != numerics.FP32 || !slices.Equal(tensor.Shape, shape) {
			t.Errorf("tensor %s = %s %v, want FP32 %v", name, tensor.DType, tensor.Shape, shape)
		}
	}
	bound := float32(1 / math.Sqrt(3136))
	for i, v := range w["fc.weight"].F32 {
		if v < -bound || v > bound {
			t.Fatalf("fc.weight element %d = %v, outside ±1/√3136", i, v)
		}
	}
}

// TestLibraryVersionsMatchGoMod keeps the recorded library versions in
// step with go.mod.
func TestLibraryVersionsMatchGoMod(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for module, v := range map[string]string{GorgoniaModule: GorgoniaVersion, TensorModule: TensorVersion} {
		re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(module) + `\s+(\S+)`)
		m := re.FindSubmatch(mod)
		if m == nil {
			t.Errorf("go.mod does not require %s", module)
			continue
		}
		if string(m[1]) != v {
			t.Errorf("go.mod requires %s %s, the reference package records %s", module, m[1], v)
		}
	}
	libs := LibraryVersions()
	if libs["gorgonia"] != GorgoniaVersion || libs["tensor"] != TensorVersion || !strings.HasPrefix(libs["go"], "go") {
		t.Errorf("LibraryVersions = %v", libs)
	}
}

func TestBuiltin(t *testing.T) {
	models, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	ids := ModelIDs()
	if len(ids) < 2 || ids[0] != "seed-cnn" || ids[1] != "seed-rnn" {
		t.Fatalf("ModelIDs = %v, want seed-cnn, seed-rnn first", ids)
	}
	var got, want []string
	for _, m := range models {
		got = append(got, m.ID()+"/"+m.Version())
	}
	for _, id := range ids {
		want = append(want, id+"/fp32", id+"/fp64")
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Builtin models = %v, want %v", got, want)
	}
	if Find(models, "seed-cnn", "fp64") != models[1] || Find(models, "seed-cnn", "int8") != nil {
		t.Error("Find does not pick models by id and version")
	}
}

// openPublished opens the published golden set with the published weights.
func openPublished(t testing.TB) *golden.Directory {
	t.Helper()
	d, err := golden.Open(aiconform.Goldens(), aiconform.Testdata())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// publishedSet returns the set of model at version of an opened directory.
func publishedSet(t testing.TB, d *golden.Directory, model, version string) golden.LoadedSet {
	t.Helper()
	for _, s := range d.Sets {
		if s.Model == model && s.Version == version {
			return s
		}
	}
	t.Fatalf("the published goldens have no set %s/%s", model, version)
	return golden.LoadedSet{}
}

// TestPublishedGoldensVerify recomputes every published case with the
// built-in models.
func TestPublishedGoldensVerify(t *testing.T) {
	models, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	d := openPublished(t)
	// Every model at every version has a published set of at least 32
	// cases (counted before any trimming).
	sets := map[string]bool{}
	for _, s := range d.Sets {
		sets[s.Model+"/"+s.Version] = true
		if len(s.Loaded) < 32 {
			t.Errorf("set %s/%s has %d cases, want at least 32", s.Model, s.Version, len(s.Loaded))
		}
	}
	for _, m := range models {
		if !sets[m.ID()+"/"+m.Version()] {
			t.Errorf("the published goldens have no set for %s/%s", m.ID(), m.Version())
		}
	}
	if racedetect.Enabled {
		raceTrimGoldens(t, d) // seed-transformer's 8×64 batches are too slow under -race
	}
	res, err := VerifyGoldens(d, models, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Failures() {
		t.Errorf("%s: %s", f.Label(), f.Diff.Summary(f.Tolerance))
	}
	// Verify compares every output of every case it was given.
	want := 0
	for _, s := range d.Sets {
		want += len(s.Loaded) * len(s.Contract.Outputs)
	}
	if len(res.Tensors) != want {
		t.Errorf("compared %d tensors, want %d (every output of every case)", len(res.Tensors), want)
	}
}

// TestPublishedGoldenInputsRegenerate checks that the published inputs are
// exactly GoldenInputs (FP32, widened exactly in the FP64 set).
func TestPublishedGoldenInputsRegenerate(t *testing.T) {
	for _, s := range openPublished(t).Sets {
		want, err := GoldenInputs(s.Model)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Loaded) != len(want) {
			t.Fatalf("set %s/%s has %d cases, GoldenInputs %d", s.Model, s.Version, len(s.Loaded), len(want))
		}
		for i, l := range s.Loaded {
			if l.Name != want[i].Name || l.Description != want[i].Description {
				t.Errorf("case %d is %s (%s), want %s (%s)", i, l.Name, l.Description, want[i].Name, want[i].Description)
			}
			if len(l.Inputs) != len(want[i].Inputs) {
				t.Errorf("%s/%s %s: %d published inputs, GoldenInputs has %d", s.Model, s.Version, l.Name, len(l.Inputs), len(want[i].Inputs))
			}
			for name, w := range want[i].Inputs {
				w = widen(w, s.DType)
				got, ok := l.Inputs[name]
				if !ok || !slices.Equal(got.Shape, w.Shape) || got.DType != w.DType || !slices.Equal(got.Float64s(), w.Float64s()) {
					t.Errorf("%s/%s %s: published input %q differs from GoldenInputs", s.Model, s.Version, l.Name, name)
				}
			}
		}
	}
}

func TestGoldenInputsCoverEdgeCases(t *testing.T) {
	in, err := GoldenInputs(SeedCNNID)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) < 32 {
		t.Fatalf("%d golden inputs, want at least 32", len(in))
	}
	batches := map[int64]bool{}
	var zeros, ones, checker, corner, negative, tiny bool
	for _, c := range in {
		x := c.Inputs["input"]
		batches[x.Shape[0]] = true
		first := x.F32[:784]
		zeros = zeros || !slices.ContainsFunc(first, func(v float32) bool { return v != 0 })
		ones = ones || !slices.ContainsFunc(first, func(v float32) bool { return v != 1 })
		checker = checker || (first[0] == 0 && first[1] == 1 && first[28] == 1 && first[29] == 0 && first[783] == 0)
		corner = corner || (first[783] == 1 && !slices.ContainsFunc(first[:783], func(v float32) bool { return v != 0 }))
		negative = negative || (slices.Min(first) < -0.9 && slices.Max(first) <= 0)
		tiny = tiny || (slices.Max(first) > 0 && slices.Max(first) < 1e-6)
	}
	if !zeros || !ones || !checker || !corner || !negative || !tiny || !batches[1] || !batches[8] {
		t.Errorf("golden inputs: all-zero %v, all-one %v, checkerboard %v, bottom-right pixel %v, negative %v, tiny %v, batch 1 %v, batch 8 %v; want all",
			zeros, ones, checker, corner, negative, tiny, batches[1], batches[8])
	}
	eights := 0
	for _, c := range in {
		if c.Inputs["input"].Shape[0] == 8 {
			eights++
		}
	}
	if eights < 8 {
		t.Errorf("%d golden inputs of batch 8, want at least 8", eights)
	}
	if _, err := GoldenInputs("seed-gan"); err == nil {
		t.Error("GoldenInputs of an unknown model did not fail")
	}
}

// TestVerifyDetectsPerturbedWeights perturbs one weight by 1e-3 and checks
// that recomputing the goldens fails, naming a case.
func TestVerifyDetectsPerturbedWeights(t *testing.T) {
	w := testWeights(t, SeedCNNID)
	w["fc.bias"].F32[3] += 1e-3
	m, err := NewSeedCNN(w, numerics.FP32)
	if err != nil {
		t.Fatal(err)
	}
	// Only the fp32 set, to keep the test short under -race.
	d := openPublished(t)
	d.Sets = []golden.LoadedSet{publishedSet(t, d, SeedCNNID, VersionFP32)}
	res, err := VerifyGoldens(d, []Model{m}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fails := res.Failures()
	if len(fails) == 0 {
		t.Fatal("verify passed with fc.bias[3] perturbed by 1e-3")
	}
	f := fails[0]
	if f.Case != "case-000" || f.Tensor != "logits" || !strings.Contains(f.Label(), "seed-cnn/fp32 case-000 logits") {
		t.Errorf("first failure is %s, want seed-cnn/fp32 case-000 logits", f.Label())
	}
	if f.Diff.WorstIndex[1] != 3 || math.Abs(f.Diff.WorstGot-f.Diff.WorstWant-1e-3) > 1e-5 {
		t.Errorf("worst element %v got %v want %v, want class 3 off by 1e-3", f.Diff.WorstIndex, f.Diff.WorstGot, f.Diff.WorstWant)
	}
}

func TestVerifyRejectsUncheckableSets(t *testing.T) {
	models, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	d := openPublished(t)
	tests := []struct {
		name   string
		models []Model
		only   []string
		want   string
	}{
		{"a set without its model", []Model{Find(models, SeedCNNID, VersionFP32)}, nil, "/sets/1 (seed-cnn/fp64): no reference model seed-cnn at version fp64"},
		{"only a model without sets", models, []string{"seed-gan"}, `no golden set of model "seed-gan"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyGoldens(d, tt.models, tt.only)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("VerifyGoldens error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestGenerateGoldens writes a set to a temporary directory, verifies it,
// and checks that regenerating gives the same bytes and that an unrelated
// directory is never replaced.
func TestGenerateGoldens(t *testing.T) {
	models, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	models = models[:1] // fp32 only, to keep -race runs short
	refs, err := PublishedWeightsRefs()
	if err != nil {
		t.Fatal(err)
	}
	opts := GenerateOptions{Generator: Generator("test"), Weights: refs}
	out := filepath.Join(t.TempDir(), "set")
	if err := GenerateGoldens(models, out, opts); err != nil {
		t.Fatal(err)
	}
	d, err := golden.Open(os.DirFS(out), aiconform.Testdata())
	if err != nil {
		t.Fatal(err)
	}
	res, err := VerifyGoldens(d, models, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || len(res.Tensors) == 0 {
		t.Fatalf("verify of a freshly generated set: %d tensors, %d failures", len(res.Tensors), len(res.Failures()))
	}
	first, err := os.ReadFile(filepath.Join(out, golden.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := GenerateGoldens(models, out, opts); err != nil {
		t.Fatalf("regenerating over an earlier set: %v", err)
	}
	second, err := os.ReadFile(filepath.Join(out, golden.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Error("regenerating on the same machine changed manifest.json")
	}
	entries, err := os.ReadDir(filepath.Dir(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("generation left %d entries beside the set, want none", len(entries)-1)
	}

	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "notes.txt"), []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = GenerateGoldens(models, other, opts)
	if err == nil || !strings.Contains(err.Error(), "not a golden directory") {
		t.Fatalf("generating into a directory of other files: error %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(other, "notes.txt")); err != nil {
		t.Fatalf("the unrelated file is gone: %v", err)
	}
	if err := GenerateGoldens(models, filepath.Join(t.TempDir(), "x"), GenerateOptions{Generator: Generator("test")}); err == nil || !strings.Contains(err.Error(), "no weights file") {
		t.Fatalf("generating without weights refs: error %v, want one naming the missing weights", err)
	}
}

// TestFP32AgainstFP64 measures how far the published FP32 goldens are from
// the FP64 ones, per model (the numbers the fp32 tolerance class must
// cover), and checks through the contract's comparison that they are
// within the fp32 class.
func TestFP32AgainstFP64(t *testing.T) {
	d := openPublished(t)
	for _, id := range ModelIDs() {
		s32, s64 := publishedSet(t, d, id, VersionFP32), publishedSet(t, d, id, VersionFP64)
		tol := s32.Tolerance
		if len(s32.Loaded) != len(s64.Loaded) {
			t.Errorf("the published fp32 and fp64 sets of %s have %d and %d cases", id, len(s32.Loaded), len(s64.Loaded))
			continue
		}
		type worst struct{ abs, rel, share float64 }
		worsts := map[string]*worst{}
		for i, a := range s32.Loaded {
			b := s64.Loaded[i]
			diffs, err := s64.Contract.Compare(b.Inputs, a.Outputs, b.Outputs, tol)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range diffs {
				if !d.OK() {
					t.Errorf("%s %s %s: fp32 against fp64: %s", id, a.Name, d.Name, d.Summary(tol))
				}
				w := worsts[d.Name]
				if w == nil {
					w = &worst{}
					worsts[d.Name] = w
				}
				w.abs, w.rel, w.share = max(w.abs, d.MaxAbs), max(w.rel, d.MaxRel), max(w.share, d.WorstRatio)
			}
		}
		for name, w := range worsts {
			t.Logf("%s fp32 vs fp64 over %d cases, %s: max abs error %.3g, max rel error %.3g, largest share of the fp32 tolerance used %.3g", id, len(s32.Loaded), name, w.abs, w.rel, w.share)
		}
	}
}

// TestVerifyIgnoresPaddedLogits rewrites one padded transformer case the way
// PyTorch's fast path would answer it (zeros at padded positions) and checks
// that verification accepts it, while a change at a token position fails.
func TestVerifyIgnoresPaddedLogits(t *testing.T) {
	models, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	m := Find(models, SeedTransformerID, VersionFP32)
	const caseName = "case-033" // batch 3, length 7, tokens per row 7,3,1
	tests := []struct {
		name   string
		mutate func(logits numerics.Tensor, mask numerics.Tensor)
		ok     bool
	}{
		{"zeros at padded positions", func(logits, mask numerics.Tensor) {
			for p, keep := range mask.I64 {
				if keep == 0 {
					clear(logits.F32[p*100 : (p+1)*100])
				}
			}
		}, true},
		{"a token position changed", func(logits, mask numerics.Tensor) {
			logits.F32[7*100+5] += 0.01 // row 1, position 0: a token
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := openPublished(t)
			set := publishedSet(t, d, SeedTransformerID, VersionFP32)
			i := slices.IndexFunc(set.Loaded, func(l golden.Loaded) bool { return l.Name == caseName })
			if i < 0 {
				t.Fatalf("no case %s", caseName)
			}
			l := set.Loaded[i]
			tt.mutate(l.Outputs["logits"], l.Inputs["attention_mask"])
			set.Loaded = []golden.Loaded{l}
			d.Sets = []golden.LoadedSet{set}
			res, err := VerifyGoldens(d, []Model{m}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK() != tt.ok {
				t.Fatalf("verify OK = %v, want %v; failures: %v", res.OK(), tt.ok, res.Failures())
			}
		})
	}
}

func TestVerifyOnly(t *testing.T) {
	models, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	res, err := VerifyGoldens(openPublished(t), models, []string{SeedRNNID})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tensors) == 0 || !res.OK() {
		t.Fatalf("seed-rnn only: %d tensors, OK %v", len(res.Tensors), res.OK())
	}
	for _, r := range res.Tensors {
		if r.Model != SeedRNNID {
			t.Fatalf("Only seed-rnn recomputed %s", r.Label())
		}
	}
}
