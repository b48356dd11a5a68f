package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/spec"
)

// The checks of the protocol requirements (spec/v1/api.md).

func checkHealthLive(ctx context.Context, e *env) Result {
	var r recorder
	resp := e.b.live(ctx)
	r.expectStatus(resp, http.StatusOK, "the server is live")
	return r.result(fmt.Sprintf("%s answered %s", resp.what(), resp.statusText()))
}

// readyPoll is how often OIP-HEALTH-READY asks again.
const readyPoll = time.Second

func checkHealthReady(ctx context.Context, e *env) Result {
	var r recorder
	_, msg := pollHealth(ctx, e, &r, e.b.ready, "the server is ready")
	return r.result(msg)
}

// pollHealth asks a health endpoint once a readyPoll until it answers 200
// or the request timeout has passed since the first attempt, as
// OIP-HEALTH-READY does. It records the last answer (a failure, saying
// the purpose, unless 200) and says what happened.
func pollHealth(ctx context.Context, e *env, r *recorder, probe func(context.Context) *response, purpose string) (bool, string) {
	start := e.c.now()
	attempts := 0
	for {
		attempts++
		resp := probe(ctx)
		if resp.ok(http.StatusOK) {
			r.add(resp)
			return true, fmt.Sprintf("%s answered %s (attempt %d)", resp.what(), resp.statusText(), attempts)
		}
		waited := e.c.now().Sub(start)
		if waited+readyPoll > e.c.timeout || resp.err != nil && e.c.hasStopped() || ctx.Err() != nil {
			why := fmt.Sprintf("%s; asked %d time%s over %v", purpose, attempts, plural(attempts), waited.Round(time.Millisecond))
			r.expectStatus(resp, http.StatusOK, why)
			return false, fmt.Sprintf("%s %s, want 200 (%s)", resp.what(), resp.outcome(), why)
		}
		select {
		case <-ctx.Done():
		case <-time.After(readyPoll):
		}
	}
}

func checkModelReady(ctx context.Context, e *env) Result {
	var r recorder
	if prior, ok := e.result("api/health-ready"); !ok || prior.Status != spec.Pass {
		return notChecked(r.ev, "not checked: OIP-MODEL-READY is asked after OIP-HEALTH-READY passed, and api/health-ready did not pass")
	}
	n := 0
	for _, m := range e.models {
		versions := []string{""}
		if m.ref.Version != "" {
			versions = append(versions, m.ref.Version)
		}
		for _, v := range versions {
			r.expectStatus(e.b.modelReady(ctx, m.ref.Name, v), http.StatusOK, "model "+m.ref.Label()+" is ready")
			n++
		}
	}
	return r.result(fmt.Sprintf("%d model readiness endpoint%s answered 200", n, plural(n)))
}

func checkServerMetadata(ctx context.Context, e *env) Result {
	var r recorder
	resp := e.b.serverMetadata(ctx)
	if !r.expectStatus(resp, http.StatusOK, "server metadata") {
		return r.result("")
	}
	doc, ok := r.expectDocument(resp, "oip-server-metadata")
	if !ok {
		return r.result("")
	}
	var md oip.ServerMetadata
	if err := as(doc, &md); err != nil {
		r.failf("%s: %v", resp.what(), err)
		return r.result("")
	}
	if strings.TrimSpace(md.Name) == "" {
		r.failf("%s: name is empty, want the server's name", resp.what())
	}
	if strings.TrimSpace(md.Version) == "" {
		r.failf("%s: version is empty, want the server's version", resp.what())
	}
	return r.result(fmt.Sprintf("server %s %s, extensions %v", md.Name, md.Version, md.Extensions))
}

