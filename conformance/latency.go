package conformance

import (
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/schemas"
)

// Latency is the profile's performance member: the budgets every
// profile model is held to (unless the profile points at a model card,
// which then states them per served model), and the minimums of the
// runs.
type Latency struct {
	LatencyBudgets
	// Minimums are the minimum query counts and durations of the
	// scenarios; nil selects the conformance minimums.
	Minimums *Minimums `json:"minimums,omitempty"`
	// MaxSendLateness relaxes the bound of rule 8 on the load
	// generator's own send lateness (p99) for development on a shared
	// machine; nil keeps the rule's ConformanceSendLateness, the only
	// bound a claim accepts.
	MaxSendLateness *Duration `json:"maxSendLateness,omitempty"`
}

// ConformanceSendLateness is the bound of spec/v1/performance.md, rule 8,
// on the 99th percentile of the load generator's send lateness.
const ConformanceSendLateness = time.Millisecond

// sendLateness returns the lateness bound of the run and whether it is
// the conformance bound (or stricter).
func (l *Latency) sendLateness() (time.Duration, bool) {
	if l == nil || l.MaxSendLateness == nil {
		return ConformanceSendLateness, true
	}
	d := time.Duration(*l.MaxSendLateness)
	return d, d <= ConformanceSendLateness
}

// LatencyBudgets are the budgets of one served model
// (spec/v1/performance.md); a scenario whose budget is not declared is
// not applicable.
type LatencyBudgets struct {
	// SingleStreamP90 bounds the 90th percentile latency of
	// LAT-SINGLE-STREAM.
	SingleStreamP90 *Duration `json:"singleStreamP90,omitempty"`
	// ServerQPS is the Poisson arrival rate of LAT-SERVER, in queries
	// per second.
	ServerQPS float64 `json:"serverQPS,omitempty"`
	// ServerP99 bounds the 99th percentile latency of LAT-SERVER.
	ServerP99 *Duration `json:"serverP99,omitempty"`
	// OfflineMinThroughput is the floor of LAT-OFFLINE, in samples per
	// second.
	OfflineMinThroughput float64 `json:"offlineMinThroughput,omitempty"`
}

// declared reports whether any budget is set.
func (b LatencyBudgets) declared() bool {
	return b.SingleStreamP90 != nil || b.ServerQPS != 0 || b.ServerP99 != nil || b.OfflineMinThroughput != 0
}

// Minimum presets of Minimums.Preset.
const (
	// MinimumsConformance selects the minimums of spec/v1/performance.md,
	// rule 7: the only ones a claim accepts.
	MinimumsConformance = "conformance"
	// MinimumsDevelopment selects short runs for development (the demo
	// uses them).
	MinimumsDevelopment = "development"
)

// Minimums say how long each scenario runs at least. Their document form
// is a preset name ("conformance", "development") or an object of
// explicit minimums per scenario, the scenarios it leaves out keeping
// the conformance minimums.
type Minimums struct {
	// Preset is MinimumsConformance or MinimumsDevelopment, or empty for
	// explicit minimums.
	Preset       string           `json:"-"`
	SingleStream *ScenarioMinimum `json:"singleStream,omitempty"`
	Server       *ScenarioMinimum `json:"server,omitempty"`
	Offline      *ScenarioMinimum `json:"offline,omitempty"`
	CacheAudit   *ScenarioMinimum `json:"cacheAudit,omitempty"`
}

// ScenarioMinimum is the minimum of one scenario: a count (queries, or
// samples for offline; queries per arm for the cache audit) and a
// duration (none for the cache audit).
type ScenarioMinimum struct {
	Queries  int64     `json:"queries,omitempty"`
	Samples  int64     `json:"samples,omitempty"`
	Duration *Duration `json:"duration,omitempty"`
}

// MarshalJSON writes a preset as its name, explicit minimums as an
// object.
func (m Minimums) MarshalJSON() ([]byte, error) {
	if m.Preset != "" {
		return json.Marshal(m.Preset)
	}
	type plain Minimums
	return json.Marshal(plain(m))
}

// UnmarshalJSON reads a preset name or an object.
func (m *Minimums) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s != MinimumsConformance && s != MinimumsDevelopment {
			return fmt.Errorf("minimums %q: want %q, %q or an object of minimums per scenario", s, MinimumsConformance, MinimumsDevelopment)
		}
		*m = Minimums{Preset: s}
		return nil
	}
	type plain Minimums
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*m = Minimums(p)
	return nil
}

// scenario names one of the four scenarios.
type scenario string

// The scenarios of spec/v1/performance.md.
const (
	singleStream scenario = "single-stream"
	server       scenario = "server"
	offline      scenario = "offline"
	cacheAudit   scenario = "cache-audit"
)

// minimum is the minimum of one scenario as a run uses it.
type minimum struct {
	// count is the minimum number of queries (offline: samples; cache
	// audit: queries per arm).
	count    int64
	duration time.Duration
}

