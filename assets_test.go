package aiconform

import (
	"io/fs"
	"testing"
	"testing/fstest"
)

func TestEmbeddedAssets(t *testing.T) {
	tests := []struct {
		name     string
		fsys     fs.FS
		expected []string
	}{
		{"Weights", Weights(), []string{"seed-cnn.safetensors"}},
		{"Goldens", Goldens(), []string{"manifest.json", "seed-cnn/fp32/case-000.safetensors", "seed-cnn/fp64/case-000.safetensors"}},
		{"Testdata", Testdata(), []string{"weights/seed-cnn.safetensors", "goldens/v1/manifest.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := fstest.TestFS(tt.fsys, tt.expected...); err != nil {
				t.Fatal(err)
			}
		})
	}
}
