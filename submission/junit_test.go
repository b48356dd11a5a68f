package submission

import (
	"strings"
	"testing"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/spec"
)

func TestCheckJUnit(t *testing.T) {
	rep := &conformance.Report{Checks: []conformance.Result{
		{ID: "api/a", Status: spec.Pass}, {ID: "api/b", Status: spec.Fail}, {ID: "api/c", Status: spec.Skip}, {ID: "api/d", Status: spec.Error},
	}}
	good := `<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="core" tests="4">
    <testcase name="api/a" classname="OIP-A"><system-out>fine</system-out></testcase>
    <testcase name="api/b" classname="OIP-B"><failure message="wrong">details</failure></testcase>
    <testcase name="api/c" classname="OIP-C"><skipped message="why"/></testcase>
    <testcase name="api/d" classname="OIP-D"><error message="reset"/></testcase>
  </testsuite>
</testsuites>`
	tests := []struct {
		name string
		xml  string
		says []string
	}{
		{"good", good, nil},
		{"one suite as root", strings.NewReplacer("<testsuites>", "", "</testsuites>", "").Replace(good), nil},
		{"status differs", strings.Replace(good, `<failure message="wrong">details</failure>`, "", 1), []string{"testcase api/b is pass, the report's check is fail"}},
		{"missing", strings.Replace(good, `<testcase name="api/a" classname="OIP-A"><system-out>fine</system-out></testcase>`, "", 1), []string{"has no testcase for check api/a"}},
		{"twice", strings.Replace(good, `<testcase name="api/c"`, `<testcase name="api/a"/><testcase name="api/c"`, 1), []string{"has 2 testcases for check api/a"}},
		{"stranger", strings.Replace(good, `</testsuite>`, `<testcase name="api/z"/></testsuite>`, 1), []string{`testcase "api/z" is no check of the report`}},
		{"not well-formed", strings.Replace(good, "</testsuite>", "", 1), []string{"junit.xml is not well-formed XML"}},
		{"two roots", good + "<testsuites/>", []string{"2 root elements"}},
		{"empty", "", []string{"0 root elements"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems := checkJUnit([]byte(tt.xml), rep)
			if len(problems) != len(tt.says) {
				t.Fatalf("problems %q, want %d", problems, len(tt.says))
			}
			for i, s := range tt.says {
				if !strings.Contains(problems[i], s) {
					t.Errorf("problem %q lacks %q", problems[i], s)
				}
			}
		})
	}
}
