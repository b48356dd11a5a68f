package schemas_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aiconform/aiconform/golden"
	"github.com/aiconform/aiconform/oip"
	"github.com/aiconform/aiconform/schemas"
)

// ownKinds are the kinds this package's own files define; other kinds
// (profile, report, requirements) are added by their owners' files.
var ownKinds = []string{
	"golden-manifest", "modelcard", "oip-error", "oip-infer-request",
	"oip-infer-response", "oip-model-metadata", "oip-server-metadata",
}

var oipKinds = []string{"oip-error", "oip-infer-request", "oip-infer-response", "oip-model-metadata", "oip-server-metadata"}

func TestKindsAndVersions(t *testing.T) {
	kinds := schemas.Kinds()
	if !slices.IsSorted(kinds) {
		t.Errorf("Kinds() = %v, not sorted", kinds)
	}
	for _, k := range ownKinds {
		if !slices.Contains(kinds, k) {
			t.Errorf("Kinds() = %v, missing %q", kinds, k)
		}
		vs, err := schemas.Versions(k)
		if err != nil || !slices.Contains(vs, "v1") {
			t.Errorf("Versions(%q) = %v, %v; want a list with v1", k, vs, err)
		}
	}
	if _, err := schemas.Versions("no-such-kind"); !errors.Is(err, schemas.ErrUnknownKind) {
		t.Errorf("Versions(no-such-kind) error = %v, want ErrUnknownKind", err)
	}
}

func TestSource(t *testing.T) {
	latest, err := schemas.Source("modelcard", "")
	if err != nil {
		t.Fatal(err)
	}
	v1, err := schemas.Source("modelcard", "v1")
	if err != nil {
		t.Fatal(err)
	}
	vs, _ := schemas.Versions("modelcard")
	if vs[len(vs)-1] == "v1" && string(latest) != string(v1) {
		t.Error(`Source("modelcard", "") differs from the latest version's source`)
	}
	if !strings.Contains(string(v1), `"https://aiconform.dev/schemas/modelcard/v1.schema.json"`) {
		t.Errorf("Source(modelcard, v1) does not hold the modelcard v1 $id")
	}
	if _, err := schemas.Source("modelcard", "v99"); !errors.Is(err, schemas.ErrUnknownVersion) {
		t.Errorf("Source(modelcard, v99) error = %v, want ErrUnknownVersion", err)
	}
	if _, err := schemas.Source("nope", ""); !errors.Is(err, schemas.ErrUnknownKind) {
		t.Errorf("Source(nope) error = %v, want ErrUnknownKind", err)
	}
}

// TestEverySchemaCompiles covers every embedded schema, including those of
// other packages' kinds: each is draft 2020-12, carries the $id of its path,
// a title and a description, and compiles.
func TestEverySchemaCompiles(t *testing.T) {
	for _, k := range schemas.Kinds() {
		vs, err := schemas.Versions(k)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			t.Run(k+"@"+v, func(t *testing.T) {
				src, err := schemas.Source(k, v)
				if err != nil {
					t.Fatal(err)
				}
				var head struct {
					Schema      string `json:"$schema"`
					ID          string `json:"$id"`
					Title       string `json:"title"`
					Description string `json:"description"`
				}
				if err := json.Unmarshal(src, &head); err != nil {
					t.Fatalf("%s/%s.schema.json: %v", k, v, err)
				}
				if head.Schema != "https://json-schema.org/draft/2020-12/schema" {
					t.Errorf("$schema = %q, want draft 2020-12", head.Schema)
				}
				if want := schemas.URL(k, v); head.ID != want {
					t.Errorf("$id = %q, want %q", head.ID, want)
				}
				if head.Title == "" || head.Description == "" {
					t.Errorf("title %q / description %q: both are required", head.Title, head.Description)
				}
				if _, err := schemas.Validate(k, v, map[string]any{}); err != nil {
					t.Errorf("does not compile: %v", err)
				}
			})
		}
	}
}

// TestDatatypeEnums keeps the OIP schemas' datatype enum equal to the
// protocol's datatypes as package oip lists them.
func TestDatatypeEnums(t *testing.T) {
	for _, k := range oipKinds {
		src, err := schemas.Source(k, "v1")
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			Defs struct {
				Datatype *struct {
					Enum []string `json:"enum"`
				} `json:"datatype"`
			} `json:"$defs"`
		}
		if err := json.Unmarshal(src, &s); err != nil {
			t.Fatal(err)
		}
		if k == "oip-error" || k == "oip-server-metadata" {
			if s.Defs.Datatype != nil {
				t.Errorf("%s defines a datatype it does not use", k)
			}
			continue
		}
		if s.Defs.Datatype == nil {
			t.Fatalf("%s has no $defs/datatype", k)
		}
		if diff := cmp.Diff(oip.Datatypes, s.Defs.Datatype.Enum); diff != "" {
			t.Errorf("%s datatype enum differs from oip.Datatypes (-oip +schema):\n%s", k, diff)
		}
	}
}

