package onnxpb_test

import (
	"testing"

	"github.com/aiconform/aiconform/internal/protogen"
)

// TestGeneratedCodeIsCurrent fails when onnx.pb.go is not what protoc
// generates from onnx.proto with the pinned plugin.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	protogen.Check(t, ".", "onnx.proto", "github.com/aiconform/aiconform/reference/onnxexport/onnxpb", false)
}
