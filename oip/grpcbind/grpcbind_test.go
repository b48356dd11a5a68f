package grpcbind

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/aiconform/aiconform/oip"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
)

func TestStatusTable(t *testing.T) {
	// Every status the protocol's REST binding answers comes back to
	// itself through the table.
	for _, s := range []int{200, 400, 401, 403, 404, 409, 413, 499, 500, 501, 503, 504} {
		if got := StatusForCode(CodeForStatus(s)); got != s {
			t.Errorf("StatusForCode(CodeForStatus(%d)) = %d (via %s)", s, got, CodeForStatus(s))
		}
	}
	for _, tc := range []struct {
		status int
		code   codes.Code
	}{
		{204, codes.OK}, {405, codes.Unimplemented}, {408, codes.DeadlineExceeded},
		{418, codes.FailedPrecondition}, {429, codes.ResourceExhausted}, {502, codes.Internal},
	} {
		if got := CodeForStatus(tc.status); got != tc.code {
			t.Errorf("CodeForStatus(%d) = %s, want %s", tc.status, got, tc.code)
		}
	}
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if s := StatusForCode(c); (s == 200) != (c == codes.OK) {
			t.Errorf("StatusForCode(%s) = %d", c, s)
		}
	}
}

func fp32(v ...float32) *pb.InferTensorContents { return &pb.InferTensorContents{Fp32Contents: v} }

func TestRequestToREST(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name string
		req  *pb.ModelInferRequest
		json string // the JSON object of the REST request
		bin  []byte // the binary data after it
		err  string
	}{
		{
			name: "typed",
			req: &pb.ModelInferRequest{Id: "a", Inputs: []*pb.ModelInferRequest_InferInputTensor{
				{Name: "x", Datatype: "FP32", Shape: []int64{1, 2}, Contents: fp32(0.1, -2)},
				{Name: "n", Datatype: "INT64", Shape: []int64{2}, Contents: &pb.InferTensorContents{Int64Contents: []int64{1 << 62, -3}}},
			}, Outputs: []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "p", Parameters: map[string]*pb.InferParameter{
				"binary_data": {ParameterChoice: &pb.InferParameter_BoolParam{BoolParam: true}},
			}}}},
			json: `{"id":"a","inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[0.1,-2]},{"name":"n","shape":[2],"datatype":"INT64","data":[4611686018427387904,-3]}],"outputs":[{"name":"p","parameters":{"binary_data":true}}]}`,
		},
		{
			name: "raw asks for raw outputs",
			req: &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{
				{Name: "x", Datatype: "FP32", Shape: []int64{1}},
			}, RawInputContents: [][]byte{{0, 0, 128, 63}}},
			json: `{"parameters":{"binary_data_output":true},"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}]}`,
			bin:  []byte{0, 0, 128, 63},
		},
		{
			name: "a NaN travels as binary data",
			req: &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{
				{Name: "x", Datatype: "FP32", Shape: []int64{1}, Contents: fp32(nan)},
				{Name: "y", Datatype: "FP32", Shape: []int64{1}, Contents: fp32(1)},
			}},
			json: `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}},{"name":"y","shape":[1],"datatype":"FP32","data":[1]}]}`,
			bin:  []byte{0, 0, 192, 127},
		},
		{
			name: "no contents: no data",
			req:  &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: "FP32"}}},
			json: `{"inputs":[{"name":"x","shape":[],"datatype":"FP32"}]}`,
		},
		{
			name: "contents and raw",
			req: &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{
				{Name: "x", Datatype: "FP32", Contents: fp32(1)},
			}, RawInputContents: [][]byte{{0, 0, 0, 0}}},
			err: `input "x" has contents while the request uses raw_input_contents`,
		},
		{
			name: "raw count",
			req: &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "x"}, {Name: "y"}},
				RawInputContents: [][]byte{{}}},
			err: "raw_input_contents holds 1 entries for 2 inputs",
		},
		{
			name: "contents of another datatype",
			req: &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{
				{Name: "x", Datatype: "INT64", Contents: fp32(1)},
			}},
			err: "contents hold 1 elements in fp32_contents, which datatype INT64 does not use",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, header, err := RequestToREST(tc.req)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			js, bin, err := splitREST(body, header)
			if err != nil {
				t.Fatal(err)
			}
			if string(js) != tc.json {
				t.Errorf("JSON:\n got %s\nwant %s", js, tc.json)
			}
			if string(bin) != string(tc.bin) {
				t.Errorf("binary data = %v, want %v", bin, tc.bin)
			}
			if (header != nil) != (tc.bin != nil) {
				t.Errorf("header = %v with binary data %v", header, tc.bin)
			}
		})
	}
}