// conformanceMinimums are the minimums of spec/v1/performance.md, rule 7
// (the cache audit's count is queries per arm, from its procedure).
var conformanceMinimums = map[scenario]minimum{
	singleStream: {1024, 60 * time.Second},
	server:       {4096, 60 * time.Second},
	offline:      {4096, 60 * time.Second},
	cacheAudit:   {1024, 0},
}

// developmentMinimums are short runs that still give percentiles some
// meaning: a p99 of 128 queries rests on its 2 slowest, and each arm of
// the cache audit has four blocks.
var developmentMinimums = map[scenario]minimum{
	singleStream: {256, 250 * time.Millisecond},
	server:       {128, 500 * time.Millisecond},
	offline:      {256, 250 * time.Millisecond},
	cacheAudit:   {512, 0},
}

// minimumFor returns the minimum of scenario s and whether it meets the
// conformance minimum.
func (l *Latency) minimumFor(s scenario) (minimum, bool) {
	want := conformanceMinimums[s]
	got := want
	if l != nil && l.Minimums != nil {
		m := l.Minimums
		switch m.Preset {
		case MinimumsDevelopment:
			got = developmentMinimums[s]
		case MinimumsConformance:
		default:
			var sm *ScenarioMinimum
			switch s {
			case singleStream:
				sm = m.SingleStream
			case server:
				sm = m.Server
			case offline:
				sm = m.Offline
			case cacheAudit:
				sm = m.CacheAudit
			}
			if sm != nil {
				if sm.Queries > 0 {
					got.count = sm.Queries
				}
				if sm.Samples > 0 {
					got.count = sm.Samples
				}
				if sm.Duration != nil {
					got.duration = time.Duration(*sm.Duration)
				}
			}
		}
	}
	return got, got.count >= want.count && got.duration >= want.duration
}

// budgetsOf returns the budgets of profile model m and where they come
// from: the model card's entry of the same name and version when the
// profile points at a card, else the profile's latency member.
func (p *Profile) budgetsOf(card *modelCard, m ModelRef) (LatencyBudgets, string) {
	if p.ModelCard != "" {
		if card == nil {
			return LatencyBudgets{}, ""
		}
		for i, sm := range card.models {
			if sm.name == m.Name && sm.version == m.Version && sm.budgets.declared() {
				return sm.budgets, fmt.Sprintf("%s: /service/models/%d/latency", card.source, i)
			}
		}
		return LatencyBudgets{}, ""
	}
	if p.Latency == nil || !p.Latency.declared() {
		return LatencyBudgets{}, ""
	}
	return p.Latency.LatencyBudgets, fmt.Sprintf("%s: /latency", p.Source())
}

// builtinProfiles holds the built-in profile and the model card it
// points at.
//
//go:embed profiles
var builtinProfiles embed.FS

// modelCard is what the performance level reads from a model card: the
// served models and their budgets.
type modelCard struct {
	source string
	// digest is the sha256 of the card's bytes.
	digest string
	models []cardModel
}

type cardModel struct {
	name, version               string
	reference, referenceVersion string
	budgets                     LatencyBudgets
}

// cardDoc is the part of a model card document the suite reads
// (schemas/modelcard/v1.schema.json, service.models[]).
type cardDoc struct {
	Service struct {
		Models []struct {
			Name      string `json:"name"`
			Version   string `json:"version"`
			Reference struct {
				Model   string `json:"model"`
				Version string `json:"version"`
			} `json:"reference"`
			Latency *struct {
				SingleStreamP90   *cardQuantity `json:"singleStreamP90"`
				ServerP99         *cardQuantity `json:"serverP99"`
				ServerTargetQPS   *cardQuantity `json:"serverTargetQPS"`
				OfflineThroughput *cardQuantity `json:"offlineThroughput"`
			} `json:"latency"`
		} `json:"models"`
	} `json:"service"`
}

// cardQuantity is a value with its unit, as model cards write them.
type cardQuantity struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// duration converts a card duration ({value, unit us|ms|s}).
func (q *cardQuantity) duration() (*Duration, error) {
	if q == nil {
		return nil, nil
	}
	var unit time.Duration
	switch q.Unit {
	case "us":
		unit = time.Microsecond
	case "ms":
		unit = time.Millisecond
	case "s":
		unit = time.Second
	default:
		return nil, fmt.Errorf("unit %q, want us, ms or s", q.Unit)
	}
	v := q.Value * float64(unit)
	if !(v >= 1) || v > math.MaxInt64/2 {
		return nil, fmt.Errorf("%g %s is not a duration this tool can measure (want at least 1 ns)", q.Value, q.Unit)
	}
	d := Duration(time.Duration(v))
	return &d, nil
}

