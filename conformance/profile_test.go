package conformance

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/aiconform/aiconform/spec"
)

func TestBuiltinProfile(t *testing.T) {
	p, err := BuiltinProfile()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	ten := Duration(30 * time.Second)
	var models []ModelRef
	for _, m := range spec.ReferenceModels() {
		for _, v := range spec.ReferenceVersions() {
			models = append(models, ModelRef{Name: m, Version: v, Reference: m, ReferenceVersion: v})
		}
	}
	want := &Profile{
		Kind: ProfileKind, SpecVersion: spec.Version, Name: "reference",
		Levels:    []spec.Level{spec.Core, spec.Performance, spec.Safety},
		Goldens:   BuiltinGoldens,
		Timeouts:  &Timeouts{Request: &ten},
		Auth:      &Auth{Scheme: AuthNone},
		Models:    models, // every reference model at every version, under its reference name
		ModelCard: "reference.modelcard.yaml",
		Latency:   &Latency{Minimums: &Minimums{Preset: MinimumsDevelopment}, MaxSendLateness: dur(100 * time.Millisecond)},
	}
	if d := cmp.Diff(want, p, cmpopts.IgnoreUnexported(Profile{})); d != "" {
		t.Errorf("built-in profile (-want +got):\n%s", d)
	}
	if p.Source() != BuiltinSource || len(p.Digest()) != 64 {
		t.Errorf("source %q digest %q", p.Source(), p.Digest())
	}
	// The card beside it declares budgets for seed-cnn and seed-rnn at
	// fp32, and none for the others.
	card, err := loadModelCard(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range p.Models {
		b, source := p.budgetsOf(card, m)
		fast := m.Version == "fp32" && m.Reference != "seed-transformer"
		if b.declared() != fast || fast && !strings.HasPrefix(source, "builtin:reference.modelcard.yaml: /service/models/") {
			t.Errorf("%s: budgets %+v from %q, want them declared: %v", m.Label(), b, source, fast)
		}
	}
	// Every model the built-in profile names has a contract.
	for _, m := range p.Models {
		if _, err := spec.ModelContract(m.Reference, m.ReferenceVersion); err != nil {
			t.Error(err)
		}
	}
}

// TestExampleProfiles reads testdata/profiles: the examples load, the
// broken ones fail with the file, the JSON pointer and the reason.
func TestExampleProfiles(t *testing.T) {
	dir := filepath.Join("..", "testdata", "profiles")
	valid, err := filepath.Glob(filepath.Join(dir, "*.*"))
	if err != nil || len(valid) < 2 {
		t.Fatalf("examples %v: %v", valid, err)
	}
	for _, f := range valid {
		p, err := LoadProfile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", f, err)
		}
	}

	local, err := LoadProfile(filepath.Join(dir, "local-goldens.json"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("..", "testdata", "goldens", "v1"); local.Goldens != want {
		t.Errorf("goldens resolved to %q, want %q (relative to the profile)", local.Goldens, want)
	}
	vendor, err := LoadProfile(filepath.Join(dir, "vendor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if vendor.Auth.TokenEnv != "ACME_TOKEN" || vendor.requestTimeout() != 10*time.Second {
		t.Errorf("vendor profile %+v %v", vendor.Auth, vendor.requestTimeout())
	}

	card, err := LoadProfile(filepath.Join(dir, "vendor-modelcard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := loadModelCard(card)
	if err != nil {
		t.Fatal(err)
	}
	if b, source := card.budgetsOf(mc, card.Models[0]); b.ServerQPS != 200 || !strings.HasSuffix(source, "acme-cloud.modelcard.json: /service/models/0/latency") {
		t.Errorf("vendor-modelcard.yaml: budgets of %s = %+v from %q, want the card's first entry", card.Models[0].Label(), b, source)
	}
	broken := map[string][]string{
		"misspelt-field.yaml":                  {`/models/0: additional property "refrence" is not allowed`, `/models/0: missing property "reference"`},
		"token-in-profile.yaml":                {`/auth: additional property "token" is not allowed`},
		"bearer-without-token-env.yaml":        {`/auth: missing property "tokenEnv"`},
		"unknown-level.yaml":                   {`/levels/1: expected one of "core", "performance", "safety", got "fast"`},
		"unknown-reference.yaml":               {`/models/0/reference: expected one of "seed-cnn", "seed-rnn", "seed-transformer", got "resnet50"`},
		"zero-timeout.yaml":                    {`/timeouts/request: expected a string matching [1-9], got "0s"`},
		"bad-duration.yaml":                    {`/timeouts/request: expected a string matching`},
		"../inconsistent/duplicate-model.json": {`/models/1: model seed-cnn@fp32 is listed twice (also at /models/0)`},
		"../inconsistent/budgets-twice.yaml":   {`/latency/singleStreamP90: the profile points at the model card`},
		"unknown-minimums.yaml":                {`/latency/minimums`},
	}
	// invalid/ breaks the schema; inconsistent/ passes it but not the
	// rules the schema cannot express.
	files, _ := filepath.Glob(filepath.Join(dir, "invalid", "*"))
	more, _ := filepath.Glob(filepath.Join(dir, "inconsistent", "*"))
	files = append(files, more...)
	if len(files) != len(broken) {
		t.Errorf("%d broken examples, the test knows %d", len(files), len(broken))
	}
	for _, f := range files {
		_, err := LoadProfile(f)
		var pe *ProfileError
		if !errors.As(err, &pe) || !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want a *ProfileError", f, err)
			continue
		}
		rel, _ := filepath.Rel(filepath.Join(dir, "invalid"), f)
		wants, ok := broken[filepath.ToSlash(rel)]
		if !ok {
			t.Errorf("%s: no expectation", f)
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), f+": "+w) {
				t.Errorf("%s: error\n%s\nlacks %q", f, err, f+": "+w)
			}
		}
	}
}

func TestParseProfileErrors(t *testing.T) {
	tests := []struct {
		name, source, doc string
		want              string
	}{
		{"yaml syntax", "p.yaml", "kind: profile\n  models: [", "p.yaml: invalid YAML"},
		{"json syntax", "p.json", `{"kind": "profile",`, "p.json:1:"},
		{"not an object", "p.yaml", "- a\n- b\n", "p.yaml: /: expected object"},
		{"wrong kind", "p.yaml", strings.Replace(string(builtinProfileYAML), "kind: profile", "kind: report", 1), `p.yaml: /kind: expected "profile", got "report"`},
		{"no extension reads YAML", "profile", "kind: [", "profile.yaml: invalid YAML"},
		{"latency qps without p99", "p.yaml", strings.Replace(string(builtinProfileYAML), "  minimums: development\n", "  minimums: development\n  serverQPS: 5\n", 1), `/latency: missing property "serverP99"`},
		{"token env with scheme none", "p.yaml", strings.Replace(string(builtinProfileYAML), "scheme: none", "scheme: none\n  tokenEnv: X", 1), "/auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseProfile(tt.source, []byte(tt.doc))
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %q lacks %q", err, tt.want)
			}
		})
	}
}

func TestLoadProfileMissingFile(t *testing.T) {
	_, err := LoadProfile(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, ErrConfig) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}
