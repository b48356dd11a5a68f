// Package inferencepb is the gRPC binding of the Open Inference Protocol
// v2: the Go code protoc generates from open_inference_grpc.proto, the
// service definition (package inference, service GRPCInferenceService)
// exactly as KServe publishes it, under the Apache License 2.0 (LICENSE
// beside it). Package, service and message names and field numbers are
// upstream's, so that Triton's and KServe's clients and servers talk to
// the ones built on this package.
//
// The .pb.go files are generated: change nothing in them by hand. After a
// change of the .proto file or of the plugin versions go.mod pins, run
// go generate; TestGeneratedCodeIsCurrent fails while they are stale.
package inferencepb

//go:generate bash ../../scripts/protoc.sh -grpc . open_inference_grpc.proto github.com/aiconform/aiconform/oip/inferencepb
