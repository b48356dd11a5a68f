package conformancetest_test

import (
	"os"
	"testing"

	"github.com/aiconform/aiconform"
	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/conformancetest"
	"github.com/aiconform/aiconform/reports"
)

// A vendor's conformance test, in a _test.go file of their own module: it
// runs the suite against the endpoint named by OIP_TARGET, reports one
// subtest per check and keeps the report. With the reference oracle
// (reference.BuiltinOracle()) as Options.Oracle, NUM-LIVE checks fresh
// inputs too; without one it is skipped.
func ExampleRun() {
	testConformance := func(t *testing.T) {
		target := os.Getenv("OIP_TARGET")
		if target == "" {
			t.Skip("OIP_TARGET is not set")
		}
		rep := conformancetest.Run(t, conformance.Options{
			Target:  target,
			Goldens: aiconform.Goldens(),
		})
		if rep == nil {
			return
		}
		if _, err := reports.WriteJSON("aiconform-report", rep); err != nil {
			t.Error(err)
		}
	}
	_ = testConformance
}
