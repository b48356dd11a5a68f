package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/aiconform/aiconform/golden"
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
func Checks() []CheckInfo {
	out := make([]CheckInfo, len(checks))
	for i, c := range checks {
		out[i] = CheckInfo{ID: c.ID, Requirements: slices.Clone(c.Requirements), Level: c.Level, Title: c.Title}
	}
	return out
}

// env is what checks share during a run.
type env struct {
	c      *client
	models []*modelUnderTest
	// nonce makes the ids and names a run invents unpredictable, so a
	// target cannot answer them from a table.
	nonce  string
	oracle Oracle
}

// checks is the table. A check's Level is the level of the requirements it
// cites (a test holds them to it).
var checks = []check{
	{ID: "api/health-live", Requirements: []string{"OIP-HEALTH-LIVE"}, Level: spec.Core,
		Title: "GET /v2/health/live answers 200", Run: checkHealthLive},
	{ID: "api/health-ready", Requirements: []string{"OIP-HEALTH-READY"}, Level: spec.Core,
		Title: "GET /v2/health/ready answers 200", Run: checkHealthReady},
	{ID: "api/model-ready", Requirements: []string{"OIP-MODEL-READY"}, Level: spec.Core,
		Title: "every profile model is ready, with and without its version", Run: checkModelReady},
	{ID: "api/server-metadata", Requirements: []string{"OIP-SERVER-META"}, Level: spec.Core,
		Title: "GET /v2 returns schema-valid server metadata", Run: checkServerMetadata},
	{ID: "api/model-metadata", Requirements: []string{"OIP-MODEL-META"}, Level: spec.Core,
		Title: "model metadata is schema-valid and declares the reference tensor contract", Run: checkModelMetadata},
	{ID: "api/infer-schema", Requirements: []string{"OIP-INFER-SCHEMA"}, Level: spec.Core,
		Title: "an inference returns a schema-valid response with the contract's outputs", Run: checkInferSchema},
	{ID: "api/infer-id-echo", Requirements: []string{"OIP-INFER-ID-ECHO"}, Level: spec.Core,
		Title: "an inference request's id is echoed", Run: checkIDEcho},
	{ID: "api/error-format", Requirements: []string{"OIP-ERROR-FORMAT"}, Level: spec.Core,
		Title: "bad requests get 400 with a JSON {\"error\"} body", Run: checkErrorFormat},
	{ID: "api/unknown-model", Requirements: []string{"OIP-UNKNOWN-MODEL"}, Level: spec.Core,
		Title: "an unknown model gets 404 with a JSON {\"error\"} body", Run: checkUnknownModel},
	{ID: "numerics/golden", Requirements: []string{"NUM-GOLDEN"}, Level: spec.Core,
		Title: "every golden case's outputs agree within the set's tolerance class", Run: checkGolden},
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
	if !isJSONContentType(resp.ex.ContentType) {
		r.failf("%s answered Content-Type %q, want application/json", resp.what(), resp.ex.ContentType)
		return nil, false
	}
	doc, err := decodeJSON(resp.body)
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

// modelPath is /v2/models/{m}[/versions/{v}].
func modelPath(name, version string) string {
	p := "/v2/models/" + url.PathEscape(name)
	if version != "" {
		p += "/versions/" + url.PathEscape(version)
	}
	return p
}

func checkHealthLive(ctx context.Context, e *env) Result {
	var r recorder
	r.expectStatus(e.c.get(ctx, "/v2/health/live"), http.StatusOK, "the server is live")
	return r.result("GET /v2/health/live answered 200")
}

func checkHealthReady(ctx context.Context, e *env) Result {
	var r recorder
	r.expectStatus(e.c.get(ctx, "/v2/health/ready"), http.StatusOK, "the server is ready")
	return r.result("GET /v2/health/ready answered 200")
}

func checkModelReady(ctx context.Context, e *env) Result {
	var r recorder
	n := 0
	for _, m := range e.models {
		paths := []string{modelPath(m.ref.Name, "") + "/ready"}
		if m.ref.Version != "" {
			paths = append(paths, modelPath(m.ref.Name, m.ref.Version)+"/ready")
		}
		for _, p := range paths {
			r.expectStatus(e.c.get(ctx, p), http.StatusOK, "model "+m.ref.Label()+" is ready")
			n++
		}
	}
	return r.result(fmt.Sprintf("%d model readiness endpoint%s answered 200", n, plural(n)))
}

func checkServerMetadata(ctx context.Context, e *env) Result {
	var r recorder
	resp := e.c.get(ctx, "/v2")
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
	obj, _ := doc.(map[string]any)
	if strings.TrimSpace(md.Name) == "" {
		r.failf("GET /v2: name is empty, want the server's name")
	}
	if strings.TrimSpace(md.Version) == "" {
		r.failf("GET /v2: version is empty, want the server's version")
	}
	if _, ok := obj["extensions"]; !ok {
		r.failf("GET /v2: extensions is missing, want the list of supported extensions (possibly empty)")
	}
	return r.result(fmt.Sprintf("server %s %s, extensions %v", md.Name, md.Version, md.Extensions))
}

func checkModelMetadata(ctx context.Context, e *env) Result {
	var r recorder
	for _, m := range e.models {
		// The unversioned path describes the default version; the contract
		// is held against the profile's version where it names one.
		paths := []string{modelPath(m.ref.Name, "")}
		if m.ref.Version != "" {
			paths = append(paths, modelPath(m.ref.Name, m.ref.Version))
		}
		for i, p := range paths {
			resp := e.c.get(ctx, p)
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
			if i == len(paths)-1 {
				for _, f := range contractDiff(m.contract, md) {
					r.failf("%s: %s", resp.what(), f)
				}
			}
		}
	}
	return r.result(fmt.Sprintf("metadata of %d model%s is schema-valid and declares the reference contract", len(e.models), plural(len(e.models))))
}

// contractDiff lists how model metadata departs from the contract.
func contractDiff(c Contract, md oip.ModelMetadata) []string {
	var out []string
	compare := func(kind string, want []ContractTensor, got []oip.TensorMetadata) {
		for _, w := range want {
			i := slices.IndexFunc(got, func(t oip.TensorMetadata) bool { return t.Name == w.Name })
			if i < 0 {
				if !w.Optional {
					out = append(out, fmt.Sprintf("%s %q of the %s contract is not declared", kind, w.Name, c.Model))
				}
				continue
			}
			if d := w.declared(got[i].Datatype, got[i].Shape); d != "" {
				out = append(out, fmt.Sprintf("%s %q: %s", kind, w.Name, d))
			}
		}
		for _, g := range got {
			if !hasTensor(want, g.Name) {
				out = append(out, fmt.Sprintf("%s %q is not part of the %s contract", kind, g.Name, c.Model))
			}
		}
	}
	compare("input", c.Inputs, md.Inputs)
	compare("output", c.Outputs, md.Outputs)
	return out
}

// inferPath is the infer endpoint of a profile model.
func inferPath(m ModelRef) string { return modelPath(m.Name, m.Version) + "/infer" }

// inferBody encodes an inference request for the given inputs, in the
// contract's input order.
func inferBody(c Contract, inputs map[string]numerics.Tensor, id string) ([]byte, error) {
	req := oip.InferenceRequest{ID: id}
	names := make([]string, 0, len(inputs))
	for _, in := range c.Inputs {
		if _, ok := inputs[in.Name]; ok {
			names = append(names, in.Name)
		}
	}
	for _, n := range golden.SortedNames(inputs) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, n := range names {
		t := inputs[n]
		data, err := oip.EncodeData(t)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", n, err)
		}
		req.Inputs = append(req.Inputs, oip.RequestInput{Name: n, Shape: t.Shape, Datatype: string(t.DType), Data: data})
	}
	return json.Marshal(req)
}

