// Package grpcbind maps the gRPC binding of the Open Inference Protocol v2
// (package inferencepb) onto its REST binding (package oip), both ways, so
// that the protocol's meaning lives in one place: a server that speaks REST
// serves gRPC by translating each call into the REST request it means and
// the REST answer back, and a client that judges REST answers judges gRPC
// ones by translating them the other way.
//
// The binding differs from REST in three places, and this package is where
// each difference is settled:
//
//   - Status. An error is a gRPC status, not an HTTP status with a JSON
//     body; CodeForStatus and StatusForCode are the table between the two
//     (spec/v1/api.md, "Protocol bindings").
//   - Tensor data. An input or output is carried either in the typed
//     contents field of its datatype (fp32_contents for FP32, …), which
//     corresponds to REST's JSON data, or, for every tensor of the message
//     at once, in raw_input_contents / raw_output_contents, which
//     corresponds to REST's binary tensor data extension (binary_data_size
//     and the bytes after the JSON object). Typed contents are always flat;
//     non-finite floats, which JSON cannot write, are written as the
//     strings proto3's JSON mapping uses ("NaN", "Infinity", "-Infinity").
//   - Metadata. Credentials travel in the "authorization" metadata entry
//     instead of the Authorization header. proto3 cannot tell a field left
//     out from one set to its zero value: a translated answer leaves out
//     the REST members whose gRPC fields are empty, so that a server that
//     does not fill a required field fails as a REST server that leaves the
//     member out.
//
// The translation is faithful, not validating: a request with the wrong
// element count or a response with a missing output translates to the
// REST form with the same defect, for the REST side to judge. What has no
// form at all on the other side (a fractional INT64 value, a parameter
// that is a JSON object, typed contents in the field of another datatype)
// is an error wrapping ErrNotExpressible.
package grpcbind

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"google.golang.org/grpc/codes"

	"github.com/aiconform/aiconform/oip"
	pb "github.com/aiconform/aiconform/oip/inferencepb"
)

// MetadataAuthorization is the gRPC metadata key that carries the
// credential, as the Authorization header does over REST.
const MetadataAuthorization = "authorization"

// ErrNotExpressible is wrapped by the errors of a message that has no form
// in the other binding.
var ErrNotExpressible = errors.New("not expressible in the other binding")

// CodeForStatus returns the gRPC status code that answers what the REST
// status means: 200 OK, 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403
// PERMISSION_DENIED, 404 NOT_FOUND, 408 and 504 DEADLINE_EXCEEDED, 409
// ABORTED, 413 and 429 RESOURCE_EXHAUSTED, 499 CANCELLED, 501 and 405
// UNIMPLEMENTED, 503 UNAVAILABLE, any other 4xx FAILED_PRECONDITION and
// any other status INTERNAL.
func CodeForStatus(status int) codes.Code {
	switch {
	case status >= 200 && status < 300:
		return codes.OK
	}
	switch status {
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return codes.DeadlineExceeded
	case http.StatusConflict:
		return codes.Aborted
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case 499:
		return codes.Canceled
	case http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return codes.Unimplemented
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	}
	if status >= 400 && status < 500 {
		return codes.FailedPrecondition
	}
	return codes.Internal
}

