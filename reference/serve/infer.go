package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/reference"
)

// InputError is the contract between a model's Forward and the server: an
// error returned by Forward whose chain holds an error with an
// InvalidInput method returning true blames the request (for example a
// token id outside the vocabulary), and is answered 400 with the error's
// message. Any other Forward error is the server's fault: it is logged and
// answered 500 with a generic message. Models implement the method on their
// own error type; they need not import this package.
type InputError interface {
	error
	InvalidInput() bool
}

// infer serves POST /v2/models/{m}[/versions/{v}]/infer.
func (s *Server) infer(w http.ResponseWriter, r *http.Request) error {
	m, _, err := s.lookup(r)
	if err != nil {
		return err
	}
	if r.Header.Get(oip.HeaderInferenceContentLength) != "" {
		return badRequest("binary tensor data (header %s) is not supported by this server: it does not advertise the %s extension", oip.HeaderInferenceContentLength, oip.ExtensionBinaryData)
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	req, err := decodeRequest(body)
	if err != nil {
		return err
	}
	inputs, err := bindInputs(m, req.Inputs)
	if err != nil {
		return err
	}
	wanted, err := selectOutputs(m, req.Outputs)
	if err != nil {
		return err
	}
	result, err := m.Forward(inputs)
	if err != nil {
		var ie InputError
		if errors.As(err, &ie) && ie.InvalidInput() {
			return badRequest("model %q version %q rejected the inputs: %s", m.ID(), m.Version(), ie.Error())
		}
		return fmt.Errorf("model %q version %q: forward: %w", m.ID(), m.Version(), err)
	}
	resp := oip.InferenceResponse{
		ModelName:    m.ID(),
		ModelVersion: m.Version(),
		ID:           req.ID,
		Outputs:      make([]oip.ResponseOutput, 0, len(wanted)),
	}
	for _, spec := range wanted {
		out, err := encodeOutput(spec, result[spec.Name])
		if err != nil {
			return fmt.Errorf("model %q version %q: output %q: %w", m.ID(), m.Version(), spec.Name, err)
		}
		resp.Outputs = append(resp.Outputs, out)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// readBody reads the whole body within the server's limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	tooLarge := &apiError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than the limit of %d bytes", s.cfg.maxBodyBytes)}
	if r.ContentLength > s.cfg.maxBodyBytes {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, badRequest("could not read the request body")
	}
	return body, nil
}

// decodeRequest parses an inference request. Unknown fields are allowed
// (the protocol lets extensions add them); inputs is required.
func decodeRequest(body []byte) (oip.InferenceRequest, error) {
	var req oip.InferenceRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return req, badRequest("request body is empty, want an inference request JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return req, badRequest("request body: %s", describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, badRequest("request body: unexpected data after the JSON object")
	}
	if req.Inputs == nil {
		return req, badRequest("request body: /inputs is required: an array of input tensors")
	}
	return req, nil
}

// describeJSONError turns an encoding/json error into a message for the
// client that names the field and what was expected, without Go type names.
func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not valid JSON at byte offset %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		field := "the top level"
		if typ.Field != "" {
			field = "field " + typ.Field
		}
		return fmt.Sprintf("%s is a JSON %s, want %s", field, typ.Value, jsonTypeName(typ.Type))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "not valid JSON: it ends early"
	}
	return "not valid JSON"
}

// jsonTypeName names the JSON kind a Go type decodes from.
func jsonTypeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another JSON type"
}

// bindInputs checks every request input against the model's inputs and
// decodes its data.
func bindInputs(m reference.Model, inputs []oip.RequestInput) (map[string]numerics.Tensor, error) {
	specs := m.Inputs()
	byName := make(map[string]reference.TensorSpec, len(specs))
	names := make([]string, len(specs))
	for i, sp := range specs {
		byName[sp.Name] = sp
		names[i] = sp.Name
	}
	out := make(map[string]numerics.Tensor, len(inputs))
	for i, in := range inputs {
		if in.Name == "" {
			return nil, badRequest("/inputs/%d: name is missing", i)
		}
		sp, ok := byName[in.Name]
		if !ok {
			return nil, badRequest("input %q: model %q has no such input (inputs: %s)", in.Name, m.ID(), strings.Join(names, ", "))
		}
		if _, dup := out[in.Name]; dup {
			return nil, badRequest("input %q: given more than once", in.Name)
		}
		if in.Parameters["binary_data_size"] != nil {
			return nil, badRequest("input %q: binary tensor data (parameter binary_data_size) is not supported by this server: it does not advertise the %s extension", in.Name, oip.ExtensionBinaryData)
		}
		if in.Datatype == "" {
			return nil, badRequest("input %q: datatype is missing, want %s", in.Name, sp.DType)
		}
		if !slices.Contains(oip.Datatypes, in.Datatype) {
			return nil, badRequest("input %q: datatype %q is not a protocol datatype, want %s", in.Name, in.Datatype, sp.DType)
		}
		if in.Datatype != string(sp.DType) {
			return nil, badRequest("input %q: datatype %s, but the model expects %s", in.Name, in.Datatype, sp.DType)
		}
		if err := checkShape(in.Shape, sp.Shape); err != nil {
			return nil, badRequest("input %q: %v", in.Name, err)
		}
		t, err := oip.DecodeData(in.Datatype, in.Shape, in.Data)
		if err != nil {
			return nil, badRequest("input %q: %v", in.Name, err)
		}
		out[in.Name] = t
	}
	for _, sp := range specs {
		if _, ok := out[sp.Name]; !ok && !sp.Optional {
			return nil, badRequest("input %q: required by model %q but missing", sp.Name, m.ID())
		}
	}
	return out, nil
}

