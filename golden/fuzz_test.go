package golden

import (
	"encoding/json"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/aiconform/aiconform/internal/fuzzcheck"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/safetensors"
)

// publishedManifest returns the published golden manifest and a copy cut
// down to the first case of its first two sets, which the fuzzer mutates
// faster.
func publishedManifest(f *testing.F) (full, small []byte) {
	f.Helper()
	full, err := os.ReadFile(filepath.Join("..", "testdata", "goldens", "v1", ManifestFile))
	if err != nil {
		f.Fatal(err)
	}
	m, err := decodeManifest(ManifestFile, full)
	if err != nil {
		f.Fatal(err)
	}
	m.Sets = m.Sets[:2]
	for i := range m.Sets {
		m.Sets[i].Cases = m.Sets[i].Cases[:1]
	}
	small, err = json.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	return full, small
}

// FuzzReadManifest feeds a manifest to ReadManifest through an fs.FS. An
// accepted manifest is of kind golden-manifest, comes back with the bytes
// it was read from, and its JSON form reads back to the same manifest.
// Memory stays bounded by the manifest's size.
func FuzzReadManifest(f *testing.F) {
	full, small := publishedManifest(f)
	f.Add(full)
	f.Add(small)
	example, err := os.ReadFile(filepath.Join("..", "testdata", "examples", "valid", "goldens.golden-manifest.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(`{"kind":"golden-manifest","sets":null}`))
	f.Add([]byte(`{"kind":"golden-manifest","extra":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fsys := fstest.MapFS{"goldens/" + ManifestFile: {Data: b}}
		var (
			m   *Manifest
			raw []byte
			err error
		)
		fuzzcheck.Bounded(t, fuzzcheck.Limit(len(b)), "ReadManifest", func() {
			m, raw, err = ReadManifest(fsys, "goldens")
		})
		if err != nil {
			if !strings.Contains(err.Error(), "goldens/"+ManifestFile) {
				t.Fatalf("error %q does not name the manifest", err)
			}
			return
		}
		if m.Kind != Kind {
			t.Fatalf("kind %q accepted", m.Kind)
		}
		if string(raw) != string(b) {
			t.Fatal("ReadManifest returned other bytes than the file's")
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("an accepted manifest does not encode: %v", err)
		}
		m2, _, err := ReadManifest(fstest.MapFS{ManifestFile: {Data: again}}, ".")
		if err != nil {
			t.Fatalf("the JSON form of an accepted manifest does not read: %v\n%s", err, again)
		}
		if d := cmp.Diff(m, m2, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("the JSON form of an accepted manifest reads as another (-first +again):\n%s", d)
		}
	})
}

// FuzzLoadCase feeds a case file and the manifest's lists of its inputs
// and outputs (comma-separated) to LoadCase through an fs.FS. With the
// case's digest right (tamper false), a loaded case holds exactly the
// listed tensors, each the file's tensor of that name bit for bit; with
// it wrong, LoadCase fails with an *IntegrityError. Memory stays bounded
// by the file's size.
func FuzzLoadCase(f *testing.F) {
	full, _ := publishedManifest(f)
	m, err := decodeManifest(ManifestFile, full)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range m.Sets {
		c := s.Cases[0]
		b, err := os.ReadFile(filepath.Join("..", "testdata", "goldens", "v1", filepath.FromSlash(c.File)))
		if err != nil {
			f.Fatal(err)
		}
		if len(b) > 16<<10 {
			continue // a large seed slows every mutation of it
		}
		f.Add(b, strings.Join(c.Inputs, ","), strings.Join(c.Outputs, ","), false)
	}
	b, err := EncodeCase(
		map[string]numerics.Tensor{"input": numerics.NewF32([]int64{1, 2}, []float32{1, 2})},
		map[string]numerics.Tensor{"logits": numerics.NewF64([]int64{1}, []float64{-0.5})}, map[string]string{"k": "v"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b, "input", "logits", false)
	f.Add(b, "input", "logits", true)
	f.Add(b, "input,missing", "", false)
	f.Fuzz(func(t *testing.T, file []byte, inputs, outputs string, tamper bool) {
		c := Case{Name: "case-000", File: "seed/fp32/case-000.safetensors", SHA256: Digest(file), Inputs: split(inputs), Outputs: split(outputs)}
		if tamper {
			c.SHA256 = Digest(append([]byte("x"), file...))
		}
		fsys := fstest.MapFS{path.Join("goldens", c.File): {Data: file}}
		var (
			l   Loaded
			err error
		)
		fuzzcheck.Bounded(t, fuzzcheck.Limit(len(file)+len(inputs)+len(outputs)), "LoadCase", func() {
			l, err = LoadCase(fsys, "goldens", c)
		})
		var ie *IntegrityError
		if tamper {
			if !errors.As(err, &ie) {
				t.Fatalf("a wrong digest gave %v, want an *IntegrityError", err)
			}
			return
		}
		if errors.As(err, &ie) {
			t.Fatalf("the right digest gave an *IntegrityError: %v", err)
		}
		if err != nil {
			return
		}
		st, err := safetensors.Decode(file)
		if err != nil {
			t.Fatalf("LoadCase accepted a file safetensors.Decode rejects: %v", err)
		}
		for prefix, want := range map[string]struct {
			names []string
			got   map[string]numerics.Tensor
		}{inputPrefix: {c.Inputs, l.Inputs}, outputPrefix: {c.Outputs, l.Outputs}} {
			if len(want.got) > len(want.names) {
				t.Fatalf("%d %s tensors loaded for %d listed", len(want.got), prefix, len(want.names))
			}
			for _, n := range want.names {
				x, ok := want.got[n]
				if !ok {
					t.Fatalf("listed tensor %s%s was not loaded", prefix, n)
				}
				if msg := fuzzcheck.SameTensor(x, st.Tensors[prefix+n]); msg != "" {
					t.Fatalf("tensor %s%s: %s", prefix, n, msg)
				}
			}
		}
	})
}

// split splits a comma-separated list; "" is the empty list.
func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
