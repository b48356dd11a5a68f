package schemas_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/schemas"
)

// examplesDir holds the published example documents (see its README.md).
var examplesDir = filepath.Join("..", "testdata", "examples")

// exampleKind returns KIND of an example named NAME.KIND.EXT.
func exampleKind(t *testing.T, file string) string {
	t.Helper()
	parts := strings.Split(filepath.Base(file), ".")
	if len(parts) != 3 || !slices.Contains([]string{"json", "yaml", "yml"}, parts[2]) {
		t.Fatalf("%s: example names are NAME.KIND.EXT (EXT json, yaml or yml)", file)
	}
	return parts[1]
}

func exampleFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(examplesDir, dir))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if e.Name() != "expected.json" {
			files = append(files, e.Name())
		}
	}
	if len(files) == 0 {
		t.Fatalf("no examples in %s", dir)
	}
	return files
}

func decodeExample(t *testing.T, path string) any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := schemas.DecodeDocument(path, b)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestValidExamples(t *testing.T) {
	covered := map[string]bool{}
	for _, f := range exampleFiles(t, "valid") {
		t.Run(f, func(t *testing.T) {
			kind := exampleKind(t, f)
			covered[kind] = true
			doc := decodeExample(t, filepath.Join(examplesDir, "valid", f))
			if k, ok := schemas.KindOf(doc); ok && k != kind {
				t.Errorf("the document's kind is %q, its name says %q", k, kind)
			}
			vs, err := schemas.Validate(kind, "", doc)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				t.Errorf("%s", v)
			}
		})
	}
	for _, k := range ownKinds {
		if !covered[k] {
			t.Errorf("no valid example of kind %s", k)
		}
	}
}

// expectation is one entry of invalid/expected.json.
type expectation struct {
	Kind            string `json:"kind"`
	Pointer         string `json:"pointer"`
	MessageContains string `json:"messageContains"`
}

func loadExpectations(t *testing.T) map[string]expectation {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examplesDir, "invalid", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp map[string]expectation
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&exp); err != nil {
		t.Fatalf("invalid/expected.json: %v", err)
	}
	return exp
}

// TestInvalidExamples: each invalid example breaks exactly one rule, at the
// pointer expected.json records.
func TestInvalidExamples(t *testing.T) {
	exp := loadExpectations(t)
	files := exampleFiles(t, "invalid")
	covered := map[string]bool{}
	for _, f := range files {
		if _, ok := exp[f]; !ok {
			t.Errorf("invalid/%s has no entry in expected.json", f)
		}
	}
	for f, e := range exp {
		t.Run(f, func(t *testing.T) {
			if !slices.Contains(files, f) {
				t.Fatalf("expected.json lists %s, which does not exist", f)
			}
			if k := exampleKind(t, f); k != e.Kind {
				t.Errorf("expected.json says kind %q, the name says %q", e.Kind, k)
			}
			if e.MessageContains == "" {
				t.Error("expected.json gives no messageContains")
			}
			covered[e.Kind] = true
			doc := decodeExample(t, filepath.Join(examplesDir, "invalid", f))
			vs, err := schemas.Validate(e.Kind, "", doc)
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != 1 || vs[0].Pointer != e.Pointer || !strings.Contains(vs[0].Message, e.MessageContains) {
				t.Errorf("violations = %v; want exactly one, at %q, containing %q", vs, e.Pointer, e.MessageContains)
			}
		})
	}
	for _, k := range ownKinds {
		if !covered[k] {
			t.Errorf("no invalid example of kind %s", k)
		}
	}
}
