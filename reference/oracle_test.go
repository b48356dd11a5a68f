package reference

import (
	"context"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/numerics"
)

// TestOracle: the built-in oracle answers what the model computes, an
// unknown model or version is an error, and a model given twice is refused.
func TestOracle(t *testing.T) {
	models, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]numerics.Tensor{"input": numerics.NewF32([]int64{1, 3, 10}, make([]float32, 30))}
	for i := range in["input"].F32 {
		in["input"].F32[i] = float32(i%7) / 7
	}
	o := BuiltinOracle()
	got, err := o.Predict(context.Background(), SeedRNNID, VersionFP32, in)
	if err != nil {
		t.Fatal(err)
	}
	var rnn Model
	for _, m := range models {
		if m.ID() == SeedRNNID && m.Version() == VersionFP32 {
			rnn = m
		}
	}
	want, err := rnn.Forward(in)
	if err != nil {
		t.Fatal(err)
	}
	if d := numerics.Compare(got["logits"], want["logits"], numerics.Tolerance{}); !d.OK() || d.MaxAbs != 0 {
		t.Errorf("the oracle's logits differ from the model's: %s", d.Summary(numerics.Tolerance{}))
	}
	if _, err := o.Predict(context.Background(), SeedRNNID, "int8", in); err == nil || !strings.Contains(err.Error(), "no model seed-rnn version int8") {
		t.Errorf("unknown version: %v", err)
	}
	if _, err := NewOracle([]Model{rnn, rnn}); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("a model given twice: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := o.Predict(ctx, SeedRNNID, VersionFP32, in); err == nil {
		t.Error("a cancelled context predicted")
	}
}
