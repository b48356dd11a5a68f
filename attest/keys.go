package attest

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/aiconform/aiconform/internal/atomicfile"
)

// PEM block types of the key files.
const (
	// PrivateKeyBlock holds a PKCS #8 private key.
	PrivateKeyBlock = "PRIVATE KEY"
	// PublicKeyBlock holds a PKIX (SubjectPublicKeyInfo) public key.
	PublicKeyBlock = "PUBLIC KEY"
)

// Key file name suffixes that KeyFiles appends to a prefix.
const (
	PrivateKeySuffix = ".key"
	PublicKeySuffix  = ".pub"
)

// ErrKey marks a key that cannot be read or used: a file that is not a
// PEM Ed25519 key of the expected kind.
var ErrKey = errors.New("bad key")

// PrivateKey is an Ed25519 signing key. Its private bytes leave the
// package only through MarshalPEM: formatted with any verb, it prints as
// its key id.
type PrivateKey struct{ key ed25519.PrivateKey }

// PublicKey is an Ed25519 verification key.
type PublicKey struct{ key ed25519.PublicKey }

// GenerateKey returns a new key drawn from r, or from crypto/rand when r
// is nil.
func GenerateKey(r io.Reader) (*PrivateKey, error) {
	if r == nil {
		r = rand.Reader
	}
	_, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("attest: generating an Ed25519 key: %w", err)
	}
	return &PrivateKey{key: priv}, nil
}

// Public returns the public half of k.
func (k *PrivateKey) Public() *PublicKey {
	return &PublicKey{key: k.key.Public().(ed25519.PublicKey)}
}

// String names the key by its key id, never by its bytes. (It and Format
// have value receivers so that a copy of the key prints the same way.)
func (k PrivateKey) String() string { return "Ed25519 private key " + k.Public().KeyID() }

// Format implements fmt.Formatter so that no verb (%x, %#v, …) prints the
// private bytes.
func (k PrivateKey) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// MarshalPEM returns the key as a PKCS #8 PEM block ("PRIVATE KEY").
func (k *PrivateKey) MarshalPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.key)
	if err != nil {
		return nil, fmt.Errorf("attest: encoding the private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: PrivateKeyBlock, Bytes: der}), nil
}

// KeyID names the key: the lowercase hex sha256 of its PKIX DER encoding,
// as `openssl pkey -pubin -in KEY.pub -outform DER | sha256sum` prints it.
func (k *PublicKey) KeyID() string {
	s := sha256.Sum256(k.der())
	return hex.EncodeToString(s[:])
}

// String names the key by its key id.
func (k *PublicKey) String() string { return "Ed25519 public key " + k.KeyID() }

// Equal reports whether k and o are the same key.
func (k *PublicKey) Equal(o *PublicKey) bool { return o != nil && k.key.Equal(o.key) }

// der is the PKIX DER encoding of k, which cannot fail for an Ed25519 key.
func (k *PublicKey) der() []byte {
	der, err := x509.MarshalPKIXPublicKey(k.key)
	if err != nil {
		panic("attest: encoding an Ed25519 public key: " + err.Error())
	}
	return der
}

// MarshalPEM returns the key as a PKIX PEM block ("PUBLIC KEY").
func (k *PublicKey) MarshalPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: PublicKeyBlock, Bytes: k.der()})
}

// ParsePrivateKey decodes a PKCS #8 PEM Ed25519 private key; name is the
// file in errors, which never show the key's bytes.
func ParsePrivateKey(name string, data []byte) (*PrivateKey, error) {
	der, err := pemBlock(name, data, PrivateKeyBlock)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: not a PKCS #8 private key", ErrKey, name)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s: a %s key, want Ed25519", ErrKey, name, keyType(key))
	}
	return &PrivateKey{key: priv}, nil
}

// ParsePublicKey decodes a PKIX PEM Ed25519 public key; name is the file
// in errors.
func ParsePublicKey(name string, data []byte) (*PublicKey, error) {
	der, err := pemBlock(name, data, PublicKeyBlock)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: not a PKIX public key", ErrKey, name)
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s: a %s key, want Ed25519", ErrKey, name, keyType(key))
	}
	return &PublicKey{key: pub}, nil
}

// pemBlock returns the bytes of the first PEM block of data, which must be
// of type want.
func pemBlock(name string, data []byte, want string) ([]byte, error) {
	b, _ := pem.Decode(data)
	switch {
	case b == nil:
		return nil, fmt.Errorf("%w: %s: no PEM block, want a %q block", ErrKey, name, want)
	case b.Type != want:
		return nil, fmt.Errorf("%w: %s: a %q PEM block, want %q", ErrKey, name, b.Type, want)
	}
	return b.Bytes, nil
}

// keyType names the algorithm of a parsed key that is not Ed25519.
func keyType(key any) string {
	switch key.(type) {
	case *rsa.PrivateKey, *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PrivateKey, *ecdsa.PublicKey:
		return "ECDSA"
	case *ecdh.PrivateKey, *ecdh.PublicKey:
		return "ECDH"
	}
	return "non-Ed25519"
}

// ReadPrivateKey reads a private key file.
func ReadPrivateKey(path string) (*PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return ParsePrivateKey(path, b)
}

// ReadPublicKey reads a public key file.
func ReadPublicKey(path string) (*PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return ParsePublicKey(path, b)
}

// KeyFiles returns the private and public key files of prefix:
// PREFIX.key and PREFIX.pub.
func KeyFiles(prefix string) (private, public string) {
	return prefix + PrivateKeySuffix, prefix + PublicKeySuffix
}

// WriteKeyFiles writes k to PREFIX.key (PKCS #8 PEM, mode 0600) and its
// public half to PREFIX.pub (PKIX PEM, mode 0644). It refuses to overwrite
// either file, and leaves neither behind when it fails.
func WriteKeyFiles(prefix string, k *PrivateKey) (private, public string, err error) {
	private, public = KeyFiles(prefix)
	for _, p := range []string{private, public} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("attest: %s exists; it is not overwritten", p)
		}
	}
	privPEM, err := k.MarshalPEM()
	if err != nil {
		return "", "", err
	}
	if err := atomicfile.WriteNew(private, privPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := atomicfile.WriteNew(public, k.Public().MarshalPEM(), 0o644); err != nil {
		os.Remove(private)
		return "", "", err
	}
	return private, public, nil
}