func checkModelMetadata(ctx context.Context, e *env) Result {
	var r recorder
	var extra []string
	for _, m := range e.models {
		// The unversioned path describes the default version; the contract
		// is held against the profile's version where it names one.
		versions := []string{""}
		if m.ref.Version != "" {
			versions = append(versions, m.ref.Version)
		}
		for i, v := range versions {
			resp := e.b.modelMetadata(ctx, m.ref.Name, v)
			if !r.expectStatus(resp, http.StatusOK, "metadata of model "+m.ref.Label()) {
				continue
			}
			doc, ok := r.expectDocument(resp, "oip-model-metadata")
			if !ok {
				continue
			}
			var md oip.ModelMetadata
			if err := as(doc, &md); err != nil {
				r.failf("%s: %v", resp.what(), err)
				continue
			}
			if md.Name != m.ref.Name {
				r.failf("%s: name is %q, want %q", resp.what(), md.Name, m.ref.Name)
			}
			if m.ref.Version != "" && len(md.Versions) > 0 && !slices.Contains(md.Versions, m.ref.Version) {
				r.failf("%s: versions %v do not include %q", resp.what(), md.Versions, m.ref.Version)
			}
			if i == len(versions)-1 {
				fails, more := contractDiff(m.contract, md)
				for _, f := range fails {
					r.failf("%s: %s", resp.what(), f)
				}
				for _, x := range more {
					extra = append(extra, m.ref.Label()+" "+x)
				}
			}
		}
	}
	msg := fmt.Sprintf("metadata of %d model%s is schema-valid and declares the reference contract", len(e.models), plural(len(e.models)))
	if len(extra) > 0 {
		msg += fmt.Sprintf("; outputs beyond the contract: %s", strings.Join(extra, ", "))
	}
	return r.result(msg)
}

// contractDiff lists how model metadata departs from the contract (fails)
// and the outputs it declares beyond the contract, which are allowed.
func contractDiff(c spec.Contract, md oip.ModelMetadata) (fails, extra []string) {
	compare := func(kind string, want []spec.Tensor, got []oip.TensorMetadata) {
		for _, w := range want {
			i := slices.IndexFunc(got, func(t oip.TensorMetadata) bool { return t.Name == w.Name })
			if i < 0 {
				what := ""
				if w.Optional {
					what = "optional "
				}
				fails = append(fails, fmt.Sprintf("%s%s %q of the %s contract is not declared", what, kind, w.Name, c.Model))
				continue
			}
			if d := declared(w, got[i].Datatype, got[i].Shape); d != "" {
				fails = append(fails, fmt.Sprintf("%s %q: %s", kind, w.Name, d))
			}
		}
		for _, g := range got {
			if slices.ContainsFunc(want, func(t spec.Tensor) bool { return t.Name == g.Name }) {
				continue
			}
			if kind == "output" {
				extra = append(extra, fmt.Sprintf("%q", g.Name))
				continue
			}
			fails = append(fails, fmt.Sprintf("%s %q is not part of the %s contract", kind, g.Name, c.Model))
		}
	}
	compare("input", c.Inputs, md.Inputs)
	compare("output", c.Outputs, md.Outputs)
	return fails, extra
}

// declared compares a metadata entry with the contract tensor and returns
// what differs, or "".
func declared(t spec.Tensor, datatype string, shape []int64) string {
	switch {
	case datatype != string(t.Datatype) && !slices.Equal(shape, t.Shape):
		return fmt.Sprintf("declared %s %v, want %s %v", datatype, shape, t.Datatype, t.Shape)
	case datatype != string(t.Datatype):
		return fmt.Sprintf("datatype %s, want %s", datatype, t.Datatype)
	case !slices.Equal(shape, t.Shape):
		return fmt.Sprintf("shape %v, want %v (-1 is a variable dimension)", shape, t.Shape)
	}
	return ""
}

// inferOutcome is a decoded, checked inference response.
type inferOutcome struct {
	resp    oip.InferenceResponse
	outputs map[string]numerics.Tensor
}

