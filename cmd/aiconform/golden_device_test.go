package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/golden"
)

// fakePython writes an executable shell script that stands in for the
// Python interpreter: it records its arguments in DIR/args and then runs
// body (a shell fragment; $out is the value of --out).
func fakePython(t *testing.T, body string) (python, argsFile string) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to run a fake interpreter")
	}
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + argsFile + "\n" +
		"out=''; prev=''; for a in \"$@\"; do [ \"$prev\" = --out ] && out=\"$a\"; prev=\"$a\"; done\n" + body + "\n"
	python = filepath.Join(dir, "python")
	if err := os.WriteFile(python, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return python, argsFile
}

func runGenerate(t *testing.T, o goldenGenerateOptions) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := runGoldenGenerate(context.Background(), o, Streams{Out: &out, Err: &errb})
	if err == nil {
		return ExitOK, out.String(), errb.String()
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		t.Fatalf("runGoldenGenerate returned %v without an exit code", err)
	}
	return ee.Code, out.String(), errb.String() + "\n" + err.Error()
}

func TestGoldenGenerateCUDARoute(t *testing.T) {
	// The published set, whose manifest the valid script rewrites with
	// device cuda.
	published := filepath.Join("..", "..", "testdata", "goldens", "v1")
	manifest, err := os.ReadFile(filepath.Join(published, golden.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	valid := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(valid, bytes.Replace(manifest, []byte(`"device": "cpu"`), []byte(`"device": "cuda"`), -1), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "generate_goldens.py")
	if err := os.WriteFile(script, []byte("# stand-in\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		body     string
		wantCode int
		wantErr  string
	}{
		{"no CUDA", "echo 'generate_goldens: CUDA not available: torch.cuda.is_available() is false' >&2; exit 2",
			ExitUsage, "CUDA not available: torch.cuda.is_available() is false"},
		{"no torch", "echo 'generate_goldens: PyTorch not available in /usr/bin/python3: No module named torch' >&2; exit 2",
			ExitUsage, "PyTorch not available"},
		{"script crashes", "echo 'Traceback: boom' >&2; exit 1", ExitFail, "Traceback: boom"},
		{"no manifest written", "mkdir -p \"$out\"; exit 0", ExitFail, "wrote no manifest"},
		{"manifest violates the schema", "mkdir -p \"$out\"; echo '{\"kind\": \"golden-manifest\"}' > \"$out/manifest.json\"",
			ExitFail, "violates the golden-manifest schema"},
		{"valid set", "mkdir -p \"$out\"; cp -R " + published + "/. \"$out\"; cp " + valid + " \"$out/manifest.json\"; echo wrote", ExitOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			python, argsFile := fakePython(t, tt.body)
			out := filepath.Join(t.TempDir(), "gpu")
			code, stdout, errs := runGenerate(t, goldenGenerateOptions{Out: out, Device: "cuda", Python: python, Script: script})
			if code != tt.wantCode || !strings.Contains(errs, tt.wantErr) {
				t.Fatalf("exit %d, want %d with %q; stderr:\n%s", code, tt.wantCode, tt.wantErr, errs)
			}
			args, err := os.ReadFile(argsFile)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Join([]string{script, "--device", "cuda", "--out", out, "--generator-version", version}, "\n") + "\n"
			if string(args) != want {
				t.Errorf("the interpreter got args\n%s\nwant\n%s", args, want)
			}
			if tt.wantCode == ExitOK && !strings.Contains(stdout, "wrote") {
				t.Errorf("the script's stdout was not passed on: %q", stdout)
			}
		})
	}
}

func TestGoldenGenerateDeviceErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "g")
	tests := []struct {
		name string
		o    goldenGenerateOptions
		want string
	}{
		{"unknown device", goldenGenerateOptions{Out: out, Device: "tpu"}, `--device is "tpu", want cpu or cuda`},
		{"missing interpreter", goldenGenerateOptions{Out: out, Device: "cuda", Python: filepath.Join(out, "no-python"),
			Script: "golden_device_test.go"}, "Python interpreter"},
		{"missing script", goldenGenerateOptions{Out: out, Device: "cuda", Script: filepath.Join(out, "nope.py")}, "--torch-script"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runGenerate(t, tt.o)
			if code != ExitUsage || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, want 2 with %q; stderr:\n%s", code, tt.want, errs)
			}
		})
	}
	if code, _, errs := goldenCLI(t, "golden", "generate", "--out", out, "--device", "gpu"); code != ExitUsage || !strings.Contains(errs, "--device") {
		t.Fatalf("--device gpu exited %d, want 2; stderr:\n%s", code, errs)
	}
}

func TestLocateTorchScript(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	got, err := locateTorchScript(wd) // cmd/aiconform, two levels below the root
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Abs(filepath.Join("..", "..", filepath.FromSlash(torchScript)))
	if got != want {
		t.Errorf("locateTorchScript(%s) = %s, want %s", wd, got, want)
	}
	// Another module's go.mod does not count.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := locateTorchScript(other); err == nil || !strings.Contains(err.Error(), "--torch-script") {
		t.Errorf("locateTorchScript outside the module = %v, want an error pointing at --torch-script", err)
	}
	if p := goModPath([]byte("// c\nmodule \"github.com/aiconform/aiconform\"\n\ngo 1.26\n")); p != modulePath {
		t.Errorf("goModPath = %q", p)
	}
}

// TestGoldenGenerateCUDAWithTorch runs the real script where Debian's
// PyTorch is installed: without a GPU it must exit 2 with the CUDA message;
// with one it must write a set that verifies.
func TestGoldenGenerateCUDAWithTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PyTorch")
	}
	if err := exec.Command(defaultPython, "-c", "import torch").Run(); err != nil {
		t.Skipf("%s cannot import torch: %v", defaultPython, err)
	}
	out := filepath.Join(t.TempDir(), "gpu")
	code, _, errs := goldenCLI(t, "golden", "generate", "--device", "cuda", "--out", out)
	gpu := exec.Command(defaultPython, "-c", "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)").Run() == nil
	switch {
	case !gpu && (code != ExitUsage || !strings.Contains(errs, "CUDA not available: torch.cuda.is_available() is false")):
		t.Fatalf("without CUDA: exit %d, want 2 with the CUDA message; stderr:\n%s", code, errs)
	case gpu && code != ExitOK:
		t.Fatalf("with CUDA: exit %d; stderr:\n%s", code, errs)
	case gpu:
		if code, _, errs := goldenCLI(t, "golden", "verify", out); code != ExitOK {
			t.Fatalf("verify of the CUDA set exited %d; stderr:\n%s", code, errs)
		}
	}
}
