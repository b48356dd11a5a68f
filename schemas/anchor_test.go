package schemas_test

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/aiconform/aiconform/internal/sharedtest"
	"github.com/aiconform/aiconform/schemas"
)

// anchorFile is the official Open Inference Protocol OpenAPI file, inside
// the shared folder that sharedtest.EnvVar names; the anchor tests skip
// when it is unset.
const anchorFile = "anchors/open-inference-protocol/open_inference_rest.yaml"

// messageKinds maps each message schema of the OpenAPI file to our kind.
var messageKinds = map[string]string{
	"inference_request":              "oip-infer-request",
	"inference_response":             "oip-infer-response",
	"inference_error_response":       "oip-error",
	"metadata_server_response":       "oip-server-metadata",
	"metadata_server_error_response": "oip-error",
	"metadata_model_response":        "oip-model-metadata",
	"metadata_model_error_response":  "oip-error",
}

// openAPI is the decoded anchor file.
type openAPI struct {
	doc        map[string]any
	components map[string]any
}

func loadAnchor(t *testing.T) openAPI {
	t.Helper()
	anchorPath := sharedtest.File(t, anchorFile)
	b, err := os.ReadFile(anchorPath)
	if err != nil {
		t.Fatalf("reading the OIP anchor: %v", err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", anchorPath, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(j, &doc); err != nil {
		t.Fatal(err)
	}
	comps := doc["components"].(map[string]any)["schemas"].(map[string]any)
	return openAPI{doc: doc, components: comps}
}

// resolve follows a "#/components/schemas/X" $ref.
func (o openAPI) resolve(s map[string]any) (map[string]any, string) {
	ref, ok := s["$ref"].(string)
	if !ok {
		return s, ""
	}
	name := strings.TrimPrefix(ref, "#/components/schemas/")
	return o.components[name].(map[string]any), name
}

// instance builds a document with every property the component declares,
// filled by its declared type. Datatype fields get a protocol datatype,
// which the OpenAPI file leaves a free string.
func (o openAPI) instance(s map[string]any, prop string) any {
	s, _ = o.resolve(s)
	switch s["type"] {
	case "object":
		m := map[string]any{}
		props, _ := s["properties"].(map[string]any)
		for name, sub := range props {
			m[name] = o.instance(sub.(map[string]any), name)
		}
		if len(props) == 0 {
			if addl, ok := s["additionalProperties"].(map[string]any); ok {
				m["some-key"] = o.instance(addl, "")
			} else {
				m["some-parameter"] = "value"
			}
		}
		return m
	case "array":
		items := s["items"].(map[string]any)
		if alts, ok := items["anyOf"].([]any); ok {
			// Tensor data: one element of each scalar alternative would
			// mix types; take the first non-recursive alternative twice.
			for _, a := range alts {
				if _, isRef := a.(map[string]any)["$ref"]; !isRef {
					e := o.instance(a.(map[string]any), prop)
					return []any{e, e}
				}
			}
		}
		return []any{o.instance(items, prop)}
	case "string":
		if prop == "datatype" {
			return "FP32"
		}
		return "text-of-" + prop
	case "integer":
		return 2
	case "number":
		return 1.5
	case "boolean":
		return true
	}
	panic(fmt.Sprintf("anchor schema for %q has no type I can instantiate: %v", prop, s))
}

// required lists (pointer of the object, property) for every property the
// component requires, down through objects and the first item of arrays.
func (o openAPI) required(s map[string]any, v any, ptr string, out *[][2]string) {
	s, _ = o.resolve(s)
	switch val := v.(type) {
	case map[string]any:
		req, _ := s["required"].([]any)
		for _, r := range req {
			*out = append(*out, [2]string{ptr, r.(string)})
		}
		props, _ := s["properties"].(map[string]any)
		for name, sub := range props {
			o.required(sub.(map[string]any), val[name], ptr+"/"+name, out)
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok && len(val) > 0 {
			o.required(items, val[0], ptr+"/0", out)
		}
	}
}

// messages lists the component names the file's paths send or receive.
func (o openAPI) messages() []string {
	seen := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				seen[strings.TrimPrefix(ref, "#/components/schemas/")] = true
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(o.doc["paths"])
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func validate(t *testing.T, kind string, doc any) []schemas.Violation {
	t.Helper()
	// Round-trip through JSON so every test document has json.Number numbers
	// and no shared structure with the document it was derived from.
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	d, err := schemas.DecodeDocument(kind+".json", b)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := schemas.Validate(kind, "v1", d)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func clone(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var c any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAnchorMessagesCovered: every body the OpenAPI file's paths use has a
// kind here, so a new message in a new protocol file is noticed.
func TestAnchorMessagesCovered(t *testing.T) {
	o := loadAnchor(t)
	msgs := o.messages()
	if len(msgs) == 0 {
		t.Fatal("found no message schemas in the anchor's paths")
	}
	for _, m := range msgs {
		if _, ok := messageKinds[m]; !ok {
			t.Errorf("the anchor's paths use %q, which has no kind in messageKinds", m)
		}
	}
}

// TestAnchorComponentInstances builds a document from each message
// component's declared shape (every property, filled by type), checks our
// schema accepts it, and that dropping any property the protocol requires
// is rejected at the right place.
func TestAnchorComponentInstances(t *testing.T) {
	o := loadAnchor(t)
	for comp, kind := range messageKinds {
		t.Run(comp, func(t *testing.T) {
			s, ok := o.components[comp].(map[string]any)
			if !ok {
				t.Fatalf("the anchor has no component %q", comp)
			}
			doc := o.instance(s, "")
			if vs := validate(t, kind, doc); len(vs) != 0 {
				t.Fatalf("%s rejects the instance of %s %v: %v", kind, comp, doc, vs)
			}
			var reqs [][2]string
			o.required(s, doc, "", &reqs)
			// inference_error_response declares none (our oip-error requires
			// "error", like the other two error components).
			if len(reqs) == 0 && comp != "inference_error_response" {
				t.Fatalf("%s declares no required properties", comp)
			}
			for _, r := range reqs {
				broken := clone(t, doc)
				obj := lookupPointer(t, broken, r[0]).(map[string]any)
				delete(obj, r[1])
				want := []schemas.Violation{{Pointer: r[0], Message: fmt.Sprintf("missing property %q", r[1])}}
				if diff := cmp.Diff(want, validate(t, kind, broken)); diff != "" {
					t.Errorf("without %s/%s (-want +got):\n%s", r[0], r[1], diff)
				}
			}
		})
	}
}

func lookupPointer(t *testing.T, v any, ptr string) any {
	t.Helper()
	if ptr == "" {
		return v
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		switch c := v.(type) {
		case map[string]any:
			v = c[tok]
		case []any:
			var i int
			fmt.Sscan(tok, &i)
			v = c[i]
		default:
			t.Fatalf("pointer %s: %q is inside a scalar", ptr, tok)
		}
	}
	return v
}

// TestAnchorExamples checks the OpenAPI file's x-examples for the inference
// request: the consistent ones are accepted, and mutations of them that
// break one protocol rule each are rejected at the mutated place.
func TestAnchorExamples(t *testing.T) {
	o := loadAnchor(t)
	examples, ok := o.components["inference_request"].(map[string]any)["x-examples"].(map[string]any)
	if !ok || len(examples) == 0 {
		t.Fatal("inference_request has no x-examples")
	}
	var names []string
	for n := range examples {
		names = append(names, n)
	}
	sort.Strings(names)
	if want := []string{"Example 1", "Example 2"}; !slices.Equal(names, want) {
		t.Fatalf("x-examples are %v; this test knows %v: decide how to treat the new ones", names, want)
	}

	// Example 1 is a request with two inputs. Its BOOL input pairs shape [3]
	// with one value, which the protocol forbids; a JSON Schema cannot relate
	// data length to shape, so that input is skipped explicitly instead of
	// being counted as a consistent example.
	ex1 := clone(t, examples["Example 1"]).(map[string]any)
	inputs := ex1["inputs"].([]any)
	var consistent []any
	skipped := 0
	for _, in := range inputs {
		in := in.(map[string]any)
		if in["datatype"] == "BOOL" {
			shape, data := in["shape"].([]any), in["data"].([]any)
			if len(shape) != 1 || shape[0].(float64) != 3 || len(data) != 1 {
				t.Fatalf("the BOOL input of Example 1 is %v; expected the known inconsistent one (shape [3], one value)", in)
			}
			skipped++
			continue
		}
		consistent = append(consistent, in)
	}
	if skipped != 1 || len(consistent) == 0 {
		t.Fatalf("Example 1: skipped %d BOOL inputs and kept %d; expected 1 and at least 1", skipped, len(consistent))
	}
	ex1["inputs"] = consistent
	if vs := validate(t, "oip-infer-request", ex1); len(vs) != 0 {
		t.Fatalf("Example 1 (without its BOOL input) is rejected: %v", vs)
	}

	// Example 2 is filed under the request but is the protocol document's
	// response body (outputs with tensor data, no inputs): as a request it
	// lacks inputs; with a model_name it is a valid response.
	ex2 := clone(t, examples["Example 2"]).(map[string]any)
	if diff := cmp.Diff([]schemas.Violation{{Pointer: "", Message: `missing property "inputs"`}}, validate(t, "oip-infer-request", ex2)); diff != "" {
		t.Errorf("Example 2 as a request (-want +got):\n%s", diff)
	}
	resp := map[string]any{"model_name": "model", "id": ex2["id"], "outputs": ex2["outputs"]}
	if vs := validate(t, "oip-infer-response", resp); len(vs) != 0 {
		t.Fatalf("Example 2 as a response is rejected: %v", vs)
	}

	mutations := []struct {
		name   string
		kind   string
		base   map[string]any
		mutate func(d map[string]any)
		want   schemas.Violation
	}{
		{"unknown datatype", "oip-infer-request", ex1, func(d map[string]any) { input0(d)["datatype"] = "FLOAT32" },
			schemas.Violation{Pointer: "/inputs/0/datatype", Message: `expected one of "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES", "BF16", got "FLOAT32"`}},
		{"lowercase datatype", "oip-infer-request", ex1, func(d map[string]any) { input0(d)["datatype"] = "uint32" },
			schemas.Violation{Pointer: "/inputs/0/datatype", Message: `expected one of "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES", "BF16", got "uint32"`}},
		{"negative dimension", "oip-infer-request", ex1, func(d map[string]any) { input0(d)["shape"] = []any{-2} },
			schemas.Violation{Pointer: "/inputs/0/shape/0", Message: "expected a number >= 0, got -2"}},
		{"variable dimension in a request", "oip-infer-request", ex1, func(d map[string]any) { input0(d)["shape"] = []any{2, -1} },
			schemas.Violation{Pointer: "/inputs/0/shape/1", Message: "expected a number >= 0, got -1"}},
		{"fractional dimension", "oip-infer-request", ex1, func(d map[string]any) { input0(d)["shape"] = []any{2, 2.5} },
			schemas.Violation{Pointer: "/inputs/0/shape/1", Message: "expected integer, got number 2.5"}},
		{"missing inputs", "oip-infer-request", ex1, func(d map[string]any) { delete(d, "inputs") },
			schemas.Violation{Pointer: "", Message: `missing property "inputs"`}},
		{"data as a string", "oip-infer-request", ex1, func(d map[string]any) { input0(d)["data"] = "1,2,3,4" },
			schemas.Violation{Pointer: "/inputs/0/data", Message: `expected array, got string "1,2,3,4"`}},
		{"data element an object", "oip-infer-request", ex1, func(d map[string]any) { input0(d)["data"].([]any)[3] = map[string]any{"v": 4} },
			schemas.Violation{Pointer: "/inputs/0/data/3", Message: "expected boolean, number, string or array, got object"}},
		{"id a number", "oip-infer-request", ex1, func(d map[string]any) { d["id"] = 42 },
			schemas.Violation{Pointer: "/id", Message: "expected string, got number 42"}},
		{"requested output without name", "oip-infer-request", ex1, func(d map[string]any) { d["outputs"] = []any{map[string]any{}} },
			schemas.Violation{Pointer: "/outputs/0", Message: `missing property "name"`}},
		{"response datatype", "oip-infer-response", resp, func(d map[string]any) { output0(d)["datatype"] = "FLOAT32" },
			schemas.Violation{Pointer: "/outputs/0/datatype", Message: `expected one of "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES", "BF16", got "FLOAT32"`}},
		{"response shape", "oip-infer-response", resp, func(d map[string]any) { output0(d)["shape"] = []any{3, -1} },
			schemas.Violation{Pointer: "/outputs/0/shape/1", Message: "expected a number >= 0, got -1"}},
		{"response without model_name", "oip-infer-response", resp, func(d map[string]any) { delete(d, "model_name") },
			schemas.Violation{Pointer: "", Message: `missing property "model_name"`}},
		{"response data missing", "oip-infer-response", resp, func(d map[string]any) { delete(output0(d), "data") },
			schemas.Violation{Pointer: "/outputs/0", Message: `missing property "data"`}},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			d := clone(t, m.base).(map[string]any)
			m.mutate(d)
			if diff := cmp.Diff([]schemas.Violation{m.want}, validate(t, m.kind, d)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func input0(d map[string]any) map[string]any  { return d["inputs"].([]any)[0].(map[string]any) }
func output0(d map[string]any) map[string]any { return d["outputs"].([]any)[0].(map[string]any) }