// expectInference checks that resp is a schema-valid inference response
// of model m to a request with the given inputs, carrying each of the
// requested outputs (every output of the contract when requested is nil)
// with the contract's datatype and the shape the inputs give it, and
// returns the decoded outputs. Outputs beyond those asked for are decoded
// too, and allowed. A floating value written as proto3 JSON writes a
// non-finite one ("NaN") is decoded as such, for NUM-OUTPUT-VALID to judge.
// Failures are recorded.
func (r *recorder) expectInference(resp *response, m *modelUnderTest, inputs []namedTensor, requested []string) (*inferOutcome, bool) {
	if !r.expectStatus(resp, http.StatusOK, "a valid inference request of "+m.ref.Label()) {
		return nil, false
	}
	doc, ok := r.expectDocument(resp, "oip-infer-response")
	if !ok {
		return nil, false
	}
	out := &inferOutcome{outputs: map[string]numerics.Tensor{}}
	if err := as(doc, &out.resp); err != nil {
		r.failf("%s: %v", resp.what(), err)
		return nil, false
	}
	_, bin, err := resp.jsonPart()
	if err != nil {
		r.failf("%s: %v", resp.what(), err)
		return nil, false
	}
	good := true
	fail := func(format string, args ...any) {
		r.failf("%s: "+format, append([]any{resp.what()}, args...)...)
		good = false
	}
	if out.resp.ModelName != m.ref.Name {
		fail("model_name is %q, want %q", out.resp.ModelName, m.ref.Name)
	}
	if m.ref.Version != "" && out.resp.ModelVersion != "" && out.resp.ModelVersion != m.ref.Version {
		fail("model_version is %q, want %q", out.resp.ModelVersion, m.ref.Version)
	}
	n, t := batchOf(m.contract, inputs)
	rd := oip.NewBinaryReader(bin)
	for _, o := range out.resp.Outputs {
		if _, dup := out.outputs[o.Name]; dup {
			fail("output %q appears twice", o.Name)
			continue
		}
		x, err := decodeOutput(o, rd)
		if err != nil {
			fail("output %q: %v", o.Name, err)
			continue
		}
		ct, inContract := m.contract.Output(o.Name)
		if !inContract {
			out.outputs[o.Name] = x
			continue
		}
		if o.Datatype != string(ct.Datatype) {
			fail("output %q has datatype %s, want %s", o.Name, o.Datatype, ct.Datatype)
			continue
		}
		want, err := concreteShape(m.contract, ct, n, t)
		if err == nil && !slices.Equal(o.Shape, want) {
			fail("output %q has shape %v, want %v (the contract's %v for this request)", o.Name, o.Shape, want, ct.Shape)
			continue
		}
		out.outputs[o.Name] = x
	}
	if rd.Len() != 0 {
		fail("%d bytes of binary data after the JSON object belong to no output", rd.Len())
	}
	names := requested
	if names == nil {
		for _, ct := range m.contract.Outputs {
			names = append(names, ct.Name)
		}
	}
	for _, name := range names {
		if !slices.ContainsFunc(out.resp.Outputs, func(o oip.ResponseOutput) bool { return o.Name == name }) {
			why := "it was requested"
			if requested == nil {
				why = "a request that names no outputs gets them all"
			}
			fail("output %q is missing (%s)", name, why)
		}
	}
	return out, good
}

// decodeOutput decodes one output, from its JSON data or from the binary
// data after the JSON object.
func decodeOutput(o oip.ResponseOutput, rd *oip.BinaryReader) (numerics.Tensor, error) {
	size, isBinary, err := oip.BinaryDataSize(o.Parameters)
	if err != nil {
		return numerics.Tensor{}, err
	}
	if isBinary {
		seg, err := rd.Next(size)
		if err != nil {
			return numerics.Tensor{}, err
		}
		return oip.DecodeBinary(o.Datatype, o.Shape, seg)
	}
	x, err := oip.DecodeData(o.Datatype, o.Shape, o.Data)
	if err == nil {
		return x, nil
	}
	if y, err2 := oip.DecodeDataNonFinite(o.Datatype, o.Shape, o.Data); err2 == nil {
		return y, nil
	}
	return numerics.Tensor{}, err
}

// batchOf returns the batch size and sequence length of a request.
func batchOf(c spec.Contract, inputs []namedTensor) (int, int64) {
	for _, in := range inputs {
		if _, ok := c.Input(in.name); !ok || len(in.t.Shape) == 0 {
			continue
		}
		var t int64
		if c.Sequence != nil && c.Sequence.Axis < len(in.t.Shape) {
			t = in.t.Shape[c.Sequence.Axis]
		}
		return int(in.t.Shape[0]), t
	}
	return 0, 0
}

