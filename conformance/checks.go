package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/schemas"
	"github.com/aiconform/aiconform/spec"
)

// check is one row of the check table: it cites the requirements it tests
// and returns its result as data.
type check struct {
	ID           string
	Requirements []string
	Level        spec.Level
	Title        string
	Run          func(ctx context.Context, e *env) Result
}

// CheckInfo describes a check of the table.
type CheckInfo struct {
	ID           string
	Requirements []string
	Level        spec.Level
	Title        string
}

// Checks lists the checks of this build, in the order a run makes them.
func Checks() []CheckInfo { return checkInfos(checks) }

func checkInfos(table []check) []CheckInfo {
	out := make([]CheckInfo, len(table))
	for i, c := range table {
		out[i] = CheckInfo{ID: c.ID, Requirements: slices.Clone(c.Requirements), Level: c.Level, Title: c.Title}
	}
	return out
}

// env is what checks share during a run.
type env struct {
	b      binding
	c      *client
	models []*modelUnderTest
	// nonce makes the ids and names a run invents unpredictable, so a
	// target cannot answer them from a table.
	nonce  string
	seed   uint64
	oracle Oracle

	mu sync.Mutex
	// results are the results of the checks run so far, by check id.
	results map[string]Result
	// observed are the 200 inference responses the numerics checks
	// received, for NUM-TOP1 and NUM-OUTPUT-VALID.
	observed []observation
}

// result returns the result of an earlier check of the run.
func (e *env) result(id string) (Result, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.results[id]
	return r, ok
}

// checks is the table. A check's Level is the level of the requirements it
// cites (a test holds them to it). Checks that read what earlier checks
// found (model readiness, error format, top-1, output validity) come after
// them.
var checks = []check{
	{ID: "api/health-live", Requirements: []string{"OIP-HEALTH-LIVE"}, Level: spec.Core,
		Title: "GET /v2/health/live answers 200", Run: checkHealthLive},
	{ID: "api/health-ready", Requirements: []string{"OIP-HEALTH-READY"}, Level: spec.Core,
		Title: "GET /v2/health/ready answers 200 within the request timeout", Run: checkHealthReady},
	{ID: "api/model-ready", Requirements: []string{"OIP-MODEL-READY"}, Level: spec.Core,
		Title: "every profile model is ready, with and without its version", Run: checkModelReady},
	{ID: "api/server-metadata", Requirements: []string{"OIP-SERVER-META"}, Level: spec.Core,
		Title: "GET /v2 returns schema-valid server metadata", Run: checkServerMetadata},
	{ID: "api/model-metadata", Requirements: []string{"OIP-MODEL-META"}, Level: spec.Core,
		Title: "model metadata is schema-valid and declares the reference tensor contract", Run: checkModelMetadata},
	{ID: "api/infer-schema", Requirements: []string{"OIP-INFER-SCHEMA"}, Level: spec.Core,
		Title: "a batch of two, flat and nested, returns a schema-valid response with the contract's outputs", Run: checkInferSchema},
	{ID: "api/infer-id-echo", Requirements: []string{"OIP-INFER-ID-ECHO"}, Level: spec.Core,
		Title: "an inference request's id is echoed, ASCII and non-ASCII alike", Run: checkIDEcho},
	{ID: "api/output-select", Requirements: []string{"OIP-OUTPUT-SELECT"}, Level: spec.Core,
		Title: "each requested output is returned; an unknown output gets 400", Run: checkOutputSelect},
	{ID: "api/binary-data", Requirements: []string{"OIP-BINARY-DATA"}, Level: spec.Core,
		Title: "binary tensor data in and out agrees with JSON", Run: checkBinaryData},
	{ID: "api/unknown-model", Requirements: []string{"OIP-UNKNOWN-MODEL"}, Level: spec.Core,
		Title: "an unknown model gets 404, an unknown version 4xx, with a JSON {\"error\"} body", Run: checkUnknownModel},
	{ID: "api/error-format", Requirements: []string{"OIP-ERROR-FORMAT"}, Level: spec.Core,
		Title: "a request with an unknown input gets 400, and every error response is a JSON {\"error\"}", Run: checkErrorFormat},
	{ID: "numerics/golden", Requirements: []string{"NUM-GOLDEN"}, Level: spec.Core,
		Title: "every golden case's outputs agree within the set's tolerance class", Run: checkGolden},
	{ID: "numerics/live", Requirements: []string{"NUM-LIVE"}, Level: spec.Core,
		Title: "outputs for inputs drawn during the run agree with the reference models", Run: checkLive},
	{ID: "numerics/batch-invariance", Requirements: []string{"NUM-BATCH-INVARIANCE"}, Level: spec.Core,
		Title: "a sample's outputs do not depend on the other samples of its request or on padding", Run: checkBatchInvariance},
	{ID: "numerics/determinism", Requirements: []string{"NUM-DETERMINISM"}, Level: spec.Core,
		Title: "identical requests, in sequence and at once, get agreeing outputs", Run: checkDeterminism},
	{ID: "numerics/top1", Requirements: []string{"NUM-TOP1"}, Level: spec.Core,
		Title: "the top class of every compared row agrees with the reference", Run: checkTop1},
	{ID: "numerics/output-valid", Requirements: []string{"NUM-OUTPUT-VALID"}, Level: spec.Core,
		Title: "every returned value is finite and every probability row is a distribution", Run: checkOutputValid},
}