// StatusForCode returns the REST status that means what the gRPC code
// does, the inverse of CodeForStatus where it is one to one:
// RESOURCE_EXHAUSTED is 413 (a message over the size limit is the
// binding's way of saying what 413 says), FAILED_PRECONDITION and
// OUT_OF_RANGE 400, ALREADY_EXISTS 409, UNKNOWN and DATA_LOSS 500, and a
// code outside the table 500.
func StatusForCode(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusRequestEntityTooLarge
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// RequestToREST returns the REST inference request that req means: the
// JSON object, and the binary data after it with the header that splits
// them when req carries raw contents (or typed contents JSON cannot
// write: an input holding a non-finite float travels as binary data). A
// request with raw inputs that does not say otherwise asks for binary
// outputs (binary_data_output), so that raw contents in get raw contents
// out. The model and version of the REST path are req's.
func RequestToREST(req *pb.ModelInferRequest) (body []byte, header http.Header, err error) {
	params, err := ParametersToREST(req.GetParameters())
	if err != nil {
		return nil, nil, fmt.Errorf("parameters: %w", err)
	}
	raw := req.GetRawInputContents()
	rawMode := len(raw) > 0
	if rawMode && len(raw) != len(req.GetInputs()) {
		return nil, nil, fmt.Errorf("raw_input_contents holds %d entries for %d inputs, want one per input", len(raw), len(req.GetInputs()))
	}
	wire := oip.InferenceRequest{ID: req.GetId(), Parameters: params, Inputs: []oip.RequestInput{}}
	var chunks [][]byte
	for i, in := range req.GetInputs() {
		ri := oip.RequestInput{Name: in.GetName(), Datatype: in.GetDatatype(), Shape: nonNil(in.GetShape())}
		if ri.Parameters, err = ParametersToREST(in.GetParameters()); err != nil {
			return nil, nil, fmt.Errorf("input %q: parameters: %w", in.GetName(), err)
		}
		var data []byte
		switch {
		case rawMode:
			if in.GetContents() != nil {
				return nil, nil, fmt.Errorf("input %q has contents while the request uses raw_input_contents, which rules contents out for every input", in.GetName())
			}
			data = raw[i]
		case in.GetContents() != nil:
			js, nonFinite, err := contentsJSON(in.GetDatatype(), in.GetContents())
			if err != nil {
				return nil, nil, fmt.Errorf("input %q: %w", in.GetName(), err)
			}
			if !nonFinite {
				ri.Data = js
				break
			}
			if data, err = encodeRaw(in.GetDatatype(), in.GetContents()); err != nil {
				return nil, nil, fmt.Errorf("input %q: %w", in.GetName(), err)
			}
		}
		if data != nil {
			ri.Parameters = withParam(ri.Parameters, oip.ParamBinaryDataSize, len(data))
			chunks = append(chunks, data)
		}
		wire.Inputs = append(wire.Inputs, ri)
	}
	if rawMode {
		if _, set := wire.Parameters[oip.ParamBinaryDataOutput]; !set {
			wire.Parameters = withParam(wire.Parameters, oip.ParamBinaryDataOutput, true)
		}
	}
	for _, o := range req.GetOutputs() {
		ro := oip.RequestOutput{Name: o.GetName()}
		if ro.Parameters, err = ParametersToREST(o.GetParameters()); err != nil {
			return nil, nil, fmt.Errorf("output %q: parameters: %w", o.GetName(), err)
		}
		wire.Outputs = append(wire.Outputs, ro)
	}
	return joinREST(wire, chunks)
}

// RequestFromREST returns the gRPC request that the REST inference request
// body (with header, which says where binary data begins) means, for model
// and version. When any input travels as binary data every input does, as
// raw_input_contents: the binding has no mixed form.
func RequestFromREST(model, version string, body []byte, header http.Header) (*pb.ModelInferRequest, error) {
	js, bin, err := splitREST(body, header)
	if err != nil {
		return nil, err
	}
	var wire struct {
		ID         string              `json:"id"`
		Parameters map[string]any      `json:"parameters"`
		Inputs     []restTensor        `json:"inputs"`
		Outputs    []oip.RequestOutput `json:"outputs"`
	}
	if err := decodeJSON(js, &wire); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	req := &pb.ModelInferRequest{ModelName: model, ModelVersion: version, Id: wire.ID}
	if req.Parameters, err = ParametersFromREST(wire.Parameters); err != nil {
		return nil, fmt.Errorf("request parameters: %w", err)
	}
	inputs, raw, err := tensorsToProto(wire.Inputs, bin, "input")
	if err != nil {
		return nil, err
	}
	for _, t := range inputs {
		req.Inputs = append(req.Inputs, &pb.ModelInferRequest_InferInputTensor{
			Name: t.name, Datatype: t.datatype, Shape: t.shape, Parameters: t.params, Contents: t.contents,
		})
	}
	req.RawInputContents = raw
	for _, o := range wire.Outputs {
		params, err := ParametersFromREST(o.Parameters)
		if err != nil {
			return nil, fmt.Errorf("output %q: parameters: %w", o.Name, err)
		}
		req.Outputs = append(req.Outputs, &pb.ModelInferRequest_InferRequestedOutputTensor{Name: o.Name, Parameters: params})
	}
	return req, nil
}

// ResponseFromREST returns the gRPC response that the REST inference
// response body (with header) means. When any output travels as binary
// data every output does, as raw_output_contents.
func ResponseFromREST(body []byte, header http.Header) (*pb.ModelInferResponse, error) {
	js, bin, err := splitREST(body, header)
	if err != nil {
		return nil, err
	}
	var wire struct {
		ModelName    string         `json:"model_name"`
		ModelVersion string         `json:"model_version"`
		ID           string         `json:"id"`
		Parameters   map[string]any `json:"parameters"`
		Outputs      []restTensor   `json:"outputs"`
	}
	if err := decodeJSON(js, &wire); err != nil {
		return nil, fmt.Errorf("response: %w", err)
	}
	resp := &pb.ModelInferResponse{ModelName: wire.ModelName, ModelVersion: wire.ModelVersion, Id: wire.ID}
	if resp.Parameters, err = ParametersFromREST(wire.Parameters); err != nil {
		return nil, fmt.Errorf("response parameters: %w", err)
	}
	outputs, raw, err := tensorsToProto(wire.Outputs, bin, "output")
	if err != nil {
		return nil, err
	}
	for _, t := range outputs {
		resp.Outputs = append(resp.Outputs, &pb.ModelInferResponse_InferOutputTensor{
			Name: t.name, Datatype: t.datatype, Shape: t.shape, Parameters: t.params, Contents: t.contents,
		})
	}
	resp.RawOutputContents = raw
	return resp, nil
}

// ResponseToREST returns the REST inference response that resp means: raw
// output contents become binary data, typed contents JSON data. A
// response whose raw_output_contents does not hold one entry per output,
// or that has both raw and typed contents, breaks the binding: the error
// says how, and body is the REST form of what could be read (an output
// without raw contents has neither data nor binary_data_size).
func ResponseToREST(resp *pb.ModelInferResponse) (body []byte, header http.Header, err error) {
	params, err := ParametersToREST(resp.GetParameters())
	if err != nil {
		return nil, nil, fmt.Errorf("parameters: %w", err)
	}
	wire := oip.InferenceResponse{ModelName: resp.GetModelName(), ModelVersion: resp.GetModelVersion(), ID: resp.GetId(), Parameters: params, Outputs: []oip.ResponseOutput{}}
	raw := resp.GetRawOutputContents()
	rawMode := len(raw) > 0
	var chunks [][]byte
	var problems []error
	if rawMode && len(raw) != len(resp.GetOutputs()) {
		problems = append(problems, fmt.Errorf("raw_output_contents holds %d entries for %d outputs, want one per output", len(raw), len(resp.GetOutputs())))
	}
	for i, o := range resp.GetOutputs() {
		ro := oip.ResponseOutput{Name: o.GetName(), Datatype: o.GetDatatype(), Shape: nonNil(o.GetShape())}
		if ro.Parameters, err = ParametersToREST(o.GetParameters()); err != nil {
			return nil, nil, fmt.Errorf("output %q: parameters: %w", o.GetName(), err)
		}
		switch {
		case rawMode:
			if o.GetContents() != nil {
				problems = append(problems, fmt.Errorf("output %q has contents while the response uses raw_output_contents, which rules contents out for every output", o.GetName()))
			}
			if i < len(raw) {
				ro.Parameters = withParam(ro.Parameters, oip.ParamBinaryDataSize, len(raw[i]))
				chunks = append(chunks, raw[i])
			}
		case o.GetContents() != nil:
			js, _, err := contentsJSON(o.GetDatatype(), o.GetContents())
			if err != nil {
				problems = append(problems, fmt.Errorf("output %q: %w", o.GetName(), err))
				break
			}
			ro.Data = js
		}
		wire.Outputs = append(wire.Outputs, ro)
	}
	body, header, err = joinREST(wire, chunks)
	if err != nil {
		return nil, nil, err
	}
	return body, header, errors.Join(problems...)
}

// ServerMetadataFromREST returns the gRPC answer that the REST server
// metadata body means. Members of the wrong JSON type are left out.
func ServerMetadataFromREST(body []byte) (*pb.ServerMetadataResponse, error) {
	var m map[string]any
	if err := decodeJSON(body, &m); err != nil {
		return nil, fmt.Errorf("server metadata: %w", err)
	}
	return &pb.ServerMetadataResponse{Name: str(m["name"]), Version: str(m["version"]), Extensions: strs(m["extensions"])}, nil
}

// ServerMetadataToREST returns the REST server metadata that m means;
// name and version are left out when empty.
func ServerMetadataToREST(m *pb.ServerMetadataResponse) []byte {
	out := map[string]any{"extensions": nonNil(m.GetExtensions())}
	setNonEmpty(out, "name", m.GetName())
	setNonEmpty(out, "version", m.GetVersion())
	return mustJSON(out)
}

// ModelMetadataFromREST returns the gRPC answer that the REST model
// metadata body means. Members of the wrong JSON type are left out.
func ModelMetadataFromREST(body []byte) (*pb.ModelMetadataResponse, error) {
	var m map[string]any
	if err := decodeJSON(body, &m); err != nil {
		return nil, fmt.Errorf("model metadata: %w", err)
	}
	tensors := func(v any) []*pb.ModelMetadataResponse_TensorMetadata {
		list, _ := v.([]any)
		var out []*pb.ModelMetadataResponse_TensorMetadata
		for _, e := range list {
			t, _ := e.(map[string]any)
			tm := &pb.ModelMetadataResponse_TensorMetadata{Name: str(t["name"]), Datatype: str(t["datatype"])}
			dims, _ := t["shape"].([]any)
			for _, d := range dims {
				if n, ok := d.(json.Number); ok {
					if k, err := n.Int64(); err == nil {
						tm.Shape = append(tm.Shape, k)
					}
				}
			}
			out = append(out, tm)
		}
		return out
	}
	return &pb.ModelMetadataResponse{
		Name: str(m["name"]), Versions: strs(m["versions"]), Platform: str(m["platform"]),
		Inputs: tensors(m["inputs"]), Outputs: tensors(m["outputs"]),
	}, nil
}

// ModelMetadataToREST returns the REST model metadata that m means; name,
// platform and versions are left out when empty, inputs and outputs are
// always arrays.
func ModelMetadataToREST(m *pb.ModelMetadataResponse) []byte {
	tensors := func(ts []*pb.ModelMetadataResponse_TensorMetadata) []map[string]any {
		out := []map[string]any{}
		for _, t := range ts {
			tm := map[string]any{"shape": nonNil(t.GetShape())}
			setNonEmpty(tm, "name", t.GetName())
			setNonEmpty(tm, "datatype", t.GetDatatype())
			out = append(out, tm)
		}
		return out
	}
	out := map[string]any{"inputs": tensors(m.GetInputs()), "outputs": tensors(m.GetOutputs())}
	setNonEmpty(out, "name", m.GetName())
	setNonEmpty(out, "platform", m.GetPlatform())
	if len(m.GetVersions()) > 0 {
		out["versions"] = m.GetVersions()
	}
	return mustJSON(out)
}

// ParametersToREST returns the REST parameters that the gRPC ones mean
// (nil for none). A parameter with no value set is an error.
func ParametersToREST(m map[string]*pb.InferParameter) (oip.Parameters, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := oip.Parameters{}
	for k, p := range m {
		switch v := p.GetParameterChoice().(type) {
		case *pb.InferParameter_BoolParam:
			out[k] = v.BoolParam
		case *pb.InferParameter_Int64Param:
			out[k] = v.Int64Param
		case *pb.InferParameter_StringParam:
			out[k] = v.StringParam
		case *pb.InferParameter_DoubleParam:
			if math.IsNaN(v.DoubleParam) || math.IsInf(v.DoubleParam, 0) {
				return nil, fmt.Errorf("parameter %q is %v, which JSON cannot write: %w", k, v.DoubleParam, ErrNotExpressible)
			}
			out[k] = v.DoubleParam
		case *pb.InferParameter_Uint64Param:
			out[k] = v.Uint64Param
		default:
			return nil, fmt.Errorf("parameter %q has no value", k)
		}
	}
	return out, nil
}

// ParametersFromREST returns the gRPC parameters that the REST ones mean
// (nil for none): a boolean, a string, an integer (int64, or uint64 past
// int64's range) or another number (double). null, arrays and objects
// have no gRPC form.
func ParametersFromREST(p map[string]any) (map[string]*pb.InferParameter, error) {
	if len(p) == 0 {
		return nil, nil
	}
	out := make(map[string]*pb.InferParameter, len(p))
	for k, v := range p {
		var ip pb.InferParameter
		switch v := v.(type) {
		case bool:
			ip.ParameterChoice = &pb.InferParameter_BoolParam{BoolParam: v}
		case string:
			ip.ParameterChoice = &pb.InferParameter_StringParam{StringParam: v}
		case json.Number:
			if i, err := v.Int64(); err == nil {
				ip.ParameterChoice = &pb.InferParameter_Int64Param{Int64Param: i}
			} else if u, err := strconv.ParseUint(v.String(), 10, 64); err == nil {
				ip.ParameterChoice = &pb.InferParameter_Uint64Param{Uint64Param: u}
			} else if f, err := v.Float64(); err == nil {
				ip.ParameterChoice = &pb.InferParameter_DoubleParam{DoubleParam: f}
			} else {
				return nil, fmt.Errorf("parameter %q = %s is not a number a double holds: %w", k, v, ErrNotExpressible)
			}
		default:
			return nil, fmt.Errorf("parameter %q is %s, which the gRPC binding's InferParameter cannot hold: %w", k, oip.JSONKind(v), ErrNotExpressible)
		}
		out[k] = &ip
	}
	return out, nil
}

// restTensor is an input of a REST request or an output of a REST
// response, read leniently: its data is kept as JSON.
type restTensor struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters map[string]any  `json:"parameters"`
	Data       json.RawMessage `json:"data"`
}

