package faults

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/spec"
)

// This file holds the faults of the bad-input battery: each lets one kind
// of bad inference request through to the server as a valid one, or fails
// on it, as a lax server would. Valid requests are served as usual.

// rawInput is one request input as the faults of this file edit it:
// every member kept, those they read decoded on demand.
type rawInput map[string]json.RawMessage

// editInputs returns a handler wrapper that hands the inputs of each
// inference request to a model of c (its JSON object, at most peekLimit
// bytes) to edit, and serves the request with the edited inputs when edit
// reports a change.
func editInputs(c *catalog, edit func(req inferRequest, ins []rawInput) ([]rawInput, bool)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			req, ok := readInfer(c, r)
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			var members map[string]json.RawMessage
			var ins []rawInput
			if json.Unmarshal(req.js, &members) != nil || json.Unmarshal(members["inputs"], &ins) != nil {
				next.ServeHTTP(w, r)
				return
			}
			if ins == nil && members["inputs"] != nil {
				ins = []rawInput{}
			}
			edited, changed := edit(req, ins)
			if !changed {
				next.ServeHTTP(w, r)
				return
			}
			raw, err1 := json.Marshal(edited)
			members["inputs"] = raw
			js, err2 := json.Marshal(members)
			if err1 != nil || err2 != nil {
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, withJSON(r, js, req.bin))
		})
	}
}

// field decodes one member of an input; ok is false when it is absent or
// of another type.
func field[T any](in rawInput, name string) (v T, ok bool) {
	raw, present := in[name]
	if !present {
		return v, false
	}
	return v, json.Unmarshal(raw, &v) == nil
}

// set encodes one member of an input.
func set(in rawInput, name string, v any) {
	if raw, err := json.Marshal(v); err == nil {
		in[name] = raw
	}
}

// modelInput returns the spec of the model input an input names.
func modelInput(specs []spec.Tensor, in rawInput) (spec.Tensor, bool) {
	name, _ := field[string](in, "name")
	i := slices.IndexFunc(specs, func(s spec.Tensor) bool { return s.Name == name })
	if i < 0 {
		return spec.Tensor{}, false
	}
	return specs[i], true
}

// elementCount is the element count of a shape of positive dimensions
// (−1 when a dimension is not positive or the count is over limit).
func elementCount(shape []int64, limit int64) int64 {
	n := int64(1)
	for _, d := range shape {
		if d <= 0 || n > limit/d {
			return -1
		}
		n *= d
	}
	return n
}

// trustLimit bounds the element counts the faults of this file pad to or
// reshape to, so that none allocates what a request declares.
const trustLimit = 1 << 20

// acceptsMalformedJSON: an inference request body that is a JSON array is
// served as its first element, and data after the request's JSON object
// (without the binary data header) is ignored.
func acceptsMalformedJSON(c *catalog) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			req, ok := readInfer(c, r)
			if !ok || r.Header.Get(oip.HeaderInferenceContentLength) != "" {
				next.ServeHTTP(w, r)
				return
			}
			dec := json.NewDecoder(bytes.NewReader(req.js))
			var first json.RawMessage
			if dec.Decode(&first) != nil {
				next.ServeHTTP(w, r)
				return
			}
			var arr []json.RawMessage
			if json.Unmarshal(first, &arr) == nil && len(arr) > 0 {
				first = arr[0]
			}
			next.ServeHTTP(w, withJSON(r, first, nil))
		})
	}
}

// acceptsWrongShape: an input of the model whose shape, of positive
// dimensions, has a rank or a fixed dimension other than the model's is
// reshaped to the model's shape when its element count fits it (the
// variable dimensions are 1, but the last, which takes the rest).
func acceptsWrongShape(c *catalog) func(http.Handler) http.Handler {
	return editInputs(c, func(req inferRequest, ins []rawInput) ([]rawInput, bool) {
		changed := false
		for _, in := range ins {
			sp, known := modelInput(req.model.Inputs(), in)
			shape, ok := field[[]int64](in, "shape")
			if !known || !ok {
				continue
			}
			if _, bad := misshapenInput(mustMarshal(map[string]any{"inputs": []rawInput{in}}), []spec.Tensor{sp}); !bad {
				continue
			}
			n := elementCount(shape, trustLimit)
			fixed, last := int64(1), -1
			for i, d := range sp.Shape {
				if d == -1 {
					last = i
				} else {
					fixed *= d
				}
			}
			if n <= 0 || last < 0 || n%fixed != 0 {
				continue
			}
			fit := slices.Clone(sp.Shape)
			for i, d := range fit {
				if d == -1 {
					fit[i] = 1
				}
			}
			fit[last] = n / fixed
			set(in, "shape", fit)
			changed = true
		}
		return ins, changed
	})
}

// mustMarshal encodes a value of plain JSON types.
func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// numericDatatypes are the protocol datatypes acceptsWrongDtype converts
// from.
var numericDatatypes = []string{"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BF16"}

// acceptsWrongDtype: an input of another numeric datatype than the
// model's is taken as the model's, and fractional values in the flat data
// of an INT64 input are truncated.
func acceptsWrongDtype(c *catalog) func(http.Handler) http.Handler {
	return editInputs(c, func(req inferRequest, ins []rawInput) ([]rawInput, bool) {
		changed := false
		for _, in := range ins {
			sp, known := modelInput(req.model.Inputs(), in)
			dt, ok := field[string](in, "datatype")
			if !known || !ok {
				continue
			}
			if dt != string(sp.Datatype) && slices.Contains(numericDatatypes, dt) {
				set(in, "datatype", string(sp.Datatype))
				changed = true
			}
			data, ok := field[[]json.Number](in, "data")
			if !ok || sp.Datatype != "INT64" {
				continue
			}
			for i, v := range data {
				if strings.ContainsAny(string(v), ".eE") {
					if f, err := v.Float64(); err == nil && math.Abs(f) < 1<<53 {
						data[i] = json.Number(strconv.FormatInt(int64(f), 10))
						changed = true
					}
				}
			}
			set(in, "data", data)
		}
		return ins, changed
	})
}

