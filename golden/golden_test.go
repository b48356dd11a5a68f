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
