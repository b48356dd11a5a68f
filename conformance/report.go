package conformance

import (
	"strings"
	"time"

	"github.com/aiconform/aiconform/numerics"
	"github.com/aiconform/aiconform/spec"
)

// ReportKind is the report's document kind, as schemas/report names it.
const ReportKind = "report"

// Report is the outcome of one conformance run. It is plain data: the
// renderers in package reports are pure functions of it, and its JSON form
// validates against schemas/report/v1.schema.json.
type Report struct {
	Kind        string `json:"kind"`
	SpecVersion string `json:"specVersion"`
	Tool        Tool   `json:"tool"`
	// Target is the base URL of the endpoint under test.
	Target string `json:"target"`
	// Binding is the protocol binding the run spoke (spec/v1/api.md,
	// "Protocol bindings"); a report without one spoke REST.
	Binding spec.Binding `json:"binding,omitempty"`
	Profile ProfileRef   `json:"profile"`
	// Goldens is the golden manifest the run compared against.
	Goldens DocumentRef `json:"goldens"`
	// ModelCard is the model card the profile names, when it names one.
	ModelCard *DocumentRef `json:"modelCard,omitempty"`
	// StartTime and EndTime bound the run (RFC 3339, UTC).
	StartTime time.Time `json:"startTime"`
	EndTime   time.Time `json:"endTime"`
	Duration  Measure   `json:"duration"`
	// RequestedLevels are the levels the profile asked for; the verdict is
	// about them alone.
	RequestedLevels []spec.Level `json:"requestedLevels"`
	// Levels gives every level of the standard a verdict: pass, fail or
	// not-run (no check of that level ran, or the run was interrupted
	// before all of them had).
	Levels map[spec.Level]spec.Verdict `json:"levels"`
	// Verdict is pass when every requested level passes, not-run when the
	// run was interrupted, fail otherwise.
	Verdict spec.Verdict `json:"verdict"`
	// Seed is the 64-bit seed of every input drawn during the run, in
	// decimal; the same seed against the same target sends the same
	// requests.
	Seed string `json:"seed,omitempty"`
	// Deadline is the cap of the whole run, when one was set.
	Deadline *Measure `json:"deadline,omitempty"`
	// Stopped says why the run gave up on its target, when it did.
	Stopped string `json:"stopped,omitempty"`
	// Interrupted says when the run was interrupted (by a signal, or its
	// caller), when it was: the checks it did not run are skipped with a
	// message that begins spec.NotRunPrefix.
	Interrupted string  `json:"interrupted,omitempty"`
	Summary     Summary `json:"summary"`
	// Uncovered lists, per requested level, the MUST requirements no
	// check of the run cites.
	Uncovered map[spec.Level][]string `json:"uncovered,omitempty"`
	// Warnings are the SHOULD checks that failed or erred: they do not
	// change a verdict.
	Warnings []string `json:"warnings,omitempty"`
	// Claim computes the claim rules per requested level.
	Claim  []LevelClaim `json:"claim,omitempty"`
	Checks []Result     `json:"checks"`
}

// Derive computes the parts of the report that follow from its checks and
// requested levels: the level verdicts, the overall verdict, the summary,
// the uncovered requirements, the warnings and the claims. Run calls it;
// a verifier calls it on a copy of a report it was given to see whether
// the report's own verdicts follow from its checks.
func (r *Report) Derive() {
	r.Levels = levelVerdicts(r.Checks)
	r.Verdict = verdict(r.RequestedLevels, r.Levels)
	if r.Interrupted != "" {
		r.markInterrupted()
	}
	r.Summary = summarize(r.Checks)
	r.Uncovered = uncovered(r.RequestedLevels, r.Checks)
	r.Warnings = warnings(r.Checks)
	r.Claim = claims(r)
}

// markInterrupted makes the verdicts of an interrupted run: a level some
// of whose checks did not run is not-run, unless a MUST check of it
// already failed; the run's verdict is not-run.
func (r *Report) markInterrupted() {
	for _, c := range r.Checks {
		if c.Status == spec.Skip && strings.HasPrefix(c.Message, spec.NotRunPrefix) && r.Levels[c.Level] != spec.VerdictFail {
			r.Levels[c.Level] = spec.VerdictNotRun
		}
	}
	r.Verdict = spec.VerdictNotRun
}

