package grpcbind

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/aiconform/aiconform/oip/inferencepb"
)

// scanDatatypes are the datatypes the scan is tried with: those it reads,
// and some it leaves to encoding/json.
var scanDatatypes = []string{"BOOL", "INT8", "INT32", "INT64", "UINT8", "UINT32", "UINT64", "FP32", "FP64", "BYTES", "FP16"}

// sameContents reports whether a and b marshal to the same bytes (so NaN
// payloads count too).
func sameContents(t testing.TB, a, b *pb.InferTensorContents) bool {
	t.Helper()
	opts := proto.MarshalOptions{Deterministic: true}
	x, err := opts.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := opts.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}

// TestScanContents holds the in-place scan to what it must take and what
// it must leave to encoding/json, and whatever it takes to the contents
// decodeContents gives.
func TestScanContents(t *testing.T) {
	tests := []struct {
		datatype, data string
		scanned        bool
	}{
		{"FP32", `[1, 2.5, -3e-7, 0]`, true},
		{"FP32", ` [ [1,2] , [3,4] ] `, true},
		{"FP32", `[]`, true},
		{"FP32", `[[],[[]]]`, true},
		{"FP32", `["NaN", "Infinity", "-Infinity", 1e39, -1e400]`, true},
		{"FP64", `[1.7976931348623157e308, 5e-324, 1e-400]`, true},
		{"INT64", `[-9223372036854775808, 9223372036854775807]`, true},
		{"INT32", `[-2147483648, 2147483647]`, true},
		{"UINT64", `[18446744073709551615, 0]`, true},
		{"BOOL", `[true, false, [true]]`, true},
		// Left to encoding/json: not taken here, decided there.
		{"INT32", `[2147483648]`, false},          // out of INT32's range
		{"INT64", `[9223372036854775808]`, false}, // out of int64's range
		{"INT64", `[1.0]`, false},                 // not an integer
		{"UINT8", `[-1]`, false},                  // negative
		{"FP32", `["nan"]`, false},                // not proto3's spelling
		{"FP32", `["N\u0061N"]`, false},           // an escape
		{"FP32", `[01]`, false},                   // not JSON's grammar
		{"FP32", `[1.]`, false},                   //
		{"FP32", `[.5]`, false},                   //
		{"FP32", `[+1]`, false},                   //
		{"FP32", `[1e]`, false},                   //
		{"FP32", `[1,]`, false},                   //
		{"FP32", `[,1]`, false},                   //
		{"FP32", `[1 2]`, false},                  //
		{"FP32", `[1]]`, false},                   //
		{"FP32", `[[1]`, false},                   //
		{"FP32", `[1] x`, false},                  //
		{"FP32", `{"a": 1}`, false},               // not an array
		{"FP32", `[null]`, false},                 //
		{"FP32", `[true]`, false},                 //
		{"BOOL", `[1]`, false},                    //
		{"BYTES", `["abc"]`, false},               // BYTES is not scanned
		{"FP16", `[1]`, false},                    // no typed contents
		{"FP32", strings.Repeat("[", 1001) + strings.Repeat("]", 1001), false}, // deeper than maxScanDepth
	}
	for _, tt := range tests {
		name := tt.datatype + " " + tt.data
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			c, ok := scanContents(tt.datatype, []byte(tt.data))
			if ok != tt.scanned {
				t.Fatalf("scanned %v, want %v", ok, tt.scanned)
			}
			if !ok {
				return
			}
			want, err := decodeContents(tt.datatype, []byte(tt.data))
			if err != nil {
				t.Fatalf("the scan took data decodeContents refuses: %v", err)
			}
			if !sameContents(t, c, want) {
				t.Errorf("scan %v, decodeContents %v", c, want)
			}
		})
	}
}

// FuzzScanContents: whatever the scan takes, decodeContents takes too and
// reads as the same contents.
func FuzzScanContents(f *testing.F) {
	for _, s := range []string{`[1, 2.5, -3e-7]`, `[[1,2],[3,4]]`, `["NaN", "-Infinity"]`, `[true, false]`, `[18446744073709551615]`,
		`[-2147483649]`, `[1e400]`, `[ [ ] , [ 0 ] ]`, `[01]`, `["a\"b"]`, `[1] `, "[\t1\r\n]"} {
		for i := range scanDatatypes {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, dt uint8, data []byte) {
		datatype := scanDatatypes[int(dt)%len(scanDatatypes)]
		c, ok := scanContents(datatype, data)
		if !ok {
			return
		}
		want, err := decodeContents(datatype, data)
		if err != nil {
			t.Fatalf("%s %q: the scan took data decodeContents refuses: %v", datatype, data, err)
		}
		if !sameContents(t, c, want) {
			t.Fatalf("%s %q: scan %v, decodeContents %v", datatype, data, c, want)
		}
	})
}
