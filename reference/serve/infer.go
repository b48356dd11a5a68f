package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/spec"
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

// ContextModel is a model that can stop waiting when its caller gives up
// (the dynamic batcher: a request that times out leaves its batch). The
// server calls ForwardContext instead of Forward when a model has it, with
// a context that ends at the request timeout or when the client goes away.
type ContextModel interface {
	ForwardContext(ctx context.Context, inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error)
}

// infer serves POST /v2/models/{m}[/versions/{v}]/infer.
func (s *Server) infer(w http.ResponseWriter, r *http.Request) error {
	m, _, err := s.lookup(r)
	if err != nil {
		return err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	headerLength := r.Header.Get(oip.HeaderInferenceContentLength)
	header, bin, err := oip.SplitBody(body, headerLength)
	if err != nil {
		return badRequest("%v", err)
	}
	req, err := decodeRequest(header, headerLength != "")
	if err != nil {
		return err
	}
	binaryAll, _, err := oip.BoolParameter(req.Parameters, oip.ParamBinaryDataOutput)
	if err != nil {
		return badRequest("request parameters: %v", err)
	}
	inputs, err := bindInputs(m, req.Inputs, bin, headerLength != "")
	if err != nil {
		return err
	}
	wanted, err := selectOutputs(m, req.Outputs, binaryAll)
	if err != nil {
		return err
	}
	result, err := s.forward(r.Context(), m, inputs)
	if err != nil {
		var ie InputError
		if errors.As(err, &ie) && ie.InvalidInput() {
			return badRequest("model %q version %q rejected the inputs: %s", m.ID(), m.Version(), ie.Error())
		}
		var ae *apiError
		if errors.As(err, &ae) {
			return err
		}
		return fmt.Errorf("model %q version %q: forward: %w", m.ID(), m.Version(), err)
	}
	resp := oip.InferenceResponse{
		ModelName:    m.ID(),
		ModelVersion: m.Version(),
		ID:           req.ID,
		Outputs:      make([]oip.ResponseOutput, 0, len(wanted)),
	}
	var chunks [][]byte
	for _, o := range wanted {
		out, raw, err := encodeOutput(o.spec, result[o.spec.Name], o.binary)
		if err != nil {
			return fmt.Errorf("model %q version %q: output %q: %w", m.ID(), m.Version(), o.spec.Name, err)
		}
		resp.Outputs = append(resp.Outputs, out)
		if o.binary {
			chunks = append(chunks, raw)
		}
	}
	if len(chunks) == 0 {
		writeJSON(w, http.StatusOK, resp)
		return nil
	}
	return writeBinary(w, resp, chunks)
}

// writeBinary answers resp followed by the binary data of its binary
// outputs, as the binary tensor data extension defines.
func writeBinary(w http.ResponseWriter, resp oip.InferenceResponse, chunks [][]byte) error {
	header, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encoding the response header: %w", err)
	}
	body := oip.JoinBody(header, chunks...)
	h := w.Header()
	h.Set("Content-Type", oip.ContentTypeBinary)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set(oip.HeaderInferenceContentLength, strconv.Itoa(len(header)))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// forward runs the model within the concurrency limit and the request
// timeout. It takes a slot at once or answers 503 with Retry-After; the
// model runs on its own goroutine, which gives the slot back when the
// model returns, even after the request gave up on it. A panic of the model
// is recovered there, logged with its stack, and becomes an internal error.
func (s *Server) forward(ctx context.Context, m reference.Model, inputs map[string]numerics.Tensor) (map[string]numerics.Tensor, error) {
	select {
	case s.slots <- struct{}{}:
	default:
		return nil, &apiError{
			status: http.StatusServiceUnavailable,
			msg:    fmt.Sprintf("the server is running its limit of %d inferences at once; retry after %d s", s.cfg.maxConcurrent, RetryAfterSeconds),
			header: http.Header{"Retry-After": {strconv.Itoa(RetryAfterSeconds)}},
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.requestTimeout)
	defer cancel()
	type answer struct {
		out map[string]numerics.Tensor
		err error
	}
	done := make(chan answer, 1)
	go func() {
		out, err := s.runModel(ctx, m, inputs)
		<-s.slots // before answering, so that the slot is free once the client has its answer
		done <- answer{out, err}
	}()
	select {
	case a := <-done:
		if a.err == nil || !(errors.Is(a.err, context.DeadlineExceeded) || errors.Is(a.err, context.Canceled)) || ctx.Err() == nil {
			return a.out, a.err
		}
		// A ContextModel gave up because the request's context ended.
	case <-ctx.Done():
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		s.cfg.logger.WarnContext(ctx, "inference timed out", "model", m.ID(), "version", m.Version(), "timeout", s.cfg.requestTimeout)
		return nil, &apiError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("model %q version %q did not answer within the request timeout of %s", m.ID(), m.Version(), s.cfg.requestTimeout)}
	}
	return nil, &apiError{status: http.StatusServiceUnavailable, msg: "the request was cancelled before the model answered"}
}

// runModel calls the model's ForwardContext or Forward, turning a panic
// into a logged internal error.
func (s *Server) runModel(ctx context.Context, m reference.Model, inputs map[string]numerics.Tensor) (out map[string]numerics.Tensor, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.cfg.logger.ErrorContext(ctx, "panic in a model's forward pass",
				"model", m.ID(), "version", m.Version(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			out, err = nil, fmt.Errorf("forward panicked (logged above)")
		}
	}()
	if cm, ok := m.(ContextModel); ok {
		return cm.ForwardContext(ctx, inputs)
	}
	return m.Forward(inputs)
}

// readBody reads the whole body within the server's limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	tooLarge := &apiError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("request body is larger than the limit of %d bytes", s.cfg.maxBodyBytes)}
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

// decodeRequest parses the JSON object of an inference request: one JSON
// value and nothing after it but white space (the tokens NaN and Infinity
// are not JSON and fail here too). Unknown fields are allowed (the
// protocol lets extensions add them); inputs is required. binaryHeader
// says whether the request carried Inference-Header-Content-Length, which
// decides how data after the object is explained.
func decodeRequest(body []byte, binaryHeader bool) (oip.InferenceRequest, error) {
	var req oip.InferenceRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return req, badRequest("request body is empty, want an inference request JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return req, badRequest("request body: %s", describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		if binaryHeader {
			return req, badRequest("request body: unexpected data after the JSON object, within the %d bytes that header %s gives the JSON object", len(body), oip.HeaderInferenceContentLength)
		}
		return req, badRequest("request body: unexpected data after the JSON object (binary tensor data needs the header %s)", oip.HeaderInferenceContentLength)
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
// decodes its data: JSON data, or for an input with binary_data_size its
// segment of bin, the bytes after the JSON object, taken in input order.
// Every byte of bin must belong to an input, and every floating value must
// be finite. binaryHeader says whether the request carried
// Inference-Header-Content-Length.
func bindInputs(m reference.Model, inputs []oip.RequestInput, bin []byte, binaryHeader bool) (map[string]numerics.Tensor, error) {
	specs := m.Inputs()
	byName := make(map[string]spec.Tensor, len(specs))
	names := make([]string, len(specs))
	for i, sp := range specs {
		byName[sp.Name] = sp
		names[i] = sp.Name
	}
	rd := oip.NewBinaryReader(bin)
	lastBinary := ""
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
		if in.Datatype == "" {
			return nil, badRequest("input %q: datatype is missing, want %s", in.Name, sp.Datatype)
		}
		if !slices.Contains(oip.Datatypes, in.Datatype) {
			return nil, badRequest("input %q: datatype %q is not a protocol datatype, want %s", in.Name, in.Datatype, sp.Datatype)
		}
		if in.Datatype != string(sp.Datatype) {
			return nil, badRequest("input %q: datatype %s, but the model expects %s", in.Name, in.Datatype, sp.Datatype)
		}
		if err := checkShape(in.Shape, sp.Shape); err != nil {
			return nil, badRequest("input %q: %v", in.Name, err)
		}
		size, isBinary, err := oip.BinaryDataSize(in.Parameters)
		if err != nil {
			return nil, badRequest("input %q: %v", in.Name, err)
		}
		var t numerics.Tensor
		if isBinary {
			t, err = bindBinary(in, size, rd, binaryHeader)
			if err != nil {
				return nil, err
			}
			lastBinary = in.Name
		} else {
			t, err = oip.DecodeData(in.Datatype, in.Shape, in.Data)
			if err != nil {
				return nil, badRequest("input %q: %v", in.Name, err)
			}
		}
		if err := checkFinite(t); err != nil {
			return nil, badRequest("input %q: %v", in.Name, err)
		}
		out[in.Name] = t
	}
	if rd.Len() != 0 {
		if lastBinary == "" {
			return nil, badRequest("%d bytes of binary data follow the JSON object, but no input has parameter %s", rd.Len(), oip.ParamBinaryDataSize)
		}
		return nil, badRequest("input %q: %d bytes of binary data follow the data of this last binary input and belong to no input", lastBinary, rd.Len())
	}
	for _, sp := range specs {
		if _, ok := out[sp.Name]; !ok && !sp.Optional {
			return nil, badRequest("input %q: required by model %q but missing", sp.Name, m.ID())
		}
	}
	return out, nil
}

// bindBinary decodes the binary data of input in, whose binary_data_size
// is size, from the next segment of rd. Its shape is already checked.
func bindBinary(in oip.RequestInput, size int64, rd *oip.BinaryReader, binaryHeader bool) (numerics.Tensor, error) {
	if len(in.Data) != 0 {
		return numerics.Tensor{}, badRequest("input %q: has both data and parameter %s; send one of them", in.Name, oip.ParamBinaryDataSize)
	}
	if !binaryHeader {
		return numerics.Tensor{}, badRequest("input %q: parameter %s is set, but the request has no header %s to say where the JSON object ends", in.Name, oip.ParamBinaryDataSize, oip.HeaderInferenceContentLength)
	}
	want, err := oip.BinarySize(in.Datatype, in.Shape)
	if err != nil {
		return numerics.Tensor{}, badRequest("input %q: %v", in.Name, err)
	}
	if size != want {
		return numerics.Tensor{}, badRequest("input %q: %s is %d bytes, but shape %s of %s needs %d", in.Name, oip.ParamBinaryDataSize, size, formatShape(in.Shape), in.Datatype, want)
	}
	seg, err := rd.Next(size)
	if err != nil {
		return numerics.Tensor{}, badRequest("input %q: %v", in.Name, err)
	}
	t, err := oip.DecodeBinary(in.Datatype, in.Shape, seg)
	if err != nil {
		return numerics.Tensor{}, badRequest("input %q: %v", in.Name, err)
	}
	return t, nil
}

// checkFinite fails for the first NaN or infinite element of a floating
// tensor, naming its flat index and its index in the shape.
func checkFinite(t numerics.Tensor) error {
	bad := -1
	var v float64
	switch t.DType {
	case numerics.FP32:
		for i, x := range t.F32 {
			if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
				bad, v = i, f
				break
			}
		}
	case numerics.FP64:
		for i, x := range t.F64 {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				bad, v = i, x
				break
			}
		}
	}
	if bad < 0 {
		return nil
	}
	return fmt.Errorf("element %d (index %s) is %v, want a finite %s value", bad, formatShape(numerics.IndexOf(t.Shape, bad)), v, t.DType)
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

