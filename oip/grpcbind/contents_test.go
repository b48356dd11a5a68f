package grpcbind

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
)

// TestContentsField: every protocol datatype names a field of
// InferTensorContents, the one its typed contents travel in (the same
// contentsFromJSON fills), except FP16 and BF16, which have none.
func TestContentsField(t *testing.T) {
	fields := (&pb.InferTensorContents{}).ProtoReflect().Descriptor().Fields()
	for _, dt := range oip.Datatypes {
		name, err := ContentsField(dt)
		if dt == "FP16" || dt == "BF16" {
			if !errors.Is(err, ErrNotExpressible) {
				t.Errorf("ContentsField(%s) = %q, %v; want ErrNotExpressible", dt, name, err)
			}
			continue
		}
		if err != nil || fields.ByName(name) == nil {
			t.Fatalf("ContentsField(%s) = %q, %v; want a field of InferTensorContents", dt, name, err)
		}
		value := map[string]string{"BOOL": "[true]", "BYTES": `["a"]`}[dt]
		if value == "" {
			value = "[1]"
		}
		c, err := contentsFromJSON(dt, []byte(value))
		if err != nil {
			t.Fatal(err)
		}
		var set []protoreflect.Name
		c.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			set = append(set, fd.Name())
			return true
		})
		if !slices.Equal(set, []protoreflect.Name{name}) {
			t.Errorf("%s: JSON data fills %v, ContentsField names %s", dt, set, name)
		}
	}
	if _, err := ContentsField("FP8"); err == nil {
		t.Error("ContentsField(FP8) = nil error")
	}
}

// TestTensorContents: a tensor's typed contents are its data, in the
// field of its datatype.
func TestTensorContents(t *testing.T) {
	for _, x := range []numerics.Tensor{
		numerics.NewF32([]int64{2}, []float32{1.5, -2}),
		numerics.NewF64([]int64{1, 1}, []float64{3}),
		numerics.NewI64([]int64{3}, []int64{1, 2, 3}),
	} {
		c, err := TensorContents(x)
		if err != nil {
			t.Fatal(err)
		}
		js, _, err := contentsJSON(string(x.DType), c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := oip.DecodeData(string(x.DType), x.Shape, js)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(back.F32, x.F32) || !slices.Equal(back.F64, x.F64) || !slices.Equal(back.I64, x.I64) {
			t.Errorf("%s: contents read back as %v, want %v", x.DType, back, x)
		}
	}
	if _, err := TensorContents(numerics.NewF32([]int64{3}, []float32{1})); err == nil {
		t.Error("a tensor with fewer values than its shape holds has contents")
	}
}
