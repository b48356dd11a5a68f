package conformance

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aiconform/aiconform/internal/fakeoip"
	"github.com/aiconform/aiconform/internal/testpki"
	"github.com/aiconform/aiconform/spec"
)

// securityProfile is the fake's profile at level safety, with bearer auth
// from FAKE_TOKEN when auth is set.
func securityProfile(t *testing.T, auth bool) *Profile {
	t.Helper()
	doc := strings.Replace(fakeProfileYAML, "levels: [core]", "levels: [safety]", 1)
	if auth {
		doc = strings.Replace(doc, "scheme: none", "scheme: bearer\n  tokenEnv: FAKE_TOKEN", 1)
	}
	p, err := ParseProfile("security.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const securityToken = "fake-security-token-0c1d2e3f"

func securityGetenv(k string) string {
	if k == "FAKE_TOKEN" {
		return securityToken
	}
	return ""
}

// TestSecurityChecks runs the security checks against the fake over each
// binding in the clear (http, grpc), with and without auth, and with
// faults that break each of them.
func TestSecurityChecks(t *testing.T) {
	tests := []struct {
		name string
		fake *fakeoip.Server
		auth bool
		want map[string]spec.Status
		msg  map[string]string // a part of the message, by check
		// grpcWant and grpcMsg replace want's statuses and msg's parts
		// over gRPC, where the binding words them otherwise or cannot
		// carry the fault.
		grpcWant map[string]spec.Status
		grpcMsg  map[string]string
	}{
		{name: "no auth", fake: &fakeoip.Server{},
			want: map[string]spec.Status{"security/auth-required": spec.Skip, "security/tls": spec.Skip, "security/no-secret-echo": spec.Pass},
			msg: map[string]string{"security/auth-required": "not applicable: the profile's auth.scheme is none",
				"security/tls": "not applicable: target is http, not https", "security/no-secret-echo": "none of the 2 credential values"},
			grpcMsg: map[string]string{"security/tls": "not applicable: target is grpc, not grpcs"}},
		{name: "canaries echoed", fake: &fakeoip.Server{Fault: fakeoip.FaultEchoAuthInErrors},
			want:    map[string]spec.Status{"security/auth-required": spec.Skip, "security/tls": spec.Skip, "security/no-secret-echo": spec.Fail},
			msg:     map[string]string{"security/no-secret-echo": "holds the canary bearer token in its body"},
			grpcMsg: map[string]string{"security/no-secret-echo": "(status INVALID_ARGUMENT, judged as 400) holds the canary bearer token in its message"}},
		{name: "auth", fake: &fakeoip.Server{Token: securityToken}, auth: true,
			want: map[string]spec.Status{"security/auth-required": spec.Pass, "security/tls": spec.Skip, "security/no-secret-echo": spec.Pass},
			msg:  map[string]string{"security/auth-required": "4 requests got 401 or 403", "security/no-secret-echo": "none of the 4 credential values"}},
		{name: "auth ignored", fake: &fakeoip.Server{Token: securityToken, Fault: fakeoip.FaultIgnoreAuth}, auth: true,
			want:    map[string]spec.Status{"security/auth-required": spec.Fail, "security/tls": spec.Skip, "security/no-secret-echo": spec.Pass},
			msg:     map[string]string{"security/auth-required": "GET /v2 with no Authorization header answered 200, want 401 or 403"},
			grpcMsg: map[string]string{"security/auth-required": "ServerMetadata with no authorization metadata answered OK, judged as 200, want 401 or 403"}},
		{name: "refusal with metadata", fake: &fakeoip.Server{Token: securityToken, Fault: fakeoip.FaultAuth403Metadata}, auth: true,
			want: map[string]spec.Status{"security/auth-required": spec.Fail, "security/tls": spec.Skip, "security/no-secret-echo": spec.Pass},
			msg:  map[string]string{"security/auth-required": "answered 403 with a body holding [name versions]"},
			// A gRPC error carries a status and a message, not the body
			// of the refusal: the metadata never reaches the client.
			grpcWant: map[string]spec.Status{"security/auth-required": spec.Pass},
			grpcMsg:  map[string]string{"security/auth-required": "4 requests got 401 or 403"}},
		{name: "wrong credentials echoed", fake: &fakeoip.Server{Token: securityToken, Fault: fakeoip.FaultEchoAuthInErrors}, auth: true,
			want:    map[string]spec.Status{"security/auth-required": spec.Pass, "security/tls": spec.Skip, "security/no-secret-echo": spec.Fail},
			msg:     map[string]string{"security/no-secret-echo": "holds the profile's credential in its body"},
			grpcMsg: map[string]string{"security/no-secret-echo": "holds the profile's credential in its message"}},
	}
	for _, b := range []spec.Binding{spec.REST, spec.GRPC} {
		for _, tt := range tests {
			t.Run(string(b)+"/"+tt.name, func(t *testing.T) {
				opts := Options{Profile: securityProfile(t, tt.auth), Getenv: securityGetenv}
				var rep *Report
				if b == spec.GRPC {
					rep = runFakeGRPC(t, tt.fake, opts)
				} else {
					rep = runFake(t, tt.fake, opts)
				}
				if n := checksAt(spec.Safety); len(rep.Checks) != n {
					t.Fatalf("%d results, want the %d checks of level safety", len(rep.Checks), n)
				}
				for id, st := range tt.want {
					msg := tt.msg[id]
					if b == spec.GRPC {
						if m, ok := tt.grpcMsg[id]; ok {
							msg = m
						}
						if w, ok := tt.grpcWant[id]; ok {
							st = w
						}
					}
					r := result(t, rep, id)
					if r.Status != st || !strings.Contains(r.Message, msg) {
						t.Errorf("%s: %s: %s, want %s: …%s…", id, r.Status, r.Message, st, msg)
					}
				}
				j, err := json.Marshal(rep)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(j), securityToken) {
					t.Error("the report holds the token")
				}
			})
		}
	}
}

// TestSecretWatch holds the scan to exact values in headers and bodies,
// names the value by its label, and keeps at most maxSecretFindings.
func TestSecretWatch(t *testing.T) {
	tests := []struct {
		name   string
		header map[string][]string
		body   string
		want   string // the finding, "" for none
	}{
		{"clean", map[string][]string{"X-A": {"b"}}, `{"error":"no"}`, ""},
		{"in the body", nil, `{"error":"you sent tok-123456"}`, "the response to GET /v2 (status 401) holds the token in its body"},
		{"in a header", map[string][]string{"X-Echo": {"Bearer tok-123456"}}, "", "holds the token in its header X-Echo"},
		{"a prefix is not the value", nil, "tok-12345", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &secretWatch{}
			w.add("the token", "tok-123456")
			w.scan(&response{ex: Exchange{Method: "GET", Path: "/v2"}, status: 401, header: tt.header, body: []byte(tt.body)})
			scanned, found, findings := w.report()
			if scanned != 1 || (found == 1) != (tt.want != "") || len(findings) != found {
				t.Fatalf("scanned %d, found %d, findings %v", scanned, found, findings)
			}
			if tt.want != "" && !strings.Contains(findings[0], tt.want) {
				t.Errorf("finding %q, want …%s…", findings[0], tt.want)
			}
		})
	}
	w := &secretWatch{}
	w.add("the token", "x")
	for range maxSecretFindings + 5 {
		w.scan(&response{ex: Exchange{Method: "GET", Path: "/v2"}, body: []byte("x")})
	}
	if _, found, findings := w.report(); found != maxSecretFindings+5 || len(findings) != maxSecretFindings {
		t.Errorf("found %d, kept %d; want %d found, %d kept", found, len(findings), maxSecretFindings+5, maxSecretFindings)
	}
	c := &client{secrets: w}
	if got := c.excerpt([]byte("axb"), 100, 0); got != "a[redacted]b" {
		t.Errorf("excerpt %q does not redact a watched value", got)
	}
}

