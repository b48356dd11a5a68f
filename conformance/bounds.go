package conformance

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
	"unicode/utf8"
)

// The bounds of what a run reads from its target (spec/v1/api.md, Bounds
// of a run), beside DefaultRequestTimeout, DefaultMaxBodyBytes,
// DefaultMaxStrikes, ExcerptLimit and leakScanBytes.

// MaxResponseHeaderBytes caps the status line and headers of a response:
// a target that sends more gets a transport error, never the suite's
// memory.
const MaxResponseHeaderBytes = 1 << 20

// httpClient returns the client a run (or profile init) sends with. The
// caller's client, when given, is copied, never changed. Either way the
// client does not follow redirects: a 3xx is the target's answer, for the
// checks to judge, and a credential never travels to the host a redirect
// names. The client built here also reads compressed bodies as they come
// (the suite asks for none: see send), caps response headers at
// MaxResponseHeaderBytes, verifies TLS against roots (nil: the system's)
// and lets a TLS handshake take the whole request timeout, which bounds
// every phase of an exchange.
func httpClient(given *http.Client, roots *x509.CertPool, timeout time.Duration) *http.Client {
	if given != nil {
		hc := *given
		hc.CheckRedirect = noRedirects
		return &hc
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	tr.DisableCompression = true
	tr.MaxResponseHeaderBytes = MaxResponseHeaderBytes
	tr.TLSHandshakeTimeout = timeout
	return &http.Client{Transport: tr, CheckRedirect: noRedirects}
}

// noRedirects is the CheckRedirect of the run's client: it returns the
// 3xx response itself.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// errHeaderLimit is the transport error of a response whose headers
// exceed MaxResponseHeaderBytes.
var errHeaderLimit = fmt.Errorf("the response headers exceed the %d-byte limit", MaxResponseHeaderBytes)

// headerLimit reads at most n bytes while on is set (as a response's
// status line and headers are read), and without a limit after.
type headerLimit struct {
	r  io.Reader
	n  int64
	on bool
}

func (h *headerLimit) Read(p []byte) (int, error) {
	if !h.on {
		return h.r.Read(p)
	}
	if h.n <= 0 {
		return 0, errHeaderLimit
	}
	if int64(len(p)) > h.n {
		p = p[:h.n]
	}
	n, err := h.r.Read(p)
	h.n -= int64(n)
	return n, err
}

// invalidUTF8At returns the offset of the first byte of b that is not
// part of valid UTF-8, or −1 when b is valid UTF-8.
func invalidUTF8At(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}

// errNotUTF8 is matched by the error of decodeJSON for a body that is not
// valid UTF-8.
var errNotUTF8 = errors.New("invalid UTF-8")
