package conformance

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/aiconform/aiconform/conformance/load"
	"github.com/aiconform/aiconform/internal/jsonexact"
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
	b binding
	c *client
	// target is the target's base URL.
	target string
	models []*modelUnderTest
	// nonce makes the ids and names a run invents unpredictable, so a
	// target cannot answer them from a table.
	nonce  string
	seed   uint64
	oracle Oracle
	// tls is the target's TLS endpoint, nil for an http target.
	tls *tlsTarget
	// rootCAs verify an https target (nil: the system roots).
	rootCAs *x509.CertPool
	// latency is the profile's latency member (nil: none), modelCard the
	// model card its budgets come from ("" for none).
	latency   *Latency
	modelCard string
	// runLoad runs a load plan: load.Run, or a test's stand-in.
	runLoad func(ctx context.Context, p load.Plan, t load.Target, opts load.Options) (*load.Result, error)

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

// checks is the table of this build in the order a run makes them: the
// core checks; the performance checks (before any bad input reaches the
// server); the bad-input battery; the security checks; then the checks
// that look back on the whole run (error hygiene, after the secret-echo
// check whose canaries it also judges); and SAFE-SURVIVES-ABUSE last,
// after every other safety check.
var checks = slices.Concat(coreChecks, performanceChecks, safetyBattery, securityChecks, safetyClosing)

// coreChecks is the table of the core level. A check's Level is the level of the requirements it
// cites (a test holds them to it). Checks that read what earlier checks
// found (model readiness, error format, top-1, output validity) come after
// them.
var coreChecks = []check{
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
	if resp.violation != nil {
		r.failf("%s: %v", resp.what(), resp.violation)
		return nil, false
	}
	js, _, err := resp.jsonPart()
	if err != nil {
		r.failf("%s: %v", resp.what(), err)
		return nil, false
	}
	if ce := resp.header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		r.failf("%s answered Content-Encoding %q, which the suite did not ask for (it sends Accept-Encoding: identity)", resp.what(), ce)
		return nil, false
	}
	if ct := resp.header.Get("Content-Type"); resp.header.Get(oip.HeaderInferenceContentLength) == "" && !isJSONContentType(ct) {
		r.failf("%s answered Content-Type %q, want application/json", resp.what(), ct)
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

// statusRange is the statuses [lo, hi] an error response may have.
type statusRange struct{ lo, hi int }

var (
	badRequest = statusRange{http.StatusBadRequest, http.StatusBadRequest}
	notFound   = statusRange{http.StatusNotFound, http.StatusNotFound}
	clientErr  = statusRange{400, 499}
)

func (s statusRange) String() string {
	if s.lo == s.hi {
		return fmt.Sprint(s.lo)
	}
	return fmt.Sprintf("a status in %d…%d", s.lo, s.hi)
}

// expectError checks a refusal: a status in want, a JSON Content-Type and
// an {"error": "..."} body that validates against the error schema.
func (r *recorder) expectError(resp *response, why string, want statusRange) bool {
	r.add(resp)
	switch {
	case resp.err != nil || resp.overLimit:
		r.failf("%s %s, want an error response (%s)", resp.what(), resp.outcome(), why)
		return false
	case resp.status < want.lo || resp.status > want.hi:
		r.failf("%s %s, want %s (%s)", resp.what(), resp.outcome(), want, why)
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

// as decodes a schema-valid document into a wire type, member names
// matched exactly: the protocol allows members of its own, and one whose
// name only folds to a field's ("outputſ") must not be read as that field.
func as(doc any, v any) error {
	return jsonexact.Decode(doc, v)
}

// errorResult is the result of a check the suite itself could not make.
func errorResult(msg string) Result { return Result{Status: spec.Error, Message: msg} }

// notChecked is a skip of a check whose prerequisite did not hold.
func notChecked(ev Evidence, format string, args ...any) Result {
	return Result{Status: spec.Skip, Message: fmt.Sprintf(format, args...), Evidence: ev}
}
