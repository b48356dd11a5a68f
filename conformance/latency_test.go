package conformance

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aiconform/aiconform/spec"
)

// perfProfileYAML is fakeProfileYAML at the performance level, with
// LATENCY in place of its latency member.
const perfProfileYAML = `kind: profile
specVersion: v1
name: fake-perf
levels: [core, performance]
goldens: builtin
timeouts:
  request: 30s
auth:
  scheme: none
LATENCY
models:
  - name: seed-cnn
    version: fp32
    reference: seed-cnn
    referenceVersion: fp32
  - name: seed-rnn
    version: fp32
    reference: seed-rnn
    referenceVersion: fp32
`

// cardYAML is a model card giving seed-cnn@fp32 budgets and seed-rnn@fp32
// none.
const cardYAML = `kind: modelcard
specVersion: v1
modelDetails: {name: fake, version: {name: "1"}}
intendedUse: {primaryUses: [tests]}
service:
  protocol: open-inference-protocol-v2-rest
  baseURL: http://127.0.0.1:8000
  models:
    - name: seed-cnn
      version: fp32
      reference: {model: seed-cnn, version: REFVERSION}
      latency:
        singleStreamP90: {value: 40, unit: ms}
        serverP99: {value: 0.2, unit: s}
        serverTargetQPS: {value: 25, unit: queries/s}
        offlineThroughput: {value: 300, unit: inferences/s}
    - name: seed-rnn
      version: fp32
      reference: {model: seed-rnn, version: fp32}
`

