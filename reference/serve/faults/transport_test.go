package faults

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"github.com/aiconform/aiconform/internal/testpki"
	"github.com/aiconform/aiconform/reference/serve"
)

// TestFaultTLSConfig holds each fault to the TLS settings it changes, and
// TLSConfig to leaving its base alone.
func TestFaultTLSConfig(t *testing.T) {
	pki, err := testpki.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		fault      string
		minVersion uint16
		expired    bool
	}{
		{"numeric-drift", tls.VersionTLS12, false},
		{"tls-1.0-allowed", tls.VersionTLS10, false},
		{"expired-certificate", tls.VersionTLS12, true},
	}
	for _, tt := range tests {
		t.Run(tt.fault, func(t *testing.T) {
			fs, err := Lookup(tt.fault)
			if err != nil {
				t.Fatal(err)
			}
			if fs[0].NeedsTLS != (tt.fault != "numeric-drift") {
				t.Errorf("NeedsTLS = %v", fs[0].NeedsTLS)
			}
			base := serve.TLSConfig(pki.Certificate)
			cfg, err := TLSConfig(base, fs...)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MinVersion != tt.minVersion {
				t.Errorf("MinVersion %#x, want %#x", cfg.MinVersion, tt.minVersion)
			}
			leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			if expired := time.Now().After(leaf.NotAfter); expired != tt.expired {
				t.Errorf("certificate valid until %v: expired %v, want %v", leaf.NotAfter, expired, tt.expired)
			}
			if tt.expired && (len(leaf.IPAddresses) == 0 || leaf.IPAddresses[0].String() != "127.0.0.1") {
				t.Errorf("the expired certificate names %v, want the served certificate's 127.0.0.1", leaf.IPAddresses)
			}
			if base.MinVersion != tls.VersionTLS12 || &base.Certificates[0] == &cfg.Certificates[0] || base.Certificates[0].Leaf.NotAfter != pki.Certificate.Leaf.NotAfter {
				t.Error("TLSConfig changed its base")
			}
		})
	}
	if _, err := TLSConfig(nil); err == nil {
		t.Error("TLSConfig(nil) = nil error, want one")
	}
}

// TestFaultEchoToken: the Authorization header comes back in EchoHeader,
// on errors too; a request without one gets no such header.
func TestFaultEchoToken(t *testing.T) {
	models := ftModels(t)
	h := ftHandler(t, models, []string{"echo-token"})
	tests := []struct {
		name, path, auth string
		status           int
	}{
		{"served", "/v2", "Bearer canary-1", http.StatusOK},
		{"error", "/v2/models/no-such-model", "Bearer canary-2", http.StatusNotFound},
		{"no credential", "/v2", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := map[string]string{}
			if tt.auth != "" {
				header["Authorization"] = tt.auth
			}
			r := ftDo(t, h, http.MethodGet, tt.path, nil, header)
			if r.status != tt.status || r.header.Get(EchoHeader) != tt.auth {
				t.Errorf("%d with %s %q, want %d with %q", r.status, EchoHeader, r.header.Get(EchoHeader), tt.status, tt.auth)
			}
		})
	}
}
