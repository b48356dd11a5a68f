package serve

import (
	"fmt"
	"slices"
	"strings"
)

// Fault is a fault profile: a deliberate defect that makes the server break
// one requirement of spec v1, so that the suite can prove it catches the
// violation and a vendor can see what the failure looks like. Faults are
// wrappers around the conforming server. Those that change what a model
// computes or how long it takes (numeric-drift, wrong-class,
// batch-variant, slow-tail, result-cache) wrap each model's forward pass,
// above the dynamic batcher, so that they see each request with its own
// batch. The others wrap the HTTP handler, inside the access log and panic
// recovery and outside authentication; among them nan-output and
// nondeterministic, which change how values travel (a NaN has no JSON
// number; nondeterministic moves JSON outputs only). Each server built with
// a fault gets fresh fault state (counters, caches).
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

	install func(c *config) error
}

// String returns the fault's name.
func (f Fault) String() string { return f.Name }

// Parameters of the faults; Faults' descriptions quote them.
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

// faults is the registry, sorted by name.
var faults = []Fault{
	{
		Name:        "bad-metadata",
		Requirement: "OIP-MODEL-META",
		Description: "model metadata declares a fixed batch of 1 on every input (e.g. [1,1,28,28] where the contract has [-1,1,28,28]); inference still accepts any batch",
		install:     installBadMetadata,
	},
	{
		Name:        "batch-variant",
		Requirement: "NUM-BATCH-INVARIANCE",
		Description: fmt.Sprintf("outputs of a request of one sample move down, those of a request of several samples up, by %.2g of the tolerance class (atol + rtol·|v|): each answer agrees with the reference, a sample in a batch and the same sample alone do not", classShare),
		install:     installBatchVariant,
	},
	{
		Name:        "dies-after-abuse",
		Requirement: "SAFE-SURVIVES-ABUSE",
		Description: fmt.Sprintf("after %d rejected requests (400 or 413) the server is wedged: the next GET /v2/health/ready and every request after it, /v2/health/live included, get 503", abuseLimit),
		install:     installDiesAfterAbuse,
	},
	{
		Name:        "ignore-auth",
		Requirement: "SEC-AUTH-REQUIRED",
		Description: "the configured bearer token is never checked: requests without a credential, or with a wrong or malformed one, are served (needs an auth token)",
		install:     installIgnoreAuth,
	},
	{
		Name:        "leaky-errors",
		Requirement: "SAFE-ERROR-HYGIENE",
		Description: "every error message carries the Go stack trace of the handler (goroutine header, source files and line numbers); status and JSON form are unchanged",
		install:     installLeakyErrors,
	},
	{
		Name:        "nan-output",
		Requirement: "NUM-OUTPUT-VALID",
		Also:        []string{"NUM-GOLDEN", "SAFE-SURVIVES-ABUSE"},
		Description: "probabilities below 2^-25 (they underflow in half precision) come back as NaN: the JSON string \"NaN\" as proto3 JSON writes it, or a NaN in binary outputs; only out-of-domain inputs such as the golden edge cases of seed-cnn reach them",
		install:     installNaNOutput,
	},
	{
		Name:        "no-id-echo",
		Requirement: "OIP-INFER-ID-ECHO",
		Description: "inference responses drop the request's id",
		install:     installNoIDEcho,
	},
	{
		Name:        "nondeterministic",
		Requirement: "NUM-DETERMINISM",
		Description: fmt.Sprintf("each repeat of an identical inference request moves its JSON outputs (probabilities excepted) by %.2g of the tolerance class, up and down in turn: every answer agrees with the reference, two answers to one request do not", classShare),
		install:     installNondeterministic,
	},
	{
		Name:        "numeric-drift",
		Requirement: "NUM-GOLDEN",
		Also:        []string{"NUM-LIVE", "SAFE-SURVIVES-ABUSE", "LAT-SINGLE-STREAM", "LAT-SERVER", "LAT-OFFLINE"},
		Description: fmt.Sprintf("every value of every row moves by %.0e of its magnitude (ten times the fp32 class' rtol), the row's top value up and the others down, so the top class is kept; probabilities are the softmax of the drifted logits", driftRelative),
		install:     installNumericDrift,
	},
	{
		Name:        "result-cache",
		Requirement: "LAT-CACHE-AUDIT",
		Description: "outputs are cached by a hash of the request's inputs: a repeated input is answered from the cache, bit for bit the same and markedly faster",
		install:     installResultCache,
	},
	{
		Name:        "server-error-on-bad-input",
		Requirement: "SAFE-WRONG-SHAPE",
		Also:        []string{"OIP-ERROR-FORMAT"},
		Description: "an inference request with an input of the wrong rank or a wrong fixed dimension reaches the kernel, which fails: 500 {\"error\": \"internal server error\"} instead of 400",
		install:     installServerErrorOnBadInput,
	},
	{
		Name:        "slow-tail",
		Requirement: "LAT-SERVER",
		Description: fmt.Sprintf("one single-sample inference in %d (2%%, chosen by a counter per model version) is held %d s before it runs: p99 far over any budget, p50 and p90 unchanged", slowTailEvery, slowTailDelaySeconds),
		install:     installSlowTail,
	},
	{
		Name:        "wrong-class",
		Requirement: "NUM-TOP1",
		Also:        []string{"NUM-GOLDEN", "NUM-LIVE", "SAFE-SURVIVES-ABUSE", "LAT-SINGLE-STREAM", "LAT-SERVER", "LAT-OFFLINE"},
		Description: fmt.Sprintf("in one row in %d, chosen by a hash of the sample's inputs, the top two values of every output swap places, so the top class changes", wrongClassEvery),
		install:     installWrongClass,
	},
}