// writeProfile writes a profile with the given latency member (and a
// model card beside it when card is not empty) and parses it.
func writeProfile(t *testing.T, latency, card string) (*Profile, error) {
	t.Helper()
	dir := t.TempDir()
	if card != "" {
		if err := os.WriteFile(filepath.Join(dir, "card.yaml"), []byte(card), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return loadProfileText(t, filepath.Join(dir, "profile.yaml"), strings.Replace(perfProfileYAML, "LATENCY", latency, 1))
}

// loadProfileText writes a profile document to path and loads it.
func loadProfileText(t *testing.T, path, doc string) (*Profile, error) {
	t.Helper()
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return LoadProfile(path)
}

func dur(d time.Duration) *Duration { v := Duration(d); return &v }

func TestBudgetSources(t *testing.T) {
	card := strings.Replace(cardYAML, "REFVERSION", "fp32", 1)
	cnn := ModelRef{Name: "seed-cnn", Version: "fp32", Reference: "seed-cnn", ReferenceVersion: "fp32"}
	rnn := ModelRef{Name: "seed-rnn", Version: "fp32", Reference: "seed-rnn", ReferenceVersion: "fp32"}
	tests := []struct {
		name       string
		latency    string
		card       string
		model      ModelRef
		want       LatencyBudgets
		wantSource string // a suffix of the budget source; "" for none
	}{
		{"profile budgets hold every model", "latency:\n  singleStreamP90: 25ms\n  offlineMinThroughput: 100", "", rnn,
			LatencyBudgets{SingleStreamP90: dur(25 * time.Millisecond), OfflineMinThroughput: 100}, "profile.yaml: /latency"},
		{"card budgets of the model's entry", "modelCard: card.yaml", card, cnn,
			LatencyBudgets{SingleStreamP90: dur(40 * time.Millisecond), ServerP99: dur(200 * time.Millisecond), ServerQPS: 25, OfflineMinThroughput: 300}, "card.yaml: /service/models/0/latency"},
		{"a card entry without latency declares nothing", "modelCard: card.yaml", card, rnn, LatencyBudgets{}, ""},
		{"a card with minimums in the profile", "modelCard: card.yaml\nlatency:\n  minimums: development", card, cnn,
			LatencyBudgets{SingleStreamP90: dur(40 * time.Millisecond), ServerP99: dur(200 * time.Millisecond), ServerQPS: 25, OfflineMinThroughput: 300}, "card.yaml: /service/models/0/latency"},
		{"no budgets anywhere", "", "", cnn, LatencyBudgets{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := writeProfile(t, tt.latency, tt.card)
			if err != nil {
				t.Fatal(err)
			}
			c, err := loadModelCard(p)
			if err != nil {
				t.Fatal(err)
			}
			got, source := p.budgetsOf(c, tt.model)
			if !sameBudgets(got, tt.want) {
				t.Errorf("budgets = %+v, want %+v", got, tt.want)
			}
			if !strings.HasSuffix(source, tt.wantSource) || (tt.wantSource == "") != (source == "") {
				t.Errorf("source = %q, want …%q", source, tt.wantSource)
			}
		})
	}
}

func sameBudgets(a, b LatencyBudgets) bool {
	eq := func(x, y *Duration) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return eq(a.SingleStreamP90, b.SingleStreamP90) && eq(a.ServerP99, b.ServerP99) && a.ServerQPS == b.ServerQPS && a.OfflineMinThroughput == b.OfflineMinThroughput
}

func TestLatencyConfigErrors(t *testing.T) {
	card := strings.Replace(cardYAML, "REFVERSION", "fp32", 1)
	tests := []struct {
		name    string
		latency string
		card    string
		load    bool // the error comes when the card is read
		want    []string
	}{
		{"budgets in the profile and the card", "modelCard: card.yaml\nlatency:\n  singleStreamP90: 25ms\n  serverQPS: 10\n  serverP99: 1s", card, false,
			[]string{"profile.yaml: /latency/singleStreamP90: the profile points at the model card", "/latency/serverQPS", "/latency/serverP99"}},
		{"server rate without its budget", "latency:\n  serverQPS: 10", "", false, []string{"/latency"}},
		{"an unknown minimums preset", "latency:\n  minimums: quick", "", false, []string{"/latency/minimums"}},
		{"samples for single-stream", "latency:\n  minimums:\n    singleStream: {samples: 10}", "", false, []string{"/latency/minimums"}},
		{"a duration for the cache audit", "latency:\n  minimums:\n    cacheAudit: {queries: 10, duration: 1s}", "", false, []string{"/latency/minimums"}},
		{"a card that disagrees on the reference", "modelCard: card.yaml", strings.Replace(cardYAML, "REFVERSION", "fp64", 1), true,
			[]string{"card.yaml: /service/models/0/reference: the card says seed-cnn@fp32 stands for seed-cnn/fp64"}},
		{"a missing card", "modelCard: nowhere.yaml", "", true, []string{"profile.yaml: /modelCard:", "nowhere.yaml"}},
		{"a card that breaks its schema", "modelCard: card.yaml", strings.Replace(card, "unit: ms", "unit: minutes", 1), true, []string{"card.yaml: /service/models/0/latency/singleStreamP90/unit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := writeProfile(t, tt.latency, tt.card)
			if tt.load {
				if err != nil {
					t.Fatalf("LoadProfile: %v", err)
				}
				_, err = loadModelCard(p)
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestMinimumFor(t *testing.T) {
	tests := []struct {
		name       string
		latency    *Latency
		sc         scenario
		want       minimum
		conformant bool
	}{
		{"no latency member", nil, server, minimum{4096, time.Minute}, true},
		{"no minimums", &Latency{}, singleStream, minimum{1024, time.Minute}, true},
		{"conformance preset", &Latency{Minimums: &Minimums{Preset: MinimumsConformance}}, offline, minimum{4096, time.Minute}, true},
		{"development preset", &Latency{Minimums: &Minimums{Preset: MinimumsDevelopment}}, singleStream, developmentMinimums[singleStream], false},
		{"development cache audit", &Latency{Minimums: &Minimums{Preset: MinimumsDevelopment}}, cacheAudit, developmentMinimums[cacheAudit], false},
		{"explicit, shorter", &Latency{Minimums: &Minimums{Server: &ScenarioMinimum{Queries: 100, Duration: dur(time.Second)}}}, server, minimum{100, time.Second}, false},
		{"explicit, longer", &Latency{Minimums: &Minimums{Server: &ScenarioMinimum{Queries: 10000, Duration: dur(2 * time.Minute)}}}, server, minimum{10000, 2 * time.Minute}, true},
		{"explicit count only", &Latency{Minimums: &Minimums{Offline: &ScenarioMinimum{Samples: 64}}}, offline, minimum{64, time.Minute}, false},
		{"explicit for another scenario", &Latency{Minimums: &Minimums{Offline: &ScenarioMinimum{Samples: 64}}}, cacheAudit, minimum{1024, 0}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, conformant := tt.latency.minimumFor(tt.sc)
			if got != tt.want || conformant != tt.conformant {
				t.Errorf("minimumFor(%s) = %+v, %v; want %+v, %v", tt.sc, got, conformant, tt.want, tt.conformant)
			}
		})
	}
}

// TestMinimumsRoundTrip holds the two document forms of minimums.
func TestMinimumsRoundTrip(t *testing.T) {
	for _, doc := range []string{"development", "conformance", "{singleStream: {queries: 64, duration: 200ms}, cacheAudit: {queries: 32}}"} {
		p, err := writeProfile(t, "latency:\n  singleStreamP90: 10ms\n  minimums: "+doc, "")
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s: the profile read does not validate again: %v", doc, err)
		}
	}
}

// TestPerformanceWarnings holds the warnings of budgets without the level
// and of the level without budgets.
func TestPerformanceWarnings(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"budgets without the level", strings.Replace(strings.Replace(perfProfileYAML, "LATENCY", "latency:\n  singleStreamP90: 10ms", 1), "[core, performance]", "[core]", 1), "/latency: latency budgets are declared but"},
		{"the level without budgets", strings.Replace(perfProfileYAML, "LATENCY", "", 1), "/levels: level performance is requested but neither"},
		{"the level with minimums alone", strings.Replace(perfProfileYAML, "LATENCY", "latency:\n  minimums: development", 1), "/levels: level performance is requested but neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseProfile("p.yaml", []byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if ws := p.Warnings(); len(ws) != 1 || !strings.Contains(ws[0], tt.want) {
				t.Errorf("warnings = %q, want one containing %q", ws, tt.want)
			}
		})
	}
}

func TestClaimRule4(t *testing.T) {
	ev := func(conformance, met, early bool) ScenarioEvidence {
		return ScenarioEvidence{Scenario: "server", Model: "m", Version: "fp32",
			Minimums: MinimumsEvidence{Count: 4096, Unit: "queries", Duration: Millis(time.Minute), Conformance: conformance, Met: met, EarlyStopped: early}}
	}
	tests := []struct {
		name string
		evs  []ScenarioEvidence
		want []string
	}{
		{"conformance minimums met", []ScenarioEvidence{ev(true, true, false)}, nil},
		{"ended by early stopping", []ScenarioEvidence{ev(true, true, true)}, nil},
		{"development minimums", []ScenarioEvidence{ev(false, true, false)}, []string{"rule 4: performance/server ran the server scenario on m@fp32 with minimums below the conformance minimums"}},
		{"minimums not met", []ScenarioEvidence{ev(true, true, false), ev(true, false, false)}, []string{"rule 4: performance/server did not meet the conformance minimums of the server scenario on m@fp32"}},
		{"no scenario ran", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results := []Result{{ID: "performance/server", Level: spec.Performance, Status: spec.Pass, Requirements: []string{"LAT-SERVER"}, Evidence: Evidence{Performance: tt.evs}}}
			got := minimumsReasons(results)
			if len(got) != len(tt.want) {
				t.Fatalf("reasons = %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("reason %d = %q, want it to begin %q", i, got[i], w)
				}
			}
		})
	}
}

