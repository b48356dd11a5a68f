package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/schemas"
)

func TestSchemaList(t *testing.T) {
	code, out, errOut := validateCLI(t, "", "schema", "list")
	if code != ExitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if fields := strings.Fields(lines[0]); strings.Join(fields, " ") != "KIND VERSIONS TITLE" {
		t.Errorf("header = %q", lines[0])
	}
	kinds := schemas.Kinds()
	if len(lines) != len(kinds)+1 {
		t.Fatalf("%d lines for %d kinds:\n%s", len(lines), len(kinds), out)
	}
	for i, k := range kinds {
		vs, _ := schemas.Versions(k)
		src, err := schemas.Source(k, "")
		if err != nil {
			t.Fatal(err)
		}
		var head struct{ Title string }
		if err := json.Unmarshal(src, &head); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		fields := strings.Fields(lines[i+1])
		if len(fields) < 3 || fields[0] != k || fields[1] != strings.Join(vs, ",") || strings.Join(fields[2:], " ") != strings.Join(strings.Fields(head.Title), " ") {
			t.Errorf("line %d = %q, want kind %s, versions %v, title %q", i+1, lines[i+1], k, vs, head.Title)
		}
	}
	if !strings.Contains(out, "modelcard ") || !strings.Contains(out, "oip-infer-request ") {
		t.Errorf("list misses the model card or the OIP request:\n%s", out)
	}
}

func TestSchemaShow(t *testing.T) {
	want, err := schemas.Source("modelcard", "v1")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"modelcard", "modelcard@v1"} {
		code, out, errOut := validateCLI(t, "", "schema", "show", ref)
		if code != ExitOK || out != string(want) || errOut != "" {
			t.Errorf("schema show %s: exit %d, stderr %q, stdout is the source: %v", ref, code, errOut, out == string(want))
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil || v["$id"] != schemas.URL("modelcard", "v1") {
			t.Errorf("schema show %s: output is not the modelcard schema (%v)", ref, err)
		}
	}
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"schema", "show", "nope"}, `unknown kind "nope"; want one of golden-manifest, modelcard`},
		{[]string{"schema", "show", "modelcard@v9"}, `kind "modelcard" has no schema version "v9"; it has v1`},
		{[]string{"schema", "show", "@v1"}, "want KIND or KIND@VERSION"},
		{[]string{"schema", "show"}, "accepts 1 arg"},
		{[]string{"schema", "show", "a", "b"}, "accepts 1 arg"},
		{[]string{"schema", "nope"}, "unknown command"},
	}
	for _, tc := range tests {
		code, out, errOut := validateCLI(t, "", tc.args...)
		if code != ExitUsage || out != "" || !strings.Contains(errOut, tc.wantErr) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errOut, tc.wantErr)
		}
	}
}
