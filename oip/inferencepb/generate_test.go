package inferencepb_test

import (
	"testing"

	"github.com/aiconform/aiconform/internal/protogen"
)

// TestGeneratedCodeIsCurrent fails when the .pb.go files are not what
// protoc generates from open_inference_grpc.proto with the pinned plugins.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	protogen.Check(t, ".", "open_inference_grpc.proto", "github.com/aiconform/aiconform/oip/inferencepb", true)
}
