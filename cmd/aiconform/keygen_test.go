package main

import (
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiconform/aiconform/attest"
)

// keygenFiles makes a key pair with the CLI and returns its files.
func keygenFiles(t *testing.T) (key, pub string) {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), "acme")
	code, stdout, stderr := runCLI(t, "keygen", "--out", prefix)
	if code != ExitOK {
		t.Fatalf("keygen: exit %d\n%s%s", code, stdout, stderr)
	}
	return prefix + ".key", prefix + ".pub"
}

// assertNoPrivateKey fails the test if any output shows the private key
// of the key file.
func assertNoPrivateKey(t *testing.T, keyFile string, outputs ...string) {
	t.Helper()
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s is not PEM", keyFile)
	}
	body := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, out := range outputs {
		for _, line := range body[1 : len(body)-1] {
			if strings.Contains(out, line) {
				t.Errorf("the output shows the private key:\n%s", out)
			}
		}
		if bytes.Contains([]byte(out), block.Bytes) {
			t.Errorf("the output shows the private key's DER")
		}
	}
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "acme")
	code, stdout, stderr := runCLI(t, "keygen", "--out", prefix)
	if code != ExitOK || stderr != "" {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	key, err := attest.ReadPrivateKey(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := attest.ReadPublicKey(prefix + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(key.Public()) {
		t.Error("the public key is not the private key's")
	}
	want := "private key: " + prefix + ".key (keep it secret)\npublic key: " + prefix + ".pub\nkey id: " + pub.KeyID() + "\n"
	if stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
	for f, mode := range map[string]os.FileMode{prefix + ".key": 0o600, prefix + ".pub": 0o644} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v (%v), want %v", f, st.Mode().Perm(), err, mode)
		}
	}
	assertNoPrivateKey(t, prefix+".key", stdout, stderr)

	// Never overwritten.
	before, _ := os.ReadFile(prefix + ".key")
	code, stdout, stderr = runCLI(t, "keygen", "--out", prefix)
	if code != ExitUsage || !strings.Contains(stderr, prefix+".key exists; it is not overwritten") {
		t.Errorf("second keygen: exit %d\n%s%s", code, stdout, stderr)
	}
	if after, _ := os.ReadFile(prefix + ".key"); !bytes.Equal(before, after) {
		t.Error("the key was overwritten")
	}

	// The default prefix is aiconform, in the working directory.
	t.Chdir(t.TempDir())
	if code, stdout, stderr := runCLI(t, "keygen"); code != ExitOK || !strings.Contains(stdout, "private key: aiconform.key") {
		t.Fatalf("keygen: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, f := range []string{"aiconform.key", "aiconform.pub"} {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
	if code, _, stderr := runCLI(t, "keygen", "--out", ""); code != ExitUsage || !strings.Contains(stderr, "--out must not be empty") {
		t.Errorf("empty prefix: exit %d %s", code, stderr)
	}
}
