package conformance

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/schemas"
	"github.com/aiconform/aiconform/spec"
)

// ProfileKind is the profile's document kind, as schemas/profile names it.
const ProfileKind = "profile"

// ProfileSchemaVersion is the major version of the profile schema this
// build reads.
const ProfileSchemaVersion = "v1"

// BuiltinGoldens is the value of Profile.Goldens that selects the golden
// set shipped with aiconform (Options.Goldens).
const BuiltinGoldens = "builtin"

// BuiltinSource is the ProfileRef.Source of the built-in profile.
const BuiltinSource = "builtin"

// Auth schemes a profile may name.
const (
	AuthNone   = "none"
	AuthBearer = "bearer"
)

// DefaultRequestTimeout bounds each request when neither the profile nor
// Options set a timeout.
const DefaultRequestTimeout = 30 * time.Second

//go:embed profiles/reference.yaml
var builtinProfileYAML []byte

// Profile says what a run checks: which served models stand for which
// reference models, which levels are requested, where the goldens are,
// the timeouts, how to authenticate and the latency budgets. Its document form (YAML or JSON)
// validates against schemas/profile/v1.schema.json.
type Profile struct {
	Kind        string       `json:"kind"`
	SpecVersion string       `json:"specVersion"`
	Name        string       `json:"name"`
	Levels      []spec.Level `json:"levels"`
	// Goldens is "builtin" (the default) or a directory holding a golden
	// set (manifest.json and case files); a relative path is relative to
	// the profile file.
	Goldens  string     `json:"goldens,omitempty"`
	Timeouts *Timeouts  `json:"timeouts,omitempty"`
	Auth     *Auth      `json:"auth,omitempty"`
	Models   []ModelRef `json:"models"`
	// Latency holds the budgets of the performance level and the
	// minimums of its runs.
	Latency *Latency `json:"latency,omitempty"`
	// ModelCard is a model card (schemas/modelcard) whose
	// service.models[].latency states the budgets of each served model;
	// a relative path is relative to the profile file. A profile that
	// points at a card declares no budgets of its own.
	ModelCard string `json:"modelCard,omitempty"`
	// NotApplicable are the requirements the vendor declares not
	// applicable to the target, each with its justification.
	NotApplicable []NotApplicable `json:"notApplicable,omitempty"`

	source   string   // file name or BuiltinSource
	digest   string   // sha256 of the document as read
	warnings []string // what the document holds that this run will not use
}

// NotApplicable declares a requirement not applicable to the target. Only
// a requirement with an Applies-when condition in the catalog may be
// declared (spec/v1/README.md, "Conformance claims", rule 2): the
// justification says why the condition is false for the target.
type NotApplicable struct {
	// Requirement is the requirement's ID in the catalog.
	Requirement string `json:"requirement"`
	// Justification is why the requirement does not apply; the skip
	// message of every check that cites only declared requirements
	// carries it.
	Justification string `json:"justification"`
}

// DeclaredBySuffix ends the skip message of a check the profile declares
// not applicable.
const DeclaredBySuffix = " (declared by the profile)"

// ModelRef maps a model as the target serves it to a reference model.
type ModelRef struct {
	// Name is the model name on the target (the {m} of /v2/models/{m}).
	Name string `json:"name"`
	// Version is the served version; empty uses the target's default.
	Version string `json:"version,omitempty"`
	// Reference is the reference model id: seed-cnn, seed-rnn or seed-transformer.
	Reference string `json:"reference"`
	// ReferenceVersion is fp32 or fp64.
	ReferenceVersion string `json:"referenceVersion"`
}

// Label names the served model for messages: "name" or "name@version".
func (m ModelRef) Label() string {
	if m.Version == "" {
		return m.Name
	}
	return m.Name + "@" + m.Version
}

// Timeouts bound the run's requests.
type Timeouts struct {
	// Request bounds each HTTP exchange, body included.
	Request *Duration `json:"request,omitempty"`
}