func manifest() golden.Manifest {
	digest := strings.Repeat("ab", 32)
	return golden.Manifest{
		Kind:        golden.Kind,
		SpecVersion: "v1",
		Generator:   golden.Producer{Name: "aiconform", Version: "0.1.0", Libraries: map[string]string{"go": "go1.26"}},
		Sets: []golden.Set{{
			Model: "seed-cnn", Version: "fp32", DType: "FP32", Device: "cpu",
			Producer:       golden.Producer{Name: "gorgonia", Version: "v0.9.18"},
			ToleranceClass: "fp32",
			Weights:        golden.FileRef{Path: "../weights/seed-cnn.safetensors", SHA256: digest},
			Cases: []golden.Case{
				{Name: "case-000", Description: "zeros", File: "seed-cnn/fp32/case-000.safetensors", SHA256: digest, Inputs: []string{"input"}, Outputs: []string{"logits", "probabilities"}},
				{Name: "case-001", File: "seed-cnn/fp32/case-001.safetensors", SHA256: digest, Inputs: []string{"input"}, Outputs: []string{"logits"}},
			},
		}},
	}
}

// TestGoldenManifestAcceptsMarshalled checks that the schema accepts what
// golden.Manifest marshals, and that a Go value is validated as its JSON.
func TestGoldenManifestAcceptsMarshalled(t *testing.T) {
	m := manifest()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := schemas.DecodeDocument("manifest.json", b)
	if err != nil {
		t.Fatal(err)
	}
	if vs, err := schemas.Validate(golden.Kind, "", doc); err != nil || len(vs) != 0 {
		t.Errorf("marshalled manifest: %v, %v", vs, err)
	}
	if vs, err := schemas.Validate(golden.Kind, "", m); err != nil || len(vs) != 0 {
		t.Errorf("manifest struct: %v, %v", vs, err)
	}
	m.Sets[0].Device = "gpu"
	m.Sets[0].Cases[1].SHA256 = "ABC"
	vs, err := schemas.Validate(golden.Kind, "", &m)
	if err != nil {
		t.Fatal(err)
	}
	want := []schemas.Violation{
		{Pointer: "/sets/0/cases/1/sha256", Message: `expected a string matching ^[0-9a-f]{64}$, got "ABC"`},
		{Pointer: "/sets/0/device", Message: `expected one of "cpu", "cuda", got "gpu"`},
	}
	if diff := cmp.Diff(want, vs); diff != "" {
		t.Errorf("broken manifest struct (-want +got):\n%s", diff)
	}
}