// inferOutcome is a decoded, checked inference response.
type inferOutcome struct {
	resp    oip.InferenceResponse
	outputs map[string]numerics.Tensor
}

// expectInference checks that resp is a schema-valid inference response of
// model m carrying the contract's outputs with the expected shapes, and
// returns the decoded outputs. Failures are recorded.
func (r *recorder) expectInference(resp *response, m *modelUnderTest, want map[string]numerics.Tensor) (*inferOutcome, bool) {
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
	good := true
	if out.resp.ModelName != m.ref.Name {
		r.failf("%s: model_name is %q, want %q", resp.what(), out.resp.ModelName, m.ref.Name)
		good = false
	}
	if m.ref.Version != "" && out.resp.ModelVersion != "" && out.resp.ModelVersion != m.ref.Version {
		r.failf("%s: model_version is %q, want %q", resp.what(), out.resp.ModelVersion, m.ref.Version)
		good = false
	}
	for _, o := range out.resp.Outputs {
		ct, ok := m.contract.Output(o.Name)
		if !ok {
			r.failf("%s: output %q is not part of the %s contract", resp.what(), o.Name, m.contract.Model)
			good = false
			continue
		}
		if _, dup := out.outputs[o.Name]; dup {
			r.failf("%s: output %q appears twice", resp.what(), o.Name)
			good = false
			continue
		}
		if o.Datatype != string(ct.Datatype) {
			r.failf("%s: output %q has datatype %s, want %s", resp.what(), o.Name, o.Datatype, ct.Datatype)
			good = false
			continue
		}
		if w, ok := want[o.Name]; ok && !slices.Equal(o.Shape, w.Shape) {
			r.failf("%s: output %q has shape %v, want %v", resp.what(), o.Name, o.Shape, w.Shape)
			good = false
			continue
		}
		if !ct.Matches(o.Shape) {
			r.failf("%s: output %q has shape %v, which does not fit the contract's %v", resp.what(), o.Name, o.Shape, ct.Shape)
			good = false
			continue
		}
		t, err := oip.DecodeData(o.Datatype, o.Shape, o.Data)
		if err != nil {
			r.failf("%s: output %q: %v", resp.what(), o.Name, err)
			good = false
			continue
		}
		out.outputs[o.Name] = t
	}
	for _, ct := range m.contract.Outputs {
		if _, ok := out.outputs[ct.Name]; !ok && !slices.ContainsFunc(out.resp.Outputs, func(o oip.ResponseOutput) bool { return o.Name == ct.Name }) {
			r.failf("%s: output %q is missing (a request that names no outputs gets them all)", resp.what(), ct.Name)
			good = false
		}
	}
	return out, good
}