// wantedOutput is an output to answer with, and whether as binary data.
type wantedOutput struct {
	spec   spec.Tensor
	binary bool
}

// selectOutputs returns the outputs to answer with: those the request names,
// in its order, or every output of the model. An output is binary when its
// binary_data parameter says so, or, without one, when binaryAll (the
// request's binary_data_output) is true.
func selectOutputs(m reference.Model, requested []oip.RequestOutput, binaryAll bool) ([]wantedOutput, error) {
	specs := m.Outputs()
	if len(requested) == 0 {
		out := make([]wantedOutput, len(specs))
		for i, sp := range specs {
			out[i] = wantedOutput{spec: sp, binary: binaryAll}
		}
		return out, nil
	}
	names := make([]string, len(specs))
	for i, sp := range specs {
		names[i] = sp.Name
	}
	out := make([]wantedOutput, 0, len(requested))
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
		if _, ok := ro.Parameters["classification"]; ok {
			return nil, badRequest("output %q: parameter classification asks for the classification extension, which this server does not have (extensions: %s)", ro.Name, oip.ExtensionBinaryData)
		}
		binary, given, err := oip.BoolParameter(ro.Parameters, oip.ParamBinaryData)
		if err != nil {
			return nil, badRequest("output %q: %v", ro.Name, err)
		}
		if !given {
			binary = binaryAll
		}
		seen[ro.Name] = true
		out = append(out, wantedOutput{spec: specs[j], binary: binary})
	}
	return out, nil
}