// Conformant reports whether every requested level passed.
func (r *Report) Conformant() bool { return r.Verdict == spec.VerdictPass }

// ConformantAt reports whether every one of levels passed; with no levels
// it is Conformant. A level that did not run does not pass.
func (r *Report) ConformantAt(levels []spec.Level) bool {
	if len(levels) == 0 {
		return r.Conformant()
	}
	return verdict(levels, r.Levels) == spec.VerdictPass
}

// DocumentRef identifies a document a run read: the file (or "builtin"
// for the one built into the tool) and the sha256 of its bytes.
type DocumentRef struct {
	Source string `json:"source"`
	SHA256 string `json:"sha256"`
}

// Tool names the program that produced a report.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ProfileRef identifies the profile a run used.
type ProfileRef struct {
	Name string `json:"name"`
	// Source is the profile file, or "builtin" for the built-in profile.
	Source string `json:"source"`
	// SHA256 is the digest of the profile document as read.
	SHA256 string `json:"sha256"`
}

// Summary counts check results by status.
type Summary struct {
	Total int `json:"total"`
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Skip  int `json:"skip"`
	Error int `json:"error"`
}

// Result is the outcome of one check.
type Result struct {
	// ID names the check, e.g. "api/health-live".
	ID string `json:"id"`
	// Requirements are the requirement IDs of the spec the check tests.
	Requirements []string    `json:"requirements"`
	Level        spec.Level  `json:"level"`
	Status       spec.Status `json:"status"`
	// Message is one line a vendor can act on; for a skip it is the reason.
	Message  string   `json:"message"`
	Evidence Evidence `json:"evidence"`
	Duration Measure  `json:"duration"`
}

// Evidence is what a check saw: the exchanges it made, the figures it
// measured and, for numeric checks, the comparison of every golden case.
type Evidence struct {
	Exchanges []Exchange         `json:"exchanges,omitempty"`
	Figures   map[string]Measure `json:"figures,omitempty"`
	Cases     []CaseEvidence     `json:"cases,omitempty"`
	// TLS is what the TLS handshakes of SEC-TLS found.
	TLS *TLSEvidence `json:"tls,omitempty"`
	// Performance is what the performance checks measured: one entry per
	// served model the check's scenario ran on.
	Performance []ScenarioEvidence `json:"performance,omitempty"`
}

// TLSEvidence is what the TLS handshakes with an https target found.
type TLSEvidence struct {
	// Version and CipherSuite are those the verified handshake
	// negotiated, e.g. "TLS 1.3" and "TLS_AES_128_GCM_SHA256".
	Version     string `json:"version,omitempty"`
	CipherSuite string `json:"cipherSuite,omitempty"`
	// CertificateNotAfter is when the target's certificate expires, as
	// the target presented it (also when it did not verify).
	CertificateNotAfter *time.Time `json:"certificateNotAfter,omitempty"`
	// LegacyHandshake is the outcome of the handshake that offered at
	// most TLS 1.1: "refused: <error>" or "accepted <version>".
	LegacyHandshake string `json:"legacyHandshake,omitempty"`
}