// protoTensor is a tensor in the gRPC form, before it becomes an input or
// an output message.
type protoTensor struct {
	name, datatype string
	shape          []int64
	params         map[string]*pb.InferParameter
	contents       *pb.InferTensorContents
}

// tensorsToProto returns the inputs or outputs (what) of a REST message
// in gRPC form, and their raw contents: nil unless one of them travels as
// binary data (read from bin), in which case every one of them has raw
// contents. Binary data that belongs to no tensor is an error.
func tensorsToProto(ts []restTensor, bin []byte, what string) ([]protoTensor, [][]byte, error) {
	rawMode := false
	for _, t := range ts {
		if _, ok := t.Parameters[oip.ParamBinaryDataSize]; ok {
			rawMode = true
		}
	}
	r := oip.NewBinaryReader(bin)
	out := make([]protoTensor, 0, len(ts))
	var raw [][]byte
	for i, t := range ts {
		pt, data, err := t.toProto(r, rawMode)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %d (%q): %w", what, i, t.Name, err)
		}
		out = append(out, pt)
		if rawMode {
			raw = append(raw, data)
		}
	}
	if r.Len() != 0 {
		return nil, nil, fmt.Errorf("%d bytes of binary data after the JSON object belong to no %s", r.Len(), what)
	}
	return out, raw, nil
}

