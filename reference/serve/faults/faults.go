// Package faults holds the fault profiles of the reference server: each is
// a deliberate defect that makes the server break one requirement of spec
// v1, so that the suite can prove it catches the violation and a vendor can
// see what the failure looks like.
//
// A fault is plain data (Fault) plus the options of serve.New that install
// it (Options). Faults wrap the conforming server only through the public
// hooks of package serve. Those that change what a model computes or how
// long it takes (numeric-drift, golden-only, wrong-class, batch-variant,
// slow-tail, result-cache) wrap each model (serve.WithModelWrapper),
// above the dynamic batcher, so that they see each request with its own
// batch. The others wrap the HTTP handler (serve.WithHandlerWrapper),
// inside the access log and panic recovery and outside authentication;
// among them nan-output, nondeterministic and binary-big-endian, which
// change how values travel (a NaN has no JSON number; nondeterministic
// moves JSON outputs only; binary-big-endian changes binary outputs only).
// ignore-auth exempts every request from authentication
// (serve.WithAuthExempt). tls-1.0-allowed and expired-certificate change
// the server's TLS settings (TLSConfig): they need it served over https.
package faults

import (
	"crypto/tls"
	"fmt"
	"maps"
	"math/bits"
	"net/http"
	"slices"
	"strings"

	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
	"github.com/aiconform/aiconform/spec"
)

// Fault is a fault profile.
type Fault struct {
	// Name is the name `aiconform serve --fault` takes, e.g. "numeric-drift".
	Name string
	// Requirement is the ID of the requirement of spec v1 the fault breaks.
	Requirement string
	// Also lists the requirements that restate part of Requirement in their
	// own wording, and so fail with it whenever they send inputs on which
	// the fault shows (NUM-LIVE and the golden re-check of
	// SAFE-SURVIVES-ABUSE restate NUM-GOLDEN, for example). A fault breaks
	// no requirement outside Requirement and Also.
	Also []string
	// Description says in one line how the server misbehaves.
	Description string
	// NeedsTLS says the fault changes the server's TLS settings
	// (TLSConfig) and shows only when the server is served over https.
	NeedsTLS bool
	// NotOver names the protocol bindings the fault cannot show over,
	// each with why: what it breaks has no form in that binding. A
	// server with the fault, spoken to over such a binding, conforms as
	// far as the suite can tell (spec/v1/api.md, "Protocol bindings").
	// The fault shows over every other binding; over gRPC it is served
	// through grpcbind's Gateway, so every fault of the handler or the
	// models applies to the calls unchanged.
	NotOver map[spec.Binding]string

	// options returns the options of serve.New that install the fault,
	// with fresh fault state.
	options func() ([]serve.Option, error)
	// tls changes the server's TLS settings, for the faults that
	// NeedsTLS.
	tls func(*tls.Config) error
}

// String returns the fault's name.
func (f Fault) String() string { return f.Name }

// Parameters of the faults; the descriptions of the registry quote them.
const (
	// driftRelative is numeric-drift's error, relative to each value: ten
	// times the rtol of class fp32, about half-precision rounding.
	driftRelative = 1e-3
	// wrongClassEvery: wrong-class swaps the top two values of one row
	// in this many.
	wrongClassEvery = 4
	// classShare is the share of the tolerance class (atol + rtol·|v|) by
	// which nondeterministic and batch-variant move each value: one
	// answer alone stays within the class, two answers moved in opposite
	// directions are 2·classShare apart.
	classShare = 0.75
	// slowTailEvery: slow-tail delays one single-sample inference in this
	// many (2%) by slowTailDelaySeconds.
	slowTailEvery = 50
	// slowTailDelaySeconds is how long slow-tail holds a delayed inference.
	slowTailDelaySeconds = 1
	// cacheMaxBytes bounds the outputs result-cache keeps.
	cacheMaxBytes = 64 << 20
	// nanBelow: nan-output turns probabilities below this value (2⁻²⁵,
	// where half precision rounds to zero) into NaN.
	nanBelow = 0x1p-25
	// abuseLimit is the number of rejected requests (400 or 413) after
	// which dies-after-abuse is wedged.
	abuseLimit = 24
)