// Exchange records one HTTP request, or one gRPC call, and what came
// back. Bodies are excerpts of at most ExcerptLimit bytes; credentials
// never appear.
//
// A gRPC call has Method "GRPC" and the call's path as Path
// ("/inference.GRPCInferenceService/ModelInfer"); its excerpts quote the
// request and response messages in protobuf's JSON form (protojson), or
// the message of a status other than OK; GRPCStatus is the status that
// came back and StatusCode the REST status it is judged as
// (spec/v1/api.md, "Protocol bindings").
type Exchange struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	// RequestExcerpt is the start of the request body, if it had one.
	RequestExcerpt string `json:"requestExcerpt,omitempty"`
	// StatusCode is 0 when no response arrived (see Error).
	StatusCode int `json:"statusCode"`
	// GRPCStatus is the status of a gRPC call, e.g. "INVALID_ARGUMENT",
	// when one arrived.
	GRPCStatus  string `json:"grpcStatus,omitempty"`
	ContentType string `json:"contentType,omitempty"`
	// ResponseExcerpt is the start of the response body.
	ResponseExcerpt string `json:"responseExcerpt,omitempty"`
	// ResponseBytes is how many body bytes were read (at most the body
	// limit); for a gRPC call, the bytes of the response message or of
	// the status message.
	ResponseBytes Measure `json:"responseBytes"`
	// BodyOverLimit is set when the body was longer than the limit and
	// was cut off there.
	BodyOverLimit bool    `json:"bodyOverLimit,omitempty"`
	Duration      Measure `json:"duration"`
	// Error is the transport error when the exchange failed (timeout,
	// reset connection, unreadable body).
	Error string `json:"error,omitempty"`
}

// CaseEvidence is the comparison of one case: a golden case, or a request
// whose expected outputs were computed during the run (set "live"), or
// taken from another answer of the target (sets "batch-invariance" and
// "determinism").
type CaseEvidence struct {
	Model   string      `json:"model"`
	Version string      `json:"version,omitempty"`
	Set     string      `json:"set"`
	Case    string      `json:"case"`
	Status  spec.Status `json:"status"`
	Message string      `json:"message,omitempty"`
	// Tolerance is the class the outputs were compared under.
	Tolerance numerics.Tolerance `json:"tolerance"`
	Outputs   []spec.OutputDiff  `json:"outputs,omitempty"`
}

// Measure is a number with its unit, e.g. {"value": 12.5, "unit": "ms"}.
type Measure struct {
	Value numerics.Float `json:"value"`
	Unit  string         `json:"unit"`
}

// Units used in reports.
const (
	UnitMillisecond      = "ms"
	UnitByte             = "B"
	UnitCount            = "1"
	UnitQueriesPerSecond = "queries/s"
	UnitSamplesPerSecond = "samples/s"
)

// Millis expresses d in milliseconds.
func Millis(d time.Duration) Measure {
	return Measure{Value: numerics.Float(float64(d) / float64(time.Millisecond)), Unit: UnitMillisecond}
}

// Bytes expresses a byte count.
func Bytes(n int64) Measure { return Measure{Value: numerics.Float(n), Unit: UnitByte} }

// Count expresses a dimensionless count.
func Count(n int) Measure { return Measure{Value: numerics.Float(n), Unit: UnitCount} }

// levelVerdicts decides every level's verdict from the results: fail when
// any of its MUST checks failed or errored; pass when at least one check
// passed and no MUST check failed or erred (every skip carries its
// reason); not-run when no check of the level ran or all were skipped. A
// SHOULD check that failed is a warning, not a verdict.
func levelVerdicts(results []Result) map[spec.Level]spec.Verdict {
	out := make(map[spec.Level]spec.Verdict, len(spec.Levels))
	for _, l := range spec.Levels {
		v := spec.VerdictNotRun
		for _, r := range results {
			if r.Level != l {
				continue
			}
			switch r.Status {
			case spec.Fail, spec.Error:
				if r.Must() {
					v = spec.VerdictFail
				}
			case spec.Pass:
				if v == spec.VerdictNotRun {
					v = spec.VerdictPass
				}
			}
		}
		out[l] = v
	}
	return out
}

// verdict is pass when every requested level passed.
func verdict(requested []spec.Level, levels map[spec.Level]spec.Verdict) spec.Verdict {
	if len(requested) == 0 {
		return spec.VerdictFail
	}
	for _, l := range requested {
		if levels[l] != spec.VerdictPass {
			return spec.VerdictFail
		}
	}
	return spec.VerdictPass
}

func summarize(results []Result) Summary {
	s := Summary{Total: len(results)}
	for _, r := range results {
		switch r.Status {
		case spec.Pass:
			s.Pass++
		case spec.Fail:
			s.Fail++
		case spec.Skip:
			s.Skip++
		case spec.Error:
			s.Error++
		}
	}
	return s
}