// toProto returns the tensor in gRPC form: with rawMode, its bytes (read
// from r when it is binary data, encoded from its JSON data otherwise);
// else its typed contents. The binary_data_size parameter is dropped:
// raw contents say it.
func (t restTensor) toProto(r *oip.BinaryReader, rawMode bool) (protoTensor, []byte, error) {
	out := protoTensor{name: t.Name, datatype: t.Datatype, shape: t.Shape}
	params := t.Parameters
	size, isBinary, err := oip.BinaryDataSize(oip.Parameters(params))
	if err != nil {
		return out, nil, err
	}
	if isBinary {
		params = without(params, oip.ParamBinaryDataSize)
	}
	if out.params, err = ParametersFromREST(params); err != nil {
		return out, nil, fmt.Errorf("parameters: %w", err)
	}
	if isBinary {
		if len(t.Data) != 0 {
			return out, nil, fmt.Errorf("has both data and parameter %s", oip.ParamBinaryDataSize)
		}
		seg, err := r.Next(size)
		return out, seg, err
	}
	if len(t.Data) == 0 {
		if rawMode {
			return out, nil, fmt.Errorf("has no data while other tensors of the message are binary, and raw contents need every tensor: %w", ErrNotExpressible)
		}
		return out, nil, nil
	}
	c, err := contentsFromJSON(t.Datatype, t.Data)
	if err != nil {
		return out, nil, err
	}
	if !rawMode {
		out.contents = c
		return out, nil, nil
	}
	raw, err := encodeRaw(t.Datatype, c)
	return out, raw, err
}

