package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/reference"
	"github.com/aiconform/aiconform/reference/serve"
	"github.com/aiconform/aiconform/reference/serve/faults"
)

// TestNoSecretInAnyOutput serves the reference models with a bearer
// token, and repeats the credential in the body of every error response
// and (the echo-token fault) in a header of every response, so the
// evidence the suite gathers would hold it. It then makes
// every output the tool has from that run — report.json and every
// rendering of it, the NDJSON stream, the attestation, a diff, a
// submission as a folder and as a .tar.gz (read inside), and everything
// each command printed — and searches all of it for the token, as is and
// in the encodings a careless writer would leave it in.
func TestNoSecretInAnyOutput(t *testing.T) {
	const tokenEnv = "AICONFORM_TEST_SECRET_TOKEN"
	const token = "no-secret-7c1d09e4b25a3f86"
	t.Setenv(tokenEnv, token)
	echo, err := faults.Lookup("echo-token")
	if err != nil {
		t.Fatal(err)
	}
	faultOpts, err := faults.Options(echo...)
	if err != nil {
		t.Fatal(err)
	}
	models, err := reference.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := serve.New(models, append(faultOpts, serve.WithAuthToken(token), serve.WithHandlerWrapper(echoCredentialInErrors))...)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	root := t.TempDir()
	// The published goldens: a submission holds no other.
	profile := filepath.Join(t.TempDir(), "secure.yaml")
	doc := "kind: profile\nspecVersion: v1\nname: secure\nlevels: [core, safety]\ngoldens: builtin\n" +
		"auth:\n  scheme: bearer\n  tokenEnv: " + tokenEnv + "\n" +
		"models:\n  - {name: seed-cnn, version: fp32, reference: seed-cnn, referenceVersion: fp32}\n"
	if err := os.WriteFile(profile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "out")
	key := filepath.Join(root, "key")
	report := filepath.Join(out, "report.json")

	var printed strings.Builder
	step := func(want int, args ...string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, args...)
		printed.WriteString(stdout + stderr)
		if code != want {
			t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
		}
	}
	step(ExitOK, "keygen", "--out", key)
	// The fault fails SEC-NO-SECRET-ECHO and SAFE-ERROR-HYGIENE (safety):
	// the run is not conformant, and core stays claimable.
	step(ExitFail, "run", "-q", "--target", ts.URL, "--profile", profile, "--out", out, "--format", "json,md,html,junit,ndjson", "--sign-key", key+".key")
	rep := runReadReport(t, out)
	if c := findCheck(rep.Checks, "security/no-secret-echo"); c.Status != "fail" {
		t.Fatalf("security/no-secret-echo: %s: %s; want fail: the run did not see the echoed token", c.Status, c.Message)
	}
	if b, err := os.ReadFile(report); err != nil || !bytes.Contains(b, []byte("[redacted]")) {
		t.Fatal("report.json redacts nothing: no excerpt held the echoed token, so this test shows nothing")
	}
	for _, f := range []string{"md", "html", "junit", "ndjson", "json", "table"} {
		step(ExitOK, "report", "render", "--format", f, "-o", filepath.Join(root, "render", "report."+f), report)
		step(ExitOK, "report", "render", "--format", f, report)
	}
	step(ExitOK, "report", "diff", report, report)
	step(ExitOK, "report", "diff", "--json", report, report)
	step(ExitOK, "report", "verify", "--pub", key+".pub", filepath.Join(out, "attestation.json"), profile)
	step(ExitOK, "submit", "--report", report, "--key", key+".key", "--out", filepath.Join(root, "submission"), "--claim", "core")
	step(ExitOK, "submit", "--report", report, "--key", key+".key", "--out", filepath.Join(root, "submission.tar.gz"), "--claim", "core")
	step(ExitOK, "verify-submission", "--pub", key+".pub", filepath.Join(root, "submission"))
	step(ExitOK, "verify-submission", "--pub", key+".pub", filepath.Join(root, "submission.tar.gz"))

	forms := map[string]string{
		"the token":                  token,
		"the token in base64":        base64.StdEncoding.EncodeToString([]byte(token)),
		"the header value in base64": base64.StdEncoding.EncodeToString([]byte("Bearer " + token)),
		"the token URL-escaped":      url.QueryEscape("Bearer " + token),
	}
	search := func(name string, b []byte) {
		t.Helper()
		for what, s := range forms {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds %s", name, what)
			}
		}
	}
	files := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		search(p, b)
		if strings.HasSuffix(p, ".tar.gz") {
			files += searchTarGz(t, p, b, search)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// report.json, .md, .html, junit.xml, .ndjson, attestation.json; six
	// renderings; two keys; the submission's files, twice.
	if files < 30 {
		t.Errorf("searched %d files, want every output of the run (30 or more)", files)
	}
	search("what the commands printed", []byte(printed.String()))
}

// echoCredentialInErrors answers every request that carries an
// Authorization header and fails with an error body that repeats it.
func echoCredentialInErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if auth == "" {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&echoWriter{ResponseWriter: w, auth: auth}, r)
	})
}

// echoWriter replaces the body of an error response by one that repeats
// the request's credential.
type echoWriter struct {
	http.ResponseWriter
	auth    string
	replace bool
}

func (e *echoWriter) WriteHeader(code int) {
	if code >= 400 {
		e.replace = true
		e.Header().Del("Content-Length")
		e.Header().Set("Content-Type", "application/json")
		e.ResponseWriter.WriteHeader(code)
		fmt.Fprintf(e.ResponseWriter, "{\"error\": \"refused the request sent with Authorization: %s\"}", e.auth)
		return
	}
	e.ResponseWriter.WriteHeader(code)
}

func (e *echoWriter) Write(b []byte) (int, error) {
	if e.replace {
		return len(b), nil
	}
	return e.ResponseWriter.Write(b)
}

// searchTarGz searches every file of a .tar.gz and returns how many it
// searched.
func searchTarGz(t *testing.T, name string, b []byte, search func(string, []byte)) int {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	tr := tar.NewReader(zr)
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %s: %v", name, h.Name, err)
		}
		n++
		search(name+": "+h.Name, body)
	}
}
