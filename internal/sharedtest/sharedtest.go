// Package sharedtest locates, for tests, the files that live outside the
// repository in the shared folder: the official protocol files under
// anchors/ against which the schemas and the reference server are checked.
//
// A clone does not have that folder, so the tests that need it skip unless
// the environment variable named by EnvVar holds its absolute path. When
// the variable is set, a missing file is an error, never a skip: CI sets it
// and must not pass with the checks silently left out.
package sharedtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// EnvVar is the environment variable that holds the absolute path of the
// shared folder, the folder that holds anchors/.
const EnvVar = "AICONFORM_SHARED_DIR"

// ErrUnset is wrapped by the error Path returns when EnvVar is unset or
// empty.
var ErrUnset = errors.New(EnvVar + " is unset")

// Path returns the path of rel, a slash-separated path inside the shared
// folder, once it has checked that the file is there. The error wraps
// ErrUnset when EnvVar is unset or empty, and otherwise names the variable
// and the file that could not be used.
func Path(rel string) (string, error) {
	dir := os.Getenv(EnvVar)
	if dir == "" {
		return "", fmt.Errorf("set %s to the folder holding %s to run this test: %w", EnvVar, rel, ErrUnset)
	}
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("%s=%q: must be an absolute path (tests run in their package's folder)", EnvVar, dir)
	}
	p := filepath.Join(dir, filepath.FromSlash(rel))
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("%s=%q does not hold %s: %w", EnvVar, dir, rel, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s=%q: %s is not a regular file", EnvVar, dir, rel)
	}
	return p, nil
}

// File returns the path of rel inside the shared folder for the test t. It
// skips t when EnvVar is unset, saying what to set, and fails t when the
// variable is set but the file cannot be used.
func File(t testing.TB, rel string) string {
	t.Helper()
	p, err := Path(rel)
	if errors.Is(err, ErrUnset) {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}
