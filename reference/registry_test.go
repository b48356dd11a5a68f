package reference

import (
	"slices"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/spec"
)

// TestRegistryMatchesSpec keeps the registry in step with the reference
// models and versions of spec/v1/models.json.
func TestRegistryMatchesSpec(t *testing.T) {
	if got, want := ModelIDs(), spec.ReferenceModels(); !slices.Equal(got, want) {
		t.Errorf("ModelIDs = %v, spec.ReferenceModels = %v", got, want)
	}
	if got, want := Versions(), []string{VersionFP32, VersionFP64}; !slices.Equal(got, want) {
		t.Errorf("Versions = %v, want %v (VersionFP32, VersionFP64)", got, want)
	}
	for _, v := range Versions() {
		mv, _ := spec.LookupVersion(v)
		if got, err := VersionOf(mv.Datatype); got != v || err != nil {
			t.Errorf("VersionOf(%s) = %q, %v; want %q", mv.Datatype, got, err, v)
		}
	}
	for _, r := range registry {
		if r.weights == nil || r.build == nil || r.goldenInputs == nil {
			t.Errorf("the registry entry of %s lacks a weight list, a constructor or golden inputs", r.id)
		}
	}
}

func TestRegistryRejectsUnknownModels(t *testing.T) {
	tests := []struct {
		name string
		call func() error
	}{
		{"WeightSpecs", func() error { _, err := WeightSpecs("seed-gan"); return err }},
		{"GenerateWeights", func() error { _, err := GenerateWeights("seed-gan"); return err }},
		{"New", func() error { _, err := New("seed-gan", nil, "FP32"); return err }},
		{"GoldenInputs", func() error { _, err := GoldenInputs("seed-gan"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil || !strings.Contains(err.Error(), `unknown model "seed-gan"`) {
				t.Fatalf("%s(seed-gan) error = %v, want one naming the unknown model", tt.name, err)
			}
		})
	}
}
