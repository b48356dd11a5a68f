package aiconform

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fuzzTargets returns every fuzz target of the module's test files, as
// "./PACKAGE TARGET": a top-level func whose name starts with Fuzz and
// whose only parameter is a *testing.F.
func fuzzTargets(t *testing.T) []string {
	t.Helper()
	var out []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Fuzz") || len(fn.Type.Params.List) != 1 {
				continue
			}
			star, ok := fn.Type.Params.List[0].Type.(*ast.StarExpr)
			if !ok {
				continue
			}
			if sel, ok := star.X.(*ast.SelectorExpr); !ok || sel.Sel.Name != "F" {
				continue
			}
			out = append(out, "./"+filepath.ToSlash(filepath.Dir(p))+" "+fn.Name.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestFuzzTargetsListed: scripts/fuzz.sh, which CI runs, lists every fuzz
// target of the tree, and nothing else.
func TestFuzzTargetsListed(t *testing.T) {
	found := fuzzTargets(t)
	if len(found) == 0 {
		t.Fatal("no fuzz targets found in the tree")
	}
	b, err := exec.Command("bash", filepath.Join("scripts", "fuzz.sh"), "-list").Output()
	if err != nil {
		t.Fatalf("scripts/fuzz.sh -list: %v", err)
	}
	listed := strings.Split(strings.TrimSpace(string(b)), "\n")
	slices.Sort(listed)
	for _, target := range found {
		if !slices.Contains(listed, target) {
			t.Errorf("fuzz target %q is not in the list of scripts/fuzz.sh", target)
		}
	}
	for _, target := range listed {
		if !slices.Contains(found, target) {
			t.Errorf("scripts/fuzz.sh lists %q, which is no fuzz target of the tree", target)
		}
	}
	if len(listed) != len(slices.Compact(slices.Clone(listed))) {
		t.Errorf("scripts/fuzz.sh lists a target twice: %q", listed)
	}
}
