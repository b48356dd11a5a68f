package faults

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"time"

	"github.com/aiconform/aiconform/reference/serve"
)

// This file holds the faults of credentials and transport: echo-token,
// which wraps the HTTP handler, and tls-1.0-allowed and
// expired-certificate, which change the server's TLS settings (TLSConfig)
// and so show only when it is served over https.

// EchoHeader is the response header in which echo-token returns the
// request's Authorization header.
const EchoHeader = "X-Echo-Authorization"

// echoToken: every response to a request that carries an Authorization
// header repeats its value in EchoHeader.
func echoToken() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if v := r.Header.Get("Authorization"); v != "" {
				w.Header().Set(EchoHeader, v)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// tlsOnly returns the options of a fault that changes only the TLS
// settings: none.
func tlsOnly() ([]serve.Option, error) { return nil, nil }

// allowTLS10 accepts TLS 1.0 and 1.1 as well.
func allowTLS10(cfg *tls.Config) error {
	cfg.MinVersion = tls.VersionTLS10
	return nil
}

// expiredTLSAge is how long ago expired-certificate's certificate expired.
const expiredTLSAge = 24 * time.Hour

// expireCertificates replaces every certificate of cfg by a copy of its
// leaf (subject, names, key usages and key) that expired expiredTLSAge
// ago, signed by the certificate's own key.
func expireCertificates(cfg *tls.Config) error {
	if len(cfg.Certificates) == 0 {
		return errors.New("the server has no certificate to expire")
	}
	now := time.Now()
	for i, c := range cfg.Certificates {
		if len(c.Certificate) == 0 {
			return fmt.Errorf("certificate %d is empty", i)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			return fmt.Errorf("certificate %d: %w", i, err)
		}
		signer, ok := c.PrivateKey.(crypto.Signer)
		if !ok {
			return fmt.Errorf("certificate %d: its private key cannot sign", i)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(now.UnixNano()),
			Subject:      leaf.Subject,
			DNSNames:     leaf.DNSNames,
			IPAddresses:  leaf.IPAddresses,
			NotBefore:    now.Add(-2 * expiredTLSAge),
			NotAfter:     now.Add(-expiredTLSAge),
			KeyUsage:     leaf.KeyUsage,
			ExtKeyUsage:  leaf.ExtKeyUsage,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
		if err != nil {
			return fmt.Errorf("certificate %d: %w", i, err)
		}
		cfg.Certificates[i] = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: c.PrivateKey}
	}
	return nil
}

// TLSConfig returns base (see serve.TLSConfig) with the TLS settings of
// the faults that change them, in the order given; base itself is not
// changed. It returns base's copy unchanged when no fault changes TLS
// settings.
func TLSConfig(base *tls.Config, fs ...Fault) (*tls.Config, error) {
	if base == nil {
		return nil, errors.New("faults: no TLS settings to change")
	}
	cfg := base.Clone()
	cfg.Certificates = append([]tls.Certificate(nil), base.Certificates...)
	for _, f := range fs {
		if f.tls == nil {
			continue
		}
		if err := f.tls(cfg); err != nil {
			return nil, fmt.Errorf("faults: %s: %w", f.Name, err)
		}
	}
	return cfg, nil
}
