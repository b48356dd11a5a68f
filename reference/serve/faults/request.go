package faults

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
	"github.com/aiconform/aiconform/spec"
)

// This file holds the faults that look at requests before the server does:
// server-error-on-bad-input, unknown-input-500, flat-data-only,
// inverted-output-selection, unknown-output-accepted and
// unknown-model-default. They need to know the served models, which a
// catalog records.

// catalog records the served models while serve.New wraps them (its record
// method is a model wrapper that changes nothing); handler wrappers read it
// once New has returned, and never write it.
type catalog struct {
	models map[string]map[string]reference.Model // model id → version → model
}

// record adds m to the catalog and returns it unchanged.
func (c *catalog) record(m reference.Model) reference.Model {
	if c.models[m.ID()] == nil {
		c.models[m.ID()] = map[string]reference.Model{}
	}
	c.models[m.ID()][m.Version()] = m
	return m
}

// resolve returns the served model version a path names: the version
// given, or without one the model's default (serve.PickDefaultVersion);
// nil when it is not served.
func (c *catalog) resolve(model, version string) reference.Model {
	vs := c.models[model]
	if vs == nil {
		return nil
	}
	if version == "" {
		version = serve.PickDefaultVersion(slices.Collect(maps.Keys(vs)))
	}
	return vs[version]
}