// recorder collects a check's exchanges and failures and makes its result.
type recorder struct {
	ev       Evidence
	failures []string
}

func (r *recorder) add(resp *response) { r.ev.Exchanges = append(r.ev.Exchanges, resp.ex) }

func (r *recorder) failf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recorder) figure(name string, m Measure) {
	if r.ev.Figures == nil {
		r.ev.Figures = map[string]Measure{}
	}
	r.ev.Figures[name] = m
}

// result is a fail naming the first failure (and how many more there
// were), or a pass with the given message.
func (r *recorder) result(pass string) Result {
	if len(r.failures) == 0 {
		return Result{Status: spec.Pass, Message: pass, Evidence: r.ev}
	}
	msg := r.failures[0]
	if n := len(r.failures) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more failure%s, see evidence)", n, plural(n))
	}
	return Result{Status: spec.Fail, Message: msg, Evidence: r.ev}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// expectStatus records resp and fails unless it is a complete response
// with the given status.
func (r *recorder) expectStatus(resp *response, status int, why string) bool {
	r.add(resp)
	if resp.ok(status) {
		return true
	}
	r.failf("%s %s, want %d (%s)", resp.what(), resp.outcome(), status, why)
	return false
}

// expectDocument checks that a complete response carries a JSON document
// of the given schema kind and returns it decoded; failures are recorded.
func (r *recorder) expectDocument(resp *response, kind string) (any, bool) {
	js, _, err := resp.jsonPart()
	if err != nil {
		r.failf("%s: %v", resp.what(), err)
		return nil, false
	}
	if resp.header.Get(oip.HeaderInferenceContentLength) == "" && !isJSONContentType(resp.ex.ContentType) {
		r.failf("%s answered Content-Type %q, want application/json", resp.what(), resp.ex.ContentType)
		return nil, false
	}
	doc, err := decodeJSON(js)
	if err != nil {
		r.failf("%s: %v", resp.what(), err)
		return nil, false
	}
	vs, err := schemas.Validate(kind, "v1", doc)
	if err != nil {
		r.failf("%s: cannot validate against the %s schema: %v", resp.what(), kind, err)
		return nil, false
	}
	if len(vs) > 0 {
		r.failf("%s: the body breaks the %s schema at %s: %s%s", resp.what(), kind, pointer(vs[0].Pointer), vs[0].Message, moreViolations(len(vs)))
		return nil, false
	}
	return doc, true
}

// expectError checks a refusal: one of the statuses, a JSON Content-Type
// and an {"error": "..."} body that validates against the error schema.
// With no statuses any status of 400 or more will do.
func (r *recorder) expectError(resp *response, why string, statuses ...int) bool {
	r.add(resp)
	switch {
	case resp.err != nil || resp.overLimit:
		r.failf("%s %s, want an error response (%s)", resp.what(), resp.outcome(), why)
		return false
	case len(statuses) == 0 && resp.status < 400:
		r.failf("%s %s, want a status of 400 or more (%s)", resp.what(), resp.outcome(), why)
		return false
	case len(statuses) > 0 && !slices.Contains(statuses, resp.status):
		r.failf("%s %s, want %s (%s)", resp.what(), resp.outcome(), statusList(statuses), why)
		return false
	}
	return r.expectErrorBody(resp)
}

// expectErrorBody checks the body of an error response.
func (r *recorder) expectErrorBody(resp *response) bool {
	doc, ok := r.expectDocument(resp, "oip-error")
	if !ok {
		return false
	}
	obj, _ := doc.(map[string]any)
	if msg, _ := obj["error"].(string); strings.TrimSpace(msg) == "" {
		r.failf("%s: error is empty, want a message saying what is wrong", resp.what())
		return false
	}
	return true
}

func statusList(ss []int) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = fmt.Sprint(s)
	}
	return strings.Join(parts, " or ")
}

func pointer(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

func moreViolations(n int) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf(" (%d violations in all)", n)
}

// as decodes a schema-valid document into a wire type.
func as(doc any, v any) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// errorResult is the result of a check the suite itself could not make.
func errorResult(msg string) Result { return Result{Status: spec.Error, Message: msg} }

// notChecked is a skip of a check whose prerequisite did not hold.
func notChecked(ev Evidence, format string, args ...any) Result {
	return Result{Status: spec.Skip, Message: fmt.Sprintf(format, args...), Evidence: ev}
}

func checkHealthLive(ctx context.Context, e *env) Result {
	var r recorder
	r.expectStatus(e.b.live(ctx), http.StatusOK, "the server is live")
	return r.result("GET /v2/health/live answered 200")
}

