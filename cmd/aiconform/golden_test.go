package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/reference"
)

// goldenCLI runs aiconform with args and returns the exit code, stdout and
// stderr.
func goldenCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

// publishedTensorCount counts the output tensors of the published sets of
// model, from the manifest.
func publishedTensorCount(t *testing.T, model string) int {
	t.Helper()
	m, _, err := golden.ReadManifest(aiconform.Goldens(), ".")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range m.Sets {
		if s.Model == model {
			for _, c := range s.Cases {
				n += len(c.Outputs)
			}
		}
	}
	return n
}

// TestGoldenVerifyPublished verifies the published seed-rnn sets through the
// CLI (package reference verifies every published set; seed-rnn is the
// cheapest to recompute under -race).
func TestGoldenVerifyPublished(t *testing.T) {
	code, out, errs := goldenCLI(t, "golden", "verify", "--model", "seed-rnn")
	if code != ExitOK {
		t.Fatalf("golden verify exited %d, want 0; stderr:\n%s", code, errs)
	}
	agree := fmt.Sprintf("all %d tensors agree", publishedTensorCount(t, "seed-rnn"))
	for _, want := range []string{"MAX ABS ERROR", "MAX ULP", "seed-rnn/fp32", "seed-rnn/fp64", "case-037", "logits", agree} {
		if !strings.Contains(out, want) {
			t.Errorf("golden verify output lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"FAIL", "seed-cnn/", "seed-transformer/"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("golden verify --model seed-rnn printed %q:\n%s", unwanted, out)
		}
	}
}

func TestGoldenGenerateThenVerify(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "goldens")
	code, out, errs := goldenCLI(t, "golden", "generate", "--model", "seed-cnn", "--out", dir)
	if code != ExitOK {
		t.Fatalf("golden generate exited %d; stderr:\n%s", code, errs)
	}
	if !strings.Contains(out, dir) {
		t.Errorf("golden generate does not say where it wrote: %q", out)
	}
	if code, _, errs := goldenCLI(t, "golden", "verify", dir); code != ExitOK {
		t.Fatalf("golden verify of the generated set exited %d; stderr:\n%s", code, errs)
	}

	// A manifest that violates its schema: exit 1 naming the pointer.
	manifest := filepath.Join(dir, "manifest.json")
	orig, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(orig, []byte(`"device": "cpu"`), []byte(`"device": "tpu"`), 1)
	if err := os.WriteFile(manifest, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs = goldenCLI(t, "golden", "verify", dir)
	if code != ExitFail || !strings.Contains(errs, "manifest.json: /sets/0/device") {
		t.Fatalf("golden verify with device tpu exited %d, want 1 naming /sets/0/device; stderr:\n%s", code, errs)
	}
	if err := os.WriteFile(manifest, orig, 0o644); err != nil {
		t.Fatal(err)
	}

	// One flipped byte in a case file: exit 1 naming the file.
	file := filepath.Join(dir, "seed-cnn", "fp64", "case-003.safetensors")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs = goldenCLI(t, "golden", "verify", dir)
	if code != ExitFail || !strings.Contains(errs, "seed-cnn/fp64/case-003.safetensors: sha256 is") {
		t.Fatalf("golden verify of a tampered set exited %d, want 1 naming the file; stderr:\n%s", code, errs)
	}
}

func TestGoldenVerifyMismatch(t *testing.T) {
	w, err := reference.GenerateWeights(reference.SeedCNNID)
	if err != nil {
		t.Fatal(err)
	}
	w["conv2.bias"].F32[10] += 1e-3
	var models []reference.Model
	for _, dt := range []numerics.DType{numerics.FP32, numerics.FP64} {
		m, err := reference.NewSeedCNN(w, dt)
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, m)
	}
	var out, errb bytes.Buffer
	err = runGoldenVerify(goldenVerifyOptions{Models: models, Only: []string{reference.SeedCNNID}}, Streams{Out: &out, Err: &errb})
	var ee *exitError
	if !errors.As(err, &ee) || ee.Code != ExitFail {
		t.Fatalf("verify with a perturbed weight returned %v, want exit code 1", err)
	}
	if !strings.Contains(errb.String(), "FAIL seed-cnn/fp32 case-") || !strings.Contains(errb.String(), "worst at index") {
		t.Errorf("stderr does not name the failing case and its worst element:\n%s", errb.String())
	}
	if !strings.Contains(err.Error(), "tensors outside their tolerance class; first: seed-cnn/fp32 case-") {
		t.Errorf("error = %v, want it to name the first failing case", err)
	}
	if !strings.Contains(out.String(), "FAIL") {
		t.Errorf("the table does not mark failures:\n%s", out.String())
	}
}

func TestGoldenUsageErrors(t *testing.T) {
	notGolden := t.TempDir()
	if err := os.WriteFile(filepath.Join(notGolden, "keep.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	emptyManifestDir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"generate without --out", []string{"golden", "generate"}, "--out DIR is required"},
		{"generate over other files", []string{"golden", "generate", "--out", notGolden}, "not a golden directory"},
		{"verify a missing dir", []string{"golden", "verify", filepath.Join(notGolden, "nope")}, "no such file"},
		{"verify a file", []string{"golden", "verify", filepath.Join(notGolden, "keep.txt")}, "is not a directory"},
		{"verify a dir without manifest", []string{"golden", "verify", emptyManifestDir}, "manifest.json"},
		{"two dirs", []string{"golden", "verify", "a", "b"}, "accepts at most 1 arg"},
		{"verify an unknown model", []string{"golden", "verify", "--model", "seed-gan"}, `--model "seed-gan" is not a reference model`},
		{"generate an unknown model", []string{"golden", "generate", "--model", "seed-gan", "--out", filepath.Join(notGolden, "g")}, `--model "seed-gan" is not a reference model`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := goldenCLI(t, tt.args...)
			if code != ExitUsage || !strings.Contains(errs, tt.want) {
				t.Fatalf("aiconform %v exited %d, want 2 with %q; stderr:\n%s", tt.args, code, tt.want, errs)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(notGolden, "keep.txt")); err != nil {
		t.Fatalf("generate removed an unrelated file: %v", err)
	}
}
