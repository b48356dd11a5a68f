// Package protogen checks, for tests, that Go code generated from a
// .proto file is what scripts/protoc.sh generates today: the staleness
// test of each generated package calls Check.
package protogen

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/internal/tooltest"
)

// protocVersion matches the line of a generated file that names the
// protoc that made it: the one input go.mod does not pin, which Check
// ignores so that another protoc release that generates the same code
// passes.
var protocVersion = regexp.MustCompile(`(?m)^// \tprotoc +v.*$`)

// Check regenerates dir/file (see scripts/protoc.sh; grpc adds the
// service code) into a temporary directory and fails t for every
// generated file that differs from the one checked in beside it, or is
// missing there. It skips t, or fails it under
// AICONFORM_REQUIRE_TOOLS=1, where protoc is not installed.
func Check(t *testing.T, dir, file, importPath string, grpc bool) {
	t.Helper()
	tooltest.Require(t, "protoc", "protoc is not installed (Debian package protobuf-compiler), so the generated code is not checked against "+file)
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "protoc.sh")
	out := t.TempDir()
	args := []string{script, "-out", out}
	if grpc {
		args = append(args, "-grpc")
	}
	args = append(args, dir, file, importPath)
	cmd := exec.Command("bash", args...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/protoc.sh %s: %v\n%s", strings.Join(args[1:], " "), err, msg)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatalf("scripts/protoc.sh generated nothing from %s", file)
	}
	for _, e := range entries {
		want, err := os.ReadFile(filepath.Join(out, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Errorf("%s is not checked in (run go generate in %s): %v", e.Name(), dir, err)
			continue
		}
		if !bytes.Equal(protocVersion.ReplaceAll(got, nil), protocVersion.ReplaceAll(want, nil)) {
			t.Errorf("%s is stale: it is not what protoc generates from %s today; run go generate in %s", e.Name(), file, dir)
		}
	}
}
