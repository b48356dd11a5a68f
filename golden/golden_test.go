package golden

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/aiconform/aiconform/numerics"
	"github.com/google/go-cmp/cmp"
)

func fixture(t *testing.T) (fstest.MapFS, Case) {
	t.Helper()
	in := map[string]numerics.Tensor{"input": numerics.NewF32([]int64{1, 2}, []float32{1, 2})}
	out := map[string]numerics.Tensor{"logits": numerics.NewF32([]int64{1, 1}, []float32{3})}
	b, err := EncodeCase(in, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := Case{Name: "c0", File: "m/c0.safetensors", SHA256: Digest(b), Inputs: []string{"input"}, Outputs: []string{"logits"}}
	m := Manifest{Kind: Kind, SpecVersion: "v1", Sets: []Set{{Model: "m", Version: "fp32", Cases: []Case{c}}}}
	mb, _ := json.Marshal(m)
	return fstest.MapFS{"g/manifest.json": {Data: mb}, "g/m/c0.safetensors": {Data: b}}, c
}

func TestLoadCase(t *testing.T) {
	fsys, c := fixture(t)
	m, _, err := ReadManifest(fsys, "g")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Case{c}, m.Sets[0].Cases); diff != "" {
		t.Fatalf("manifest cases (-want +got):\n%s", diff)
	}
	l, err := LoadCase(fsys, "g", c)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Outputs["logits"].F32; !cmp.Equal(got, []float32{3}) {
		t.Errorf("logits = %v", got)
	}
	if got := SortedNames(l.Inputs); !cmp.Equal(got, []string{"input"}) {
		t.Errorf("inputs = %v", got)
	}
}

func TestLoadCaseRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(fstest.MapFS, *Case)
		want   string
	}{
		{"flipped byte", func(f fstest.MapFS, _ *Case) { f["g/m/c0.safetensors"].Data[20] ^= 1 }, "g/m/c0.safetensors: sha256 is"},
		{"missing file", func(f fstest.MapFS, _ *Case) { delete(f, "g/m/c0.safetensors") }, "file does not exist"},
		{"missing tensor", func(_ fstest.MapFS, c *Case) { c.Outputs = append(c.Outputs, "probabilities") }, `no tensor "output.probabilities"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys, c := fixture(t)
			tc.mutate(fsys, &c)
			_, err := LoadCase(fsys, "g", c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadCase error = %v, want one containing %q", err, tc.want)
			}
		})
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

func TestComparedMask(t *testing.T) {
	mask := numerics.NewI64([]int64{2, 2}, []int64{1, 1, 1, 0})
	in := map[string]numerics.Tensor{"input_ids": numerics.NewI64([]int64{2, 2}, []int64{5, 6, 7, 0}), "attention_mask": mask}
	got, err := ComparedMask("seed-transformer", "logits", in, []int64{2, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{true, true, true, true, true, true, true, true, true, false, false, false}
	if !cmp.Equal(got, want) {
		t.Errorf("mask = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		model, output string
		in            map[string]numerics.Tensor
	}{
		{"seed-cnn", "logits", in},
		{"seed-transformer", "logits", map[string]numerics.Tensor{"input_ids": in["input_ids"]}},
	} {
		if got, err := ComparedMask(tc.model, tc.output, tc.in, []int64{2, 2, 3}); got != nil || err != nil {
			t.Errorf("ComparedMask(%s, %s) = %v, %v; want nil, nil (compare all)", tc.model, tc.output, got, err)
		}
	}
	if _, err := ComparedMask("seed-transformer", "logits", in, []int64{2, 3, 3}); err == nil {
		t.Error("a logits shape that does not match the mask was accepted")
	}
}