func TestValidate(t *testing.T) {
	card := `{"kind":"modelcard","modelDetails":{"name":"m","version":{"name":"1"}},"intendedUse":{"primaryUses":["tests"]},
	"service":{"protocol":"open-inference-protocol-v2-rest","baseURL":"http://127.0.0.1:8000","models":[{"name":"cnn","reference":{"model":"seed-cnn","version":"fp32"}}]%s}%s}`
	cardWith := func(service, top string) string { return fmt.Sprintf(card, service, top) }
	request := `{"inputs":[{"name":"input","shape":[1,2],"datatype":"FP32","data":%s}]%s}`
	reqWith := func(data, more string) string { return fmt.Sprintf(request, data, more) }
	tests := []struct {
		name string
		kind string
		doc  string
		want []schemas.Violation
	}{
		{"card ok", "modelcard", cardWith("", ""), nil},
		{"card vendor extension", "modelcard", cardWith("", `,"x-region":"eu"`), nil},
		{"card misspelt top-level field", "modelcard", cardWith("", `,"ethicalConsideration":{}`),
			[]schemas.Violation{{"", `additional property "ethicalConsideration" is not allowed`}}},
		{"card wrong kind", "modelcard", strings.Replace(cardWith("", ""), `"modelcard"`, `"model-card"`, 1),
			[]schemas.Violation{{"/kind", `expected "modelcard", got "model-card"`}}},
		{"card bearer auth ok", "modelcard", cardWith(`,"auth":{"scheme":"bearer","tokenEnv":"VENDOR_TOKEN"}`, ""), nil},
		{"card bearer without env", "modelcard", cardWith(`,"auth":{"scheme":"bearer"}`, ""),
			[]schemas.Violation{{"/service/auth", `missing property "tokenEnv"`}}},
		{"card no auth with env", "modelcard", cardWith(`,"auth":{"scheme":"none","tokenEnv":"VENDOR_TOKEN"}`, ""),
			[]schemas.Violation{{"/service/auth", `property "tokenEnv" is not allowed here`}}},
		{"card token instead of env name", "modelcard", cardWith(`,"auth":{"scheme":"bearer","tokenEnv":"sk-live-1234"}`, ""),
			[]schemas.Violation{{"/service/auth/tokenEnv", `expected a string matching ^[A-Z_][A-Z0-9_]*$, got ` + schemas.Redacted}}},
		{"card unknown auth scheme", "modelcard", cardWith(`,"auth":{"scheme":"basic"}`, ""),
			[]schemas.Violation{{"/service/auth/scheme", `expected one of "none", "bearer", got "basic"`}}},
		{"card budgets", "modelcard", strings.Replace(cardWith("", ""), `"version":"fp32"}`, `"version":"fp32"},"latency":{"serverP99":{"value":-5,"unit":"ms"},"serverTargetQPS":{"value":10,"unit":"ms"}}`, 1),
			[]schemas.Violation{
				{"/service/models/0/latency/serverP99/value", "expected a number > 0, got -5"},
				{"/service/models/0/latency/serverTargetQPS/unit", `expected "queries/s", got "ms"`},
			}},
		{"card missing sections", "modelcard", `{"kind":"modelcard"}`,
			[]schemas.Violation{
				{"", `missing property "intendedUse"`},
				{"", `missing property "modelDetails"`},
				{"", `missing property "service"`},
			}},
		{"card not an object", "modelcard", `[1]`, []schemas.Violation{{"", "expected object, got array"}}},

		{"request ok flat", "oip-infer-request", reqWith(`[1, 2.5]`, ""), nil},
		{"request ok nested", "oip-infer-request", reqWith(`[[1, 2.5]]`, `,"id":"7","outputs":[{"name":"logits","parameters":{"binary_data":true}}]`), nil},
		{"request bytes and bools", "oip-infer-request", reqWith(`["a", true]`, ""), nil},
		{"request binary input without data", "oip-infer-request", `{"inputs":[{"name":"input","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}`, nil},
		{"request binary size negative", "oip-infer-request", `{"inputs":[{"name":"input","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":-8}}]}`,
			[]schemas.Violation{{"/inputs/0/parameters/binary_data_size", "expected a number >= 0, got -8"}}},
		{"request datatype", "oip-infer-request", strings.Replace(reqWith(`[1,2]`, ""), "FP32", "FLOAT32", 1),
			[]schemas.Violation{{"/inputs/0/datatype", `expected one of "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES", "BF16", got "FLOAT32"`}}},
		{"request shape", "oip-infer-request", strings.Replace(reqWith(`[1,2]`, ""), "[1,2]", "[-2,1.5]", 1),
			[]schemas.Violation{
				{"/inputs/0/shape/0", "expected a number >= 0, got -2"},
				{"/inputs/0/shape/1", "expected integer, got number 1.5"},
			}},
		{"request data string", "oip-infer-request", reqWith(`"1,2"`, ""),
			[]schemas.Violation{{"/inputs/0/data", `expected array, got string "1,2"`}}},
		{"request data elements", "oip-infer-request", reqWith(`[[1,{}],[null,[2]]]`, ""),
			[]schemas.Violation{
				{"/inputs/0/data/0/1", "expected boolean, number, string or array, got object"},
				{"/inputs/0/data/1/0", "expected boolean, number, string or array, got null"},
			}},
		{"request missing data", "oip-infer-request", `{"inputs":[{"name":"input","shape":[2],"datatype":"FP32"}]}`,
			[]schemas.Violation{{"/inputs/0", `missing property "data"`}}},
		{"request no inputs", "oip-infer-request", `{"inputs":[]}`,
			[]schemas.Violation{{"/inputs", "expected at least 1 item, got 0"}}},
		{"request id number", "oip-infer-request", reqWith(`[1,2]`, `,"id":42`),
			[]schemas.Violation{{"/id", "expected string, got number 42"}}},
		{"request parameters not object", "oip-infer-request", reqWith(`[1,2]`, `,"parameters":[]`),
			[]schemas.Violation{{"/parameters", "expected object, got array"}}},

		{"response ok", "oip-infer-response", `{"model_name":"m","outputs":[{"name":"y","shape":[0],"datatype":"FP64","data":[]}]}`, nil},
		{"response missing fields", "oip-infer-response", `{"outputs":[{"name":"y","datatype":"FP64","data":[]}]}`,
			[]schemas.Violation{
				{"", `missing property "model_name"`},
				{"/outputs/0", `missing property "shape"`},
			}},
		{"error ok", "oip-error", `{"error":"bad"}`, nil},
		{"error empty", "oip-error", `{"error":""}`, []schemas.Violation{{"/error", "expected at least 1 character, got 0"}}},
		{"server metadata missing extensions", "oip-server-metadata", `{"name":"s","version":"1"}`,
			[]schemas.Violation{{"", `missing property "extensions"`}}},
		{"model metadata ok variable dims", "oip-model-metadata", `{"name":"m","platform":"p","inputs":[{"name":"x","datatype":"INT64","shape":[-1,-1]}],"outputs":[]}`, nil},
		{"model metadata shape", "oip-model-metadata", `{"name":"m","platform":"p","inputs":[{"name":"x","datatype":"INT64","shape":[-2]}],"outputs":[],"properties":{"a":1}}`,
			[]schemas.Violation{
				{"/inputs/0/shape/0", "expected a number >= -1, got -2"},
				{"/properties/a", "expected string, got number 1"},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := schemas.DecodeDocument(tc.name+".json", []byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			got, err := schemas.Validate(tc.kind, "v1", doc)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateOrdersPointersNumerically(t *testing.T) {
	inputs := make([]any, 12)
	for i := range inputs {
		inputs[i] = map[string]any{"name": "x", "shape": []any{1}, "datatype": "FP32", "data": []any{1}}
	}
	inputs[2].(map[string]any)["datatype"] = "bad"
	inputs[10].(map[string]any)["datatype"] = "bad"
	vs, err := schemas.Validate("oip-infer-request", "", map[string]any{"inputs": inputs})
	if err != nil {
		t.Fatal(err)
	}
	var ptrs []string
	for _, v := range vs {
		ptrs = append(ptrs, v.Pointer)
	}
	if want := []string{"/inputs/2/datatype", "/inputs/10/datatype"}; !slices.Equal(ptrs, want) {
		t.Errorf("pointers = %v, want %v", ptrs, want)
	}
}

func TestValidateErrors(t *testing.T) {
	if _, err := schemas.Validate("nope", "", map[string]any{}); !errors.Is(err, schemas.ErrUnknownKind) || !strings.Contains(err.Error(), "modelcard") {
		t.Errorf("unknown kind: error = %v, want ErrUnknownKind listing the known kinds", err)
	}
	if _, err := schemas.Validate("modelcard", "v0", map[string]any{}); !errors.Is(err, schemas.ErrUnknownVersion) {
		t.Errorf("unknown version: error = %v, want ErrUnknownVersion", err)
	}
	if _, err := schemas.Validate("oip-error", "", struct{ F float64 }{math.NaN()}); err == nil {
		t.Error("a NaN in a Go value: no error, want one (JSON cannot carry it)")
	}
	// Plain Go numbers (as from json.Unmarshal into any) work like json.Number.
	vs, err := schemas.Validate("oip-model-metadata", "", map[string]any{
		"name": "m", "platform": "p", "outputs": []any{},
		"inputs": []any{map[string]any{"name": "x", "datatype": "FP32", "shape": []any{float64(-1), 3, int64(-3)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []schemas.Violation{{"/inputs/0/shape/2", "expected a number >= -1, got -3"}}; !cmp.Equal(want, vs) {
		t.Errorf("violations = %v, want %v", vs, want)
	}
}

func TestViolationString(t *testing.T) {
	for _, tc := range []struct {
		v    schemas.Violation
		want string
	}{
		{schemas.Violation{Pointer: "", Message: "m"}, "/: m"},
		{schemas.Violation{Pointer: "/a/0", Message: "m"}, "/a/0: m"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestValidateConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		kind := ownKinds[i%len(ownKinds)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			vs, err := schemas.Validate(kind, "", map[string]any{})
			if err != nil {
				errs <- err
				return
			}
			if len(vs) == 0 {
				errs <- fmt.Errorf("%s: an empty object is valid, want missing properties", kind)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
