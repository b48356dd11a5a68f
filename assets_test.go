package aiconform

import (
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/spec"
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

// TestGoldenManifestIsPublished: the embedded golden manifest is the one
// spec/v1/models.json publishes. A golden set regenerated on purpose is
// published by recording its manifest's new digest there.
func TestGoldenManifestIsPublished(t *testing.T) {
	pub := spec.PublishedGoldenManifest()
	b, err := fs.ReadFile(Goldens(), "manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := golden.Digest(b); got != pub.SHA256 {
		t.Errorf("the embedded golden manifest has sha256 %s; spec/v1/models.json publishes %s (set goldenManifest.sha256 to publish this set)", got, pub.SHA256)
	}
	if want := "testdata/goldens/v1/manifest.json"; pub.Path != want {
		t.Errorf("published manifest path %q, want %q, the manifest Goldens embeds", pub.Path, want)
	}
}
