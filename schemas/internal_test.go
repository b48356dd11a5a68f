package schemas

import (
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestNoNetworkRefs: a $ref outside the embedded tree fails to compile
// instead of being fetched.
func TestNoNetworkRefs(t *testing.T) {
	for _, url := range []string{
		"https://json-schema.example/remote.json",
		BaseURL + "modelcard/v99.schema.json",
		BaseURL + "../etc/passwd",
		"file:///etc/passwd",
	} {
		if _, err := (embeddedLoader{}).Load(url); err == nil || !strings.Contains(err.Error(), "never loaded from the network") {
			t.Errorf("Load(%q) error = %v, want a refusal", url, err)
		}
	}
	doc, err := (embeddedLoader{}).Load(URL("modelcard", "v1"))
	if err != nil {
		t.Fatalf("Load(modelcard v1): %v", err)
	}
	if doc.(map[string]any)["$id"] != URL("modelcard", "v1") {
		t.Errorf("Load(modelcard v1) returned a document with $id %v", doc.(map[string]any)["$id"])
	}

	c := jsonschema.NewCompiler()
	c.UseLoader(embeddedLoader{})
	if err := c.AddResource(BaseURL+"test/v1.schema.json", map[string]any{"$ref": "https://json-schema.example/remote.json"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compile(BaseURL + "test/v1.schema.json"); err == nil || !strings.Contains(err.Error(), "never loaded from the network") {
		t.Errorf("compiling a schema with a remote $ref: error = %v, want a refusal", err)
	}
}

func TestPointer(t *testing.T) {
	tests := []struct {
		tokens []string
		want   string
	}{
		{nil, ""},
		{[]string{"a", "0", "b"}, "/a/0/b"},
		{[]string{"a/b", "m~n", ""}, "/a~1b/m~0n/"},
	}
	for _, tc := range tests {
		if got := pointer(tc.tokens); got != tc.want {
			t.Errorf("pointer(%q) = %q, want %q", tc.tokens, got, tc.want)
		}
	}
}

func TestComparePointers(t *testing.T) {
	tests := []struct {
		a, b string
		want int // sign
	}{
		{"", "/a", -1},
		{"/a/2", "/a/10", -1},
		{"/a/10/b", "/a/9", 1},
		{"/a", "/b", -1},
		{"/a/x", "/a/x", 0},
	}
	for _, tc := range tests {
		got := comparePointers(tc.a, tc.b)
		if sign(got) != tc.want || sign(comparePointers(tc.b, tc.a)) != -tc.want {
			t.Errorf("comparePointers(%q, %q) = %d, want sign %d (and the reverse)", tc.a, tc.b, got, tc.want)
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func TestVersionsSortNumerically(t *testing.T) {
	// index() sorts by number; check the comparison it uses.
	vs := []string{"v10", "v2", "v1"}
	for i := 0; i < len(vs); i++ {
		for j := i + 1; j < len(vs); j++ {
			if versionNumber(vs[j]) < versionNumber(vs[i]) {
				vs[i], vs[j] = vs[j], vs[i]
			}
		}
	}
	if strings.Join(vs, ",") != "v1,v2,v10" {
		t.Errorf("sorted = %v, want v1, v2, v10", vs)
	}
}

// TestEveryEmbeddedFileIndexed: a file the embed glob picks up but the
// index ignores (a misnamed kind folder or version) would silently vanish.
func TestEveryEmbeddedFileIndexed(t *testing.T) {
	n := 0
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		kind, file := path.Split(p)
		kind = strings.TrimSuffix(kind, "/")
		version := strings.TrimSuffix(file, ".schema.json")
		if !slices.Contains(index()[kind], version) {
			t.Errorf("%s is embedded but not indexed: folders are kinds like oip-infer-request, files vN.schema.json", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, vs := range index() {
		total += len(vs)
	}
	if n == 0 || total != n {
		t.Errorf("%d embedded files, %d indexed", n, total)
	}
}
