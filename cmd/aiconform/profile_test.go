package main

import (
	"github.com/aiconform/aiconform/internal/testnet"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/spec"
)

// TestProfileInitThenRun: the drafted profile validates, a run with it
// against the same server is conformant, and the file is not overwritten
// without --force.
func TestProfileInitThenRun(t *testing.T) {
	ts := runReferenceServer(t, nil)
	file := filepath.Join(t.TempDir(), "acme.yaml")
	code, stdout, stderr := runCLI(t, "profile", "init", "--target", ts.URL, "--model", "seed-cnn", "--out", file)
	if code != ExitOK {
		t.Fatalf("init: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	want := "models mapped (2): seed-cnn@fp32 → seed-cnn/fp32, seed-cnn@fp64 → seed-cnn/fp64\nprofile: " + file + "\n"
	if stdout != want || stderr != "" {
		t.Errorf("init: stdout %q, stderr %q; want stdout %q", stdout, stderr, want)
	}
	written, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runCLI(t, "validate", file); code != ExitOK || stdout != file+": ok (kind profile)\n" {
		t.Errorf("validate: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "run", "--target", ts.URL, "--profile", file, "--out", t.TempDir(), "--seed", "7")
	if code != ExitOK || !strings.Contains(stdout, "verdict: CONFORMANT at core") {
		t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	code, _, stderr = runCLI(t, "profile", "init", "--target", ts.URL, "--model", "seed-rnn", "--out", file)
	if want := "aiconform: profile init: " + file + " exists; pass --force to overwrite it\n"; code != ExitUsage || stderr != want {
		t.Errorf("init again: exit %d, stderr %q; want %d, %q", code, stderr, ExitUsage, want)
	}
	if b, _ := os.ReadFile(file); string(b) != string(written) {
		t.Error("init without --force changed the existing file")
	}
	if code, _, stderr := runCLI(t, "profile", "init", "--target", ts.URL, "--model", "seed-rnn", "--out", file, "--force"); code != ExitOK {
		t.Fatalf("init --force: exit %d: %s", code, stderr)
	}
	p, err := conformance.LoadProfile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Models) != 2 || p.Models[0].Reference != "seed-rnn" {
		t.Errorf("after --force the profile maps %+v, want seed-rnn at both versions", p.Models)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*.tmp")); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// TestProfileInitStdout: without --model the reference names are tried;
// without --out the profile goes to stdout and the summary to stderr.
func TestProfileInitStdout(t *testing.T) {
	ts := runReferenceServer(t, nil)
	code, stdout, stderr := runCLI(t, "profile", "init", "--target", ts.URL, "--timeout", "5s", "--name", "acme: staging")
	if code != ExitOK {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr)
	}
	p, err := conformance.ParseProfile("stdout.yaml", []byte(stdout))
	if err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if n := len(spec.ReferenceModels()) * len(spec.ReferenceVersions()); len(p.Models) != n || p.Name != "acme: staging" || p.Timeouts.Request == nil || *p.Timeouts.Request != conformance.Duration(5e9) {
		t.Errorf("profile %+v, want %d models, the name and a 5s timeout", p, n)
	}
	if !strings.HasPrefix(stderr, "models mapped (6): ") {
		t.Errorf("stderr %q", stderr)
	}
	for _, want := range []string{"# latency:\n#   singleStreamP90: ", "# notApplicable:\n", "auth:\n  scheme: none\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the profile lacks %q:\n%s", want, stdout)
		}
	}
}

// TestProfileInitBearer: the profile names the variable, the token
// authenticates the metadata requests and is written nowhere.
func TestProfileInitBearer(t *testing.T) {
	const token = "s3cret-init-token"
	ts := runReferenceServer(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+token {
				http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	t.Setenv("INIT_TOKEN", token)
	code, stdout, stderr := runCLI(t, "profile", "init", "--target", ts.URL, "--model", "seed-transformer", "--auth-token-env", "INIT_TOKEN")
	if code != ExitOK || !strings.Contains(stdout, "auth:\n  scheme: bearer\n  tokenEnv: INIT_TOKEN") || strings.Contains(stdout+stderr, token) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Setenv("INIT_TOKEN", "")
	code, _, stderr = runCLI(t, "profile", "init", "--target", ts.URL, "--model", "seed-transformer", "--auth-token-env", "INIT_TOKEN")
	for _, want := range []string{"aiconform: warning: INIT_TOKEN is unset or empty", "GET /v2/models/seed-transformer answered 401, want 200: unauthorized"} {
		if code != ExitFail || !strings.Contains(stderr, want) {
			t.Errorf("without the token: exit %d, stderr lacks %q:\n%s", code, want, stderr)
		}
	}
}

func TestProfileInitErrors(t *testing.T) {
	ts := runReferenceServer(t, nil)
	closed := "http://" + testnet.ClosedAddr(t)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no target", nil, ExitUsage, "aiconform: profile init: --target is required"},
		{"zero timeout", []string{"--target", ts.URL, "--timeout", "0s"}, ExitUsage, "--timeout is 0s, want a positive duration"},
		{"bad target", []string{"--target", "localhost:8000"}, ExitUsage, `target "localhost:8000": scheme must be http or https`},
		{"bad variable name", []string{"--target", ts.URL, "--auth-token-env", "A-B"}, ExitUsage, `token environment variable "A-B" is not a variable name`},
		{"unreachable", []string{"--target", closed}, ExitUnreachable, "target unreachable: " + closed},
		{"no model fits", []string{"--target", ts.URL, "--model", "resnet"}, ExitFail,
			"no served model fits a reference model's contract: resnet: GET /v2/models/resnet answered 404, want 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "p.yaml")
			code, stdout, stderr := runCLI(t, append([]string{"profile", "init", "--out", file}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q (stdout %q)", code, stderr, tt.code, tt.want, stdout)
			}
			if _, err := os.Stat(file); err == nil {
				t.Errorf("%s was written", file)
			}
		})
	}
}