// contentsFromJSON returns the typed contents that JSON tensor data (flat
// or nested to any depth) holds for datatype. Data of numbers (and, for
// BOOL, literals; for FP32 and FP64, the strings proto3's JSON mapping
// writes for non-finite values) is read in place (scanContents); anything
// else, and any data the scan does not take, goes through encoding/json
// (decodeContents), which decides what is accepted and words every error.
func contentsFromJSON(datatype string, data json.RawMessage) (*pb.InferTensorContents, error) {
	if c, ok := scanContents(datatype, data); ok {
		return c, nil
	}
	return decodeContents(datatype, data)
}

// decodeContents is contentsFromJSON through encoding/json: the data
// decoded into []any of json.Number, and each leaf converted.
func decodeContents(datatype string, data json.RawMessage) (*pb.InferTensorContents, error) {
	var v any
	if err := decodeJSON(data, &v); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var leaves []any
	var walk func(v any)
	walk = func(v any) {
		if a, ok := v.([]any); ok {
			for _, e := range a {
				walk(e)
			}
			return
		}
		leaves = append(leaves, v)
	}
	if _, ok := v.([]any); !ok {
		return nil, fmt.Errorf("data is %s, want an array: %w", oip.JSONKind(v), ErrNotExpressible)
	}
	walk(v)
	if len(leaves) > 0 {
		if _, err := ContentsField(datatype); err != nil {
			return nil, err
		}
	}
	c := &pb.InferTensorContents{}
	for i, e := range leaves {
		ok := false
		switch v := e.(type) {
		case json.Number:
			ok = appendNumber(c, datatype, v.String())
		case string:
			if datatype == "BYTES" {
				c.BytesContents, ok = append(c.BytesContents, []byte(v)), true
			} else if f, nf := nonFinite(v); nf {
				ok = appendReal(c, datatype, f)
			}
		case bool:
			ok = appendBool(c, datatype, v)
		}
		if !ok {
			return nil, fmt.Errorf("data element %d is %s, which %s contents cannot hold: %w", i, describe(e), datatype, ErrNotExpressible)
		}
	}
	return c, nil
}