// Faults returns every fault profile, sorted by name.
func Faults() []Fault {
	out := slices.Clone(faults)
	for i := range out {
		out[i].Also = slices.Clone(out[i].Also)
	}
	return out
}

// FaultNames returns the names of every fault profile, sorted.
func FaultNames() []string {
	names := make([]string, len(faults))
	for i, f := range faults {
		names[i] = f.Name
	}
	return names
}

// LookupFaults returns the fault profiles with the given names, in the
// order given. An unknown or repeated name is an error; the error lists
// the known names.
func LookupFaults(names ...string) ([]Fault, error) {
	out := make([]Fault, 0, len(names))
	seen := map[string]bool{}
	for _, name := range names {
		i := slices.IndexFunc(faults, func(f Fault) bool { return f.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown fault %q (faults: %s)", name, strings.Join(FaultNames(), ", "))
		}
		if seen[name] {
			return nil, fmt.Errorf("fault %q is given twice", name)
		}
		seen[name] = true
		f := faults[i]
		f.Also = slices.Clone(f.Also)
		out = append(out, f)
	}
	return out, nil
}

// WithFaults makes the server misbehave as each fault profile says (see
// Faults and LookupFaults). Faults compose in the order given: the first
// one's model wrapper is the innermost, its handler wrapper the
// outermost. New fails for a fault given twice, a Fault value that is not
// one of Faults, and ignore-auth without WithAuthToken.
func WithFaults(fs ...Fault) Option {
	return func(c *config) { c.faults = append(c.faults, fs...) }
}

// installFaults checks the faults of c and installs their wrappers. New
// calls it once every option has been applied.
func (c *config) installFaults() error {
	seen := map[string]bool{}
	for _, f := range c.faults {
		if f.install == nil {
			return fmt.Errorf("serve: fault %q is not a fault of this package (faults: %s)", f.Name, strings.Join(FaultNames(), ", "))
		}
		if seen[f.Name] {
			return fmt.Errorf("serve: fault %q is given twice", f.Name)
		}
		seen[f.Name] = true
		if err := f.install(c); err != nil {
			return fmt.Errorf("serve: fault %s: %w", f.Name, err)
		}
	}
	return nil
}