// readyPoll is how often OIP-HEALTH-READY asks again.
const readyPoll = time.Second

func checkHealthReady(ctx context.Context, e *env) Result {
	var r recorder
	start := e.c.now()
	attempts := 0
	for {
		attempts++
		resp := e.b.ready(ctx)
		if resp.ok(http.StatusOK) {
			r.add(resp)
			return r.result(fmt.Sprintf("GET /v2/health/ready answered 200 (attempt %d)", attempts))
		}
		waited := e.c.now().Sub(start)
		if waited+readyPoll > e.c.timeout || resp.err != nil && e.c.hasStopped() || ctx.Err() != nil {
			r.expectStatus(resp, http.StatusOK, fmt.Sprintf("the server is ready; asked %d times over %v", attempts, waited.Round(time.Millisecond)))
			return r.result("")
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
		r.failf("GET /v2: %v", err)
		return r.result("")
	}
	if strings.TrimSpace(md.Name) == "" {
		r.failf("GET /v2: name is empty, want the server's name")
	}
	if strings.TrimSpace(md.Version) == "" {
		r.failf("GET /v2: version is empty, want the server's version")
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
	for _, m := range e.models {
		s := newSampler(e.seed, "api/infer-schema", m.ref.Label())
		ins, err := s.draw(m.contract, 2, s.length(m.contract), nil)
		if err != nil {
			return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
		}
		for _, nested := range []bool{false, true} {
			resp := e.infer(ctx, m, inferRequest{inputs: ins, nested: nested})
			if resp.encodeErr {
				return errorResult(resp.err.Error())
			}
			if _, ok := r.expectInference(resp, m, ins, nil); !ok {
				form := "flat"
				if nested {
					form = "nested"
				}
				r.failures[len(r.failures)-1] += fmt.Sprintf(" [a batch of 2 with %s data]", form)
			}
			sent++
		}
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
		r.expectError(resp, fmt.Sprintf("output %q is not an output of %s", noSuchOutput, m.contract.Model), http.StatusBadRequest)
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
	js, _, _ := resp.jsonPart()
	var md struct {
		Extensions []string `json:"extensions"`
	}
	if !resp.ok(http.StatusOK) || json.Unmarshal(js, &md) != nil {
		return notChecked(r.ev, "not checked: the server metadata (GET /v2) could not be read, so whether %s is advertised is unknown: %s", oip.ExtensionBinaryData, resp.outcome())
	}
	if !slices.Contains(md.Extensions, oip.ExtensionBinaryData) {
		return Result{Status: spec.Skip, Evidence: r.ev,
			Message: spec.NotApplicablePrefix + fmt.Sprintf("the server metadata's extensions %v do not contain %s", md.Extensions, oip.ExtensionBinaryData)}
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
				r.failf("%s: output %q (/outputs/%d) was requested with binary_data true but carries no %s", bresp.what(), o.Name, i, oip.ParamBinaryDataSize)
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
	r.expectError(e.b.modelMetadata(ctx, name, ""), why, http.StatusNotFound)
	r.expectError(e.b.infer(ctx, name, "", inferRequest{inputs: ins}), why, http.StatusNotFound)
	ready := e.b.modelReady(ctx, name, "")
	r.add(ready)
	if ready.err != nil || ready.status < 400 || ready.status > 499 {
		r.failf("%s %s, want a 4xx status (%s)", ready.what(), ready.outcome(), why)
	}
	const noVersion = "aiconform-no-such-version"
	vwhy := fmt.Sprintf("model %s has no version %s", m.ref.Name, noVersion)
	r.expectError(e.b.modelMetadata(ctx, m.ref.Name, noVersion), vwhy, fourxx...)
	r.expectError(e.b.infer(ctx, m.ref.Name, noVersion, inferRequest{inputs: ins}), vwhy, fourxx...)
	return r.result(fmt.Sprintf("unknown model %s got 404 (metadata, inference) and a 4xx (ready), unknown version %s of %s got 4xx error responses", name, noVersion, m.ref.Name))
}

// fourxx lists every 4xx status.
var fourxx = func() []int {
	var s []int
	for c := 400; c < 500; c++ {
		s = append(s, c)
	}
	return s
}()

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
	r.expectError(e.infer(ctx, m, inferRequest{inputs: ins}), fmt.Sprintf("input %q is not an input of %s: the request does not fit the model", noSuchInput, m.contract.Model), http.StatusBadRequest)
	// Every error response the checks before this one received.
	seen := e.c.takeErrorResponses()
	for _, resp := range seen {
		if !resp.overLimit && resp.err == nil {
			var sub recorder
			if !sub.expectErrorBody(resp) {
				r.add(resp)
				r.failures = append(r.failures, sub.failures...)
			}
		}
	}
	r.figure("errorResponsesExamined", Count(len(seen)))
	return r.result(fmt.Sprintf("a request with input %s got 400, and all %d error responses to metadata and inference requests of the run were JSON {\"error\"} bodies", noSuchInput, len(seen)))
}