// Auth says how requests authenticate. The token itself never appears in
// a profile: TokenEnv names the environment variable that holds it.
type Auth struct {
	Scheme   string `json:"scheme"`
	TokenEnv string `json:"tokenEnv,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Source is the file the profile was read from, or "builtin".
func (p *Profile) Source() string {
	if p.source == "" {
		return "profile"
	}
	return p.source
}

// Warnings lists what the profile document holds that the run will not
// use, one "FILE: /pointer: message" line each (a latency budget without
// the performance level). They do not make the profile invalid.
func (p *Profile) Warnings() []string { return slices.Clone(p.warnings) }

// Digest is the sha256 of the profile document as read, or of its JSON
// form for a profile built in Go.
func (p *Profile) Digest() string {
	if p.digest != "" {
		return p.digest
	}
	b, err := json.Marshal(p)
	if err != nil {
		return golden.Digest(nil)
	}
	return golden.Digest(b)
}

// ProfileError reports a profile that breaks its schema or is
// inconsistent, one violation per problem, each with its JSON pointer.
// errors.Is(err, ErrConfig) holds for it.
type ProfileError struct {
	// Source is the profile file.
	Source     string
	Violations []schemas.Violation
}

// Error renders one "FILE: /pointer: message" line per violation.
func (e *ProfileError) Error() string {
	lines := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		p := v.Pointer
		if p == "" {
			p = "/"
		}
		lines[i] = fmt.Sprintf("%s: %s: %s", e.Source, p, v.Message)
	}
	return strings.Join(lines, "\n")
}

// Is makes errors.Is(err, ErrConfig) true.
func (e *ProfileError) Is(target error) bool { return target == ErrConfig }

// LoadProfile reads and validates a profile file (YAML or JSON).
func LoadProfile(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: profile: %w", ErrConfig, err)
	}
	return ParseProfile(path, b)
}

// ParseProfile decodes and validates a profile document (YAML or JSON).
// source names the document in errors; a relative goldens directory is
// resolved against source's directory.
func ParseProfile(source string, data []byte) (*Profile, error) {
	// A profile is YAML unless its name says JSON (YAML reads JSON too,
	// but JSON errors are clearer for JSON files).
	name := source
	switch strings.ToLower(filepath.Ext(source)) {
	case ".json", ".yaml", ".yml":
	default:
		name += ".yaml"
	}
	doc, err := schemas.DecodeDocument(name, data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	vs, err := schemas.Validate(ProfileKind, ProfileSchemaVersion, doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, source, err)
	}
	if len(vs) > 0 {
		return nil, &ProfileError{Source: source, Violations: vs}
	}
	// The schema has accepted the document; decoding into the struct
	// therefore only fails on values the schema cannot express (a
	// duration's range), which are reported the same way. Members the
	// schema allows that no check reads (a description) are left out of
	// the struct; the profile's digest still covers them.
	j, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, source, err)
	}
	var p Profile
	dec := json.NewDecoder(bytes.NewReader(j))
	if err := dec.Decode(&p); err != nil {
		return nil, &ProfileError{Source: source, Violations: []schemas.Violation{{Message: err.Error()}}}
	}
	p.source = source
	p.digest = golden.Digest(data)
	p.warnings = documentWarnings(source, doc, p.Levels)
	if p.Goldens != "" && p.Goldens != BuiltinGoldens && !filepath.IsAbs(p.Goldens) && source != BuiltinSource {
		p.Goldens = filepath.Join(filepath.Dir(source), filepath.FromSlash(p.Goldens))
	}
	p.resolveModelCard(source)
	if vs := p.semanticViolations(); len(vs) > 0 {
		return nil, &ProfileError{Source: source, Violations: vs}
	}
	return &p, nil
}

// BuiltinProfile returns the built-in profile for the reference models
// (conformance/profiles/reference.yaml).
func BuiltinProfile() (*Profile, error) {
	return ParseProfile(BuiltinSource, builtinProfileYAML)
}

// BuiltinProfileYAML returns the built-in profile's document.
func BuiltinProfileYAML() []byte { return bytes.Clone(builtinProfileYAML) }

// builtinFile is the file name of the built-in profile in profiles/.
const builtinFile = "reference.yaml"

// builtinCardPrefix starts the source a report records for a model card
// built into the tool: "builtin:NAME".
const builtinCardPrefix = BuiltinSource + ":"

// BuiltinDocument returns the file name and bytes of a document built into
// the tool, named by the source a report records for it: BuiltinSource for
// the built-in profile, "builtin:NAME" for the model card it points at. ok
// is false when source names no built-in document.
func BuiltinDocument(source string) (name string, data []byte, ok bool) {
	if source == BuiltinSource {
		return builtinFile, BuiltinProfileYAML(), true
	}
	card, isCard := strings.CutPrefix(source, builtinCardPrefix)
	if !isCard || !fs.ValidPath(card) || strings.Contains(card, "/") {
		return "", nil, false
	}
	b, err := fs.ReadFile(builtinProfiles, path.Join("profiles", card))
	if err != nil {
		return "", nil, false
	}
	return card, b, true
}

// Validate checks a profile built in Go (or read by ParseProfile) against
// the profile schema and the rules the schema cannot express.
func (p *Profile) Validate() error {
	j, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrConfig, p.Source(), err)
	}
	doc, err := schemas.DecodeDocument(p.Source()+".json", j)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrConfig, p.Source(), err)
	}
	vs, err := schemas.Validate(ProfileKind, ProfileSchemaVersion, doc)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrConfig, p.Source(), err)
	}
	vs = append(vs, p.semanticViolations()...)
	if len(vs) > 0 {
		return &ProfileError{Source: p.Source(), Violations: vs}
	}
	return nil
}

// documentWarnings finds the members of a valid profile document that no
// check of the requested levels reads. The struct leaves them out, so the
// document is looked at as decoded.
func documentWarnings(source string, doc any, levels []spec.Level) []string {
	m, _ := doc.(map[string]any)
	var out []string
	if slices.Contains(levels, spec.Performance) {
		lat, _ := m["latency"].(map[string]any)
		budgets := slices.ContainsFunc([]string{"singleStreamP90", "serverQPS", "serverP99", "offlineMinThroughput"}, func(k string) bool { _, ok := lat[k]; return ok })
		if !budgets {
			if _, card := m["modelCard"]; !card {
				out = append(out, fmt.Sprintf("%s: /levels: level %s is requested but neither latency budgets nor a modelCard are declared, so every performance check will be skipped as not applicable; declare budgets under latency or point modelCard at the service's model card",
					source, spec.Performance))
			}
		}
		return out
	}
	for _, member := range []string{"latency", "modelCard"} {
		if _, ok := m[member]; ok {
			out = append(out, fmt.Sprintf("%s: /%s: latency budgets are declared but the levels %v do not include %s, so no budget is checked; add %s to levels or remove the budgets",
				source, member, levels, spec.Performance, spec.Performance))
		}
	}
	return out
}

// semanticViolations finds what the schema cannot: budgets declared in
// both the profile and its model card, a model listed twice, and a requirement declared not applicable that the catalog lacks, that
// always applies, or that is declared twice.
func (p *Profile) semanticViolations() []schemas.Violation {
	vs := p.latencyViolations()
	declared := map[string]int{}
	for i, na := range p.NotApplicable {
		ptr := fmt.Sprintf("/notApplicable/%d", i)
		req, ok := spec.Lookup(na.Requirement)
		switch {
		case !ok:
			vs = append(vs, schemas.Violation{Pointer: ptr + "/requirement",
				Message: fmt.Sprintf("requirement %s is not in the catalog of the standard %s; want the ID of a requirement with an Applies-when condition", na.Requirement, spec.Version)})
			continue
		case req.AppliesWhen == "":
			vs = append(vs, schemas.Violation{Pointer: ptr + "/requirement",
				Message: fmt.Sprintf("%s requirement %s always applies (its catalog entry has no Applies-when condition), so it cannot be declared not applicable; only a requirement with one can (%s)",
					req.Strength, req.ID, strings.Join(conditionalRequirements(), ", "))})
			continue
		case strings.TrimSpace(na.Justification) == "":
			vs = append(vs, schemas.Violation{Pointer: ptr + "/justification",
				Message: fmt.Sprintf("the justification of %s is empty; want why its condition (%s) is false for the target", req.ID, req.AppliesWhen)})
		}
		if j, dup := declared[na.Requirement]; dup {
			vs = append(vs, schemas.Violation{Pointer: ptr + "/requirement",
				Message: fmt.Sprintf("requirement %s is declared not applicable twice (also at /notApplicable/%d)", na.Requirement, j)})
			continue
		}
		declared[na.Requirement] = i
	}
	seen := map[string]int{}
	for i, m := range p.Models {
		key := m.Name + "\x00" + m.Version
		if j, ok := seen[key]; ok {
			vs = append(vs, schemas.Violation{
				Pointer: fmt.Sprintf("/models/%d", i),
				Message: fmt.Sprintf("model %s is listed twice (also at /models/%d)", m.Label(), j),
			})
			continue
		}
		seen[key] = i
	}
	return vs
}

// conditionalRequirements lists the IDs of the catalog's requirements that
// have an Applies-when condition: the ones a profile may declare not
// applicable.
func conditionalRequirements() []string {
	var ids []string
	for _, r := range spec.MustLoad().Requirements {
		if r.AppliesWhen != "" {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// declaredNotApplicable returns the skip reason of a check citing reqs
// when the profile declares every one of them not applicable, and false
// otherwise. The reason is the justification (one per requirement,
// prefixed with its ID, when the check cites several), ending with
// DeclaredBySuffix.
func (p *Profile) declaredNotApplicable(reqs []string) (string, bool) {
	if len(reqs) == 0 {
		return "", false
	}
	var parts []string
	for _, id := range reqs {
		i := slices.IndexFunc(p.NotApplicable, func(na NotApplicable) bool { return na.Requirement == id })
		if i < 0 {
			return "", false
		}
		j := strings.TrimSpace(p.NotApplicable[i].Justification)
		if len(reqs) > 1 {
			j = id + ": " + j
		}
		parts = append(parts, j)
	}
	return spec.NotApplicablePrefix + strings.Join(parts, "; ") + DeclaredBySuffix, true
}

// requestTimeout is the profile's request timeout, or 0.
func (p *Profile) requestTimeout() time.Duration {
	if p.Timeouts == nil || p.Timeouts.Request == nil {
		return 0
	}
	return time.Duration(*p.Timeouts.Request)
}

// goldensSource is the profile's goldens setting with its default.
func (p *Profile) goldensSource() string {
	if p.Goldens == "" {
		return BuiltinGoldens
	}
	return p.Goldens
}