// infer sends inputs to model m with the given request options.
func (e *env) infer(ctx context.Context, m *modelUnderTest, req inferRequest) *response {
	return e.b.infer(ctx, m.ref.Name, m.ref.Version, req)
}

func checkInferSchema(ctx context.Context, e *env) Result {
	var r recorder
	sent := 0
	var unsent []string
	for _, m := range e.models {
		s := newSampler(e.seed, "api/infer-schema", m.ref.Label())
		ins, err := s.draw(m.contract, 2, s.length(m.contract), nil)
		if err != nil {
			return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
		}
		for _, nested := range []bool{false, true} {
			form := "flat"
			if nested {
				form = "nested"
			}
			resp := e.infer(ctx, m, inferRequest{inputs: ins, nested: nested})
			switch {
			case resp.encodeErr:
				return errorResult(resp.err.Error())
			case resp.unsent != nil:
				// Nested data has no form in the gRPC binding.
				unsent = append(unsent, fmt.Sprintf("%s with %s data (%v)", m.ref.Label(), form, resp.unsent))
				continue
			}
			if _, ok := r.expectInference(resp, m, ins, nil); !ok {
				r.failures[len(r.failures)-1] += fmt.Sprintf(" [a batch of 2 with %s data]", form)
			}
			sent++
		}
	}
	if sent == 0 {
		return notChecked(r.ev, "not checked: no request could be sent: %s", strings.Join(unsent, "; "))
	}
	if len(unsent) > 0 {
		return r.result(fmt.Sprintf("%d inference responses (a batch of 2 with flat data for each of %d model%s) are schema-valid with the contract's outputs; not sent, having no form in the run's binding: %s",
			sent, len(e.models), plural(len(e.models)), strings.Join(unsent, "; ")))
	}
	return r.result(fmt.Sprintf("%d inference responses (a batch of 2, flat and nested data, for each of %d model%s) are schema-valid with the contract's outputs", sent, len(e.models), plural(len(e.models))))
}

// unusualID is the id of OIP-INFER-ID-ECHO's second request: a quote, a
// backslash, U+00E9 and U+1F600.
const unusualID = "aiconform-\"quoted\"-back\\slash-caf\u00e9-\U0001F600-"

func checkIDEcho(ctx context.Context, e *env) Result {
	var r recorder
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return errorResult(fmt.Sprintf("cannot draw a random id: %v", err))
	}
	ids := []string{"aiconform-" + hex.EncodeToString(b[:]), unusualID + e.nonce}
	judged := 0
	var unjudged []string
	for _, m := range e.models {
		s := newSampler(e.seed, "api/infer-id-echo", m.ref.Label())
		ins, err := s.draw(m.contract, 1, s.length(m.contract), nil)
		if err != nil {
			return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
		}
		for _, id := range ids {
			resp := e.infer(ctx, m, inferRequest{id: id, inputs: ins})
			if resp.encodeErr {
				return errorResult(resp.err.Error())
			}
			r.add(resp)
			if !resp.ok(http.StatusOK) {
				unjudged = append(unjudged, fmt.Sprintf("%s %s", resp.what(), resp.outcome()))
				continue
			}
			js, _, err := resp.jsonPart()
			doc, derr := decodeJSON(js)
			obj, isObj := doc.(map[string]any)
			if err != nil || derr != nil || !isObj {
				unjudged = append(unjudged, fmt.Sprintf("%s answered 200 without a JSON object", resp.what()))
				continue
			}
			judged++
			got, present := obj["id"]
			switch s, isString := got.(string); {
			case !present:
				r.failf("%s: the request's id %q is not echoed (the response has no id)", resp.what(), id)
			case !isString:
				r.failf("%s: id is %v, want the string %q", resp.what(), got, id)
			case s != id:
				r.failf("%s: id is %q, want the request's %q", resp.what(), s, id)
			}
		}
	}
	if judged == 0 {
		return notChecked(r.ev, "not checked: no inference succeeded, so the id echo could not be judged (%s); see api/infer-schema", strings.Join(unjudged, "; "))
	}
	if len(unjudged) > 0 && len(r.failures) == 0 {
		// The failures of the others belong to api/infer-schema.
		return notChecked(r.ev, "not checked: %d ids were echoed, but %d requests could not be judged (%s); see api/infer-schema", judged, len(unjudged), strings.Join(unjudged, "; "))
	}
	return r.result(fmt.Sprintf("%d ids echoed, ASCII and with JSON escapes and non-ASCII characters", judged))
}

