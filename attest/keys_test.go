package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustKey(t *testing.T) *PrivateKey {
	t.Helper()
	k, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// secretForms are the ways the private bytes of k could show in text.
func secretForms(k *PrivateKey) []string {
	seed := k.key.Seed()
	der, _ := x509.MarshalPKCS8PrivateKey(k.key)
	return []string{hex.EncodeToString(seed), fmt.Sprintf("%X", seed), base64.StdEncoding.EncodeToString(der)[:40],
		base64.StdEncoding.EncodeToString(seed), string(seed)}
}

func TestKeyPEMRoundTrip(t *testing.T) {
	k := mustKey(t)
	privPEM, err := k.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pem.Decode(privPEM); b == nil || b.Type != PrivateKeyBlock {
		t.Fatalf("private key PEM: %q block", b.Type)
	}
	back, err := ParsePrivateKey("k.key", privPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !back.key.Equal(k.key) {
		t.Error("the private key changed through PEM")
	}
	pub, err := ParsePublicKey("k.pub", k.Public().MarshalPEM())
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(k.Public()) || pub.KeyID() != k.Public().KeyID() {
		t.Error("the public key changed through PEM")
	}
	// The key id is the sha256 of the PKIX DER, as openssl computes it.
	b, _ := pem.Decode(k.Public().MarshalPEM())
	sum := sha256.Sum256(b.Bytes)
	if got, want := k.Public().KeyID(), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("KeyID %s, want %s", got, want)
	}
	if other := mustKey(t); other.Public().KeyID() == k.Public().KeyID() || other.Public().Equal(k.Public()) {
		t.Error("two keys share an id")
	}
}

// TestPrivateKeyNeverPrints: no formatting verb shows the private bytes.
func TestPrivateKeyNeverPrints(t *testing.T) {
	k := mustKey(t)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		out := fmt.Sprintf(verb, k) + fmt.Sprintf(verb, *k) + fmt.Sprint(k) + fmt.Sprintf(verb, []any{k})
		for _, s := range secretForms(k) {
			if strings.Contains(out, s) {
				t.Errorf("%s shows the private key: %s", verb, out)
			}
		}
		if !strings.Contains(fmt.Sprintf(verb, k), k.Public().KeyID()) {
			t.Errorf("%s does not name the key by its id: %s", verb, fmt.Sprintf(verb, k))
		}
	}
}

func TestParseKeyErrors(t *testing.T) {
	k := mustKey(t)
	privPEM, err := k.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPubDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	ecPriv := pem.EncodeToMemory(&pem.Block{Type: PrivateKeyBlock, Bytes: ecDER})
	ecPub := pem.EncodeToMemory(&pem.Block{Type: PublicKeyBlock, Bytes: ecPubDER})
	corrupt := pem.EncodeToMemory(&pem.Block{Type: PrivateKeyBlock, Bytes: []byte("not DER at all")})
	tests := []struct {
		name    string
		private bool
		data    []byte
		want    string
	}{
		{"empty", true, nil, "no PEM block"},
		{"garbage", false, []byte("hello"), "no PEM block"},
		{"public as private", true, k.Public().MarshalPEM(), `"PUBLIC KEY" PEM block, want "PRIVATE KEY"`},
		{"private as public", false, privPEM, `"PRIVATE KEY" PEM block, want "PUBLIC KEY"`},
		{"ECDSA private", true, ecPriv, "ECDSA key, want Ed25519"},
		{"ECDSA public", false, ecPub, "ECDSA key, want Ed25519"},
		{"corrupt DER", true, corrupt, "not a PKCS #8 private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.private {
				_, err = ParsePrivateKey("the.key", tt.data)
			} else {
				_, err = ParsePublicKey("the.pub", tt.data)
			}
			if !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "the.") {
				t.Fatalf("error %v, want ErrKey naming the file and saying %q", err, tt.want)
			}
			for _, s := range secretForms(k) {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error shows the private key: %v", err)
				}
			}
		})
	}
}

func TestWriteKeyFiles(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "acme")
	k := mustKey(t)
	priv, pub, err := WriteKeyFiles(prefix, k)
	if err != nil {
		t.Fatal(err)
	}
	if priv != prefix+".key" || pub != prefix+".pub" {
		t.Errorf("files %s %s", priv, pub)
	}
	for p, mode := range map[string]os.FileMode{priv: 0o600, pub: 0o644} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), mode)
		}
	}
	back, err := ReadPrivateKey(priv)
	if err != nil || !back.key.Equal(k.key) {
		t.Fatalf("ReadPrivateKey: %v", err)
	}
	pk, err := ReadPublicKey(pub)
	if err != nil || !pk.Equal(k.Public()) {
		t.Fatalf("ReadPublicKey: %v", err)
	}
	// Neither file is overwritten, whichever exists.
	before, _ := os.ReadFile(priv)
	if _, _, err := WriteKeyFiles(prefix, mustKey(t)); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("overwrite: %v", err)
	}
	if after, _ := os.ReadFile(priv); !bytes.Equal(before, after) {
		t.Error("the private key file was overwritten")
	}
	lone := filepath.Join(dir, "lone")
	if err := os.WriteFile(lone+".pub", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := WriteKeyFiles(lone, mustKey(t)); err == nil {
		t.Error("an existing .pub was overwritten")
	}
	if _, err := os.Stat(lone + ".key"); !os.IsNotExist(err) {
		t.Errorf("a refused WriteKeyFiles left %s.key behind (%v)", lone, err)
	}
	if _, err := ReadPublicKey(filepath.Join(dir, "missing.pub")); !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), "missing.pub") {
		t.Errorf("missing file: %v", err)
	}
}