// appendNumber appends the JSON number text (in JSON's grammar) to c as
// datatype holds it: FP32 and FP64 as parsed (past float64's range: ±Inf
// or 0, as a float holds it), the integer datatypes when text is an
// integer in their contents' range. It reports false, appending nothing,
// when datatype cannot hold it.
func appendNumber(c *pb.InferTensorContents, datatype, text string) bool {
	switch datatype {
	case "FP32", "FP64":
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return false
		}
		return appendReal(c, datatype, f)
	case "INT8", "INT16", "INT32", "INT64":
		k, err := strconv.ParseInt(text, 10, 64)
		switch {
		case err != nil:
			return false
		case datatype == "INT64":
			c.Int64Contents = append(c.Int64Contents, k)
		case k < math.MinInt32 || k > math.MaxInt32:
			return false
		default:
			c.IntContents = append(c.IntContents, int32(k))
		}
		return true
	case "UINT8", "UINT16", "UINT32", "UINT64":
		u, err := strconv.ParseUint(text, 10, 64)
		switch {
		case err != nil:
			return false
		case datatype == "UINT64":
			c.Uint64Contents = append(c.Uint64Contents, u)
		case u > math.MaxUint32:
			return false
		default:
			c.UintContents = append(c.UintContents, uint32(u))
		}
		return true
	}
	return false
}