// first returns the lexically first served model id.
func (c *catalog) first() string {
	ids := slices.Sorted(maps.Keys(c.models))
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// inferRequest is an inference request to a served model, read ahead of
// the server: the model it names, its JSON object and its binary data.
type inferRequest struct {
	model reference.Model
	js    []byte
	bin   []byte
}

// readInfer reads r when it is an inference request to a model of c whose
// body is at most peekLimit bytes and splits into a JSON part and binary
// data; ok is false otherwise. The body is put back for the server.
func readInfer(c *catalog, r *http.Request) (req inferRequest, ok bool) {
	model, version, action, routed := modelRoute(r.URL.Path)
	if !routed || action != "infer" || r.Method != http.MethodPost {
		return req, false
	}
	if req.model = c.resolve(model, version); req.model == nil {
		return req, false
	}
	body, ok := peekBody(r, peekLimit)
	if !ok {
		return req, false
	}
	js, bin, err := oip.SplitBody(body, r.Header.Get(oip.HeaderInferenceContentLength))
	if err != nil {
		return req, false
	}
	req.js, req.bin = js, bin
	return req, true
}

// withJSON returns r with its body's JSON part replaced by js (the binary
// data, if any, follows it as before).
func withJSON(r *http.Request, js, bin []byte) *http.Request {
	r = r.Clone(r.Context())
	body := js
	if r.Header.Get(oip.HeaderInferenceContentLength) != "" {
		r.Header.Set(oip.HeaderInferenceContentLength, strconv.Itoa(len(js)))
		body = oip.JoinBody(js, bin)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return r
}

// requestInputs is the part of an inference request the input faults
// read.
type requestInputs struct {
	Inputs []struct {
		Name  string          `json:"name"`
		Shape json.RawMessage `json:"shape"`
		Data  json.RawMessage `json:"data"`
	} `json:"inputs"`
}

// serverErrorOnBadInput: an inference request naming an input of the model
// with a shape of the wrong rank or a wrong fixed dimension is answered 500
// with the server's generic error, as if it had reached the model's kernel
// and crashed it. Every other request, bad ones included, is served as
// usual.
func serverErrorOnBadInput(c *catalog) func(http.Handler) http.Handler {
	return failRequests(c, func(req inferRequest) bool {
		_, bad := misshapenInput(req.js, req.model.Inputs())
		return bad
	})
}

// unknownInput500: an inference request naming an input the model does
// not have is answered 500 with the server's generic error, as if the
// input had reached the model's kernel and crashed it.
func unknownInput500(c *catalog) func(http.Handler) http.Handler {
	return failRequests(c, func(req inferRequest) bool {
		var in requestInputs
		if json.Unmarshal(req.js, &in) != nil {
			return false
		}
		specs := req.model.Inputs()
		for _, x := range in.Inputs {
			if !slices.ContainsFunc(specs, func(s spec.Tensor) bool { return s.Name == x.Name }) {
				return true
			}
		}
		return false
	})
}

// failRequests returns a handler wrapper that answers 500 with the
// server's generic error to the inference requests for which fails reports
// true.
func failRequests(c *catalog, fails func(req inferRequest) bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if req, ok := readInfer(c, r); ok && fails(req) {
				serve.WriteError(w, http.StatusInternalServerError, serve.InternalErrorMessage)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// misshapenInput returns the first input of the request's JSON object js
// that is an input of the model and whose shape, a JSON array of integers,
// has a rank or a fixed dimension other than the model's.
func misshapenInput(js []byte, specs []spec.Tensor) (string, bool) {
	var req requestInputs
	if json.Unmarshal(js, &req) != nil {
		return "", false
	}
	for _, in := range req.Inputs {
		i := slices.IndexFunc(specs, func(s spec.Tensor) bool { return s.Name == in.Name })
		var shape []int64
		if i < 0 || json.Unmarshal(in.Shape, &shape) != nil || shape == nil {
			continue
		}
		want := specs[i].Shape
		if len(shape) != len(want) {
			return in.Name, true
		}
		for j, d := range shape {
			if want[j] != -1 && d != want[j] {
				return in.Name, true
			}
		}
	}
	return "", false
}

// flatDataOnly: an inference request with an input whose JSON data holds
// an array (nested data) is answered 400.
func flatDataOnly() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !isInfer(r) {
				next.ServeHTTP(w, r)
				return
			}
			body, ok := peekBody(r, peekLimit)
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			js, _, err := oip.SplitBody(body, r.Header.Get(oip.HeaderInferenceContentLength))
			var in requestInputs
			if err != nil || json.Unmarshal(js, &in) != nil {
				next.ServeHTTP(w, r)
				return
			}
			for _, x := range in.Inputs {
				var elems []json.RawMessage
				if json.Unmarshal(x.Data, &elems) != nil {
					continue
				}
				if slices.ContainsFunc(elems, func(e json.RawMessage) bool { return len(e) > 0 && e[0] == '[' }) {
					serve.WriteError(w, http.StatusBadRequest, "input "+strconv.Quote(x.Name)+": data must be flat")
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// requestedOutput is one member of an inference request's outputs.
type requestedOutput struct {
	Name       string          `json:"name"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
}

// editRequestedOutputs returns a handler wrapper that passes the outputs an
// inference request names through edit before the server reads the
// request. edit returns the outputs to request instead (nil: none, which
// asks for all) and whether it changed anything. Requests whose outputs
// member is absent or not an array of objects pass unchanged.
func editRequestedOutputs(c *catalog, edit func(m reference.Model, named []requestedOutput) ([]requestedOutput, bool)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			req, ok := readInfer(c, r)
			var members map[string]json.RawMessage
			var named []requestedOutput
			if !ok || json.Unmarshal(req.js, &members) != nil || members["outputs"] == nil || json.Unmarshal(members["outputs"], &named) != nil {
				next.ServeHTTP(w, r)
				return
			}
			outs, changed := edit(req.model, named)
			if !changed {
				next.ServeHTTP(w, r)
				return
			}
			delete(members, "outputs")
			if len(outs) > 0 {
				raw, err := json.Marshal(outs)
				if err != nil {
					next.ServeHTTP(w, r)
					return
				}
				members["outputs"] = raw
			}
			js, err := json.Marshal(members)
			if err != nil {
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, withJSON(r, js, req.bin))
		})
	}
}

// invertedOutputSelection: a request that names some but not all of the
// model's outputs, each once and each an output of the model, asks for the
// others instead, each with the parameters of the first output named.
func invertedOutputSelection(c *catalog) func(http.Handler) http.Handler {
	return editRequestedOutputs(c, func(m reference.Model, named []requestedOutput) ([]requestedOutput, bool) {
		var names []string
		for _, o := range named {
			names = append(names, o.Name)
		}
		var all []string
		for _, s := range m.Outputs() {
			all = append(all, s.Name)
		}
		if len(names) == 0 || len(names) >= len(all) || len(slices.Compact(slices.Sorted(slices.Values(names)))) != len(names) ||
			slices.ContainsFunc(names, func(n string) bool { return !slices.Contains(all, n) }) {
			return nil, false
		}
		var others []requestedOutput
		for _, n := range all {
			if !slices.Contains(names, n) {
				others = append(others, requestedOutput{Name: n, Parameters: named[0].Parameters})
			}
		}
		return others, true
	})
}

// unknownOutputAccepted: a request's outputs that the model does not have
// are dropped from it.
func unknownOutputAccepted(c *catalog) func(http.Handler) http.Handler {
	return editRequestedOutputs(c, func(m reference.Model, named []requestedOutput) ([]requestedOutput, bool) {
		specs := m.Outputs()
		kept := slices.DeleteFunc(slices.Clone(named), func(o requestedOutput) bool {
			return !slices.ContainsFunc(specs, func(s spec.Tensor) bool { return s.Name == o.Name })
		})
		return kept, len(kept) != len(named)
	})
}

// unknownModelDefault: a request to a model route naming a model that is
// not served goes to the lexically first served model, and one naming an
// unknown version of a served model to that model; either way without a
// version, so the model's default version serves it.
func unknownModelDefault(c *catalog) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			model, version, action, ok := modelRoute(r.URL.Path)
			if !ok || c.resolve(model, version) != nil {
				next.ServeHTTP(w, r)
				return
			}
			if c.models[model] == nil {
				model = c.first()
			}
			path := "/v2/models/" + model
			if action != "" {
				path += "/" + action
			}
			r = r.Clone(r.Context())
			r.URL.Path, r.URL.RawPath = path, ""
			next.ServeHTTP(w, r)
		})
	}
}
