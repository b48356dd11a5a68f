// Package golden reads and writes golden sets: named input and expected
// output tensors of the reference models, stored as safetensors files and
// described by a JSON manifest that records the producer, the device, the
// tolerance class and the sha256 of every file.
//
// A set lives in one directory:
//
//	manifest.json
//	seed-cnn/fp32/case-000.safetensors   (tensors "input.<name>" and "output.<name>")
//	...
package golden

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/safetensors"
)

// ManifestFile is the name of the manifest inside a golden directory.
const ManifestFile = "manifest.json"

// Kind is the manifest's document kind, as its schema names it.
const Kind = "golden-manifest"

// Tensor name prefixes inside a case file.
const (
	inputPrefix  = "input."
	outputPrefix = "output."
)

// Manifest describes a golden directory.
type Manifest struct {
	Kind        string `json:"kind"`
	SpecVersion string `json:"specVersion"`
	// Generator names the program that wrote the manifest.
	Generator Producer `json:"generator"`
	Sets      []Set    `json:"sets"`
}

// Producer names a program or framework and the versions of the libraries
// behind it.
type Producer struct {
	Name      string            `json:"name"`
	Version   string            `json:"version"`
	Libraries map[string]string `json:"libraries,omitempty"`
}

// Set is the goldens of one model version computed on one device.
type Set struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	// DType is the floating datatype of the set's floating tensors.
	DType numerics.DType `json:"dtype"`
	// Device is where the expected outputs were computed: "cpu" or "cuda".
	Device   string   `json:"device"`
	Producer Producer `json:"producer"`
	// ToleranceClass names the spec's class the outputs are compared under.
	ToleranceClass string `json:"toleranceClass"`
	// Weights is the weights file the outputs were computed from.
	Weights FileRef `json:"weights"`
	Cases   []Case  `json:"cases"`
}

// FileRef names a file by slash-separated path and sha256. Case files are
// relative to the manifest's directory; a set's weights file is relative to
// the testdata root (e.g. "weights/seed-cnn.safetensors"), since the goldens
// and the weights are published side by side and fs.FS paths cannot climb
// with "..".
type FileRef struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Case is one golden input and its expected outputs, stored in one file.
type Case struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	File        string `json:"file"`
	SHA256      string `json:"sha256"`
	// Inputs and Outputs list the tensor names (without prefix) the file holds.
	Inputs  []string `json:"inputs"`
	Outputs []string `json:"outputs"`
}

// Loaded is a case with its tensors decoded.
type Loaded struct {
	Case
	Inputs  map[string]numerics.Tensor
	Outputs map[string]numerics.Tensor
}

// Digest returns the lowercase hex sha256 of b.
func Digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// ReadManifest reads and decodes dir/manifest.json from fsys, rejecting
// unknown fields, and returns it with its bytes. It neither checks the
// manifest against its schema nor reads the files it lists: Open does both.
func ReadManifest(fsys fs.FS, dir string) (*Manifest, []byte, error) {
	p := path.Join(dir, ManifestFile)
	b, err := fs.ReadFile(fsys, p)
	if err != nil {
		return nil, nil, fmt.Errorf("golden: %w", err)
	}
	m, err := decodeManifest(p, b)
	if err != nil {
		return nil, nil, err
	}
	return m, b, nil
}

// decodeManifest decodes the manifest p holding b.
func decodeManifest(p string, b []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("golden: %s: %w", p, err)
	}
	if m.Kind != Kind {
		return nil, fmt.Errorf("golden: %s: /kind is %q, want %q", p, m.Kind, Kind)
	}
	return &m, nil
}

// readVerified reads a file named in the manifest and checks its digest.
func readVerified(fsys fs.FS, p, want string) ([]byte, error) {
	b, err := fs.ReadFile(fsys, p)
	if err != nil {
		return nil, &IntegrityError{File: p, Want: want, Err: err}
	}
	if got := Digest(b); got != want {
		return nil, &IntegrityError{File: p, Got: got, Want: want}
	}
	return b, nil
}

// LoadCase reads, verifies and decodes one case of a set whose manifest is
// in dir.
func LoadCase(fsys fs.FS, dir string, c Case) (Loaded, error) {
	p := path.Join(dir, c.File)
	b, err := readVerified(fsys, p, c.SHA256)
	if err != nil {
		return Loaded{}, fmt.Errorf("golden: %w", err)
	}
	return decodeCase(p, c, b)
}

// decodeCase decodes case c from b, the bytes of file p, keeping the
// tensors the manifest lists.
func decodeCase(p string, c Case, b []byte) (Loaded, error) {
	f, err := safetensors.Decode(b)
	if err != nil {
		return Loaded{}, fmt.Errorf("golden: %s: %w", p, err)
	}
	l := Loaded{Case: c, Inputs: map[string]numerics.Tensor{}, Outputs: map[string]numerics.Tensor{}}
	for _, n := range c.Inputs {
		t, ok := f.Tensors[inputPrefix+n]
		if !ok {
			return Loaded{}, fmt.Errorf("golden: %s: case %s lists input %q but the file has no tensor %q", p, c.Name, n, inputPrefix+n)
		}
		l.Inputs[n] = t
	}
	for _, n := range c.Outputs {
		t, ok := f.Tensors[outputPrefix+n]
		if !ok {
			return Loaded{}, fmt.Errorf("golden: %s: case %s lists output %q but the file has no tensor %q", p, c.Name, n, outputPrefix+n)
		}
		l.Outputs[n] = t
	}
	return l, nil
}

// EncodeCase returns the safetensors bytes of a case's tensors.
func EncodeCase(inputs, outputs map[string]numerics.Tensor, metadata map[string]string) ([]byte, error) {
	all := make(map[string]numerics.Tensor, len(inputs)+len(outputs))
	for n, t := range inputs {
		all[inputPrefix+n] = t
	}
	for n, t := range outputs {
		all[outputPrefix+n] = t
	}
	return safetensors.Encode(all, metadata)
}

// SortedNames returns the keys of m in order.
func SortedNames(m map[string]numerics.Tensor) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
