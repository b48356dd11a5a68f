// Package onnxpb is the ONNX model format in Go: the code protoc generates
// from onnx.proto (package onnx, proto2) of ONNX 1.12, the file exactly as
// Debian's python3-onnx 1.12 ships it, under the Apache License 2.0
// (LICENSE beside it). Message names and field numbers are ONNX's, so that
// every ONNX reader decodes what is built with this package.
//
// The .pb.go file is generated: change nothing in it by hand. After a
// change of the .proto file or of the plugin version go.mod pins, run go
// generate; TestGeneratedCodeIsCurrent fails while it is stale.
package onnxpb

//go:generate bash ../../../scripts/protoc.sh . onnx.proto github.com/aiconform/aiconform/reference/onnxexport/onnxpb
