package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/aiconform/aiconform/internal/sharedtest"
)

// openAPIFile is the official Open Inference Protocol OpenAPI file, inside
// the shared folder that sharedtest.EnvVar names. When the variable is
// unset, the tests of this file skip and checkOpenAPI leaves its check out.
const openAPIFile = "anchors/open-inference-protocol/open_inference_rest.yaml"

// openAPIKinds maps the project's OIP schema kinds to the component schema
// of the OpenAPI file for the same message. Errors of every endpoint share
// one shape there (inference_error_response, metadata_*_error_response).
var openAPIKinds = map[string]string{
	"oip-infer-request":   "inference_request",
	"oip-infer-response":  "inference_response",
	"oip-error":           "inference_error_response",
	"oip-server-metadata": "metadata_server_response",
	"oip-model-metadata":  "metadata_model_response",
}

// openAPIResource is the URL under which the converted schemas are
// compiled; nothing is ever fetched from it.
const openAPIResource = "file:///open_inference_rest.json"

// openAPISchemas compiles every component schema of the OpenAPI file once
// per test binary.
var openAPISchemas = sync.OnceValues(loadOpenAPI)

// requireOpenAPI returns the compiled component schemas for a test that
// checks nothing else: it skips t when sharedtest.EnvVar is unset and fails
// it when the file is missing or does not compile.
func requireOpenAPI(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	schemas, err := openAPISchemas()
	if errors.Is(err, sharedtest.ErrUnset) {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	return schemas
}

// loadOpenAPI reads the OpenAPI file, turns components.schemas into one
// JSON Schema document and compiles each component. An OpenAPI 3.0 schema
// object is an extended subset of JSON Schema draft 4 (draft 4 semantics:
// siblings of $ref are ignored; OpenAPI-only keywords such as nullable,
// which this file does not use, would need rewriting), so the components
// go under "definitions" with their "#/components/schemas/X" references
// rewritten to "#/definitions/X", and compile as draft 4. Unknown keywords
// (x-examples) are ignored as JSON Schema ignores them.
func loadOpenAPI() (map[string]*jsonschema.Schema, error) {
	openAPIPath, err := sharedtest.Path(openAPIFile)
	if err != nil {
		return nil, fmt.Errorf("the OIP OpenAPI file: %w", err)
	}
	y, err := os.ReadFile(openAPIPath)
	if err != nil {
		return nil, fmt.Errorf("reading the OIP OpenAPI file: %w", err)
	}
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", openAPIPath, err)
	}
	var doc struct {
		OpenAPI    string `json:"openapi"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(j, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", openAPIPath, err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		return nil, fmt.Errorf("%s: openapi %q, want 3.0.x (the conversion assumes OpenAPI 3.0 schema objects)", openAPIPath, doc.OpenAPI)
	}
	if len(doc.Components.Schemas) == 0 {
		return nil, fmt.Errorf("%s: /components/schemas is empty", openAPIPath)
	}
	defs, err := rewriteRefs(doc.Components.Schemas, "/components/schemas")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", openAPIPath, err)
	}
	root, err := json.Marshal(map[string]any{
		"$schema":     "http://json-schema.org/draft-04/schema#",
		"definitions": defs,
	})
	if err != nil {
		return nil, err
	}
	res, err := jsonschema.UnmarshalJSON(bytes.NewReader(root))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource(openAPIResource, res); err != nil {
		return nil, err
	}
	out := map[string]*jsonschema.Schema{}
	for name := range doc.Components.Schemas {
		s, err := c.Compile(openAPIResource + "#/definitions/" + name)
		if err != nil {
			return nil, fmt.Errorf("%s: compiling /components/schemas/%s: %w", openAPIPath, name, err)
		}
		out[name] = s
	}
	return out, nil
}

// rewriteRefs returns v with every "#/components/schemas/X" $ref turned
// into "#/definitions/X"; any other $ref is an error naming its pointer.
func rewriteRefs(v any, at string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, sub := range x {
			if k == "$ref" {
				ref, _ := sub.(string)
				name, ok := strings.CutPrefix(ref, "#/components/schemas/")
				if !ok {
					return nil, fmt.Errorf("%s/$ref: %q is not a #/components/schemas/ reference", at, ref)
				}
				out[k] = "#/definitions/" + name
				continue
			}
			r, err := rewriteRefs(sub, at+"/"+k)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, sub := range x {
			r, err := rewriteRefs(sub, fmt.Sprintf("%s/%d", at, i))
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// openAPIViolations validates body, a JSON document, against the component
// schema name of the OpenAPI file and returns the violations (nil when it
// validates). The error is for anything that stops the validation.
func openAPIViolations(name string, body []byte) (*jsonschema.ValidationError, error) {
	schemas, err := openAPISchemas()
	if err != nil {
		return nil, err
	}
	s, ok := schemas[name]
	if !ok {
		return nil, fmt.Errorf("the OpenAPI file has no component schema %q", name)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("decoding the %s instance: %w", name, err)
	}
	inst = binaryView(name, inst)
	err = s.Validate(inst)
	if err == nil {
		return nil, nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, err
	}
	return ve, nil
}

// binaryView returns the view of a message that the OpenAPI file can
// judge. The file predates the binary tensor data extension and requires
// data on every tensor; the extension replaces data by
// parameters.binary_data_size. Tensors that carry binary_data_size and no
// data get an empty data array in the view, so that everything else about
// them is still checked. Other messages are returned as they are.
func binaryView(name string, inst any) any {
	key := map[string]string{"inference_request": "inputs", "inference_response": "outputs"}[name]
	obj, ok := inst.(map[string]any)
	if key == "" || !ok {
		return inst
	}
	tensors, ok := obj[key].([]any)
	if !ok {
		return inst
	}
	for _, t := range tensors {
		tm, ok := t.(map[string]any)
		if !ok {
			continue
		}
		params, _ := tm["parameters"].(map[string]any)
		if _, binary := params["binary_data_size"]; binary {
			if _, has := tm["data"]; !has {
				tm["data"] = []any{}
			}
		}
	}
	return inst
}

// checkOpenAPI fails unless body validates against the OpenAPI component
// schema that corresponds to the project schema kind. When
// sharedtest.EnvVar is unset it logs that the check was left out and
// returns, so that the calling test's other checks still run.
func checkOpenAPI(t *testing.T, kind string, body []byte) {
	t.Helper()
	name, ok := openAPIKinds[kind]
	if !ok {
		t.Fatalf("no OpenAPI component schema for kind %s", kind)
	}
	viol, err := openAPIViolations(name, body)
	if errors.Is(err, sharedtest.ErrUnset) {
		// The test checks more than the protocol file; that part still runs.
		t.Logf("OpenAPI check of %s left out: %v", kind, err)
		return
	}
	if err != nil {
		t.Fatalf("validating against the OpenAPI schema %s: %v", name, err)
	}
	if viol != nil {
		t.Errorf("OpenAPI %s violation: %v\n%s", name, viol, body)
	}
}

func TestOpenAPISchemasCompile(t *testing.T) {
	schemas := requireOpenAPI(t)
	for _, name := range []string{
		"metadata_server_response", "metadata_model_response", "metadata_tensor",
		"inference_request", "inference_response", "inference_error_response",
		"request_input", "request_output", "response_output", "tensor_data", "parameters",
	} {
		if schemas[name] == nil {
			t.Errorf("component schema %s is missing", name)
		}
	}
	for kind, name := range openAPIKinds {
		if schemas[name] == nil {
			t.Errorf("kind %s maps to %s, which the file does not have", kind, name)
		}
	}
}

// TestOpenAPIRejects shows that the OpenAPI validation can fail: each
// document breaks a rule the file states.
func TestOpenAPIRejects(t *testing.T) {
	requireOpenAPI(t)
	tests := []struct {
		name, schema, body, want string
	}{
		{"server metadata without extensions", "metadata_server_response", `{"name":"a","version":"1"}`, "extensions"},
		{"model metadata shape of strings", "metadata_model_response", `{"name":"m","platform":"p","inputs":[{"name":"x","datatype":"FP32","shape":["1"]}]}`, "integer"},
		{"response output without data", "inference_response", `{"model_name":"m","outputs":[{"name":"y","shape":[1],"datatype":"FP32"}]}`, "data"},
		{"response output data of objects", "inference_response", `{"model_name":"m","outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[{"v":1}]}]}`, "anyOf"},
		{"request without inputs", "inference_request", `{"id":"1"}`, "inputs"},
		{"request id a number", "inference_request", `{"id":1,"inputs":[]}`, "string"},
		{"error not a string", "inference_error_response", `{"error":42}`, "string"},
		{"binary output with a non-object parameters", "inference_response", `{"model_name":"m","outputs":[{"name":"y","shape":[1],"datatype":"FP32","parameters":[]}]}`, "object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			viol, err := openAPIViolations(tt.schema, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if viol == nil || !strings.Contains(viol.Error(), tt.want) {
				t.Errorf("violations = %v, want one mentioning %q", viol, tt.want)
			}
		})
	}
	// The binary view fills in data only where binary_data_size stands in
	// for it.
	ok := `{"model_name":"m","outputs":[{"name":"y","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}]}`
	if viol, err := openAPIViolations("inference_response", []byte(ok)); err != nil || viol != nil {
		t.Errorf("binary output header: %v %v", viol, err)
	}
}