// registry holds every fault profile, sorted by name.
var registry = []Fault{
	{
		Name:        "accepts-malformed-json",
		Requirement: "SAFE-MALFORMED-JSON",
		Description: "an inference request body that is a JSON array is served as its first element, and data after the request's JSON object (without Inference-Header-Content-Length) is ignored, instead of 400",
		NotOver:     map[spec.Binding]string{spec.GRPC: "a gRPC request is a protobuf message: there is no JSON body to malform (SAFE-MALFORMED-JSON is not applicable over gRPC)"},
		options:     withCatalog(acceptsMalformedJSON),
	},
	{
		Name:        "accepts-missing-input",
		Requirement: "SAFE-MISSING-INPUT",
		Description: "a required input an inference request lacks (an empty inputs array included) is filled with zeros, its variable dimensions taken from another input of the request (else 1), and the request is served instead of 400",
		options:     withCatalog(acceptsMissingInput),
	},
	{
		Name:        "accepts-wrong-dtype",
		Requirement: "SAFE-WRONG-DTYPE",
		Description: "an input of another numeric datatype than the model's (FP64 for FP32, FP32 or INT32 for INT64, …) is taken as the model's, and fractional values in the flat data of an INT64 input are truncated (1.5 becomes 1), instead of 400",
		options:     withCatalog(acceptsWrongDtype),
	},
	{
		Name:        "accepts-wrong-shape",
		Requirement: "SAFE-WRONG-SHAPE",
		Description: "an input whose shape has a rank or a fixed dimension other than the model's is reshaped to the model's shape when its element count fits it (e.g. [1,28,28] served as [1,1,28,28]), instead of 400",
		options:     withCatalog(acceptsWrongShape),
	},
	{
		Name:        "allocates-declared-shape",
		Requirement: "SAFE-OVERSIZE",
		Description: fmt.Sprintf("an inference request with an input whose shape declares more than 2^%d elements is answered 500, as a server that allocates what a shape declares before it looks at the data fails (the allocation is not made)", bits.Len(declaredLimit)-1),
		options:     withCatalog(allocatesDeclaredShape),
	},
	{
		Name:        "bad-metadata",
		Requirement: "OIP-MODEL-META",
		Description: "model metadata declares a fixed batch of 1 on every input (e.g. [1,1,28,28] where the contract has [-1,1,28,28]); inference still accepts any batch",
		options:     handlerOnly(badMetadata),
	},
	{
		Name:        "bad-server-metadata",
		Requirement: "OIP-SERVER-META",
		Description: "GET /v2 answers 200 with server metadata that lacks the required version member; name and extensions are kept",
		options:     handlerOnly(badServerMetadata),
	},
	{
		Name:        "batch-variant",
		Requirement: "NUM-BATCH-INVARIANCE",
		Description: fmt.Sprintf("outputs of a request of one sample move down, those of a request of several samples up, by %.2g of the tolerance class (atol + rtol·|v|): each answer agrees with the reference, a sample in a batch and the same sample alone do not", classShare),
		options:     modelOnly(batchVariant),
	},
	{
		Name:        "binary-big-endian",
		Requirement: "OIP-BINARY-DATA",
		Description: "outputs returned as binary tensor data carry their elements big-endian instead of little-endian; JSON outputs and binary inputs are unaffected",
		options:     handlerOnly(binaryBigEndian),
	},
	{
		Name:        "dies-after-abuse",
		Requirement: "SAFE-SURVIVES-ABUSE",
		Description: fmt.Sprintf("after %d rejected requests (400 or 413) the server is wedged: the next GET /v2/health/ready and every request after it, /v2/health/live included, get 503", abuseLimit),
		options:     handlerOnly(diesAfterAbuse),
	},
	{
		Name:        "echo-token",
		Requirement: "SEC-NO-SECRET-ECHO",
		Also:        []string{"SAFE-ERROR-HYGIENE"},
		Description: "every response to a request that carries an Authorization header repeats its value in the response header " + EchoHeader + ", error responses included",
		options:     handlerOnly(echoToken),
	},
	{
		Name:        "expired-certificate",
		Requirement: "SEC-TLS",
		Description: fmt.Sprintf("the server presents, in place of its certificate, a copy with the same subject, names and key that expired %v ago, signed by that key (needs https)", expiredTLSAge),
		NeedsTLS:    true,
		options:     tlsOnly,
		tls:         expireCertificates,
	},
	{
		Name:        "flat-data-only",
		Requirement: "OIP-INFER-SCHEMA",
		Description: "an inference request with nested JSON data (an input whose data holds an array) gets 400 {\"error\": \"input NAME: data must be flat\"}; requests with flat data are served",
		NotOver:     map[spec.Binding]string{spec.GRPC: "typed contents are always flat: a gRPC request has no nested data for the fault to refuse"},
		options:     handlerOnly(flatDataOnly),
	},
	{
		Name:        "golden-only",
		Requirement: "NUM-LIVE",
		// A fresh sample sent alone can be a golden case (a one-token
		// sequence of seed-transformer often is) while the same sample in
		// a batch is not: the two answers then differ by the drift.
		Also:        []string{"NUM-BATCH-INVARIANCE", "LAT-SINGLE-STREAM", "LAT-SERVER", "LAT-OFFLINE"},
		Description: fmt.Sprintf("a request whose inputs are exactly the inputs of a case of the published golden set (matched by a hash of the input tensors) is computed correctly; every other request gets numeric-drift's drift (%.0e of each value, top class kept, probabilities the softmax of the drifted logits), so a sample alone that happens to be a golden case and the same sample in a batch disagree", driftRelative),
		options:     goldenOnly,
	},
	{
		Name:        "ignore-auth",
		Requirement: "SEC-AUTH-REQUIRED",
		Description: "the configured bearer token is never checked: requests without a credential, or with a wrong or malformed one, are served (needs an auth token)",
		options:     ignoreAuth,
	},
	{
		Name:        "inverted-output-selection",
		Requirement: "OIP-OUTPUT-SELECT",
		Description: "an inference request that names some but not all of the model's outputs gets the outputs it did not name instead; a request naming every output, none, or one the model does not have is served as usual",
		options:     withCatalog(invertedOutputSelection),
	},
	{
		Name:        "leaky-errors",
		Requirement: "SAFE-ERROR-HYGIENE",
		Description: "every error message carries the Go stack trace of the handler (goroutine header, source files and line numbers); status and JSON form are unchanged",
		options:     handlerOnly(leakyErrors),
	},
	{
		Name:        "model-not-ready",
		Requirement: "OIP-MODEL-READY",
		Description: "GET /v2/models/{m}/versions/{v}/ready answers 503 with a JSON error body for every served model version; the unversioned GET /v2/models/{m}/ready still answers 200",
		options:     handlerOnly(modelNotReady),
	},
	{
		Name:        "nan-output",
		Requirement: "NUM-OUTPUT-VALID",
		Also:        []string{"NUM-GOLDEN", "SAFE-SURVIVES-ABUSE"},
		Description: "probabilities below 2^-25 (they underflow in half precision) come back as NaN: the JSON string \"NaN\" as proto3 JSON writes it, or a NaN in binary outputs; only out-of-domain inputs such as the golden edge cases of seed-cnn reach them",
		options:     handlerOnly(nanOutput),
	},
	{
		Name:        "never-ready",
		Requirement: "OIP-HEALTH-READY",
		Also:        []string{"SAFE-SURVIVES-ABUSE"},
		Description: "GET /v2/health/ready always answers 503 with a JSON error body; everything else, model readiness included, conforms",
		options:     handlerOnly(neverReady),
	},
	{
		Name:        "no-id-echo",
		Requirement: "OIP-INFER-ID-ECHO",
		Description: "inference responses drop the request's id",
		options:     handlerOnly(noIDEcho),
	},
	{
		Name:        "nondeterministic",
		Requirement: "NUM-DETERMINISM",
		Description: fmt.Sprintf("each repeat of an identical inference request moves its JSON outputs (probabilities excepted) by %.2g of the tolerance class, up and down in turn: every answer agrees with the reference, two answers to one request do not", classShare),
		options:     handlerOnly(nondeterministic),
	},
	{
		Name:        "not-live",
		Requirement: "OIP-HEALTH-LIVE",
		Also:        []string{"SAFE-OVERSIZE", "SAFE-SURVIVES-ABUSE"},
		Description: "GET /v2/health/live answers 503 with a JSON error body; everything else, GET /v2/health/ready included, conforms",
		options:     handlerOnly(notLive),
	},
	{
		Name:        "numeric-drift",
		Requirement: "NUM-GOLDEN",
		Also:        []string{"NUM-LIVE", "SAFE-SURVIVES-ABUSE", "LAT-SINGLE-STREAM", "LAT-SERVER", "LAT-OFFLINE"},
		Description: fmt.Sprintf("every value of every row moves by %.0e of its magnitude (ten times the fp32 class' rtol), the row's top value up and the others down, so the top class is kept; probabilities are the softmax of the drifted logits", driftRelative),
		options:     modelOnly(numericDrift),
	},
	{
		Name:        "result-cache",
		Requirement: "LAT-CACHE-AUDIT",
		Description: "outputs are cached by a hash of the request's inputs: a repeated input is answered from the cache, bit for bit the same and markedly faster",
		options:     modelOnly(cacheResults),
	},
	{
		Name:        "server-error-on-bad-input",
		Requirement: "SAFE-WRONG-SHAPE",
		Also:        []string{"OIP-ERROR-FORMAT"},
		Description: "an inference request with an input of the wrong rank or a wrong fixed dimension reaches the kernel, which fails: 500 {\"error\": \"internal server error\"} instead of 400",
		options:     withCatalog(serverErrorOnBadInput),
	},
	{
		Name:        "slow-tail",
		Requirement: "LAT-SERVER",
		Description: fmt.Sprintf("one single-sample inference in %d (2%%, chosen by a counter per model version) is held %d s before it runs: p99 far over any budget, p50 and p90 unchanged", slowTailEvery, slowTailDelaySeconds),
		options:     modelOnly(slowTail),
	},
	{
		Name:        "tls-1.0-allowed",
		Requirement: "SEC-TLS",
		Description: "the server accepts TLS 1.0 and 1.1 handshakes besides 1.2 and 1.3; a client offering TLS 1.2 or later still gets it (needs https)",
		NeedsTLS:    true,
		options:     tlsOnly,
		tls:         allowTLS10,
	},
	{
		Name:        "trusts-shape",
		Requirement: "SAFE-SHAPE-DATA-MISMATCH",
		Description: "flat input data with fewer elements than the input's shape holds is padded with zeros, and data with more is cut to the shape, instead of 400",
		options:     withCatalog(trustsShape),
	},
	{
		Name:        "unknown-input-500",
		Requirement: "OIP-ERROR-FORMAT",
		Also:        []string{"SAFE-MISSING-INPUT"},
		Description: "an inference request naming an input the model does not have reaches the kernel, which fails: 500 {\"error\": \"internal server error\"} instead of 400",
		options:     withCatalog(unknownInput500),
	},
	{
		Name:        "unknown-model-default",
		Requirement: "OIP-UNKNOWN-MODEL",
		Description: "metadata, readiness and inference requests for a model the server does not serve (with or without a version) are served by the default version of the lexically first served model, and those for an unknown version of a served model by that model's default version, instead of 404",
		options:     withCatalog(unknownModelDefault),
	},
	{
		Name:        "unknown-output-accepted",
		Requirement: "OIP-OUTPUT-SELECT",
		Description: "a requested output the model does not have is dropped from the request instead of answered 400: the answer is 200 with the other requested outputs (every output when no other was requested)",
		options:     withCatalog(unknownOutputAccepted),
	},
	{
		Name:        "wrong-class",
		Requirement: "NUM-TOP1",
		Also:        []string{"NUM-GOLDEN", "NUM-LIVE", "SAFE-SURVIVES-ABUSE", "LAT-SINGLE-STREAM", "LAT-SERVER", "LAT-OFFLINE"},
		Description: fmt.Sprintf("in one row in %d, chosen by a hash of the sample's inputs, the top two values of every output swap places, so the top class changes", wrongClassEvery),
		options:     modelOnly(wrongClass),
	},
	{
		Name:        "zeroes-nonfinite",
		Requirement: "SAFE-NONFINITE",
		Description: "floating input values that are not finite in their datatype become 0 and the request is served instead of 400: JSON numbers beyond the datatype's range (1e39 in FP32 data) and NaN and ±Inf in FP32 binary data",
		options:     withCatalog(zeroesNonfinite),
	},
}