// loadModelCard reads and validates the profile's model card, and
// checks it against the profile: a served model the card lists under the
// profile's name and version must stand for the same reference model.
func loadModelCard(p *Profile) (*modelCard, error) {
	if p.ModelCard == "" {
		return nil, nil
	}
	src := p.ModelCard
	var b []byte
	var err error
	if p.source == BuiltinSource {
		// The built-in profile's card lies beside it, embedded.
		src = builtinCardPrefix + p.ModelCard
		var ok bool
		if _, b, ok = BuiltinDocument(src); !ok {
			err = fmt.Errorf("%s is not built into the tool", src)
		}
	} else {
		b, err = os.ReadFile(src)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: /modelCard: %w", ErrConfig, p.Source(), err)
	}
	return parseModelCard(p, src, b)
}

// parseModelCard decodes and validates b, the bytes of the model card src
// (YAML or JSON, as its name says), and checks it against profile p.
func parseModelCard(p *Profile, src string, b []byte) (*modelCard, error) {
	doc, err := schemas.DecodeDocument(src, b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: /modelCard: %w", ErrConfig, p.Source(), err)
	}
	vs, err := schemas.Validate("modelcard", "v1", doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, src, err)
	}
	if len(vs) > 0 {
		return nil, &ProfileError{Source: src, Violations: vs}
	}
	j, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, src, err)
	}
	var d cardDoc
	if err := json.Unmarshal(j, &d); err != nil {
		return nil, &ProfileError{Source: src, Violations: []schemas.Violation{{Pointer: "/service/models", Message: err.Error()}}}
	}
	card := &modelCard{source: src, digest: golden.Digest(b)}
	var bad []schemas.Violation
	for i, sm := range d.Service.Models {
		cm := cardModel{name: sm.Name, version: sm.Version, reference: sm.Reference.Model, referenceVersion: sm.Reference.Version}
		if l := sm.Latency; l != nil {
			ptr := fmt.Sprintf("/service/models/%d/latency", i)
			var err error
			if cm.budgets.SingleStreamP90, err = l.SingleStreamP90.duration(); err != nil {
				bad = append(bad, schemas.Violation{Pointer: ptr + "/singleStreamP90", Message: err.Error()})
			}
			if cm.budgets.ServerP99, err = l.ServerP99.duration(); err != nil {
				bad = append(bad, schemas.Violation{Pointer: ptr + "/serverP99", Message: err.Error()})
			}
			if l.ServerTargetQPS != nil {
				cm.budgets.ServerQPS = l.ServerTargetQPS.Value
			}
			if l.OfflineThroughput != nil {
				cm.budgets.OfflineMinThroughput = l.OfflineThroughput.Value
			}
			if (cm.budgets.ServerP99 == nil) != (cm.budgets.ServerQPS == 0) {
				bad = append(bad, schemas.Violation{Pointer: ptr, Message: "serverP99 and serverTargetQPS go together: the server budget holds at a rate"})
			}
		}
		for j, m := range p.Models {
			if m.Name == cm.name && m.Version == cm.version && (m.Reference != cm.reference || m.ReferenceVersion != cm.referenceVersion) {
				bad = append(bad, schemas.Violation{Pointer: fmt.Sprintf("/service/models/%d/reference", i),
					Message: fmt.Sprintf("the card says %s stands for %s/%s, the profile (%s /models/%d) says %s/%s", m.Label(), cm.reference, cm.referenceVersion, p.Source(), j, m.Reference, m.ReferenceVersion)})
			}
		}
		card.models = append(card.models, cm)
	}
	if len(bad) > 0 {
		return nil, &ProfileError{Source: src, Violations: bad}
	}
	return card, nil
}

// resolveModelCard makes a relative modelCard path relative to the
// profile file.
func (p *Profile) resolveModelCard(source string) {
	if p.ModelCard != "" && !filepath.IsAbs(p.ModelCard) && source != BuiltinSource {
		p.ModelCard = filepath.Join(filepath.Dir(source), filepath.FromSlash(p.ModelCard))
	}
}

// latencyViolations finds what the schema cannot say of the latency
// member: budgets declared both in the profile and in the model card it
// points at (one home for each budget).
func (p *Profile) latencyViolations() []schemas.Violation {
	var vs []schemas.Violation
	if p.ModelCard != "" && p.Latency != nil {
		b := p.Latency.LatencyBudgets
		for _, f := range []struct {
			name string
			set  bool
		}{{"singleStreamP90", b.SingleStreamP90 != nil}, {"serverQPS", b.ServerQPS != 0}, {"serverP99", b.ServerP99 != nil}, {"offlineMinThroughput", b.OfflineMinThroughput != 0}} {
			if f.set {
				vs = append(vs, schemas.Violation{Pointer: "/latency/" + f.name,
					Message: fmt.Sprintf("the profile points at the model card %s, whose service.models[].latency states the budgets; declare each budget in one place (remove it here, or remove modelCard)", p.ModelCard)})
			}
		}
	}
	return vs
}
