package grpcbind

import (
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/aiconform/aiconform/numerics"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
)

// TensorContents returns the typed contents that carry t's elements: the
// field of t's datatype (fp32_contents, fp64_contents or int64_contents),
// sharing t's data rather than copying it.
func TensorContents(t numerics.Tensor) (*pb.InferTensorContents, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	switch t.DType {
	case numerics.FP32:
		return &pb.InferTensorContents{Fp32Contents: t.F32}, nil
	case numerics.FP64:
		return &pb.InferTensorContents{Fp64Contents: t.F64}, nil
	case numerics.INT64:
		return &pb.InferTensorContents{Int64Contents: t.I64}, nil
	}
	return nil, fmt.Errorf("datatype %s has no typed contents here", t.DType)
}

// ContentsField returns the field of InferTensorContents that holds the
// typed contents of datatype: bool_contents for BOOL, int_contents for
// INT8, INT16 and INT32, int64_contents for INT64, uint_contents for
// UINT8, UINT16 and UINT32, uint64_contents for UINT64, fp32_contents,
// fp64_contents and bytes_contents for FP32, FP64 and BYTES. A datatype
// without typed contents (FP16 and BF16, which travel only as raw
// contents, or one the protocol does not define) is an error wrapping
// ErrNotExpressible.
func ContentsField(datatype string) (protoreflect.Name, error) {
	if f, ok := contentsFields[datatype]; ok {
		return f, nil
	}
	return "", fmt.Errorf("datatype %q has no typed contents in the gRPC binding (FP16 and BF16 travel only as raw contents): %w", datatype, ErrNotExpressible)
}

// contentsFields maps a datatype to its field of typed contents.
var contentsFields = map[string]protoreflect.Name{
	"BOOL": "bool_contents",
	"INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
	"INT64": "int64_contents",
	"UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
	"UINT64": "uint64_contents",
	"FP32":   "fp32_contents",
	"FP64":   "fp64_contents",
	"BYTES":  "bytes_contents",
}