// handlerOnly returns the options of a fault that is one handler wrapper,
// built afresh for each server.
func handlerOnly(wrap func() func(http.Handler) http.Handler) func() ([]serve.Option, error) {
	return func() ([]serve.Option, error) {
		return []serve.Option{serve.WithHandlerWrapper(wrap())}, nil
	}
}

// modelOnly returns the options of a fault that is one model wrapper.
func modelOnly(wrap func(reference.Model) reference.Model) func() ([]serve.Option, error) {
	return func() ([]serve.Option, error) {
		return []serve.Option{serve.WithModelWrapper(wrap)}, nil
	}
}

// withCatalog returns the options of a fault that is a handler wrapper
// which needs to know the served models: a fresh catalog records them as
// New wraps them, and wrap reads it once New has.
func withCatalog(wrap func(c *catalog) func(http.Handler) http.Handler) func() ([]serve.Option, error) {
	return func() ([]serve.Option, error) {
		c := &catalog{models: map[string]map[string]reference.Model{}}
		return []serve.Option{serve.WithModelWrapper(c.record), serve.WithHandlerWrapper(wrap(c))}, nil
	}
}

// All returns every fault profile, sorted by name.
func All() []Fault {
	out := slices.Clone(registry)
	for i := range out {
		out[i].Also = slices.Clone(out[i].Also)
		out[i].NotOver = maps.Clone(out[i].NotOver)
	}
	return out
}