// appendReal appends f to c's FP32 or FP64 contents; false for any other
// datatype.
func appendReal(c *pb.InferTensorContents, datatype string, f float64) bool {
	switch datatype {
	case "FP32":
		c.Fp32Contents = append(c.Fp32Contents, float32(f))
	case "FP64":
		c.Fp64Contents = append(c.Fp64Contents, f)
	default:
		return false
	}
	return true
}

// appendBool appends b to c's BOOL contents; false for any other datatype.
func appendBool(c *pb.InferTensorContents, datatype string, b bool) bool {
	if datatype != "BOOL" {
		return false
	}
	c.BoolContents = append(c.BoolContents, b)
	return true
}

// nonFinite reads the string proto3's JSON mapping writes for a
// non-finite float.
func nonFinite(s string) (float64, bool) {
	switch s {
	case "NaN":
		return math.NaN(), true
	case "Infinity":
		return math.Inf(1), true
	case "-Infinity":
		return math.Inf(-1), true
	}
	return 0, false
}

// contentField returns the typed contents of c for datatype, as a count
// and a function writing element i to a JSON buffer (reporting whether it
// was a non-finite float), and fails when c holds elements in the field
// of another datatype.
func contentField(datatype string, c *pb.InferTensorContents) (int, func(b []byte, i int) ([]byte, bool), error) {
	fields := map[string]int{
		"bool_contents": len(c.GetBoolContents()), "int_contents": len(c.GetIntContents()),
		"int64_contents": len(c.GetInt64Contents()), "uint_contents": len(c.GetUintContents()),
		"uint64_contents": len(c.GetUint64Contents()), "fp32_contents": len(c.GetFp32Contents()),
		"fp64_contents": len(c.GetFp64Contents()), "bytes_contents": len(c.GetBytesContents()),
	}
	name, err := ContentsField(datatype)
	if err != nil {
		return 0, nil, err
	}
	field := string(name)
	var write func(b []byte, i int) ([]byte, bool)
	switch datatype {
	case "BOOL":
		write = func(b []byte, i int) ([]byte, bool) { return strconv.AppendBool(b, c.BoolContents[i]), false }
	case "INT8", "INT16", "INT32":
		write = func(b []byte, i int) ([]byte, bool) { return strconv.AppendInt(b, int64(c.IntContents[i]), 10), false }
	case "INT64":
		write = func(b []byte, i int) ([]byte, bool) { return strconv.AppendInt(b, c.Int64Contents[i], 10), false }
	case "UINT8", "UINT16", "UINT32":
		write = func(b []byte, i int) ([]byte, bool) {
			return strconv.AppendUint(b, uint64(c.UintContents[i]), 10), false
		}
	case "UINT64":
		write = func(b []byte, i int) ([]byte, bool) { return strconv.AppendUint(b, c.Uint64Contents[i], 10), false }
	case "FP32":
		write = func(b []byte, i int) ([]byte, bool) { return appendFloat(b, float64(c.Fp32Contents[i]), 32) }
	case "FP64":
		write = func(b []byte, i int) ([]byte, bool) { return appendFloat(b, c.Fp64Contents[i], 64) }
	case "BYTES":
		write = func(b []byte, i int) ([]byte, bool) {
			s, _ := json.Marshal(string(c.BytesContents[i]))
			return append(b, s...), false
		}
	}
	for f, n := range fields {
		if f != field && n > 0 {
			return 0, nil, fmt.Errorf("contents hold %d elements in %s, which datatype %s does not use (it takes %s): %w", n, f, datatype, field, ErrNotExpressible)
		}
	}
	return fields[field], write, nil
}

// contentsJSON writes typed contents as flat JSON data, and reports
// whether it held a non-finite float (written as proto3's JSON mapping
// writes it: "NaN", "Infinity", "-Infinity").
func contentsJSON(datatype string, c *pb.InferTensorContents) (json.RawMessage, bool, error) {
	n, write, err := contentField(datatype, c)
	if err != nil {
		return nil, false, err
	}
	b := make([]byte, 0, 2+n*8)
	b = append(b, '[')
	nonFinite := false
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		var nf bool
		b, nf = write(b, i)
		nonFinite = nonFinite || nf
	}
	return append(b, ']'), nonFinite, nil
}