// noSuchOutput is the output name OIP-OUTPUT-SELECT asks for to get a 400.
const noSuchOutput = "aiconform_no_such_output"

func checkOutputSelect(ctx context.Context, e *env) Result {
	var r recorder
	var extra []string
	asked := 0
	for _, m := range e.models {
		s := newSampler(e.seed, "api/output-select", m.ref.Label())
		ins, err := s.draw(m.contract, 1, s.length(m.contract), nil)
		if err != nil {
			return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
		}
		for _, ct := range m.contract.Outputs {
			resp := e.infer(ctx, m, inferRequest{inputs: ins, outputs: []outputRequest{{name: ct.Name}}})
			if resp.encodeErr {
				return errorResult(resp.err.Error())
			}
			out, ok := r.expectInference(resp, m, ins, []string{ct.Name})
			asked++
			if !ok || out == nil {
				continue
			}
			for name := range out.outputs {
				if name != ct.Name {
					extra = append(extra, fmt.Sprintf("%s asked for %s got %s", m.ref.Label(), ct.Name, name))
				}
			}
		}
		resp := e.infer(ctx, m, inferRequest{inputs: ins, outputs: []outputRequest{{name: noSuchOutput}}})
		r.expectError(resp, fmt.Sprintf("output %q is not an output of %s", noSuchOutput, m.contract.Model), badRequest)
	}
	slices.Sort(extra)
	if len(extra) > 0 {
		r.figure("unrequestedOutputs", Count(len(extra)))
	}
	msg := fmt.Sprintf("each of %d outputs came back when requested alone, and %s got 400 for every model", asked, noSuchOutput)
	if len(extra) > 0 {
		msg += fmt.Sprintf("; outputs returned without being requested: %s", strings.Join(extra, "; "))
	}
	return r.result(msg)
}

func checkBinaryData(ctx context.Context, e *env) Result {
	var r recorder
	// Whether the extension is advertised decides applicability. The
	// server metadata is read leniently here: judging it is
	// api/server-metadata's job.
	resp := e.b.serverMetadata(ctx)
	r.add(resp)
	extensions, known := serverExtensions(resp)
	if !known {
		return notChecked(r.ev, "not checked: the server metadata (%s) could not be read, so whether %s is advertised is unknown: %s", resp.what(), oip.ExtensionBinaryData, resp.outcome())
	}
	if !slices.Contains(extensions, oip.ExtensionBinaryData) {
		return Result{Status: spec.Skip, Evidence: r.ev,
			Message: spec.NotApplicablePrefix + fmt.Sprintf("the server metadata's extensions %v do not contain %s", extensions, oip.ExtensionBinaryData)}
	}
	compared := 0
	for _, m := range e.models {
		s := newSampler(e.seed, "api/binary-data", m.ref.Label())
		ins, err := s.draw(m.contract, 2, s.length(m.contract), nil)
		if err != nil {
			return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
		}
		var all, allBinary []outputRequest
		var names []string
		for _, ct := range m.contract.Outputs {
			all = append(all, outputRequest{name: ct.Name})
			allBinary = append(allBinary, outputRequest{name: ct.Name, binary: true})
			names = append(names, ct.Name)
		}
		jresp := e.infer(ctx, m, inferRequest{inputs: ins, outputs: all})
		bresp := e.infer(ctx, m, inferRequest{inputs: ins, outputs: allBinary, binaryInputs: true})
		if jresp.encodeErr || bresp.encodeErr {
			return errorResult(fmt.Sprintf("cannot encode the requests of %s", m.ref.Label()))
		}
		var jr recorder
		jout, ok := jr.expectInference(jresp, m, ins, names)
		if !ok {
			return notChecked(r.ev, "not checked: the JSON request the binary answer is compared with failed for %s: %s", m.ref.Label(), jr.failures[0])
		}
		bout, ok := r.expectInference(bresp, m, ins, names)
		if !ok {
			continue
		}
		var sum int64
		for i, o := range bout.resp.Outputs {
			size, isBinary, err := oip.BinaryDataSize(o.Parameters)
			if err != nil || !isBinary {
				r.failf("%s: output %q (/outputs/%d) was requested with binary_data true but carries no %s (over gRPC: it is not in raw_output_contents)", bresp.what(), o.Name, i, oip.ParamBinaryDataSize)
				continue
			}
			sum += size
		}
		_, bin, _ := bresp.jsonPart()
		if sum != int64(len(bin)) {
			r.failf("%s: the outputs' %s add up to %d bytes, but %d bytes follow the JSON part", bresp.what(), oip.ParamBinaryDataSize, sum, len(bin))
		}
		diffs, err := m.contract.Compare(tensors(ins), bout.outputs, jout.outputs, m.tol)
		if err != nil {
			return errorResult(err.Error())
		}
		for _, d := range diffs {
			compared++
			if !d.OK() {
				r.failf("%s: output %s sent as binary data disagrees with the same request answered in JSON: %s", bresp.what(), d.Name, d.Summary(m.tol))
			}
		}
	}
	return r.result(fmt.Sprintf("binary inputs and outputs of %d model%s agree with JSON (%d outputs compared)", len(e.models), plural(len(e.models)), compared))
}

