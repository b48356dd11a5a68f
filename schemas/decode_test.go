package schemas_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aiconform/aiconform/schemas"
)

func TestDecodeDocument(t *testing.T) {
	tests := []struct {
		name string
		data string
		want any
	}{
		{"a.json", `{"kind":"x","n":[1, 0.1, 12345678901234567890123, -1e-7]}`,
			map[string]any{"kind": "x", "n": []any{json.Number("1"), json.Number("0.1"), json.Number("12345678901234567890123"), json.Number("-1e-7")}}},
		{"a.yaml", "kind: x\nnums: [1, 0.1]\nnested:\n  - a: true\n", map[string]any{"kind": "x", "nums": []any{json.Number("1"), json.Number("0.1")}, "nested": []any{map[string]any{"a": true}}}},
		// YAML 1.1, as sigs.k8s.io/yaml reads it: unquoted yes/on are booleans.
		{"bools.yaml", "a: yes\nb: on\nc: \"yes\"\n", map[string]any{"a": true, "b": true, "c": "yes"}},
		{"same-key-apart.json", `{"a":{"k":1},"b":{"k":2},"c":[{"k":1},{"k":2}]}`, map[string]any{
			"a": map[string]any{"k": json.Number("1")}, "b": map[string]any{"k": json.Number("2")},
			"c": []any{map[string]any{"k": json.Number("1")}, map[string]any{"k": json.Number("2")}}}},
		{"a.YML", "- 1\n- two\n", []any{json.Number("1"), "two"}},
		{"no-extension", `[null]`, []any{nil}},
		// A .json file is parsed as JSON even if it would be valid YAML.
		{"a.json", "  \n\"s\"\n", "s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := schemas.DecodeDocument(tc.name, []byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeDocumentErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string // the whole error message
	}{
		{"bad.json", "{\n  \"a\": ,\n}", "bad.json:2:8: invalid JSON: invalid character ',' looking for beginning of value"},
		{"cut.json", "{\n  \"a\": 1", "cut.json:2:9: invalid JSON: unexpected end of input"},
		{"two.json", "{}\n{}", "two.json:2:1: invalid JSON: unexpected data after the top-level value"},
		{"empty.json", " \n", "empty.json: empty document, want a JSON or YAML value"},
		{"empty.yaml", "", "empty.yaml: empty document, want a JSON or YAML value"},
		{"bad.yaml", "a: b\n  c: d\n", "bad.yaml: invalid YAML: line 2: mapping values are not allowed in this context"},
		{"dup.json", "{\"a\": 1,\n \"b\": {\"c\": [], \"c\": 2}}", "dup.json:2:17: invalid JSON: duplicate key \"c\""},
		{"dup.yaml", "a: 1\nb:\n  c: 1\n  c: 2\n", "dup.yaml: invalid YAML: line 4: key \"c\" already set in map"},
		{"yaml.json", "a: b\n", "yaml.json:1:1: invalid JSON: invalid character 'a' looking for beginning of value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := schemas.DecodeDocument(tc.name, []byte(tc.data))
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tc.want {
				t.Errorf("error = %q, want %q", err, tc.want)
			}
		})
	}
}

// TestDecodeYAMLMatchesJSON: a YAML document and its JSON twin decode to
// the same value, and so validate the same.
func TestDecodeYAMLMatchesJSON(t *testing.T) {
	j := `{"model_name":"m","outputs":[{"name":"out","shape":[1,2],"datatype":"FP32","data":[[0.25,-3]]}]}`
	y := "model_name: m\noutputs:\n- name: out\n  shape: [1, 2]\n  datatype: FP32\n  data: [[0.25, -3]]\n"
	dj, err := schemas.DecodeDocument("r.json", []byte(j))
	if err != nil {
		t.Fatal(err)
	}
	dy, err := schemas.DecodeDocument("r.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dj, dy); diff != "" {
		t.Errorf("JSON and YAML decode differently (-json +yaml):\n%s", diff)
	}
	// sigs.k8s.io/yaml turns a YAML number into a JSON one; a quoted one
	// stays a string and is caught by the schema.
	dq, err := schemas.DecodeDocument("q.yaml", []byte(strings.Replace(y, "[1, 2]", `["1", 2]`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	vs, err := schemas.Validate("oip-infer-response", "", dq)
	if err != nil {
		t.Fatal(err)
	}
	if want := []schemas.Violation{{Pointer: "/outputs/0/shape/0", Message: `expected integer, got string "1"`}}; !cmp.Equal(want, vs) {
		t.Errorf("violations = %v, want %v", vs, want)
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		doc    any
		want   string
		wantOK bool
	}{
		{map[string]any{"kind": "modelcard"}, "modelcard", true},
		{map[string]any{"kind": ""}, "", true},
		{map[string]any{"kind": json.Number("3")}, "", false},
		{map[string]any{"Kind": "modelcard"}, "", false},
		{map[string]any{}, "", false},
		{[]any{map[string]any{"kind": "modelcard"}}, "", false},
		{nil, "", false},
	}
	for _, tc := range tests {
		got, ok := schemas.KindOf(tc.doc)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("KindOf(%v) = %q, %v; want %q, %v", tc.doc, got, ok, tc.want, tc.wantOK)
		}
	}
}