// TestSecurityTLS serves the fake over https with a test CA and holds
// SEC-TLS to each way a TLS setup can be wrong.
func TestSecurityTLS(t *testing.T) {
	good, err := testpki.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	expired, err := testpki.New(time.Now().Add(-time.Hour), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	otherHost, err := testpki.New(time.Now().Add(time.Hour), "example.org")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		pki      *testpki.PKI
		minTLS   uint16
		trustCA  bool
		status   spec.Status
		msg      string
		untrusts bool // the run sends nothing but the TLS handshakes
	}{
		{name: "good", pki: good, trustCA: true, status: spec.Pass, msg: "negotiated TLS 1.3 with TLS_"},
		{name: "TLS 1.0 allowed", pki: good, minTLS: tls.VersionTLS10, trustCA: true, status: spec.Fail, msg: "a handshake offering at most TLS 1.1 was accepted with TLS 1.1"},
		{name: "CA not trusted", pki: good, status: spec.Fail, msg: "against the system's trusted roots failed", untrusts: true},
		{name: "expired", pki: expired, trustCA: true, status: spec.Fail, msg: "expired", untrusts: true},
		{name: "wrong host", pki: otherHost, trustCA: true, status: spec.Fail, msg: "127.0.0.1", untrusts: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer((&fakeoip.Server{}).Handler())
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{tt.pki.Certificate}, MinVersion: tls.VersionTLS12}
			if tt.minTLS != 0 {
				srv.TLS.MinVersion = tt.minTLS
			}
			srv.StartTLS()
			defer srv.Close()
			opts := Options{Target: srv.URL, Profile: securityProfile(t, false), Goldens: fakeoip.Goldens(t, 1), RequestTimeout: 5 * time.Second, Oracle: fakeoip.Oracle{}}
			if tt.trustCA {
				opts.RootCAs = tt.pki.Pool
			}
			rep, err := Run(context.Background(), opts)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			validateReport(t, rep)
			r := result(t, rep, tlsCheckID)
			if r.Status != tt.status || !strings.Contains(r.Message, tt.msg) {
				t.Errorf("%s: %s: %s, want %s: …%s…", r.ID, r.Status, r.Message, tt.status, tt.msg)
			}
			if ev := r.Evidence.TLS; ev == nil || ev.CertificateNotAfter == nil || ev.LegacyHandshake == "" {
				t.Errorf("TLS evidence %+v lacks the certificate's expiry or the legacy handshake", ev)
			} else if !ev.CertificateNotAfter.Equal(tt.pki.Certificate.Leaf.NotAfter.UTC().Truncate(time.Second)) {
				t.Errorf("certificate expiry %v, want %v", ev.CertificateNotAfter, tt.pki.Certificate.Leaf.NotAfter)
			}
			for _, c := range rep.Checks {
				if c.ID == tlsCheckID {
					continue
				}
				if tt.untrusts && (c.Status != spec.Error || !strings.Contains(c.Message, "TLS handshake with the target failed")) {
					t.Errorf("%s: %s: %s, want error: the TLS handshake failed", c.ID, c.Status, c.Message)
				}
				if !tt.untrusts && c.Status == spec.Error {
					t.Errorf("%s: %s: %s", c.ID, c.Status, c.Message)
				}
			}
			if tt.untrusts != (rep.Stopped != "") {
				t.Errorf("stopped %q", rep.Stopped)
			}
		})
	}
}

// TestSecurityTLSUnreachable: an https target that cannot be connected
// to is unreachable, as an http one is.
func TestSecurityTLSUnreachable(t *testing.T) {
	srv := httptest.NewUnstartedServer((&fakeoip.Server{}).Handler())
	url := "https://" + srv.Listener.Addr().String()
	srv.Close()
	_, err := Run(context.Background(), Options{Target: url, Profile: securityProfile(t, false), Goldens: fakeoip.Goldens(t, 1), RequestTimeout: time.Second})
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("Run = %v, want ErrUnreachable", err)
	}
}