// appendFloat writes v as the shortest decimal that round-trips at its bit
// size, or as the proto3 JSON string of a non-finite value.
func appendFloat(b []byte, v float64, bits int) ([]byte, bool) {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...), true
	case math.IsInf(v, 1):
		return append(b, `"Infinity"`...), true
	case math.IsInf(v, -1):
		return append(b, `"-Infinity"`...), true
	}
	return strconv.AppendFloat(b, v, 'g', -1, bits), false
}

// encodeRaw returns typed contents as raw contents: the elements
// little-endian, row-major, without padding (BYTES elements each after
// its 4-byte little-endian length, as Triton writes them).
func encodeRaw(datatype string, c *pb.InferTensorContents) ([]byte, error) {
	if _, _, err := contentField(datatype, c); err != nil {
		return nil, err
	}
	var b []byte
	le := binary.LittleEndian
	switch datatype {
	case "BOOL":
		for _, v := range c.BoolContents {
			b = append(b, map[bool]byte{false: 0, true: 1}[v])
		}
	case "INT8":
		for _, v := range c.IntContents {
			b = append(b, byte(int8(v)))
		}
	case "INT16":
		for _, v := range c.IntContents {
			b = le.AppendUint16(b, uint16(int16(v)))
		}
	case "INT32":
		for _, v := range c.IntContents {
			b = le.AppendUint32(b, uint32(v))
		}
	case "INT64":
		for _, v := range c.Int64Contents {
			b = le.AppendUint64(b, uint64(v))
		}
	case "UINT8":
		for _, v := range c.UintContents {
			b = append(b, byte(v))
		}
	case "UINT16":
		for _, v := range c.UintContents {
			b = le.AppendUint16(b, uint16(v))
		}
	case "UINT32":
		for _, v := range c.UintContents {
			b = le.AppendUint32(b, v)
		}
	case "UINT64":
		for _, v := range c.Uint64Contents {
			b = le.AppendUint64(b, v)
		}
	case "FP32":
		for _, v := range c.Fp32Contents {
			b = le.AppendUint32(b, math.Float32bits(v))
		}
	case "FP64":
		for _, v := range c.Fp64Contents {
			b = le.AppendUint64(b, math.Float64bits(v))
		}
	case "BYTES":
		for _, v := range c.BytesContents {
			b = le.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
		}
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// splitREST splits a REST body at Inference-Header-Content-Length, when
// header has it.
func splitREST(body []byte, header http.Header) (js, bin []byte, err error) {
	hl := header.Get(oip.HeaderInferenceContentLength)
	if hl == "" {
		return body, nil, nil
	}
	return oip.SplitBody(body, hl)
}

// joinREST renders v as JSON followed by chunks, with the header that
// splits them when there are any.
func joinREST(v any, chunks [][]byte) ([]byte, http.Header, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, nil, err
	}
	if len(chunks) == 0 {
		return js, nil, nil
	}
	h := http.Header{}
	h.Set(oip.HeaderInferenceContentLength, strconv.Itoa(len(js)))
	h.Set("Content-Type", oip.ContentTypeBinary)
	return oip.JoinBody(js, chunks...), h, nil
}

// decodeJSON decodes one JSON value, numbers as json.Number, and nothing
// after it.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not the JSON expected: %w", err)
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

func withParam(p oip.Parameters, k string, v any) oip.Parameters {
	if p == nil {
		p = oip.Parameters{}
	}
	p[k] = v
	return p
}

func without(p map[string]any, k string) map[string]any {
	out := make(map[string]any, len(p))
	for key, v := range p {
		if key != k {
			out[key] = v
		}
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func setNonEmpty(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

func str(v any) string { s, _ := v.(string); return s }

func strs(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("grpcbind: %v", err)) // maps of strings, string slices and int64 slices always marshal
	}
	return b
}

func describe(v any) string {
	if n, ok := v.(json.Number); ok {
		return "the number " + n.String()
	}
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return oip.JSONKind(v)
}