// Names returns the names of every fault profile, sorted.
func Names() []string {
	names := make([]string, len(registry))
	for i, f := range registry {
		names[i] = f.Name
	}
	return names
}

// Lookup returns the fault profiles with the given names, in the order
// given. An unknown or repeated name is an error; the error lists the
// known names.
func Lookup(names ...string) ([]Fault, error) {
	out := make([]Fault, 0, len(names))
	seen := map[string]bool{}
	for _, name := range names {
		i := slices.IndexFunc(registry, func(f Fault) bool { return f.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown fault %q (faults: %s)", name, strings.Join(Names(), ", "))
		}
		if seen[name] {
			return nil, fmt.Errorf("fault %q is given twice", name)
		}
		seen[name] = true
		f := registry[i]
		f.Also = slices.Clone(f.Also)
		f.NotOver = maps.Clone(f.NotOver)
		out = append(out, f)
	}
	return out, nil
}

// Options returns the options of serve.New that make one server misbehave
// as each fault says, with fresh fault state (counters, caches): call it
// once per server. Faults compose in the order given: the first one's
// model wrapper is the innermost, its handler wrapper the outermost. A
// fault given twice, or a Fault value that is not one of All, is an error;
// serve.New fails for ignore-auth without serve.WithAuthToken. The faults
// that NeedsTLS add no option: TLSConfig installs them.
func Options(fs ...Fault) ([]serve.Option, error) {
	var opts []serve.Option
	seen := map[string]bool{}
	for _, f := range fs {
		if f.options == nil {
			return nil, fmt.Errorf("faults: %q is not a fault of this package (faults: %s)", f.Name, strings.Join(Names(), ", "))
		}
		if seen[f.Name] {
			return nil, fmt.Errorf("faults: fault %q is given twice", f.Name)
		}
		seen[f.Name] = true
		o, err := f.options()
		if err != nil {
			return nil, fmt.Errorf("faults: %s: %w", f.Name, err)
		}
		opts = append(opts, o...)
	}
	return opts, nil
}