func checkUnknownModel(ctx context.Context, e *env) Result {
	var r recorder
	name := "aiconform-no-such-model-" + e.nonce[:8]
	m := e.models[0]
	s := newSampler(e.seed, "api/unknown-model", m.ref.Label())
	ins, err := s.draw(m.contract, 1, s.length(m.contract), nil)
	if err != nil {
		return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
	}
	why := "model " + name + " does not exist"
	r.expectError(e.b.modelMetadata(ctx, name, ""), why, notFound)
	r.expectError(e.b.infer(ctx, name, "", inferRequest{inputs: ins}), why, notFound)
	ready := e.b.modelReady(ctx, name, "")
	r.add(ready)
	if ready.err != nil || ready.status < clientErr.lo || ready.status > clientErr.hi {
		r.failf("%s %s, want %s (%s)", ready.what(), ready.outcome(), clientErr, why)
	}
	const noVersion = "aiconform-no-such-version"
	vwhy := fmt.Sprintf("model %s has no version %s", m.ref.Name, noVersion)
	r.expectError(e.b.modelMetadata(ctx, m.ref.Name, noVersion), vwhy, clientErr)
	r.expectError(e.b.infer(ctx, m.ref.Name, noVersion, inferRequest{inputs: ins}), vwhy, clientErr)
	return r.result(fmt.Sprintf("unknown model %s got 404 (metadata, inference) and a 4xx (ready), unknown version %s of %s got 4xx error responses", name, noVersion, m.ref.Name))
}

// noSuchInput is the name OIP-ERROR-FORMAT gives a valid request's input.
const noSuchInput = "aiconform_no_such_input"

func checkErrorFormat(ctx context.Context, e *env) Result {
	var r recorder
	m := e.models[0]
	s := newSampler(e.seed, "api/error-format", m.ref.Label())
	ins, err := s.draw(m.contract, 1, s.length(m.contract), nil)
	if err != nil {
		return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
	}
	ins[0].name = noSuchInput
	r.expectError(e.infer(ctx, m, inferRequest{inputs: ins}), fmt.Sprintf("input %q is not an input of %s: the request does not fit the model", noSuchInput, m.contract.Model), badRequest)
	// Every error response the run received so far, judged as it arrived.
	f := e.c.errorFormatFindings()
	r.ev.Exchanges = append(r.ev.Exchanges, f.exchanges...)
	r.failures = append(r.failures, f.failures...)
	if f.more > 0 {
		r.failf("%d more error responses were not JSON {\"error\"} bodies (not kept)", f.more)
	}
	r.figure("errorResponsesExamined", Count(f.examined))
	return r.result(fmt.Sprintf("a request with input %s got 400, and all %d error responses to metadata and inference requests of the run were JSON {\"error\"} bodies", noSuchInput, f.examined))
}
