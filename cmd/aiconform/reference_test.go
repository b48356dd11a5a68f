package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/onnxexport"
)

// referenceCLI runs aiconform with args and returns the exit code, stdout
// and stderr.
func referenceCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestReferenceExportUsage(t *testing.T) {
	out := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no format", []string{"--out", out}, "--format safetensors|onnx is required"},
		{"bad format", []string{"--format", "pt", "--out", out}, `--format is "pt"`},
		{"no out", []string{"--format", "onnx"}, "--out DIR is required"},
		{"positional argument", []string{"--format", "onnx", "--out", out, "extra"}, "unknown command"},
		{"unknown flag", []string{"--format", "onnx", "--out", out, "--opset", "17"}, "unknown flag"},
		{"missing weights dir", []string{"--format", "onnx", "--out", out, "--weights", filepath.Join(out, "nope")}, "--weights"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := referenceCLI(t, append([]string{"reference", "export"}, tc.args...)...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d; stderr: %s", code, ExitUsage, errs)
			}
			if !strings.Contains(errs, tc.want) {
				t.Errorf("stderr %q lacks %q", errs, tc.want)
			}
		})
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("a failed export wrote %d entries to --out", len(entries))
	}
}

// TestReferenceExportSafetensors: the published weights, byte for byte.
func TestReferenceExportSafetensors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "new", "dir")
	code, stdout, errs := referenceCLI(t, "reference", "export", "--format", "safetensors", "--out", out)
	if code != ExitOK {
		t.Fatalf("exit %d; stderr: %s", code, errs)
	}
	assertExactFiles(t, out, ".safetensors")
	for _, id := range reference.ModelIDs() {
		want, err := fs.ReadFile(aiconform.Weights(), reference.WeightsFile(id))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(out, id+".safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s.safetensors differs from the published weights", id)
		}
		if !strings.Contains(stdout, golden.Digest(want)) {
			t.Errorf("stdout does not report the sha256 of %s:\n%s", id, stdout)
		}
	}
}

// TestReferenceExportONNX: one ONNX file per model from the published
// weights, recording the weights' digest, replacing an older file.
func TestReferenceExportONNX(t *testing.T) {
	out := t.TempDir()
	stale := filepath.Join(out, reference.ModelIDs()[0]+".onnx")
	if err := os.WriteFile(stale, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := referenceCLI(t, "reference", "export", "--format", "onnx", "--out", out)
	if code != ExitOK {
		t.Fatalf("exit %d; stderr: %s", code, errs)
	}
	assertExactFiles(t, out, ".onnx")
	for _, id := range reference.ModelIDs() {
		got, err := os.ReadFile(filepath.Join(out, id+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		w, raw, err := reference.LoadWeights(aiconform.Weights(), id)
		if err != nil {
			t.Fatal(err)
		}
		want, err := onnxexport.Export(id, w, onnxexport.Options{
			ProducerVersion: version,
			Metadata: []onnxexport.KeyValue{
				{Key: "aiconform.weights", Value: reference.WeightsPath(id)},
				{Key: "aiconform.weights_sha256", Value: golden.Digest(raw)},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s.onnx (%d bytes) is not the export of the published weights (%d bytes)", id, len(got), len(want))
		}
	}
}

// TestReferenceExportWeightsDir exports from a --weights directory and
// refuses one whose tensors do not match the model, writing nothing.
func TestReferenceExportWeightsDir(t *testing.T) {
	dir := t.TempDir()
	for _, id := range reference.ModelIDs() {
		b, err := fs.ReadFile(aiconform.Weights(), reference.WeightsFile(id))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, reference.WeightsFile(id)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	if code, _, errs := referenceCLI(t, "reference", "export", "--format", "onnx", "--weights", dir, "--out", out); code != ExitOK {
		t.Fatalf("export from a copy of the published weights: exit %d; stderr: %s", code, errs)
	}
	assertExactFiles(t, out, ".onnx")

	// Replace the last model's weights with the first's: wrong tensors.
	ids := reference.ModelIDs()
	first, last := ids[0], ids[len(ids)-1]
	b, err := os.ReadFile(filepath.Join(dir, reference.WeightsFile(first)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, reference.WeightsFile(last)), b, 0o644); err != nil {
		t.Fatal(err)
	}
	out2 := filepath.Join(t.TempDir(), "out2")
	code, _, errs := referenceCLI(t, "reference", "export", "--format", "onnx", "--weights", dir, "--out", out2)
	if code != ExitUsage {
		t.Fatalf("export from mismatched weights: exit %d, want %d; stderr: %s", code, ExitUsage, errs)
	}
	if !strings.Contains(errs, reference.WeightsFile(last)) {
		t.Errorf("stderr does not name %s: %s", reference.WeightsFile(last), errs)
	}
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Errorf("a failed export created --out (stat: %v)", err)
	}
}

// assertExactFiles checks that dir holds exactly <model-id><ext> for every
// reference model and no temporary files.
func assertExactFiles(t *testing.T, dir, ext string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	for _, id := range reference.ModelIDs() {
		want = append(want, id+ext)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %v, want %v", dir, got, want)
	}
}
