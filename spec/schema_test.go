package spec_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/schemas"
	"github.com/aiconform/aiconform/spec"
)

// catalogKind is the document kind of requirements.json: the folder of its
// schema under schemas/.
const catalogKind = "requirements"

func decodeCatalog(t *testing.T) map[string]any {
	t.Helper()
	doc, err := schemas.DecodeDocument("v1/requirements.json", spec.CatalogJSON)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := doc.(map[string]any)
	if !ok {
		t.Fatalf("requirements.json is a %T, want an object", doc)
	}
	return m
}

func TestCatalogValidatesAgainstItsSchema(t *testing.T) {
	doc := decodeCatalog(t)
	if k, ok := schemas.KindOf(doc); !ok || k != catalogKind {
		t.Errorf("KindOf(requirements.json) = %q, %v; want %q", k, ok, catalogKind)
	}
	vs, err := schemas.Validate(catalogKind, "v1", doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("v1/requirements.json: %s", v)
	}
}

// TestSchemaRejectsBrokenCatalogs: each mutation of the real catalog breaks
// one rule, and the schema reports it at the mutated location.
func TestSchemaRejectsBrokenCatalogs(t *testing.T) {
	req0 := func(d map[string]any) map[string]any { return d["requirements"].([]any)[0].(map[string]any) }
	tc0 := func(d map[string]any) map[string]any { return d["toleranceClasses"].([]any)[0].(map[string]any) }
	for _, c := range []struct {
		name    string
		mutate  func(d map[string]any)
		pointer string
	}{
		{"wrong kind", func(d map[string]any) { d["kind"] = "requirement" }, "/kind"},
		{"bad spec version", func(d map[string]any) { d["specVersion"] = "1" }, "/specVersion"},
		{"no requirements", func(d map[string]any) { delete(d, "requirements") }, ""},
		{"empty requirements", func(d map[string]any) { d["requirements"] = []any{} }, "/requirements"},
		{"lower-case ID", func(d map[string]any) { req0(d)["id"] = "oip-health-live" }, "/requirements/0/id"},
		{"ID without area", func(d map[string]any) { req0(d)["id"] = "HEALTH" }, "/requirements/0/id"},
		{"unknown field", func(d map[string]any) { req0(d)["severity"] = "high" }, "/requirements/0"},
		{"strength MAY", func(d map[string]any) { req0(d)["strength"] = "MAY" }, "/requirements/0/strength"},
		{"MUST text without MUST", func(d map[string]any) {
			req0(d)["text"] = "The server answers GET /v2/health/live with 200."
		}, "/requirements/0/text"},
		{"SHOULD text without SHOULD", func(d map[string]any) { req0(d)["strength"] = "SHOULD" }, "/requirements/0/text"},
		{"placeholder rationale", func(d map[string]any) { req0(d)["rationale"] = "TODO" }, "/requirements/0/rationale"},
		{"empty title", func(d map[string]any) { req0(d)["title"] = "" }, "/requirements/0/title"},
		{"padded anchor", func(d map[string]any) { req0(d)["anchor"] = " OIP " }, "/requirements/0/anchor"},
		{"doc without anchor", func(d map[string]any) { req0(d)["doc"] = "api.md" }, "/requirements/0/doc"},
		{"missing doc", func(d map[string]any) { delete(req0(d), "doc") }, "/requirements/0"},
		{"empty appliesWhen", func(d map[string]any) { req0(d)["appliesWhen"] = "" }, "/requirements/0/appliesWhen"},
		{"binding missing", func(d map[string]any) { delete(req0(d)["bindings"].(map[string]any), "grpc") }, "/requirements/0/bindings"},
		{"unknown binding", func(d map[string]any) { req0(d)["bindings"].(map[string]any)["soap"] = map[string]any{"applies": true} }, "/requirements/0/bindings"},
		{"not applicable without a reason", func(d map[string]any) {
			req0(d)["bindings"].(map[string]any)["grpc"] = map[string]any{"applies": false}
		}, "/requirements/0/bindings/grpc"},
		{"applicable with a reason", func(d map[string]any) {
			req0(d)["bindings"].(map[string]any)["grpc"] = map[string]any{"applies": true, "reason": "it does"}
		}, "/requirements/0/bindings/grpc"},
		{"zero rtol", func(d map[string]any) { tc0(d)["rtol"] = 0 }, "/toleranceClasses/0/rtol"},
		{"negative atol", func(d map[string]any) { tc0(d)["atol"] = -1e-5 }, "/toleranceClasses/0/atol"},
		{"upper-case class", func(d map[string]any) { tc0(d)["id"] = "FP32" }, "/toleranceClasses/0/id"},
		{"level without title", func(d map[string]any) {
			delete(d["levels"].([]any)[0].(map[string]any), "title")
		}, "/levels/0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := decodeCatalog(t)
			c.mutate(d)
			vs, err := schemas.Validate(catalogKind, "v1", d)
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) == 0 {
				t.Fatalf("the schema accepts the catalog with %s", c.name)
			}
			for _, v := range vs {
				if v.Pointer == c.pointer {
					return
				}
			}
			b, _ := json.Marshal(vs)
			t.Errorf("violations %s; want one at %q", b, c.pointer)
		})
	}
}

// TestSchemaIsTheRequirementsKind: the schema is embedded under the kind
// that requirements.json declares, with its $id.
func TestSchemaIsTheRequirementsKind(t *testing.T) {
	src, err := schemas.Source(catalogKind, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), `"$id": "https://aiconform.dev/schemas/requirements/v1.schema.json"`) {
		t.Error("schemas/requirements/v1.schema.json does not carry its $id")
	}
}
