package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aiconform/aiconform/spec"
)

// The checks of the security requirements (spec/v1/safety.md, Security).

// tlsCheckID is the check of SEC-TLS: the only one a run makes when the
// target's TLS handshake fails.
const tlsCheckID = "security/tls"

// securityChecks are the checks of the SEC-* requirements. The check of
// SEC-NO-SECRET-ECHO reads what every response before it held, so it
// comes last among them (see checks for the order of the whole table).
var securityChecks = []check{
	{ID: "security/auth-required", Requirements: []string{"SEC-AUTH-REQUIRED"}, Level: spec.Safety,
		Title: "metadata, readiness and inference get 401 or 403 without the right credential and succeed with it", Run: checkAuthRequired},
	{ID: tlsCheckID, Requirements: []string{"SEC-TLS"}, Level: spec.Safety,
		Title: "an https target negotiates TLS 1.2 or later with a certificate that verifies, and refuses TLS 1.1", Run: checkTLS},
	{ID: "security/no-secret-echo", Requirements: []string{"SEC-NO-SECRET-ECHO"}, Level: spec.Safety,
		Title: "no response of the run holds a credential value the suite sent", Run: checkNoSecretEcho},
}

// randomToken returns 32 hexadecimal characters from a cryptographic
// source.
func randomToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("drawing a random token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// successMembers are the members of the protocol's answers that carry
// metadata or outputs (server and model metadata, readiness, inference):
// a refusal holds none of them.
var successMembers = []string{"name", "version", "extensions", "versions", "platform", "inputs", "outputs", "ready", "model_name", "model_version"}

// revealed lists the members of successMembers that a JSON object body
// holds; any other body reveals none. A body that is not valid UTF-8 is
// read as if each bad byte were U+FFFD: it may still reveal metadata.
func revealed(body []byte) []string {
	doc, err := decodeJSON(bytes.ToValidUTF8(body, []byte("\uFFFD")))
	if err != nil {
		return nil
	}
	obj, _ := doc.(map[string]any)
	var out []string
	for _, k := range successMembers {
		if _, ok := obj[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

func checkAuthRequired(ctx context.Context, e *env) Result {
	var r recorder
	if e.c.token == "" {
		return Result{Status: spec.Skip, Message: spec.NotApplicablePrefix + "the profile's auth.scheme is none"}
	}
	wrong, err := randomToken()
	if err != nil {
		return errorResult(err.Error())
	}
	password, err := randomToken()
	if err != nil {
		return errorResult(err.Error())
	}
	basic := base64.StdEncoding.EncodeToString([]byte("aiconform:" + password))
	e.c.secrets.add("the random bearer token SEC-AUTH-REQUIRED sent", wrong)
	e.c.secrets.add("the Basic credential SEC-AUTH-REQUIRED sent", basic)
	e.c.secrets.add("the password of the Basic credential SEC-AUTH-REQUIRED sent", password)
	// Over gRPC the credential travels as the authorization metadata.
	none := "no Authorization header"
	if e.b.kind() == spec.GRPC {
		none = "no authorization metadata"
	}
	denied := []struct {
		what string
		h    http.Header
	}{
		{none, http.Header{}},
		{"Bearer and a random 32-character token", http.Header{"Authorization": {"Bearer " + wrong}}},
		{"Bearer and no token", http.Header{"Authorization": {"Bearer"}}},
		{"a Basic credential", http.Header{"Authorization": {"Basic " + basic}}},
	}
	requests := []func(context.Context) *response{e.b.serverMetadata}
	for _, m := range e.models {
		s := newSampler(e.seed, "security/auth-required", m.ref.Label())
		ins, err := s.draw(m.contract, 1, s.length(m.contract), nil)
		if err != nil {
			return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
		}
		requests = append(requests,
			func(ctx context.Context) *response { return e.b.modelMetadata(ctx, m.ref.Name, m.ref.Version) },
			func(ctx context.Context) *response { return e.b.modelReady(ctx, m.ref.Name, m.ref.Version) },
			func(ctx context.Context) *response { return e.infer(ctx, m, inferRequest{inputs: ins}) },
		)
	}
	for _, send := range requests {
		for _, d := range denied {
			resp := send(withCredentials(ctx, d.h))
			r.add(resp)
			switch {
			case resp.err != nil || resp.overLimit || resp.status != http.StatusUnauthorized && resp.status != http.StatusForbidden:
				r.failf("%s with %s %s, want 401 or 403", resp.what(), d.what, resp.outcome())
			default:
				if got := revealed(resp.body); len(got) > 0 {
					r.failf("%s with %s answered %d with a body holding %v, want no metadata or outputs", resp.what(), d.what, resp.status, got)
				}
			}
		}
		r.expectStatus(send(ctx), http.StatusOK, "the same request with the profile's credential succeeds")
	}
	n := len(requests)
	return r.result(fmt.Sprintf("%d request%s got 401 or 403 without the right credential (none, a random bearer token, Bearer alone, Basic) and 200 with it", n, plural(n)))
}

func checkNoSecretEcho(ctx context.Context, e *env) Result {
	var r recorder
	if e.c.token == "" {
		bearer, err := randomToken()
		if err != nil {
			return errorResult(err.Error())
		}
		apiKey, err := randomToken()
		if err != nil {
			return errorResult(err.Error())
		}
		e.c.secrets.add("the canary bearer token", bearer)
		e.c.secrets.add("the canary X-API-Key", apiKey)
		h := http.Header{}
		h.Set("Authorization", "Bearer "+bearer)
		h.Set("X-API-Key", apiKey)
		cctx := withCredentials(ctx, h)
		m := e.models[0]
		s := newSampler(e.seed, "security/no-secret-echo", m.ref.Label())
		ins, err := s.draw(m.contract, 1, s.length(m.contract), nil)
		if err != nil {
			return errorResult(fmt.Sprintf("cannot draw inputs of %s: %v", m.ref.Label(), err))
		}
		bad := slices.Clone(ins)
		bad[0].name = noSuchInput
		for _, resp := range []*response{e.infer(cctx, m, inferRequest{inputs: ins}), e.infer(cctx, m, inferRequest{inputs: bad})} {
			r.add(resp)
			if resp.err != nil && resp.status == 0 {
				return Result{Status: spec.Error, Message: fmt.Sprintf("%s carrying canary credentials %s: there is no response to scan", resp.what(), resp.outcome()), Evidence: r.ev}
			}
		}
	}
	scanned, found, findings := e.c.secrets.report()
	for _, f := range findings {
		r.failf("%s", f)
	}
	if more := found - len(findings); more > 0 {
		r.failf("%d more response%s held a credential value (only the first %d are listed)", more, plural(more), len(findings))
	}
	watched := len(e.c.secrets.values())
	r.figure("responsesScanned", Count(scanned))
	r.figure("credentialValuesWatched", Count(watched))
	return r.result(fmt.Sprintf("none of the %d credential value%s the suite sent appeared in the %d response%s of the run", watched, plural(watched), scanned, plural(scanned)))
}

func checkTLS(ctx context.Context, e *env) Result {
	if e.tls == nil {
		scheme, _, _ := strings.Cut(e.target, "://")
		return Result{Status: spec.Skip, Message: spec.NotApplicablePrefix + fmt.Sprintf("target is %s, not %ss", scheme, scheme)}
	}
	var r recorder
	ev := &TLSEvidence{}
	r.ev.TLS = ev
	first := e.tls.handshake(ctx, e.c.timeout, false)
	if first.dialErr != nil {
		return Result{Status: spec.Error, Message: fmt.Sprintf("cannot connect to %s: %v", e.tls.addr, first.dialErr), Evidence: r.ev}
	}
	ev.CertificateNotAfter = first.notAfter
	if first.err != nil {
		r.failf("the handshake offering TLS 1.2 or later and verifying the certificate for %s against %s failed: %v", e.tls.serverName, e.tls.rootsName(), first.err)
	} else {
		ev.Version = tls.VersionName(first.state.Version)
		ev.CipherSuite = tls.CipherSuiteName(first.state.CipherSuite)
	}
	legacy := e.tls.handshake(ctx, e.c.timeout, true)
	switch {
	case legacy.dialErr != nil && len(r.failures) == 0:
		return Result{Status: spec.Error, Message: fmt.Sprintf("cannot connect to %s for the handshake offering at most TLS 1.1: %v", e.tls.addr, legacy.dialErr), Evidence: r.ev}
	case legacy.dialErr != nil:
	case legacy.err == nil:
		ev.LegacyHandshake = "accepted " + tls.VersionName(legacy.state.Version)
		r.failf("a handshake offering at most TLS 1.1 was accepted with %s, want it refused", tls.VersionName(legacy.state.Version))
	default:
		ev.LegacyHandshake = "refused: " + legacy.err.Error()
	}
	expiry := ""
	if first.notAfter != nil {
		expiry = ", certificate valid until " + first.notAfter.UTC().Format(time.RFC3339)
	}
	return r.result(fmt.Sprintf("negotiated %s with %s%s; a handshake offering at most TLS 1.1 was refused", ev.Version, ev.CipherSuite, expiry))
}

// tlsTarget is the TLS endpoint of an https target.
type tlsTarget struct {
	addr       string // host:port
	serverName string // the host name the certificate must hold
	roots      *x509.CertPool
}

// newTLSTarget returns the TLS endpoint of base, or nil when base is not
// an https or grpcs URL. roots verify its certificate; nil uses the
// system's.
func newTLSTarget(base string, roots *x509.CertPool) (*tlsTarget, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("target %q is not a URL: %w", base, err)
	}
	if u.Scheme != "https" && u.Scheme != "grpcs" {
		return nil, nil
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	return &tlsTarget{addr: net.JoinHostPort(u.Hostname(), port), serverName: u.Hostname(), roots: roots}, nil
}

// rootsName names the roots in messages.
func (t *tlsTarget) rootsName() string {
	if t.roots == nil {
		return "the system's trusted roots"
	}
	return "the configured CA certificates"
}

// handshakeOutcome is what one TLS handshake found: dialErr when no TCP
// connection was made, err when the handshake failed.
type handshakeOutcome struct {
	state    *tls.ConnectionState
	notAfter *time.Time
	dialErr  error
	err      error
}

// handshake connects and makes one TLS handshake, then closes the
// connection without sending anything over it. It verifies the
// certificate and offers TLS 1.2 or later; legacy offers TLS 1.0 and 1.1
// only and does not verify, since only the version is in question.
func (t *tlsTarget) handshake(ctx context.Context, timeout time.Duration, legacy bool) handshakeOutcome {
	var out handshakeOutcome
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		out.dialErr = err
		return out
	}
	defer conn.Close()
	cfg := &tls.Config{ServerName: t.serverName, RootCAs: t.roots, MinVersion: tls.VersionTLS12}
	if legacy {
		cfg = &tls.Config{ServerName: t.serverName, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true}
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		out.err = err
		var ve *tls.CertificateVerificationError
		if errors.As(err, &ve) && len(ve.UnverifiedCertificates) > 0 {
			na := ve.UnverifiedCertificates[0].NotAfter.UTC()
			out.notAfter = &na
		}
		return out
	}
	st := tc.ConnectionState()
	out.state = &st
	if len(st.PeerCertificates) > 0 {
		na := st.PeerCertificates[0].NotAfter.UTC()
		out.notAfter = &na
	}
	return out
}