// encodeOutput checks a model output against its spec and renders it, with
// flat JSON data or, when binary, with binary_data_size and the raw bytes
// it returns. Errors here are the model's fault, a non-finite value
// included: the reference models never produce one.
func encodeOutput(spec spec.Tensor, t numerics.Tensor, binary bool) (oip.ResponseOutput, []byte, error) {
	if t.DType == "" {
		return oip.ResponseOutput{}, nil, fmt.Errorf("missing from the model's results")
	}
	if t.DType != spec.Datatype {
		return oip.ResponseOutput{}, nil, fmt.Errorf("datatype %s, declared %s", t.DType, spec.Datatype)
	}
	if err := t.Validate(); err != nil {
		return oip.ResponseOutput{}, nil, err
	}
	if len(t.Shape) != len(spec.Shape) {
		return oip.ResponseOutput{}, nil, fmt.Errorf("shape %s, declared %s", formatShape(t.Shape), formatShape(spec.Shape))
	}
	for i, d := range t.Shape {
		if spec.Shape[i] != -1 && d != spec.Shape[i] {
			return oip.ResponseOutput{}, nil, fmt.Errorf("shape %s, declared %s", formatShape(t.Shape), formatShape(spec.Shape))
		}
	}
	if err := checkFinite(t); err != nil {
		return oip.ResponseOutput{}, nil, err
	}
	out := oip.ResponseOutput{Name: spec.Name, Shape: slices.Clone(t.Shape), Datatype: string(t.DType)}
	if binary {
		raw, err := oip.EncodeBinary(t)
		if err != nil {
			return oip.ResponseOutput{}, nil, err
		}
		out.Parameters = oip.Parameters{oip.ParamBinaryDataSize: len(raw)}
		return out, raw, nil
	}
	data, err := oip.EncodeData(t)
	if err != nil {
		return oip.ResponseOutput{}, nil, err
	}
	out.Data = data
	return out, nil, nil
}