// TestCheckLevels holds that a level the table has no checks for is
// refused, with its pointer.
func TestCheckLevels(t *testing.T) {
	p := &Profile{Levels: []spec.Level{spec.Core, spec.Performance}, source: "p.yaml"}
	if err := checkLevels(p, checks); err != nil {
		t.Errorf("checkLevels(core, performance) = %v, want nil: this build has performance checks", err)
	}
	err := checkLevels(p, coreChecks)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "p.yaml: /levels/1: level performance has no checks") {
		t.Errorf("checkLevels with core checks only = %v, want the performance level refused at /levels/1", err)
	}
}

// TestSampleLengthsFollowTheSpec holds performanceLengths to rule 1 of
// spec/v1/performance.md.
func TestSampleLengthsFollowTheSpec(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "spec", "v1", "performance.md"))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]int64{}
	for _, m := range regexp.MustCompile("`(seed-[a-z]+)` a sequence of length ([0-9]+)").FindAllStringSubmatch(string(doc), -1) {
		n, _ := strconv.ParseInt(m[2], 10, 64)
		found[m[1]] = n
	}
	if len(found) != len(performanceLengths) {
		t.Errorf("rule 1 names lengths %v, the table holds %v", found, performanceLengths)
	}
	for model, n := range found {
		c, err := spec.ModelContract(model, "fp32")
		if err != nil {
			t.Fatal(err)
		}
		if got := sampleLength(c); got != n {
			t.Errorf("sampleLength(%s) = %d, rule 1 says %d", model, got, n)
		}
	}
}
