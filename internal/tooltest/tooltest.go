// Package tooltest finds, for tests, the external programs some tests
// need (xmllint, chromium, protoc): a test skips, saying what is missing,
// where a program is not installed, and fails instead under
// AICONFORM_REQUIRE_TOOLS=1, which CI sets so that it cannot pass with
// those tests silently left out.
package tooltest

import (
	"os"
	"os/exec"
	"testing"
)

// RequireEnv is the environment variable that, set to 1, makes a missing
// program a test failure rather than a skip.
const RequireEnv = "AICONFORM_REQUIRE_TOOLS"

// Required reports whether RequireEnv is set to 1.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Require returns the path of the program name, or skips t with why when
// it is not installed; under AICONFORM_REQUIRE_TOOLS=1 it fails t.
func Require(t testing.TB, name, why string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	Missing(t, why)
	return ""
}

// Missing skips t, or fails it under AICONFORM_REQUIRE_TOOLS=1, because
// of what why says is missing.
func Missing(t testing.TB, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s, and %s=1 requires it", why, RequireEnv)
	}
	t.Skipf("%s; set %s=1 to make this a failure", why, RequireEnv)
}