// checkShape checks a request shape against a model shape in which -1 is
// a variable dimension. Every dimension of the request must be positive.
func checkShape(got, want []int64) error {
	if got == nil {
		return fmt.Errorf("shape is missing, want %s", formatShape(want))
	}
	if len(got) != len(want) {
		return fmt.Errorf("shape %s has rank %d, the model expects rank %d (%s)", formatShape(got), len(got), len(want), formatShape(want))
	}
	for i, d := range got {
		if d <= 0 {
			return fmt.Errorf("shape %s: dimension %d is %d, want > 0", formatShape(got), i, d)
		}
		if want[i] != -1 && d != want[i] {
			return fmt.Errorf("shape %s: dimension %d is %d, the model expects %d (%s)", formatShape(got), i, d, want[i], formatShape(want))
		}
	}
	return nil
}

// formatShape renders a shape as the protocol writes it, e.g. [-1,4].
func formatShape(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// selectOutputs returns the outputs to answer with: those the request names,
// in its order, or every output of the model.
func selectOutputs(m reference.Model, requested []oip.RequestOutput) ([]reference.TensorSpec, error) {
	specs := m.Outputs()
	if len(requested) == 0 {
		return specs, nil
	}
	names := make([]string, len(specs))
	for i, sp := range specs {
		names[i] = sp.Name
	}
	out := make([]reference.TensorSpec, 0, len(requested))
	seen := map[string]bool{}
	for i, ro := range requested {
		if ro.Name == "" {
			return nil, badRequest("/outputs/%d: name is missing", i)
		}
		j := slices.Index(names, ro.Name)
		if j < 0 {
			return nil, badRequest("output %q: model %q has no such output (outputs: %s)", ro.Name, m.ID(), strings.Join(names, ", "))
		}
		if seen[ro.Name] {
			return nil, badRequest("output %q: requested more than once", ro.Name)
		}
		if b, ok := ro.Parameters["binary_data"].(bool); ok && b {
			return nil, badRequest("output %q: binary tensor data (parameter binary_data) is not supported by this server: it does not advertise the %s extension", ro.Name, oip.ExtensionBinaryData)
		}
		seen[ro.Name] = true
		out = append(out, specs[j])
	}
	return out, nil
}

// encodeOutput checks a model output against its spec and renders it with
// flat data. Errors here are the model's fault.
func encodeOutput(spec reference.TensorSpec, t numerics.Tensor) (oip.ResponseOutput, error) {
	if t.DType == "" {
		return oip.ResponseOutput{}, fmt.Errorf("missing from the model's results")
	}
	if t.DType != spec.DType {
		return oip.ResponseOutput{}, fmt.Errorf("datatype %s, declared %s", t.DType, spec.DType)
	}
	if err := t.Validate(); err != nil {
		return oip.ResponseOutput{}, err
	}
	if len(t.Shape) != len(spec.Shape) {
		return oip.ResponseOutput{}, fmt.Errorf("shape %s, declared %s", formatShape(t.Shape), formatShape(spec.Shape))
	}
	for i, d := range t.Shape {
		if spec.Shape[i] != -1 && d != spec.Shape[i] {
			return oip.ResponseOutput{}, fmt.Errorf("shape %s, declared %s", formatShape(t.Shape), formatShape(spec.Shape))
		}
	}
	data, err := oip.EncodeData(t)
	if err != nil {
		return oip.ResponseOutput{}, err
	}
	return oip.ResponseOutput{Name: spec.Name, Shape: slices.Clone(t.Shape), Datatype: string(t.DType), Data: data}, nil
}
