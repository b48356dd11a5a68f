package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/conformance"
	"github.com/aiconform/aiconform/spec"
)

// TestRunHTTPSWithTokenWritesNoToken serves the reference models over
// https with a bearer token, runs the core and safety levels against them
// with the test CA, and searches every byte the two commands printed and
// every file of the report directory for the token. Without --ca-file the
// run sends nothing but the TLS handshakes, and says so.
func TestRunHTTPSWithTokenWritesNoToken(t *testing.T) {
	const tokenEnv = "AICONFORM_TEST_HTTPS_TOKEN"
	const token = "https-test-token-7e3a9c51d0b24f68"
	t.Setenv(tokenEnv, token)
	caFile, certFile, keyFile := writePKI(t)
	srv := startServe(t, "--auth-token-env", tokenEnv, "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(srv.base, "https://") || !strings.Contains(srv.out.String(), "tls: certificate "+certFile+", TLS 1.2 or later") {
		t.Fatalf("serve does not say it serves https:\n%s", srv.out.String())
	}
	small := runSmallProfile(t, 2)
	doc, err := os.ReadFile(small)
	if err != nil {
		t.Fatal(err)
	}
	profile := filepath.Join(filepath.Dir(small), "secure.yaml")
	secure := strings.Replace(string(doc), "levels: [core]", "levels: [core, safety]\nauth:\n  scheme: bearer\n  tokenEnv: "+tokenEnv, 1)
	if err := os.WriteFile(profile, []byte(secure), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		caFile bool
		code   int
		want   map[string]spec.Status // by check; every other check passes, or errs when the TLS check fails
	}{
		{"with the CA", true, ExitOK, map[string]spec.Status{"security/tls": spec.Pass, "security/auth-required": spec.Pass, "security/no-secret-echo": spec.Pass}},
		{"without the CA", false, ExitFail, map[string]spec.Status{"security/tls": spec.Fail}},
	}
	var printed strings.Builder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := []string{"run", "--target", srv.base, "--profile", profile, "--out", out}
			if tt.caFile {
				args = append(args, "--ca-file", caFile)
			}
			code, stdout, stderr := runCLI(t, args...)
			printed.WriteString(stdout + stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			rep := runReadReport(t, out)
			for _, c := range rep.Checks {
				want, ok := tt.want[c.ID]
				switch {
				case ok && c.Status != want:
					t.Errorf("%s: %s: %s, want %s", c.ID, c.Status, c.Message, want)
				case !ok && tt.caFile && c.Status != spec.Pass:
					t.Errorf("%s: %s: %s, want pass", c.ID, c.Status, c.Message)
				case !ok && !tt.caFile && c.Status != spec.Error:
					t.Errorf("%s: %s: %s, want error: nothing is sent over an untrusted connection", c.ID, c.Status, c.Message)
				}
			}
			if tls := findCheck(rep.Checks, "security/tls"); tt.caFile && (tls.Evidence.TLS == nil || tls.Evidence.TLS.Version == "" || tls.Evidence.TLS.CipherSuite == "" || tls.Evidence.TLS.CertificateNotAfter == nil) {
				t.Errorf("security/tls evidence %+v lacks version, cipher suite or expiry", tls.Evidence.TLS)
			}
			files := 0
			err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				files++
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				if strings.Contains(string(b), token) {
					t.Errorf("%s holds the token", p)
				}
				return nil
			})
			if err != nil || files == 0 {
				t.Errorf("walking %s: %v (%d files)", out, err, files)
			}
		})
	}
	srv.stop(t)
	printed.WriteString(srv.out.String() + srv.err.String())
	if !strings.Contains(srv.err.String(), "status=401") {
		t.Errorf("serve logged no 401, so the run did not exercise authentication:\n%s", srv.err.String())
	}
	if strings.Contains(printed.String(), token) {
		t.Error("the token appears in what run or serve printed")
	}
}

// findCheck returns the result of check id, or a zero Result.
func findCheck(results []conformance.Result, id string) conformance.Result {
	for _, r := range results {
		if r.ID == id {
			return r
		}
	}
	return conformance.Result{}
}