// trustsShape: flat data with fewer elements than the input's shape holds
// is padded with zeros, and data with more is cut to the shape.
func trustsShape(c *catalog) func(http.Handler) http.Handler {
	return editInputs(c, func(req inferRequest, ins []rawInput) ([]rawInput, bool) {
		changed := false
		for _, in := range ins {
			shape, ok1 := field[[]int64](in, "shape")
			data, ok2 := field[[]json.Number](in, "data")
			n := elementCount(shape, trustLimit)
			if !ok1 || !ok2 || n < 0 || int64(len(data)) == n {
				continue
			}
			for int64(len(data)) < n {
				data = append(data, "0")
			}
			set(in, "data", data[:n])
			changed = true
		}
		return ins, changed
	})
}

// acceptsMissingInput: a required input the request lacks is filled with
// zeros, of the shape of the model's input with its variable dimensions
// taken from another input of the request (1 when none has them).
func acceptsMissingInput(c *catalog) func(http.Handler) http.Handler {
	return editInputs(c, func(req inferRequest, ins []rawInput) ([]rawInput, bool) {
		var other []int64
		for _, in := range ins {
			if shape, ok := field[[]int64](in, "shape"); ok {
				other = shape
				break
			}
		}
		changed := false
		for _, sp := range req.model.Inputs() {
			if sp.Optional || slices.ContainsFunc(ins, func(in rawInput) bool { n, _ := field[string](in, "name"); return n == sp.Name }) {
				continue
			}
			shape := slices.Clone(sp.Shape)
			for i, d := range shape {
				if d == -1 {
					shape[i] = 1
					if i < len(other) && other[i] > 0 {
						shape[i] = other[i]
					}
				}
			}
			n := elementCount(shape, trustLimit)
			if n < 0 {
				continue
			}
			in := rawInput{}
			set(in, "name", sp.Name)
			set(in, "datatype", string(sp.Datatype))
			set(in, "shape", shape)
			set(in, "data", slices.Repeat([]json.Number{"0"}, int(n)))
			ins = append(ins, in)
			changed = true
		}
		return ins, changed
	})
}

// zeroesNonfinite: floating values that are not finite in their datatype
// become 0: JSON numbers beyond the datatype's range, and NaN and ±Inf in
// FP32 binary data.
func zeroesNonfinite(c *catalog) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		inner := editInputs(c, func(req inferRequest, ins []rawInput) ([]rawInput, bool) {
			changed := false
			for _, in := range ins {
				dt, _ := field[string](in, "datatype")
				data, ok := field[[]json.Number](in, "data")
				if !ok || dt != "FP32" && dt != "FP64" {
					continue
				}
				for i, v := range data {
					f, err := v.Float64()
					if err != nil || dt == "FP32" && math.IsInf(float64(float32(f)), 0) {
						data[i] = "0"
						changed = true
					}
				}
				set(in, "data", data)
			}
			return ins, changed
		})(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			req, ok := readInfer(c, r)
			if !ok || len(req.bin) == 0 {
				inner.ServeHTTP(w, r)
				return
			}
			// Binary data: zero every non-finite FP32 value of every
			// FP32 input, in input order.
			var body struct {
				Inputs []struct {
					Datatype   string         `json:"datatype"`
					Parameters oip.Parameters `json:"parameters"`
				} `json:"inputs"`
			}
			if json.Unmarshal(req.js, &body) != nil {
				inner.ServeHTTP(w, r)
				return
			}
			bin := slices.Clone(req.bin)
			off := int64(0)
			for _, in := range body.Inputs {
				size, isBinary, err := oip.BinaryDataSize(in.Parameters)
				if err != nil || !isBinary || off+size > int64(len(bin)) {
					continue
				}
				if in.Datatype == "FP32" {
					for i := off; i+4 <= off+size; i += 4 {
						f := math.Float32frombits(binary.LittleEndian.Uint32(bin[i:]))
						if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
							binary.LittleEndian.PutUint32(bin[i:], 0)
						}
					}
				}
				off += size
			}
			inner.ServeHTTP(w, withJSON(r, req.js, bin))
		})
	}
}

// allocatesDeclaredShape: an inference request with an input whose shape
// declares more than declaredLimit elements is answered 500, as a server
// that allocates what a shape declares before it looks at the data fails
// (the allocation is not made).
func allocatesDeclaredShape(c *catalog) func(http.Handler) http.Handler {
	return failRequests(c, func(req inferRequest) bool {
		var in requestInputs
		if json.Unmarshal(req.js, &in) != nil {
			return false
		}
		for _, x := range in.Inputs {
			var shape []int64
			if json.Unmarshal(x.Shape, &shape) == nil && elementCount(shape, declaredLimit) < 0 && !slices.ContainsFunc(shape, func(d int64) bool { return d <= 0 }) {
				return true
			}
		}
		return false
	})
}

// declaredLimit is the element count above which allocates-declared-shape
// fails.
const declaredLimit = 1 << 28