func checkInferSchema(ctx context.Context, e *env) Result {
	var r recorder
	for _, m := range e.models {
		c := m.firstCase()
		body, err := inferBody(m.contract, c.Inputs, "")
		if err != nil {
			return errorResult(fmt.Sprintf("cannot encode golden case %s of %s: %v", c.Name, m.ref.Label(), err))
		}
		r.expectInference(e.c.post(ctx, inferPath(m.ref), body), m, c.Outputs)
	}
	return r.result(fmt.Sprintf("inference responses of %d model%s are schema-valid with the contract's outputs", len(e.models), plural(len(e.models))))
}

func checkIDEcho(ctx context.Context, e *env) Result {
	var r recorder
	judged := 0
	var unjudged []string
	for i, m := range e.models {
		c := m.firstCase()
		id := fmt.Sprintf("aiconform-%s-%d", e.nonce, i)
		body, err := inferBody(m.contract, c.Inputs, id)
		if err != nil {
			return errorResult(fmt.Sprintf("cannot encode golden case %s of %s: %v", c.Name, m.ref.Label(), err))
		}
		resp := e.c.post(ctx, inferPath(m.ref), body)
		r.add(resp)
		if !resp.ok(http.StatusOK) {
			unjudged = append(unjudged, fmt.Sprintf("%s %s", resp.what(), resp.outcome()))
			continue
		}
		doc, err := decodeJSON(resp.body)
		obj, isObj := doc.(map[string]any)
		if err != nil || !isObj {
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
	if judged == 0 {
		return Result{Status: spec.Skip, Evidence: r.ev,
			Message: fmt.Sprintf("no inference succeeded, so the id echo could not be judged (%s); see api/infer-schema", strings.Join(unjudged, "; "))}
	}
	if len(unjudged) > 0 && len(r.failures) == 0 {
		// Some models could be judged and echoed; the others' failures
		// belong to api/infer-schema, which reports them.
		return r.result(fmt.Sprintf("ids echoed by %d model%s; not judged: %s", judged, plural(judged), strings.Join(unjudged, "; ")))
	}
	return r.result(fmt.Sprintf("ids echoed by %d model%s", judged, plural(judged)))
}

// errorProbe is a request the target must refuse.
type errorProbe struct {
	name string
	body []byte
}

// expectError checks a refusal: the status, a JSON Content-Type and an
// {"error": "..."} body that validates against the error schema.
func (r *recorder) expectError(resp *response, status int, why string) {
	if !r.expectStatus(resp, status, why) {
		return
	}
	doc, ok := r.expectDocument(resp, "oip-error")
	if !ok {
		return
	}
	obj, _ := doc.(map[string]any)
	if msg, _ := obj["error"].(string); strings.TrimSpace(msg) == "" {
		r.failf("%s: error is empty, want a message saying what is wrong", resp.what())
	}
}

func checkErrorFormat(ctx context.Context, e *env) Result {
	var r recorder
	m := e.models[0]
	probes := []errorProbe{
		{name: "malformed JSON", body: []byte(`{"inputs": [{"name": "` + m.contract.Inputs[0].Name + `", "shape": [1`)},
		{name: "inputs not an array", body: []byte(`{"inputs": "not an array"}`)},
	}
	for _, p := range probes {
		r.expectError(e.c.post(ctx, inferPath(m.ref), p.body), http.StatusBadRequest, "a bad request ("+p.name+") is the client's fault")
	}
	return r.result(fmt.Sprintf("%d bad requests got 400 with a JSON error body", len(probes)))
}

func checkUnknownModel(ctx context.Context, e *env) Result {
	var r recorder
	name := "aiconform-no-such-model-" + e.nonce
	m := e.models[0]
	body, err := inferBody(m.contract, m.firstCase().Inputs, "")
	if err != nil {
		return errorResult(fmt.Sprintf("cannot encode golden case %s of %s: %v", m.firstCase().Name, m.ref.Label(), err))
	}
	why := "model " + name + " does not exist"
	r.expectError(e.c.get(ctx, modelPath(name, "")), http.StatusNotFound, why)
	r.expectError(e.c.post(ctx, modelPath(name, "")+"/infer", body), http.StatusNotFound, why)
	return r.result(fmt.Sprintf("metadata and inference of unknown model %s got 404 with a JSON error body", name))
}

// errorResult is the result of a check the suite itself could not make.
func errorResult(msg string) Result { return Result{Status: spec.Error, Message: msg} }