func TestRequestRoundTrip(t *testing.T) {
	// A gRPC request translated to REST and back is the same request;
	// raw requests gain the binary_data_output parameter they imply.
	for _, req := range []*pb.ModelInferRequest{
		{ModelName: "m", ModelVersion: "fp32", Id: "7", Inputs: []*pb.ModelInferRequest_InferInputTensor{
			{Name: "x", Datatype: "FP32", Shape: []int64{2}, Contents: fp32(1.5, float32(math.SmallestNonzeroFloat32))},
			{Name: "b", Datatype: "BOOL", Shape: []int64{1}, Contents: &pb.InferTensorContents{BoolContents: []bool{true}}},
			{Name: "s", Datatype: "BYTES", Shape: []int64{1}, Contents: &pb.InferTensorContents{BytesContents: [][]byte{[]byte("héllo \"x\"")}}},
			{Name: "u", Datatype: "UINT64", Shape: []int64{1}, Contents: &pb.InferTensorContents{Uint64Contents: []uint64{math.MaxUint64}}},
			{Name: "i", Datatype: "INT8", Shape: []int64{1}, Contents: &pb.InferTensorContents{IntContents: []int32{-128}}},
		}, Parameters: map[string]*pb.InferParameter{
			"d": {ParameterChoice: &pb.InferParameter_DoubleParam{DoubleParam: 0.25}},
			"s": {ParameterChoice: &pb.InferParameter_StringParam{StringParam: "v"}},
			"u": {ParameterChoice: &pb.InferParameter_Uint64Param{Uint64Param: math.MaxUint64}},
			"i": {ParameterChoice: &pb.InferParameter_Int64Param{Int64Param: -1}},
		}},
		{ModelName: "m", Inputs: []*pb.ModelInferRequest_InferInputTensor{
			{Name: "x", Datatype: "FP64", Shape: []int64{1}},
			{Name: "y", Datatype: "INT64", Shape: []int64{1}},
		}, RawInputContents: [][]byte{{1, 2, 3, 4, 5, 6, 7, 8}, {9, 0, 0, 0, 0, 0, 0, 0}},
			Parameters: map[string]*pb.InferParameter{"binary_data_output": {ParameterChoice: &pb.InferParameter_BoolParam{BoolParam: true}}}},
	} {
		body, header, err := RequestToREST(req)
		if err != nil {
			t.Fatal(err)
		}
		back, err := RequestFromREST(req.ModelName, req.ModelVersion, body, header)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(req, back, protocmp.Transform()); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

func TestRequestFromREST(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   string
		header http.Header
		want   *pb.ModelInferRequest
		err    error
		errMsg string
	}{
		{
			name: "nested data is flattened",
			body: `{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,1e39]]}]}`,
			want: &pb.ModelInferRequest{ModelName: "m", Inputs: []*pb.ModelInferRequest_InferInputTensor{
				{Name: "x", Datatype: "FP32", Shape: []int64{2, 2}, Contents: fp32(1, 2, 3, float32(math.Inf(1)))},
			}},
		},
		{
			name:   "mixed binary and JSON inputs become raw",
			body:   `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}},{"name":"n","shape":[1],"datatype":"INT64","data":[2]}]}` + "\x00\x00\x80\x3f",
			header: http.Header{oip.HeaderInferenceContentLength: {"130"}},
			want: &pb.ModelInferRequest{ModelName: "m", Inputs: []*pb.ModelInferRequest_InferInputTensor{
				{Name: "x", Datatype: "FP32", Shape: []int64{1}}, {Name: "n", Datatype: "INT64", Shape: []int64{1}},
			}, RawInputContents: [][]byte{{0, 0, 128, 63}, {2, 0, 0, 0, 0, 0, 0, 0}}},
		},
		{name: "fractional INT64", body: `{"inputs":[{"name":"n","shape":[1],"datatype":"INT64","data":[1.5]}]}`, err: ErrNotExpressible},
		{name: "object parameter", body: `{"parameters":{"p":{}},"inputs":[]}`, err: ErrNotExpressible},
		{name: "FP16 typed", body: `{"inputs":[{"name":"h","shape":[1],"datatype":"FP16","data":[1]}]}`, err: ErrNotExpressible},
		{name: "not JSON", body: `{"inputs":`, errMsg: "not the JSON expected"},
		{name: "binary left over", body: `{"inputs":[]}xx`, header: http.Header{oip.HeaderInferenceContentLength: {"13"}}, errMsg: "belong to no input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.header == nil {
				tc.header = http.Header{}
			} else if js, _, _ := strings.Cut(tc.body, "\x00"); tc.header.Get(oip.HeaderInferenceContentLength) == "130" {
				tc.header.Set(oip.HeaderInferenceContentLength, itoa(len(js)))
			}
			got, err := RequestFromREST("m", "", []byte(tc.body), tc.header)
			switch {
			case tc.err != nil:
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
			case tc.errMsg != "":
				if err == nil || !strings.Contains(err.Error(), tc.errMsg) {
					t.Fatalf("err = %v, want %q", err, tc.errMsg)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestResponseRoundTrip(t *testing.T) {
	// A REST answer translated to gRPC and back means the same: JSON
	// data stays JSON (NaN as proto3 writes it), binary stays binary and
	// makes every output raw.
	for _, tc := range []struct {
		name, body, want string
		bin, wantBin     []byte
		raw              int // raw_output_contents entries in the gRPC form
	}{
		{
			name: "JSON",
			body: `{"model_name":"m","model_version":"fp32","id":"1","outputs":[{"name":"p","shape":[1,3],"datatype":"FP32","data":[0.5,"NaN",1e-45]},{"name":"k","shape":[1],"datatype":"INT64","data":[3]}]}`,
		},
		{
			name:    "binary and JSON",
			body:    `{"model_name":"m","outputs":[{"name":"p","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}},{"name":"k","shape":[1],"datatype":"INT64","data":[3]}]}`,
			bin:     []byte{0, 0, 128, 63},
			want:    `{"model_name":"m","outputs":[{"name":"p","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}},{"name":"k","shape":[1],"datatype":"INT64","parameters":{"binary_data_size":8}}]}`,
			wantBin: []byte{0, 0, 128, 63, 3, 0, 0, 0, 0, 0, 0, 0},
			raw:     2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			header := http.Header{}
			body := []byte(tc.body)
			if tc.bin != nil {
				header.Set(oip.HeaderInferenceContentLength, itoa(len(body)))
				body = append(body, tc.bin...)
			}
			resp, err := ResponseFromREST(body, header)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.RawOutputContents) != tc.raw {
				t.Errorf("raw_output_contents has %d entries, want %d", len(resp.RawOutputContents), tc.raw)
			}
			if tc.raw == 0 && !math.IsNaN(float64(resp.Outputs[0].Contents.Fp32Contents[1])) {
				t.Errorf("\"NaN\" became %v", resp.Outputs[0].Contents.Fp32Contents[1])
			}
			// Through the wire and back.
			wire, err := proto.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			var got pb.ModelInferResponse
			if err := proto.Unmarshal(wire, &got); err != nil {
				t.Fatal(err)
			}
			back, h, err := ResponseToREST(&got)
			if err != nil {
				t.Fatal(err)
			}
			js, bin, err := splitREST(back, h)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if want == "" {
				want = tc.body
			}
			if string(js) != want {
				t.Errorf("JSON:\n got %s\nwant %s", js, want)
			}
			if string(bin) != string(tc.wantBin) {
				t.Errorf("binary data = %v, want %v", bin, tc.wantBin)
			}
		})
	}
}

func TestResponseToRESTBreaches(t *testing.T) {
	for _, tc := range []struct {
		name string
		resp *pb.ModelInferResponse
		err  string
	}{
		{"raw count", &pb.ModelInferResponse{Outputs: []*pb.ModelInferResponse_InferOutputTensor{{Name: "a"}, {Name: "b"}}, RawOutputContents: [][]byte{{}}},
			"raw_output_contents holds 1 entries for 2 outputs"},
		{"raw and contents", &pb.ModelInferResponse{Outputs: []*pb.ModelInferResponse_InferOutputTensor{{Name: "a", Datatype: "FP32", Contents: fp32(1)}}, RawOutputContents: [][]byte{{}}},
			`output "a" has contents while the response uses raw_output_contents`},
		{"wrong field", &pb.ModelInferResponse{Outputs: []*pb.ModelInferResponse_InferOutputTensor{{Name: "a", Datatype: "FP64", Contents: fp32(1)}}},
			"which datatype FP64 does not use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, _, err := ResponseToREST(tc.resp)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			if !json.Valid(body[:jsonEnd(body)]) {
				t.Errorf("body %q does not start with a JSON object", body)
			}
		})
	}
}

func jsonEnd(b []byte) int {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	var v any
	_ = dec.Decode(&v)
	return int(dec.InputOffset())
}

func TestMetadata(t *testing.T) {
	s, err := ServerMetadataFromREST([]byte(`{"name":"srv","extensions":["binary_tensor_data"]}`))
	if err != nil {
		t.Fatal(err)
	}
	// No version in, none out: the gap survives the binding.
	if got, want := string(ServerMetadataToREST(s)), `{"extensions":["binary_tensor_data"],"name":"srv"}`; got != want {
		t.Errorf("server metadata = %s, want %s", got, want)
	}
	if got, want := string(ServerMetadataToREST(&pb.ServerMetadataResponse{})), `{"extensions":[]}`; got != want {
		t.Errorf("empty server metadata = %s, want %s", got, want)
	}
	rest := `{"inputs":[{"datatype":"FP32","name":"x","shape":[-1,1,28,28]}],"name":"m","outputs":[{"datatype":"FP32","name":"y","shape":[-1,10]}],"platform":"p","versions":["fp32","fp64"]}`
	m, err := ModelMetadataFromREST([]byte(rest))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(ModelMetadataToREST(m)); got != rest {
		t.Errorf("model metadata:\n got %s\nwant %s", got, rest)
	}
	if _, err := ModelMetadataFromREST([]byte(`[`)); err == nil {
		t.Error("ModelMetadataFromREST accepted a body that is not JSON")
	}
}
